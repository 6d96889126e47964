/**
 * Argument checks the layers share: a layer's constructor refuses a bad size before any
 * export, naming the layer and the argument.
 */
import { TesseraError } from "../../error.ts";

export function positive(v: unknown, where: string, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new TesseraError(`${where}: ${what} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

export function nonNegative(v: unknown, where: string, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new TesseraError(`${where}: ${what} must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

/** A size given as one number or a pair (PyTorch's `_pair`). */
export function pair(
  v: number | readonly number[],
  where: string,
  what: string,
  check = positive,
): [number, number] {
  const p = typeof v === "number" ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2) {
    throw new TesseraError(`${where}: ${what} must be a number or a pair, got ${String(v)}`);
  }
  return [check(p[0], where, what), check(p[1], where, what)];
}
