/**
 * Host arrays: the values a caller passes to a compiled or interpreted kernel and reads the
 * results from. An `NDArray` is a contiguous row-major typed array plus a shape and a dtype,
 * and nothing more, so that every backend (the interpreter, native C, WebGPU) can hand the
 * same bytes to its kernels without copying or re-laying them out. float16 uses the
 * platform's `Float16Array` when it has one; otherwise the raw IEEE half bits are kept in a
 * `Uint16Array` and converted on the way in and out. int64 is a `BigInt64Array` of exact
 * values; `at` and `toNested` give them as numbers (exact up to 2^53).
 */
import { alignedBytes } from "./aligned.ts";
import { TesseraError } from "../error.ts";
import { bytesOf, type DType, intRange, isInt, parseDType } from "../ir/dtype.ts";
import type { DeviceArray } from "./device_array.ts";
import { typedInfo } from "./typed.ts";

type Float16ArrayCtor = typeof Float16Array;
const NativeFloat16Array: Float16ArrayCtor | undefined =
  (globalThis as { Float16Array?: Float16ArrayCtor }).Float16Array;

/** Whether float16 arrays hold numbers directly (true) or raw half bits in a Uint16Array. */
export const hasNativeFloat16: boolean = NativeFloat16Array !== undefined;

/**
 * The storage of an array. An int64 array's is a BigInt64Array, which this type leaves out
 * so that code reading numbers from `data` stays simple: read it through `NDArray.data64`.
 */
export type NDData =
  | Float32Array
  | Int32Array
  | Uint8Array
  | Float16Array
  | Uint16Array
  | Int8Array
  | Float64Array;

/** A nested JavaScript array of numbers (or booleans), such as `[[1, 2], [3, 4]]`. */
export type NestedArray = ReadonlyArray<number | boolean | NestedArray>;

type TypedSource =
  | Float32Array
  | Float64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint32Array
  | Uint16Array
  | Uint8Array
  | Uint8ClampedArray
  | Float16Array
  | BigInt64Array;

// --- float16 bit conversion, only used when the platform lacks Float16Array ---

const cvtF32 = new Float32Array(1);
const cvtU32 = new Uint32Array(cvtF32.buffer);

/** IEEE half bits of `x`, rounded to nearest even. */
export function f16ToBits(x: number): number {
  cvtF32[0] = x;
  const f = cvtU32[0];
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  let mant = f & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  e = h >>> 10;
  return sign | (e >= 0x1f ? 0x7c00 : h);
}

/** The number whose IEEE half bits are `h`. */
export function bitsToF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function allocData(dtype: DType, n: number, where: string): NDData {
  try {
    return newData(dtype, n);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new TesseraError(
      `${where}: cannot allocate ${n} ${dtype} elements (${e.message}); JavaScript's typed ` +
        `arrays hold at most ${Number.MAX_SAFE_INTEGER} elements and need the memory to exist`,
    );
  }
}

/** Zeroed storage for `n` elements, 64-byte aligned where it can be (aligned.ts). */
function newData(dtype: DType, n: number): NDData {
  const size = bytesOf(dtype);
  // A size past what an ArrayBuffer may hold is the RangeError allocData reports.
  if (!Number.isSafeInteger(n * size)) throw new RangeError(`${n} elements of ${size} bytes`);
  return typedView(dtype, alignedBytes(n * size), 0, n);
}

/** A typed view of `n` elements of `dtype` at `offset` bytes into `buf` (its storage type). */
export function typedView(dtype: DType, buf: Uint8Array, offset: number, n: number): NDData {
  const [b, at] = [buf.buffer, buf.byteOffset + offset];
  switch (dtype) {
    case "float32":
      return new Float32Array(b, at, n);
    case "int32":
      return new Int32Array(b, at, n);
    case "bool":
    case "uint8":
      return new Uint8Array(b, at, n);
    case "int8":
      return new Int8Array(b, at, n);
    case "int64":
      return new BigInt64Array(b, at, n) as unknown as NDData;
    case "float64":
      return new Float64Array(b, at, n);
    case "float16":
      return NativeFloat16Array ? new NativeFloat16Array(b, at, n) : new Uint16Array(b, at, n);
  }
}

function expectedCtorName(dtype: DType): string {
  switch (dtype) {
    case "float32":
      return "Float32Array";
    case "int32":
      return "Int32Array";
    case "bool":
    case "uint8":
      return "Uint8Array";
    case "int8":
      return "Int8Array";
    case "int64":
      return "BigInt64Array";
    case "float64":
      return "Float64Array";
    case "float16":
      return NativeFloat16Array ? "Float16Array" : "Uint16Array";
  }
}

