/**
 * TensorFlow.js on its two CPU backends: `wasm` (XNNPACK kernels compiled to WebAssembly) and
 * the plain-JavaScript `cpu` backend. Both peers live in one file because tfjs has one global
 * engine with one active backend: whichever peer runs switches the engine to its backend first.
 *
 * Under Deno, tfjs sees Node (`process` exists), so the wasm backend picks the SIMD binary and
 * runs single-threaded: tfjs turns threads off on Node, and forcing them on fails because the
 * threaded build starts its pthread workers from a `blob:` URL, which `node:worker_threads`
 * rejects (ERR_WORKER_PATH).
 */
import { fileURLToPath } from "node:url";
import { checkShapes, firstLine, type MatmulPeer, type PreparedMatmul } from "./peer.ts";

type Tf = typeof import("@tensorflow/tfjs-core");
type Backend = "wasm" | "cpu";

let loaded: Promise<Tf> | undefined;

function loadTf(): Promise<Tf> {
  loaded ??= (async () => {
    const tf = await import("@tensorflow/tfjs-core");
    await import("@tensorflow/tfjs-backend-cpu");
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    // Production mode skips per-op debug checks and the "install tfjs-node" banner; a
    // benchmark wants the library as it would be deployed.
    tf.enableProdMode();
    // The .wasm files sit beside the backend's entry file in the npm package; naming that
    // folder does not depend on emscripten guessing its own script directory.
    const entry = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
    if (entry.startsWith("file:")) wasm.setWasmPaths(fileURLToPath(new URL(".", entry)) + "/");
    return tf;
  })();
  return loaded;
}

/** Makes `backend` the engine's active one; the two peers share the engine. */
async function use(backend: Backend): Promise<Tf> {
  const tf = await loadTf();
  if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) {
    throw new Error(`tfjs backend "${backend}" failed to initialize`);
  }
  return tf;
}

function tfjsPeer(backend: Backend): MatmulPeer {
  const name = `tfjs-${backend}`;
  return {
    name,
    async available() {
      try {
        await use(backend);
        return null;
      } catch (e) {
        return `${name} could not start under Deno: ${firstLine(e)} ` +
          "(it needs --allow-read and the npm packages @tensorflow/tfjs-*@4.22.0)";
      }
    },
    async prepare(m, n, k, a, b): Promise<PreparedMatmul> {
      checkShapes(name, m, n, k, a, b);
      const tf = await use(backend);
      // The cpu backend keeps the array it is given, so hand it copies the caller cannot touch.
      const A = tf.tensor2d(a.slice(), [m, k], "float32");
      const B = tf.tensor2d(b.slice(), [k, n], "float32");
      let C: ReturnType<Tf["matMul"]> | undefined;
      return {
        async run() {
          if (tf.getBackend() !== backend) await use(backend);
          C?.dispose();
          C = tf.matMul(A, B);
          // Both backends compute eagerly; reading the values back is what guarantees it.
          C.dataSync();
        },
        async result() {
          if (!C) throw new Error(`${name}: result() before run()`);
          return (await C.data() as Float32Array).slice();
        },
        dispose() {
          tf.dispose([A, B]);
          C?.dispose();
          C = undefined;
        },
      };
    },
  };
}

export const tfjsWasmPeer: MatmulPeer = tfjsPeer("wasm");
export const tfjsCpuPeer: MatmulPeer = tfjsPeer("cpu");
