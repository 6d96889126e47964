/**
 * The two libraries Tessera's WebGPU kernels are measured against, on the same adapter Deno
 * gives Tessera: TensorFlow.js's `webgpu` backend (hand-written WGSL kernels) and jax-js's
 * `webgpu` device (WGSL it generates at run time, like Tessera). Both run unchanged under
 * Deno: each finds `navigator.gpu` and asks for the high-performance adapter itself, so each
 * has its own `GPUDevice` on the adapter Tessera uses. The workloads as ops are shared with the
 * CPU peers of the same libraries (./tfjs.ts, ./jax_js.ts); this file loads the GPU side and
 * says how to wait for it.
 *
 * `run()` is one call and one wait for the GPU to finish it, nothing downloaded: in Deno every
 * wait (`mapAsync`, `onSubmittedWorkDone`) costs at least ~10 ms, so a call that waited more
 * than once would be charged for the platform, not the kernel. Inputs are uploaded and the
 * shaders compiled by one untimed call in `prepare`.
 */
import { jaxPeer } from "./jax_js.ts";
import { firstLine, type Peer } from "./peer.ts";
import { tfjsPeer } from "./tfjs.ts";

type Tf = typeof import("@tensorflow/tfjs-core");
type Jax = typeof import("@jax-js/jax");

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

/** Activates the webgpu backend, which tfjs's one engine shares with the CPU peers. */
async function useTfWebgpu(): Promise<Tf | string> {
  const tf = await loadTf();
  if (typeof tf === "string") return tf;
  return await useWebgpu(tf) ? tf : "tfjs-webgpu: the webgpu backend went away";
}

export const tfjsWebgpuPeer: Peer = tfjsPeer("webgpu", "webgpu", useTfWebgpu, async (tf) => {
  // tfjs batches dispatches in an open compute pass and submits every 15 or when data is read.
  // Close and submit the pass as its own read path does, then wait once, without downloading.
  const be = tf.backend() as unknown as TfWebGpuBackend;
  be.ensureCommandEncoderReady();
  be.endComputePassEncoder();
  be.submitQueue();
  await be.device.queue.onSubmittedWorkDone();
});

export const jaxJsWebgpuPeer: Peer = jaxPeer("webgpu", loadJax);