/**
 * Throws unless `data` really is a fixed-length typed array of `dtype`'s storage holding
 * exactly `n` elements (by its internal slots: see typed.ts), and, for bool, only 0 and 1:
 * every backend reads a bool as one of those two, so any other byte would mean something
 * different on each. `what` names the array in the message.
 */
export function checkStorage(data: unknown, dtype: DType, n: number, what: string): void {
  const want = expectedCtorName(dtype);
  const t = typedInfo(data);
  if (t === null || t.type !== want) {
    const got = t?.type ?? (data === null ? "null" : typeof data);
    throw new TesseraError(`${what} must be a ${want} for ${dtype}, but is a ${got}`);
  }
  if (t.unfixed !== null) {
    throw new TesseraError(
      `${what}: ${t.unfixed}; arrays need fixed storage (copy it into a new ${want})`,
    );
  }
  if (t.length !== n) {
    throw new TesseraError(`${what} has ${t.length} elements but ${n} are needed`);
  }
  if (dtype === "bool") {
    const bytes = data as Uint8Array;
    for (let i = 0; i < n; i++) {
      if (bytes[i] > 1) {
        throw new TesseraError(
          `${what}: bool element ${i} is ${bytes[i]}; bool arrays hold 0 or 1 ` +
            `(nd.array(data, shape, "bool") converts any nonzero to 1)`,
        );
      }
    }
  }
}

function checkShape(shape: readonly number[], where: string): number[] {
  if (!Array.isArray(shape)) {
    throw new TesseraError(`${where}: shape must be an array of integers, got ${String(shape)}`);
  }
  shape.forEach((d, i) => {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0) {
      throw new TesseraError(
        `${where}: shape[${i}] is ${String(d)}; shape entries must be non-negative integers`,
      );
    }
  });
  return [...shape];
}

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** A dense, contiguous, row-major array on the host. */
export class NDArray {
  readonly shape: number[];
  readonly dtype: DType;
  /** The storage, shared with kernels (they write outputs into it in place). */
  readonly data: NDData;

  constructor(shape: readonly number[], dtype: DType, data?: NDData) {
    this.dtype = parseDType(dtype, "NDArray");
    this.shape = checkShape(shape, "NDArray");
    const n = product(this.shape);
    if (data !== undefined) checkStorage(data, this.dtype, n, "NDArray: data");
    this.data = data ?? allocData(this.dtype, n, `NDArray of shape [${this.shape.join(", ")}]`);
    // Kernels check arguments by their shape: it must not change after that check.
    Object.freeze(this.shape);
    Object.freeze(this);
  }

  /** The exact values of an int64 array (its `data`, typed as what it is). */
  get data64(): BigInt64Array {
    if (this.dtype !== "int64") {
      throw new TesseraError(`NDArray.data64: the array is ${this.dtype}, not int64; use data`);
    }
    return this.data as unknown as BigInt64Array;
  }

  get size(): number {
    return product(this.shape);
  }

  get ndim(): number {
    return this.shape.length;
  }

  /**
   * A flat row-major copy of the elements as numbers (float16 without native support comes
   * back as a Float32Array of the decoded values, int64 as a Float64Array).
   */
  toArray(): Exclude<NDData, Uint16Array> {
    const d = this.data;
    if (this.dtype === "float16" && !NativeFloat16Array) {
      return Float32Array.from(d as Uint16Array, bitsToF16);
    }
    // int64 as numbers too (exact up to 2^53); `data` has the exact values.
    if (this.dtype === "int64") return Float64Array.from(this.data64, Number);
    return d.slice() as Exclude<NDData, Uint16Array>;
  }

  /**
   * A copy of the array on a device: `await a.to("webgpu")` gives a `DeviceArray` that
   * WebGPU kernels use without copying. The WebGPU runtime loads on first use only.
   */
  async to(device: "webgpu"): Promise<DeviceArray> {
    if (device !== "webgpu") {
      throw new TesseraError(
        `NDArray.to: unknown device ${JSON.stringify(device)}; the one device is "webgpu"`,
      );
    }
    const { DeviceArray } = await import("./device_array.ts");
    return await DeviceArray.from(this);
  }

  /** Element `i` of the flat row-major data, as a number. */
  at(i: number): number {
    if (this.dtype === "int64") return Number(this.data64[i]);
    const v = this.data[i];
    return this.dtype === "float16" && !NativeFloat16Array ? bitsToF16(v) : v;
  }

