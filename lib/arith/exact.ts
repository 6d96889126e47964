/**
 * Exact integer evaluation of int32 index arithmetic (add, sub, mul, neg, min, max and the
 * four divisions) at given values of its variables, in JavaScript numbers (exact to 2^53),
 * never wrapped: the one evaluator that call-time size checks (lib/runtime/sizes.ts) and loop
 * partitioning's sampling (lib/lower/partition.ts) share. `wrap` gives the int32 value the
 * kernel itself computes, to compare the two.
 */
import type { Expr, Var } from "../ir/expr.ts";

/**
 * The exact value of an int32 expression of sizes and loop variables given their values, or
 * null when it mentions an unbound variable, divides by zero, or uses another operation.
 */
export function evalExact(
  e: Expr,
  sizes: ReadonlyMap<Var, number>,
  /** Wrap every sum and product to int32, as the kernel computes it. */
  wrap = false,
): number | null {
  const go = (x: Expr): number | null => {
    switch (x.kind) {
      case "const":
        return x.dtype === "int32" ? x.value : null;
      case "var":
        return sizes.get(x) ?? null;
      case "neg": {
        const a = go(x.a);
        return a === null ? null : -a + 0;
      }
      case "binary": {
        if (x.dtype !== "int32") return null;
        const a = go(x.a), b = go(x.b);
        if (a === null || b === null) return null;
        const r = exact(x.op, a, b);
        return wrap && r !== null ? r | 0 : r;
      }
      default:
        return null;
    }
  };
  const v = go(e);
  return v !== null && Number.isSafeInteger(v) ? v : null;
}

function exact(op: string, a: number, b: number): number | null {
  switch (op) {
    case "add":
      return a + b;
    case "sub":
      return a - b;
    case "mul":
      return a * b;
    case "min":
      return Math.min(a, b);
    case "max":
      return Math.max(a, b);
  }
  if (b === 0) return null;
  switch (op) {
    case "div":
      return Math.trunc(a / b) + 0;
    case "mod":
      return (a % b) + 0;
    case "floordiv":
      return Math.floor(a / b);
    case "floormod":
      return a - Math.floor(a / b) * b;
  }
  return null;
}
