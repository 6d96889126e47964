/**
 * The arithmetic of one scalar of each dtype, as JavaScript numbers: the single source of
 * numeric meaning for the interpreter, the direct evaluator and the constant folder. float32
 * results are rounded with Math.fround after every operation, float16 with Math.f16round,
 * int32 wraps like two's-complement C, bool is 0 or 1. Integer `div`/`mod` truncate (C);
 * `floordiv`/`floormod` round toward -inf (Python, TVM). Integer division by zero is an
 * error rather than C's undefined behaviour. int32 `pow` is the exact power, wrapped. `min`
 * and `max` order -0 below +0 (Math.min). `round` is round-half-to-even (IEEE, numpy, WGSL,
 * C's rint), `erf` is computed in float64 and rounded.
 */
import { TesseraError } from "../error.ts";
import type { DType } from "./dtype.ts";
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
    case "bool":
      return x ? 1 : 0;
  }
}

function intDivZero(op: string): never {
  throw new TesseraError(`integer ${op} by zero`);
}

export function evalBinary(op: BinaryOp, dtype: DType, a: number, b: number): number {
  const int = dtype === "int32";
  switch (op) {
    case "add":
      return fit(dtype, a + b);
    case "sub":
      return fit(dtype, a - b);
    case "mul":
      return int ? Math.imul(a, b) : fit(dtype, a * b);
    case "div":
      if (int) return b === 0 ? intDivZero("div") : (a / b) | 0;
      return fit(dtype, a / b);
    case "mod":
      return b === 0 ? intDivZero("mod") : (a % b) | 0;
    case "floordiv":
      if (int) return b === 0 ? intDivZero("floordiv") : Math.floor(a / b) | 0;
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
      return int ? powInt(a, b) : fit(dtype, Math.pow(a, b));
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
      return dtype === "int32" ? Math.abs(x) | 0 : Math.abs(x);
    case "floor":
      return Math.floor(x);
    case "ceil":
      return Math.ceil(x);
    case "round":
      return roundHalfEven(x);
    case "erf":
      return fit(dtype, erf(x));
  }
}

/** Converts a value of type `from` to type `to` (float to int truncates, like C). */
export function evalCast(to: DType, from: DType, x: number): number {
  if (to === "bool") return x !== 0 ? 1 : 0;
  if (to === "int32" && from !== "int32") {
    if (!Number.isFinite(x)) return 0;
    return Math.trunc(x) | 0;
  }
  return fit(to, x);
}
