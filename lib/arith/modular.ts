/**
 * Known divisors (the coefficient half of TVM's ModularSet): "which integer always divides
 * this int32 expression, whatever values its variables take?". A code generator asks it to
 * prove an access aligned — a vectorized load may use a `vec4<f32>` view of a buffer only
 * when its first lane's index is a multiple of 4. Variables divide by nothing but 1; sums
 * keep the gcd of their terms, products multiply, and everything else gives up (1). The
 * answer 0 means the expression is always 0. Divisors that are powers of two stay true under
 * int32 wrap-around, which is what callers ask about.
 */
import type { Expr } from "../ir/expr.ts";

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The largest d known to divide `e` for every value of its variables (0: `e` is always 0). */
export function knownDivisor(e: Expr): number {
  switch (e.kind) {
    case "const":
      return Number.isInteger(e.value) ? Math.abs(e.value) : 1;
    case "neg":
      return knownDivisor(e.a);
    case "select":
      return gcd(knownDivisor(e.t), knownDivisor(e.f));
    case "binary":
      return binaryDivisor(e);
    default:
      return 1;
  }
}

function binaryDivisor(e: Expr & { kind: "binary" }): number {
  switch (e.op) {
    case "add":
    case "sub":
    case "min":
    case "max":
      return gcd(knownDivisor(e.a), knownDivisor(e.b));
    case "mul": {
      const d = knownDivisor(e.a) * knownDivisor(e.b);
      return Number.isSafeInteger(d) ? d : 1;
    }
    default:
      return 1;
  }
}

/** Whether `e` is provably a multiple of `n`. */
export function isMultipleOf(e: Expr, n: number): boolean {
  return e.dtype === "int32" && knownDivisor(e) % n === 0;
}
