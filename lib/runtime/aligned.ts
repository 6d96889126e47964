/**
 * Host memory aligned to 64 bytes (a cache line, one AVX-512 vector), as TVM's and PyTorch's
 * allocators give it. The memory V8 gives a typed array sits 16 bytes past a 64-byte boundary
 * (glibc's chunk header), so every 64-byte vector load or store of a vectorized kernel spans
 * two cache lines. Timed alternately on the same kernels (Zen 5, AVX-512), aligned arrays made
 * the layer-norm kernel 1.27x faster, softmax 1.05x, matmuls and batch matmul 1.03-1.04x.
 * NDArrays and a compiled model's weights and arena are allocated here.
 *
 * The address can only be read with FFI permission (Deno.UnsafePointer). Without it no native
 * kernel can run either, and the memory is allocated as it comes.
 */

/** The alignment, in bytes. */
export const ALIGN = 64;

let addressable: boolean | undefined;

/** Whether this process may read addresses (asked once; never prompts). */
function mayReadAddresses(): boolean {
  if (addressable === undefined) {
    try {
      addressable = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
    } catch {
      addressable = false;
    }
  }
  return addressable;
}

/**
 * `bytes` zeroed bytes whose first byte is 64-byte aligned (with FFI permission; below 64
 * bytes, or without it, as they come). The view has a byte offset into a slightly larger
 * buffer: read its memory through `byteOffset`/`byteLength`, not `.buffer` alone.
 */
export function alignedBytes(bytes: number): Uint8Array<ArrayBuffer> {
  if (bytes < ALIGN || !mayReadAddresses()) return new Uint8Array(bytes);
  const buffer = new ArrayBuffer(bytes + ALIGN);
  // An ArrayBuffer's memory is outside V8's heap and never moves.
  const at = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(new Uint8Array(buffer))));
  const offset = (ALIGN - Number(at % BigInt(ALIGN))) % ALIGN;
  return new Uint8Array(buffer, offset, bytes);
}

/** A 64-byte-aligned copy of `x` (the benchmark gives each peer's inputs the same alignment). */
export function alignedCopy(x: Float32Array): Float32Array<ArrayBuffer> {
  const b = alignedBytes(x.byteLength);
  const y = new Float32Array(b.buffer, b.byteOffset, x.length);
  y.set(x);
  return y;
}
