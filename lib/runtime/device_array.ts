/**
 * Arrays that live on the WebGPU device. Copying between host and GPU is the cost that
 * dominates small kernels (and every readback waits at least ~10 ms in Deno), so a chain
 * of kernels should keep its intermediates on the device: a `DeviceArray` is a shape, a
 * dtype and a GPU buffer, passed to WebGPU kernels like an NDArray but without copies.
 * Make one with `await nd.array(...).to("webgpu")` or `await DeviceArray.empty(shape)`;
 * bring it back with `await d.toHost()`. This file also holds the one definition of how
 * each dtype is laid out on the device, which the kernel runtime shares: float32, int32 as
 * themselves, float16 as IEEE halves (f16), bool as one u32 per element (WGSL's `bool` has
 * no storage layout); every buffer is padded to a multiple of 4 bytes and at least 4 bytes
 * (WebGPU forbids empty bindings and copies of sizes that are not multiples of 4).
 */
import { TesseraError } from "../error.ts";
import { type DType, parseDType } from "../ir/dtype.ts";
import { getDevice, type WebGpu } from "../codegen/wgsl/device.ts";
import { checkStorage, NDArray } from "./ndarray.ts";

/** Bytes one element takes in a device buffer. */
export function deviceBytesPerElement(dtype: DType): number {
  return dtype === "float16" ? 2 : 4;
}

/**
 * Refuses int64 and float64 for the device: WGSL has no 64-bit types. int8 and uint8 take
 * one 32-bit word per element there (WGSL has no 8-bit storage), widened on the way in.
 */
export function checkDeviceDType(dtype: DType, what: string): void {
  if (dtype === "int64" || dtype === "float64") {
    throw new TesseraError(
      `${what} is ${dtype}, which WebGPU cannot hold: WGSL has no 64-bit integer or float ` +
        `type; cast to ${dtype === "int64" ? "int32" : "float32"} first, or use the "c" target`,
    );
  }
}

/**
 * The size of the GPU buffer that holds `bytes` bytes: a whole number of 16-byte words, so
 * that kernels may also bind a float32 buffer as `array<vec4<f32>>` (WebGPU has no
 * zero-size bindings, so an empty array still gets one word).
 */
