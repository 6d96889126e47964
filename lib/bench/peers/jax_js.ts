/**
 * jax-js on its WebAssembly device: a TypeScript ML library that generates its own Wasm
 * kernels at run time, the nearest peer in spirit to Tessera (a compiler in TypeScript rather
 * than a library of hand-written kernels). Under Deno it finds `SharedArrayBuffer` and `Worker`,
 * so it runs multi-threaded over one worker per core. Those workers have no shutdown and keep a
 * `deno run` process alive: a script that used this peer ends with `Deno.exit()`.
 */
import { checkShapes, firstLine, type MatmulPeer, type PreparedMatmul } from "./peer.ts";

type Jax = typeof import("@jax-js/jax");
type JaxArray = ReturnType<Jax["numpy"]["matmul"]>;

let loaded: Promise<Jax | string> | undefined;

function load(): Promise<Jax | string> {
  loaded ??= (async () => {
    try {
      const jax = await import("@jax-js/jax");
      const devices = await jax.init("wasm");
      return devices.includes("wasm") ? jax : `jax-js found no wasm device (got ${devices})`;
    } catch (e) {
      return `jax-js could not start under Deno: ${firstLine(e)} ` +
        "(needs the npm package @jax-js/jax@0.1.25)";
    }
  })();
  return loaded;
}

export const jaxJsPeer: MatmulPeer = {
  name: "jax-js-wasm",
  async available() {
    const jax = await load();
    return typeof jax === "string" ? jax : null;
  },
  async prepare(m, n, k, a, b): Promise<PreparedMatmul> {
    checkShapes("jax-js-wasm", m, n, k, a, b);
    const jax = await load();
    if (typeof jax === "string") throw new Error(`jax-js-wasm: ${jax}`);
    const np = jax.numpy;
    const A = np.array(a.slice(), { shape: [m, k], device: "wasm" });
    const B = np.array(b.slice(), { shape: [k, n], device: "wasm" });
    await Promise.all([A.blockUntilReady(), B.blockUntilReady()]);
    let C: JaxArray | undefined;
    return {
      async run() {
        // jax-js arrays are reference counted and every op consumes its arguments: `.ref`
        // keeps A and B alive for the next run.
        const next = np.matmul(A.ref, B.ref);
        // Ops are lazy; this dispatches the kernel and waits for the workers to finish.
        await next.blockUntilReady();
        C?.dispose();
        C = next;
      },
      async result() {
        if (!C) throw new Error("jax-js-wasm: result() before run()");
        // data() consumes its array, so hand it an extra reference.
        return (await C.ref.data() as Float32Array).slice();
      },
      dispose() {
        A.dispose();
        B.dispose();
        C?.dispose();
        C = undefined;
      },
    };
  },
};
