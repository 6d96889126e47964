/**
 * The arithmetic of one scalar of each dtype, as JavaScript numbers: the single source of
 * numeric meaning for the interpreter, the direct evaluator and the constant folder. float32
 * results are rounded with Math.fround after every operation, float16 with Math.f16round,
 * int32 wraps like two's-complement C, bool is 0 or 1. Integer `div`/`mod` truncate (C);
 * `floordiv`/`floormod` round toward -inf (Python, TVM). Integer division by zero is an
 * error rather than C's undefined behaviour. int32 `pow` is the exact power, wrapped. `min`
 * and `max` order -0 below +0 (Math.min). `round` is round-half-to-even (IEEE, numpy, WGSL,
 * C's rint), `erf` is computed in float64 and rounded.
 *
 * int8 and uint8 wrap like int32, at their own width. int64 values are BigInts (a double
 * cannot hold them exactly): `evalBinary64` and `evalCast` work on those, and every other
 * function here sees int64 only as a constant that is a JavaScript number.
 */
import { TesseraError } from "../error.ts";
import { type DType, isFloat, isInt } from "./dtype.ts";
import type { BinaryOp, CallOp, CmpOp } from "./expr.ts";

const f16round: (x: number) => number =
  (Math as unknown as { f16round?: (x: number) => number }).f16round ??
    ((x: number) => x);

/** Rounds a float64 result to the value a `dtype` can hold. */
export function fit(dtype: DType, x: number): number {
  switch (dtype) {
    case "float32":
      return Math.fround(x);
    case "float16":
      return f16round(x);
    case "int32":
      return x | 0;
    case "int8":
      return (x << 24) >> 24;
    case "uint8":
      return x & 255;
    case "float64":
    case "int64": // only constants, which are integers already (see the header)
      return x;
    case "bool":
      return x ? 1 : 0;
  }
}

function intDivZero(op: string): never {
  throw new TesseraError(`integer ${op} by zero`);
}

export function evalBinary(op: BinaryOp, dtype: DType, a: number, b: number): number {
  const int = isInt(dtype);
  switch (op) {
    case "add":
      return fit(dtype, a + b);
    case "sub":
      return fit(dtype, a - b);
    case "mul":
      return int ? fit(dtype, Math.imul(a, b)) : fit(dtype, a * b);
    case "div":
      if (int) return b === 0 ? intDivZero("div") : fit(dtype, (a / b) | 0);
      return fit(dtype, a / b);
    case "mod":
      return b === 0 ? intDivZero("mod") : (a % b) | 0;
    case "floordiv":
      if (int) return b === 0 ? intDivZero("floordiv") : fit(dtype, Math.floor(a / b) | 0);
      return fit(dtype, Math.floor(a / b));
    case "floormod": {
      if (int) {
        if (b === 0) intDivZero("floormod");
        const r = a % b;
        return (r !== 0 && (r < 0) !== (b < 0) ? r + b : r) | 0;
      }
      return fit(dtype, a - Math.floor(a / b) * b);
    }
    case "min":
      return Math.min(a, b);
    case "max":
      return Math.max(a, b);
    case "pow":
      return int ? fit(dtype, powInt(a, b)) : fit(dtype, Math.pow(a, b));
  }
}

const wrap64 = (x: bigint): bigint => BigInt.asIntN(64, x);

/** int64 arithmetic on BigInts, wrapping modulo 2^64 like C's int64_t under -fwrapv. */
export function evalBinary64(op: BinaryOp, a: bigint, b: bigint): bigint {
  switch (op) {
    case "add":
      return wrap64(a + b);
    case "sub":
      return wrap64(a - b);
    case "mul":
      return wrap64(a * b);
    case "div": // BigInt division truncates toward zero, like C
      return b === 0n ? intDivZero("div") : wrap64(a / b);
    case "mod":
      return b === 0n ? intDivZero("mod") : a % b;
    case "floordiv": {
      if (b === 0n) intDivZero("floordiv");
      const q = a / b;
      return wrap64(a % b !== 0n && (a < 0n) !== (b < 0n) ? q - 1n : q);
    }
    case "floormod": {
      if (b === 0n) intDivZero("floormod");
      const r = a % b;
      return r !== 0n && (r < 0n) !== (b < 0n) ? r + b : r;
    }
    case "min":
      return a < b ? a : b;
    case "max":
      return a > b ? a : b;
    case "pow": {
      if (b < 0n) return a === 1n ? 1n : a === -1n ? (b & 1n ? -1n : 1n) : 0n;
      let r = 1n;
      for (let base = a, e = b; e > 0n; e >>= 1n) {
        if (e & 1n) r = wrap64(r * base);
        base = wrap64(base * base);
      }
      return r;
    }
  }
}

/**
 * int32 `pow`: the exact power wrapped to int32, as repeated int32 multiplication gives it
 * (not the float64 power, whose rounding above 2^53 no GPU can reproduce); a negative
 * exponent truncates 1 / a^-b toward zero (0 unless a is 1 or -1; 0 for a = 0).
 */