  /** A nested JavaScript array with the same shape (a number for a 0-d array). */
  toNested(): number | NestedArray {
    const go = (dim: number, off: number): number | NestedArray => {
      if (dim === this.shape.length) return this.at(off);
      const stride = product(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => go(dim + 1, off + i * stride));
    };
    return go(0, 0);
  }

  /** Like numpy's `str()`: aligned columns, and `...` in place of the middle of big arrays. */
  toString(): string {
    const summarize = this.size > 1000;
    const edge = 3;
    const fmt = (x: number): string => formatElement(this.dtype, x);
    const strs: string[] = [];
    // Collect shown elements first so the columns can be padded to a common width.
    const collect = (dim: number, off: number): void => {
      if (dim === this.shape.length) {
        // int64 as its exact digits, not the nearest double.
        strs.push(this.dtype === "int64" ? String(this.data64[off]) : fmt(this.at(off)));
        return;
      }
      const stride = product(this.shape.slice(dim + 1));
      for (const i of shownIndices(this.shape[dim], summarize, edge)) {
        if (i >= 0) collect(dim + 1, off + i * stride);
      }
    };
    collect(0, 0);
    // Like numpy, floats are aligned on the decimal point when they all have one.
    const dotted = strs.every((s) => /^-?\d+\.\d*$/.test(s));
    const intW = strs.reduce((w, s) => Math.max(w, dotted ? s.indexOf(".") : s.length), 0);
    const fracW = dotted ? strs.reduce((w, s) => Math.max(w, s.length - s.indexOf(".")), 0) : 0;
    const pad = (s: string) =>
      dotted
        ? s.slice(0, s.indexOf(".")).padStart(intW) + s.slice(s.indexOf(".")).padEnd(fracW)
        : s.padStart(intW);
    let k = 0;
    const render = (dim: number, off: number): string => {
      if (dim === this.shape.length) {
        return pad(strs[k++]);
      }
      const stride = product(this.shape.slice(dim + 1));
      const parts = shownIndices(this.shape[dim], summarize, edge).map((i) =>
        i < 0 ? "..." : render(dim + 1, off + i * stride)
      );
      const depth = this.shape.length - dim;
      if (depth === 1) return `[${parts.join(" ")}]`;
      const sep = "\n".repeat(depth - 1) + " ".repeat(dim + 1);
      return `[${parts.join(sep)}]`;
    };
    return render(0, 0);
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return ndarrayDisplayHook.bundle(this);
  }
}

/** Set by lib/display: an array's Jupyter MIME bundle, so that core never imports Jupyter code. */
export const ndarrayDisplayHook: { bundle: (a: NDArray) => Record<string, unknown> } = {
  bundle: (a) => ({ "text/plain": String(a) }),
};

/** Indices to show along a dimension of length `n`; -1 marks the elided middle. */
function shownIndices(n: number, summarize: boolean, edge: number): number[] {
  if (!summarize || n <= 2 * edge) return Array.from({ length: n }, (_, i) => i);
  return [
    ...Array.from({ length: edge }, (_, i) => i),
    -1,
    ...Array.from({ length: edge }, (_, i) => n - edge + i),
  ];
}

function formatElement(dtype: DType, x: number): string {
  if (dtype === "bool") return x ? "True" : "False";
  if (isInt(dtype)) return String(x);
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  // Eight significant digits is what numpy shows for float32; enough to tell values apart.
  const s = String(Number(x.toPrecision(8)));
  if (Object.is(x, -0)) return "-0.";
  return /[.e]/.test(s) ? s : `${s}.`;
}

function isTypedSource(x: unknown): x is TypedSource {
  return ArrayBuffer.isView(x) && !(x instanceof DataView);
}

function dtypeOfTyped(x: TypedSource): DType {
  if (x instanceof Int32Array) return "int32";
  if (x instanceof Int8Array) return "int8";
  if (x instanceof BigInt64Array) return "int64";
  if (x instanceof Float64Array) return "float64";
  if (x instanceof Uint8Array) return "bool";
  if (NativeFloat16Array && x instanceof NativeFloat16Array) return "float16";
  return "float32";
}

