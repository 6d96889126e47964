/**
 * The two libraries Tessera's WebGPU matmul is measured against, on the same adapter Deno
 * gives Tessera: TensorFlow.js's `webgpu` backend (hand-written WGSL kernels) and jax-js's
 * `webgpu` device (WGSL it generates at run time, like Tessera). Both run unchanged under
 * Deno: each finds `navigator.gpu` and asks for the high-performance adapter itself, so each
 * has its own `GPUDevice` on the adapter Tessera uses.
 *
 * `run()` is one multiplication and one wait for the GPU to finish it, nothing downloaded:
 * in Deno every wait (`mapAsync`, `onSubmittedWorkDone`) costs at least ~10 ms, so a call
 * that waited more than once would be charged for the platform, not the kernel. Inputs are
 * uploaded and the shaders compiled by one untimed multiplication in `prepare`.
 */
import { checkShapes, firstLine, type MatmulPeer, type PreparedMatmul } from "./peer.ts";

type Tf = typeof import("@tensorflow/tfjs-core");
type Jax = typeof import("@jax-js/jax");
type JaxArray = ReturnType<Jax["numpy"]["matmul"]>;

/** The parts of tfjs's WebGPUBackend used here; it exports no type for them. */
interface TfWebGpuBackend {
  device: GPUDevice;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

const NO_ADAPTER = "no WebGPU adapter: navigator.gpu.requestAdapter() found none (on Linux, " +
  "install Mesa's Vulkan drivers: apt-get install mesa-vulkan-drivers)";

/** null when Deno offers an adapter; both libraries would fail less clearly without one. */
async function adapterMissing(): Promise<string | null> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return "navigator.gpu is missing in this runtime";
  try {
    return (await gpu.requestAdapter({ powerPreference: "high-performance" })) ? null : NO_ADAPTER;
  } catch (e) {
    return `requesting a WebGPU adapter failed: ${firstLine(e)}`;
  }
}

let tfLoaded: Promise<Tf | string> | undefined;

function loadTf(): Promise<Tf | string> {
  tfLoaded ??= (async () => {
    const missing = await adapterMissing();
    if (missing) return missing;
    try {
      const tf = await import("@tensorflow/tfjs-core");
      // Registers the backend only where navigator.gpu exists; imported here, not at the top,
      // so that loading the peer list touches no GPU.
      await import("@tensorflow/tfjs-backend-webgpu");
      tf.enableProdMode();
      return await useWebgpu(tf) ? tf : "tfjs could not initialize its webgpu backend";
    } catch (e) {
      return `tfjs-webgpu could not start under Deno: ${firstLine(e)} ` +
        "(needs the npm package @tensorflow/tfjs-backend-webgpu@4.22.0)";
    }
  })();
  return tfLoaded;
}

/** tfjs has one engine and one active backend, shared with the CPU peers in tfjs.ts. */
async function useWebgpu(tf: Tf): Promise<boolean> {
  return tf.getBackend() === "webgpu" || await tf.setBackend("webgpu");
}

let jaxLoaded: Promise<Jax | string> | undefined;

function loadJax(): Promise<Jax | string> {
  jaxLoaded ??= (async () => {
    const missing = await adapterMissing();
    if (missing) return missing;
    try {
      const jax = await import("@jax-js/jax");
      const devices = await jax.init("webgpu");
      return devices.includes("webgpu")
        ? jax
        : `jax-js found no webgpu device (got ${devices.join(", ")})`;
    } catch (e) {
      return `jax-js could not start its webgpu device under Deno: ${firstLine(e)} ` +
        "(needs the npm package @jax-js/jax@0.1.25)";
    }
  })();
  return jaxLoaded;
}

export const tfjsWebgpuPeer: MatmulPeer = {
  name: "tfjs-webgpu",
  async available() {
    const tf = await loadTf();
    return typeof tf === "string" ? tf : null;
  },
  async prepare(m, n, k, a, b): Promise<PreparedMatmul> {
    checkShapes("tfjs-webgpu", m, n, k, a, b);
    const tf = await loadTf();
    if (typeof tf === "string") throw new Error(`tfjs-webgpu: ${tf}`);
    await useWebgpu(tf);
    const A = tf.tensor2d(a.slice(), [m, k], "float32");
    const B = tf.tensor2d(b.slice(), [k, n], "float32");
    let C: ReturnType<Tf["matMul"]> | undefined;
    const run = async () => {
      if (!(await useWebgpu(tf))) throw new Error("tfjs-webgpu: the backend went away");
      C?.dispose();
      C = tf.matMul(A, B);
      // tfjs batches dispatches in an open compute pass and submits every 15 or when data is
      // read. Close and submit the pass as its own read path does, then wait once, without
      // downloading C.
      const be = tf.backend() as unknown as TfWebGpuBackend;
      be.ensureCommandEncoderReady();
      be.endComputePassEncoder();
      be.submitQueue();
      await be.device.queue.onSubmittedWorkDone();
    };
    await run(); // uploads A and B (tfjs does so on first use) and compiles the kernel
    return {
      run,
      async result() {
        if (!C) throw new Error("tfjs-webgpu: result() before run()");
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

export const jaxJsWebgpuPeer: MatmulPeer = {
  name: "jax-js-webgpu",
  async available() {
    const jax = await loadJax();
    return typeof jax === "string" ? jax : null;
  },
  async prepare(m, n, k, a, b): Promise<PreparedMatmul> {
    checkShapes("jax-js-webgpu", m, n, k, a, b);
    const jax = await loadJax();
    if (typeof jax === "string") throw new Error(`jax-js-webgpu: ${jax}`);
    const np = jax.numpy;
    const A = np.array(a.slice(), { shape: [m, k], device: "webgpu" });
    const B = np.array(b.slice(), { shape: [k, n], device: "webgpu" });
    await Promise.all([A.blockUntilReady(), B.blockUntilReady()]);
    let C: JaxArray | undefined;
    const run = async () => {
      // `.ref` keeps A and B alive: every jax-js op consumes its arguments.
      const next = np.matmul(A.ref, B.ref);
      // Lazy until here: submits the kernel, then waits once (an empty read of the result).
      await next.blockUntilReady();
      C?.dispose();
      C = next;
    };
    await run(); // compiles the kernel
    return {
      run,
      async result() {
        if (!C) throw new Error("jax-js-webgpu: result() before run()");
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