function powInt(a: number, b: number): number {
  if (b < 0) return a === 1 ? 1 : a === -1 ? (b & 1 ? -1 : 1) : 0;
  let r = 1;
  for (let base = a, e = b; e > 0; e >>>= 1) {
    if (e & 1) r = Math.imul(r, base);
    base = Math.imul(base, base);
  }
  return r;
}

export function evalCmp(op: CmpOp, a: number, b: number): number {
  switch (op) {
    case "lt":
      return a < b ? 1 : 0;
    case "le":
      return a <= b ? 1 : 0;
    case "gt":
      return a > b ? 1 : 0;
    case "ge":
      return a >= b ? 1 : 0;
    case "eq":
      return a === b ? 1 : 0;
    case "ne":
      return a !== b ? 1 : 0;
  }
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** erf in float64: Taylor series below 4.5 (error < 1e-11), +-1 beyond (erfc(4.5) < 2e-10). */
export function erf(x: number): number {
  if (Number.isNaN(x) || x === 0) return x; // erf(-0) is -0 (C99, IEEE)
  const ax = Math.abs(x);
  if (ax >= 4.5) return Math.sign(x);
  let term = x, sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -(x * x) / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

export function evalCall(op: CallOp, dtype: DType, args: number[]): number {
  const x = args[0];
  switch (op) {
    case "checkIndex":
      if (!(x >= 0 && x < args[1])) {
        throw new TesseraError(`index ${args[2]} is ${x}, outside [0, ${args[1]})`);
      }
      return x;
    case "exp":
      return fit(dtype, Math.exp(x));
    case "log":
      return fit(dtype, Math.log(x));
    case "sqrt":
      return fit(dtype, Math.sqrt(x));
    case "rsqrt":
      return fit(dtype, 1 / Math.sqrt(x));
    case "tanh":
      return fit(dtype, Math.tanh(x));
    case "sigmoid":
      return fit(dtype, 1 / (1 + Math.exp(-x)));
    case "abs":
      return isInt(dtype) ? fit(dtype, Math.abs(x)) : Math.abs(x);
    case "floor":
      return Math.floor(x);
    case "ceil":
      return Math.ceil(x);
    case "round":
      return roundHalfEven(x);
    case "erf":
      return fit(dtype, erf(x));
    case "sin":
      return fit(dtype, Math.sin(x));
    case "cos":
      return fit(dtype, Math.cos(x));
    case "tan":
      return fit(dtype, Math.tan(x));
    case "atan":
      return fit(dtype, Math.atan(x));
    case "atan2":
      return fit(dtype, Math.atan2(x, args[1]));
    case "exp2":
      return fit(dtype, 2 ** x);
    case "log2":
      return fit(dtype, Math.log2(x));
    case "log1p":
      return fit(dtype, Math.log1p(x));
    case "expm1":
      return fit(dtype, Math.expm1(x));
    case "sinh":
      return fit(dtype, Math.sinh(x));
    case "cosh":
      return fit(dtype, Math.cosh(x));
    case "isnan":
      return Number.isNaN(x) ? 1 : 0;
    case "isinf":
      return x === Infinity || x === -Infinity ? 1 : 0;
  }
}

/**
 * `x` as a double rounded to odd at 53 bits: exact when it fits, and otherwise a value that
 * rounds to float32 or float16 exactly as `x` itself would (plain `Number(x)` rounds twice,
 * which can land on a tie and round the wrong way). Not for float64: use `Number(x)` there.
 */
function roundOdd53(x: bigint): number {
  const neg = x < 0n, m = neg ? -x : x;
  const shift = m.toString(2).length - 53;
  if (shift <= 0) return Number(x);
  let hi = m >> BigInt(shift);
  if ((hi << BigInt(shift)) !== m) hi |= 1n;
  const r = Number(hi) * 2 ** shift;
  return neg ? -r : r;
}

/**
 * Converts a value of type `from` to type `to`; an int64 value (either side) is a BigInt.
 * A float becomes an integer by truncating toward zero and wrapping modulo 2^width, as
 * JavaScript's ToInt32 does for int32 (so NaN and infinities give 0); an integer becomes a
 * narrower one by wrapping; anything becomes bool as `!= 0`.
 */
export function evalCast(to: DType, from: DType, x: number | bigint): number | bigint {
  if (typeof x === "bigint") {
    if (to === "int64") return x;
    if (to === "bool") return x !== 0n ? 1 : 0;
    // Through int32 bits for narrow ints (exact); one rounding for floats.
    if (isInt(to)) return fit(to, Number(BigInt.asIntN(32, x)));
    return to === "float64" ? Number(x) : fit(to, roundOdd53(x));
  }
  if (to === "bool") return x !== 0 ? 1 : 0;
  if (to === "int64") {
    if (!Number.isFinite(x)) return 0n;
    return wrap64(BigInt(Math.trunc(x)));
  }
  if (isInt(to) && isFloat(from)) {
    if (!Number.isFinite(x)) return 0;
    const t = Math.trunc(x);
    // Exactly ToInt32 (the modulo is exact for a double): `| 0` on a huge t is too.
    return fit(to, t | 0);
  }
  return fit(to, x);
}
