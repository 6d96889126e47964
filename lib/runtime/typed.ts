/**
 * What a typed array really is. A check that reads `x.constructor.name` or `x.length` can be
 * fooled (an own `length` of 4 on a `Float32Array(1)`, a plain object whose constructor is
 * named `Float32Array`), and a native call trusting it reads and writes past the memory. The
 * getters of `%TypedArray%.prototype`, taken once here, read the array's internal slots:
 * its element type, element count and bytes, whatever properties the object carries. The
 * storage must also be fixed: a detached buffer has no memory, and a resizable or growable
 * one can change size after a check (or during a non-blocking native call).
 */
const proto = Object.getPrototypeOf(Int8Array.prototype);
const getter = (key: PropertyKey) => Object.getOwnPropertyDescriptor(proto, key)!.get!;
const tagOf = getter(Symbol.toStringTag);
const lengthOf = getter("length");
const byteLengthOf = getter("byteLength");
const byteOffsetOf = getter("byteOffset");
const bufferOf = getter("buffer");
const detachedOf = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "detached")?.get;
const resizableOf = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "resizable")?.get;
const growableOf = typeof SharedArrayBuffer === "function"
  ? Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, "growable")?.get
  : undefined;

/** A typed array's real element type, count and memory. */
export interface TypedInfo {
  /** The constructor it was made by: "Float32Array", "Uint8Array", ... */
  type: string;
  length: number;
  byteOffset: number;
  byteLength: number;
  buffer: ArrayBufferLike;
  /** Why its storage may not reach native code as is (detached, resizable), or null. */
  unfixed: string | null;
}

/** The real facts of `x`, or null when `x` is not a typed array at all. */
export function typedInfo(x: unknown): TypedInfo | null {
  const type = tagOf.call(x) as string | undefined;
  if (type === undefined) return null;
  const buffer = bufferOf.call(x) as ArrayBufferLike;
  return {
    type,
    length: lengthOf.call(x) as number,
    byteOffset: byteOffsetOf.call(x) as number,
    byteLength: byteLengthOf.call(x) as number,
    buffer,
    unfixed: unfixedOf(buffer),
  };
}

/** By the buffer's internal slots, not its prototype (which a caller can replace). */
function unfixedOf(buffer: ArrayBufferLike): string | null {
  try {
    if (detachedOf!.call(buffer)) return "its ArrayBuffer is detached";
    return resizableOf!.call(buffer) ? "its ArrayBuffer is resizable" : null;
  } catch {
    // Not an ArrayBuffer, so a SharedArrayBuffer (which cannot be detached).
    return growableOf?.call(buffer) ? "its SharedArrayBuffer is growable" : null;
  }
}