export function paddedSize(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/** The device's bytes of `a`, padded to a multiple of 4 (a view where no conversion is needed). */
export function toDeviceBytes(a: NDArray): Uint8Array<ArrayBuffer> {
  const d = a.data;
  if (a.dtype === "bool") return new Uint8Array(Uint32Array.from(d as Uint8Array).buffer);
  if (a.dtype === "int8" || a.dtype === "uint8") {
    return new Uint8Array(Int32Array.from(d as Int8Array).buffer);
  }
  const raw = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  if (raw.byteLength % 4 === 0 && d.buffer instanceof ArrayBuffer) {
    return raw as Uint8Array<ArrayBuffer>;
  }
  const padded = new Uint8Array(paddedSize(raw.byteLength));
  padded.set(raw);
  return padded;
}

/** Writes device bytes (`src` from `offset`) into `dst`'s storage in place. */
export function fromDeviceBytes(dst: NDArray, src: ArrayBuffer, offset: number): void {
  const d = dst.data;
  if (dst.dtype === "bool") {
    const words = new Uint32Array(src, offset, d.length);
    for (let i = 0; i < words.length; i++) d[i] = words[i] !== 0 ? 1 : 0;
    return;
  }
  if (dst.dtype === "int8" || dst.dtype === "uint8") {
    (d as Int8Array).set(new Int32Array(src, offset, d.length)); // kernels keep them in range
    return;
  }
  new Uint8Array(d.buffer, d.byteOffset, d.byteLength).set(
    new Uint8Array(src, offset, d.byteLength),
  );
}

/**
 * A GPU buffer of `size` bytes, or a TesseraError when the device cannot hold it: over
 * `maxBufferSize`, or out of memory.
 */
export async function allocBuffer(
  gpu: WebGpu,
  size: number,
  usage: number,
  what: string,
): Promise<GPUBuffer> {
  if (size > gpu.limits.maxBufferSize) {
    throw new TesseraError(
      `${what} needs a buffer of ${size} bytes, more than the adapter's maxBufferSize = ` +
        `${gpu.limits.maxBufferSize}; use smaller arrays`,
    );
  }
  gpu.device.pushErrorScope("out-of-memory");
  gpu.device.pushErrorScope("validation");
  const buffer = gpu.device.createBuffer({ size, usage });
  const invalid = await gpu.device.popErrorScope();
  const oom = await gpu.device.popErrorScope();
  if (oom || invalid) {
    buffer.destroy();
    throw new TesseraError(
      `${what}: the WebGPU device could not allocate ${size} bytes (${(oom ?? invalid)!.message})`,
    );
  }
  return buffer;
}

/** A lost or destroyed device's buffers are gone; say so rather than fail inside WebGPU. */
export function checkAlive(gpu: WebGpu, what: string): void {
  if (gpu.lost) {
    throw new TesseraError(
      `${what} belongs to a WebGPU device that has been lost, so its contents are gone; ` +
        `make the array again (a new device is created on next use)`,
    );
  }
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** A dense, contiguous, row-major array in a WebGPU buffer. */
export class DeviceArray {
  readonly device = "webgpu";
  #destroyed = false;

  /** Use `DeviceArray.empty`, `DeviceArray.from` or `NDArray.to("webgpu")`. */
  private constructor(
    readonly shape: number[],
    readonly dtype: DType,
    /** The buffer (padded: see `byteLength` for the bytes that belong to the array). */
    readonly buffer: GPUBuffer,
    readonly gpu: WebGpu,
  ) {
    // Kernels size their bindings from the shape: it must not change after it is made.
    Object.freeze(this.shape);
    Object.freeze(this);
  }

  /** A device array of zeros (WebGPU zero-fills new buffers). */
  static async empty(shape: readonly number[], dtype: DType = "float32"): Promise<DeviceArray> {
    const who = "DeviceArray.empty";
    const dt = parseDType(dtype, who);
    if (
      !Array.isArray(shape) ||
      !shape.every((d) => typeof d === "number" && Number.isInteger(d) && d >= 0)
    ) {
      throw new TesseraError(
        `${who}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`,
      );
    }
    return await DeviceArray.#make([...shape], dt, who);
  }

  /** A copy of a host array on the device. */
  static async from(host: NDArray): Promise<DeviceArray> {
    if (!(host instanceof NDArray)) {
      throw new TesseraError(
        `DeviceArray.from: expected an NDArray (make one with nd.array), got ${String(host)}`,
      );
    }
    const d = await DeviceArray.#make([...host.shape], host.dtype, "DeviceArray.from");
    await d.copyFrom(host);
    return d;
  }

  static async #make(shape: number[], dtype: DType, who: string): Promise<DeviceArray> {
    checkDeviceDType(dtype, `${who}: the array`);
    const gpu = await getDevice();
    const bytes = product(shape) * deviceBytesPerElement(dtype);
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const buffer = await allocBuffer(
      gpu,
      paddedSize(bytes),
      usage,
      `${who}: [${shape.join(", ")}] ${dtype}`,
    );
    return new DeviceArray(shape, dtype, buffer, gpu);
  }

  get size(): number {
    return product(this.shape);
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Bytes of the array's elements on the device (the buffer may be padded past them). */
  get byteLength(): number {
    return this.size * deviceBytesPerElement(this.dtype);
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Throws unless the buffer can still be used. */
  checkUsable(what: string): void {
    if (this.#destroyed) {
      throw new TesseraError(`${what} is a DeviceArray that was destroyed; make it again`);
    }
    checkAlive(this.gpu, what);
    if (this.buffer.size < this.byteLength) {
      throw new TesseraError(
        `${what}: shape [${this.shape.join(", ")}] ${this.dtype} needs ${this.byteLength} ` +
          `bytes but its buffer has ${this.buffer.size}`,
      );
    }
  }

  /** Overwrites the contents with a host array of the same shape and dtype. */
  // deno-lint-ignore require-await
  async copyFrom(host: NDArray): Promise<void> {
    const who = "DeviceArray.copyFrom";
    this.checkUsable(who);
    if (!(host instanceof NDArray) || host.dtype !== this.dtype || host.size !== this.size) {
      const got = host instanceof NDArray
        ? `[${host.shape.join(", ")}] ${host.dtype}`
        : String(host);
      throw new TesseraError(
        `${who}: expected an NDArray of ${this.size} ${this.dtype} elements ` +
          `([${this.shape.join(", ")}]), got ${got}`,
      );
    }
    // Its storage may have been detached, or (bool) written with other bytes than 0 and 1.
    checkStorage(host.data, host.dtype, this.size, `${who}: the host array`);
    // Queued: kernels submitted after this call see the new contents.
    if (this.byteLength > 0) this.gpu.device.queue.writeBuffer(this.buffer, 0, toDeviceBytes(host));
  }

  /** Downloads the array into a new host NDArray (waits for the kernels that write it). */
  async toHost(): Promise<NDArray> {
    const who = "DeviceArray.toHost";
    this.checkUsable(who);
    const host = new NDArray(this.shape, this.dtype);
    if (this.byteLength === 0) return host;
    const { device } = this.gpu;
    const size = paddedSize(this.byteLength);
    const staging = await allocBuffer(
      this.gpu,
      size,
      GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      who,
    );
    try {
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(this.buffer, 0, staging, 0, size);
      device.queue.submit([enc.finish()]);
      try {
        await staging.mapAsync(GPUMapMode.READ);
      } catch (e) {
        checkAlive(this.gpu, who);
        throw new TesseraError(`${who}: reading the buffer back failed: ${(e as Error).message}`);
      }
      fromDeviceBytes(host, staging.getMappedRange(), 0);
      staging.unmap();
    } finally {
      staging.destroy();
    }
    return host;
  }

  /** A flat copy of the elements on the host, as `NDArray.toArray` gives. */
  async toArray(): Promise<ReturnType<NDArray["toArray"]>> {
    return (await this.toHost()).toArray();
  }

  /** Frees the GPU memory now rather than at garbage collection; the array is unusable after. */
  destroy(): void {
    if (!this.#destroyed) this.buffer.destroy();
    this.#destroyed = true;
  }

  toString(): string {
    return `DeviceArray(webgpu, ${this.dtype}, [${this.shape.join(", ")}])`;
  }
}
