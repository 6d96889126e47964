/**
 * jax-js on its WebAssembly device: a TypeScript ML library that generates its own Wasm
 * kernels at run time, the nearest peer in spirit to Tessera (a compiler in TypeScript rather
 * than a library of hand-written kernels). Under Deno it finds `SharedArrayBuffer` and `Worker`,
 * so it runs multi-threaded over one worker per core. Those workers have no shutdown and keep a
 * `deno run` process alive: a script that used this peer ends with `Deno.exit()`.
 *
 * Each workload is one `jit`-compiled function, as jax-js code is meant to be deployed: jit fuses
 * the elementwise chains (softmax, layernorm, elementwise) into as few kernels as it can. The
 * same functions serve the `webgpu` device's peer in ./webgpu.ts. conv2d takes NCHW and OIHW
 * as they are (lax.convGeneralDilated's default layout).
 */
import { inputShapes, type Workload } from "../workload.ts";
import { checkPrepare, firstLine, type Peer } from "./peer.ts";

type Jax = typeof import("@jax-js/jax");
type JaxArray = ReturnType<Jax["numpy"]["matmul"]>;

/**
 * `w` as a function of its inputs. Every jax-js op consumes its arguments, so an input used
 * twice is passed as `.ref` the first time.
 */
function opOf(jax: Jax, w: Workload): (...xs: JaxArray[]) => JaxArray {
  const { lax, nn, numpy: np } = jax;
  switch (w.op) {
    case "matmul":
    case "batch_matmul":
      return (a, b) => np.matmul(a, b);
    case "conv2d": {
      const pad: [number, number] = [w.pad, w.pad];
      return (x, f) => lax.convGeneralDilated(x, f, [w.stride, w.stride], [pad, pad]);
    }
    case "softmax":
      return (x) => nn.softmax(x, -1);
    case "layernorm":
      // standardize divides by sqrt(biased variance + epsilon), as the workload defines it.
      return (x, gamma, beta) => nn.standardize(x, -1, { epsilon: w.eps }).mul(gamma).add(beta);
    case "elementwise":
      return (a, b, c) => np.maximum(a.ref.mul(b).add(c), 0).sub(a.mul(0.5));
  }
}

/**
 * A jax-js peer on `device`, from a loader that has initialized it. A WebGPU peer runs one
 * untimed call in prepare, which compiles the kernels.
 */
export function jaxPeer(device: "wasm" | "webgpu", load: () => Promise<Jax | string>): Peer {
  const name = `jax-js-${device}`;
  const peer: Peer = {
    name,
    device: device === "wasm" ? "cpu" : "webgpu",
    async available() {
      const jax = await load();
      return typeof jax === "string" ? jax : null;
    },
    supports: () => null,
    async prepare(w, inputs) {
      checkPrepare(peer, w, inputs);
      const jax = await load();
      if (typeof jax === "string") throw new Error(`${name}: ${jax}`);
      const shapes = inputShapes(w);
      const held = inputs.map((x, i) => jax.numpy.array(x.slice(), { shape: shapes[i], device }));
      await Promise.all(held.map((x) => x.blockUntilReady()));
      const f = jax.jit(opOf(jax, w));
      let out: JaxArray | undefined;
      const run = async () => {
        // `.ref` keeps the inputs alive for the next run.
        const next = f(...held.map((x) => x.ref));
        // Ops are lazy; this dispatches the kernels and waits for them to finish, with no
        // download.
        await next.blockUntilReady();
        out?.dispose();
        out = next;
      };
      if (device === "webgpu") await run();
      return {
        run,
        async result() {
          if (!out) throw new Error(`${name}: result() before run()`);
          // data() consumes its array, so hand it an extra reference.
          return (await out.ref.data() as Float32Array).slice();
        },
        dispose() {
          for (const x of held) x.dispose();
          out?.dispose();
          out = undefined;
          f.dispose();
        },
      };
    },
  };
  return peer;
}

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

export const jaxJsPeer: Peer = jaxPeer("wasm", load);
