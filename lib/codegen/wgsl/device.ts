/**
 * The one WebGPU device a Tessera process uses, created on first use and shared by every
 * kernel and device array. Sharing matters because WebGPU objects (buffers, pipelines)
 * belong to one device and cannot cross to another. The device asks for the adapter's own
 * limits, since a device otherwise gets WebGPU's defaults (16 KiB of workgroup storage,
 * 256 invocations) whatever the hardware can do, and for `timestamp-query` and `shader-f16`
 * where the adapter has them. When the device is lost, the next `getDevice()` makes a new
 * one; objects of the old device then fail with a TesseraError instead of silently.
 */
import { TesseraError } from "../../error.ts";

export interface WebGpu {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  /** The device's limits: the adapter's own for every limit Tessera depends on. */
  limits: GPUSupportedLimits;
  features: ReadonlySet<string>;
  /** The adapter in words, e.g. "llvmpipe (LLVM 15.0.6, 256 bits), software". */
  description: string;
  /** Set once the device is lost (or destroyed); its buffers and pipelines are gone. */
  lost: boolean;
}

/** The limits a kernel can need more of than WebGPU's defaults give. */
export const WANTED_LIMITS = [
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxBindingsPerBindGroup",
] as const;

const WANTED_FEATURES: GPUFeatureName[] = ["timestamp-query", "shader-f16"];

const HOW_TO_GET_ONE = "Tessera's webgpu target needs a WebGPU adapter: a GPU with a Vulkan " +
  "driver, or Mesa's software rasterizer llvmpipe, which runs anywhere (on Debian or Ubuntu: " +
  "`apt-get install mesa-vulkan-drivers`). Deno needs no flag for WebGPU. Without an " +
  'adapter, build with target "c" or "interpreter".';

let current: Promise<WebGpu> | null = null;

/** The shared device, created on the first call (and again after the device was lost). */
export function getDevice(): Promise<WebGpu> {
  if (!current) {
    const p = createDevice();
    current = p;
    p.then(
      (ctx) =>
        ctx.device.lost.then(() => {
          ctx.lost = true;
          if (current === p) current = null;
        }),
      // A failed attempt must not stick: the next call tries again.
      () => {
        if (current === p) current = null;
      },
    );
  }
  return current;
}

async function createDevice(): Promise<WebGpu> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) {
    throw new TesseraError(
      `WebGPU: navigator.gpu is not available in this runtime. ${HOW_TO_GET_ONE}`,
    );
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (e) {
    throw new TesseraError(
      `WebGPU: requesting an adapter failed (${(e as Error).message}). ${HOW_TO_GET_ONE}`,
    );
  }
  if (!adapter) {
    throw new TesseraError(
      `WebGPU: no adapter found (navigator.gpu.requestAdapter() returned null). ${HOW_TO_GET_ONE}`,
    );
  }
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) {
    const v = adapter.limits[k];
    if (typeof v === "number") requiredLimits[k] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    throw new TesseraError(
      `WebGPU: the adapter '${
        describeAdapter(adapter.info)
      }' refused a device with its own limits ` +
        `(${(e as Error).message})`,
    );
  }
  return {
    device,
    adapterInfo: adapter.info,
    limits: device.limits,
    features: new Set(device.features),
    description: describeAdapter(adapter.info),
    lost: false,
  };
}

/** The adapter in words, e.g. "llvmpipe (LLVM 15.0.6, 256 bits), software". */
export function describeAdapter(info: GPUAdapterInfo): string {
  const name = info.description || [info.vendor, info.architecture, info.device]
    .filter((s) => s).join(" ") ||
    "unnamed adapter";
  return (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ? `${name}, software` : name;
}