/** Flattens nested arrays, checking that they are rectangular; returns [values, shape]. */
function flattenNested(data: NestedArray, where: string): [number[], number[]] {
  const shape: number[] = [];
  let probe: unknown = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const out: number[] = [];
  const go = (x: unknown, dim: number, path: number[]): void => {
    const at = path.length ? `data[${path.join("][")}]` : "data";
    if (dim === shape.length) {
      if (typeof x === "number") out.push(x);
      else if (typeof x === "boolean") out.push(x ? 1 : 0);
      else {
        throw new TesseraError(
          `${where}: ${at} is ${Array.isArray(x) ? "an array" : String(x)} but a number ` +
            `was expected (the first row nests ${shape.length} deep)`,
        );
      }
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[dim]) {
      throw new TesseraError(
        `${where}: ragged nested array: ${at} has ${
          Array.isArray(x) ? `length ${x.length}` : `the scalar ${String(x)}`
        } but dimension ${dim} has length ${shape[dim]} (inferred from the first row)`,
      );
    }
    x.forEach((y, i) => go(y, dim + 1, [...path, i]));
  };
  go(data, 0, []);
  return [out, shape];
}

function fillFrom(dtype: DType, values: ArrayLike<number | bigint>, where: string): NDData {
  const out = allocData(dtype, values.length, where);
  const [lo, hi] = intRange(dtype);
  if (dtype === "int64") {
    const big = out as unknown as BigInt64Array;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v === "bigint" ? BigInt.asIntN(64, v) !== v : !isInt64Number(v)) {
        throw new TesseraError(
          `${where}: element ${i} is ${v}, which is not an int64 (an integer in ` +
            `[-2^63, 2^63); as a number, exact only up to 2^53: pass a BigInt64Array)`,
        );
      }
      big[i] = BigInt(v);
    }
    return out;
  }
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (isInt(dtype) && !(Number.isInteger(v) && v >= lo && v <= hi)) {
      throw new TesseraError(
        `${where}: element ${i} is ${v}, which is not an ${dtype} (${lo} to ${hi}); use ` +
          `dtype "float32" or round or clip the data first`,
      );
    }
    if (dtype === "bool") out[i] = v !== 0 ? 1 : 0;
    else if (dtype === "float16" && !NativeFloat16Array) out[i] = f16ToBits(v);
    else out[i] = v;
  }
  return out;
}

const isInt64Number = (v: number) => Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63;

export type NDArrayInput = number | ArrayLike<number> | NestedArray | TypedSource;

/** Constructors for host arrays, in the style of `tvm.nd`. */
export const nd = {
  /**
   * An array from data: nested arrays give the shape, typed arrays give the dtype
   * (Float32Array, Float64Array, Int32Array, Int8Array, BigInt64Array as int64, Uint8Array
   * as bool unless `dtype` is "uint8", Float16Array); otherwise float32. A
   * given `shape` reshapes the (flattened) data and must have the same element count.
   * The data is always copied.
   */
  array(data: NDArrayInput, shape?: readonly number[], dtype?: DType): NDArray {
    const where = "nd.array";
    let values: ArrayLike<number | bigint>;
    let inferred: number[];
    let dt: DType;
    if (typeof data === "number") {
      values = [data];
      inferred = [];
      dt = "float32";
    } else if (isTypedSource(data)) {
      values = data;
      inferred = [data.length];
      dt = dtypeOfTyped(data);
    } else if (Array.isArray(data)) {
      [values, inferred] = flattenNested(data as NestedArray, where);
      dt = "float32";
    } else if (data !== null && typeof data === "object" && "length" in data) {
      values = Array.from(data as ArrayLike<number>);
      inferred = [values.length];
      dt = "float32";
    } else {
      throw new TesseraError(
        `${where}: data must be a number, a (nested) array or a typed array, got ${String(data)}`,
      );
    }
    if (dtype !== undefined) dt = parseDType(dtype, where);
    const sh = shape === undefined ? inferred : checkShape(shape, where);
    const n = product(sh);
    if (values.length !== n) {
      throw new TesseraError(
        `${where}: data has ${values.length} elements but shape [${sh.join(", ")}] needs ${n}`,
      );
    }
    return new NDArray(sh, dt, fillFrom(dt, values, where));
  },

  /** An uninitialized array; here always zero-filled, but callers must not rely on it. */
  empty(shape: readonly number[], dtype: DType = "float32"): NDArray {
    return new NDArray(checkShape(shape, "nd.empty"), parseDType(dtype, "nd.empty"));
  },

  /** A zero-filled array. */
  zeros(shape: readonly number[], dtype: DType = "float32"): NDArray {
    return new NDArray(checkShape(shape, "nd.zeros"), parseDType(dtype, "nd.zeros"));
  },
};
