/**
 * TensorFlow.js on its two CPU backends: `wasm` (XNNPACK kernels compiled to WebAssembly) and
 * the plain-JavaScript `cpu` backend; the workloads as tf ops are shared with the `webgpu`
 * backend's peer in ./webgpu.ts. The peers share one module because tfjs has one global engine
 * with one active backend: whichever peer runs switches the engine to its backend first.
 *
 * Under Deno, tfjs sees Node (`process` exists), so the wasm backend picks the SIMD binary and
 * runs single-threaded: tfjs turns threads off on Node, and forcing them on fails because the
 * threaded build starts its pthread workers from a `blob:` URL, which `node:worker_threads`
 * rejects (ERR_WORKER_PATH).
 *
 * Layouts: tfjs filters are [r, r, in, out], so conv2d's OIHW weights are rearranged once in
 * `prepare`, as a tfjs model stores its weights. The cpu backend takes the NCHW input as is.
 * The wasm backend's Conv2D takes only NHWC, and the webgpu backend's NCHW path is broken in
 * 4.22.0 (wrong values at 8x28x28 and 64x56x56, a shader assertion at 1x28x28; NHWC is right),
 * so on those two the input is rearranged to NHWC in `prepare` too, `run()` times the NHWC
 * convolution, tfjs's own layout, and `result()` rearranges the output back to NCHW.
 */
import { fileURLToPath } from "node:url";
import type { Tensor, Tensor4D } from "@tensorflow/tfjs-core";
import { inputShapes, type Workload } from "../workload.ts";
import { checkPrepare, type Device, firstLine, type Peer } from "./peer.ts";

type Tf = typeof import("@tensorflow/tfjs-core");
type Backend = "wasm" | "cpu" | "webgpu";

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

/** Makes `backend` the engine's active one, or says why it cannot be. */
async function useCpu(backend: "wasm" | "cpu"): Promise<Tf | string> {
  try {
    const tf = await loadTf();
    if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) {
      return `tfjs-${backend}: the "${backend}" backend failed to initialize`;
    }
    return tf;
  } catch (e) {
    return `tfjs-${backend} could not start under Deno: ${firstLine(e)} ` +
      "(it needs --allow-read and the npm packages @tensorflow/tfjs-*@4.22.0)";
  }
}

/** The op of `w` on tensors made once here, and how to turn its output into w's layout. */
function graphOf(tf: Tf, w: Workload, inputs: Float32Array[], nchw: boolean) {
  const shapes = inputShapes(w);
  // The cpu backend keeps the array it is given, so hand it copies the caller cannot touch.
  const [x, y, z] = inputs.map((d, i) => tf.tensor(d.slice(), shapes[i], "float32"));
  const same = (t: Tensor) => t;
  switch (w.op) {
    case "matmul":
    case "batch_matmul":
      return { held: [x, y], op: () => tf.matMul(x, y), layout: same };
    case "conv2d": {
      const filter = tf.transpose(y, [2, 3, 1, 0]) as Tensor4D;
      y.dispose();
      if (nchw) {
        const op = () => tf.conv2d(x as Tensor4D, filter, w.stride, w.pad, "NCHW");
        return { held: [x, filter], op, layout: same };
      }
      const xNhwc = tf.transpose(x, [0, 2, 3, 1]) as Tensor4D;
      x.dispose();
      return {
        held: [xNhwc, filter],
        op: () => tf.conv2d(xNhwc, filter, w.stride, w.pad, "NHWC"),
        layout: (t: Tensor) => tf.transpose(t, [0, 3, 1, 2]),
      };
    }
    case "softmax":
      return { held: [x], op: () => tf.softmax(x), layout: same };
    case "layernorm": {
      const op = () => {
        // tf.moments' variance is the biased one, as the workload defines it.
        const { mean, variance } = tf.moments(x, -1, true);
        return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, w.eps))), y), z);
      };
      return { held: [x, y, z], op, layout: same };
    }
    case "elementwise": {
      const half = tf.scalar(0.5);
      const op = () => tf.sub(tf.relu(tf.add(tf.mul(x, y), z)), tf.mul(x, half));
      return { held: [x, y, z, half], op, layout: same };
    }
  }
}

/**
 * A tfjs peer on `backend`: `use` activates it (tfjs has one active backend), `wait` makes the
 * work issued so far done. A WebGPU peer runs one untimed call in prepare, which uploads the
 * inputs (tfjs does so on first use) and compiles the shaders.
 */
export function tfjsPeer(
  backend: Backend,
  device: Device,
  use: () => Promise<Tf | string>,
  wait: (tf: Tf, out: Tensor) => Promise<void> | void,
): Peer {
  const name = `tfjs-${backend}`;
  const active = async () => {
    const tf = await use();
    if (typeof tf === "string") throw new Error(tf);
    return tf;
  };
  const peer: Peer = {
    name,
    device,
    async available() {
      const tf = await use();
      return typeof tf === "string" ? tf : null;
    },
    supports: () => null,
    async prepare(w, inputs) {
      checkPrepare(peer, w, inputs);
      const tf = await active();
      const { held, op, layout } = graphOf(tf, w, inputs, backend === "cpu");
      let out: Tensor | undefined;
      const run = async () => {
        if (tf.getBackend() !== backend) await active();
        out?.dispose();
        // tidy frees the op's intermediates (layernorm's moments, elementwise's products).
        out = tf.tidy(op);
        await wait(tf, out);
      };
      if (device === "webgpu") await run();
      return {
        run,
        async result() {
          if (!out) throw new Error(`${name}: result() before run()`);
          const y = out;
          const shaped = tf.tidy(() => layout(y));
          const data = (await shaped.data() as Float32Array).slice();
          if (shaped !== y) shaped.dispose();
          return data;
        },
        dispose() {
          tf.dispose(held);
          out?.dispose();
          out = undefined;
        },
      };
    },
  };
  return peer;
}

// Both CPU backends compute eagerly; reading the values back is what guarantees it.
export const tfjsWasmPeer: Peer = tfjsPeer("wasm", "cpu", () => useCpu("wasm"), (_, out) => {
  out.dataSync();
});
export const tfjsCpuPeer: Peer = tfjsPeer("cpu", "cpu", () => useCpu("cpu"), (_, out) => {
  out.dataSync();
});
