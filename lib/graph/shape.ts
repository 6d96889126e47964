/**
 * Shape arithmetic the operators share: numpy broadcasting over known and symbolic
 * dimensions, axis normalization, and dimension products (for reshape with symbolic sizes).
 * A symbolic dimension equals only itself; it broadcasts against 1 and nothing else.
 */
import { TesseraError } from "../error.ts";
import { type Dim, type Shape, showShape } from "./ir.ts";

export const dimEq = (a: Dim, b: Dim): boolean => a === b;

/** numpy broadcasting of several shapes; `where` names the node in the error. */
export function broadcastShapes(shapes: readonly Shape[], where: string): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const e = s[s.length - rank + i] ?? 1;
      if (e === 1 || dimEq(e, d)) continue;
      if (d === 1) {
        d = e;
        continue;
      }
      throw new TesseraError(
        `${where}: shapes ${shapes.map(showShape).join(" and ")} do not broadcast: ` +
          `dimension ${i - rank} is ${d} in one and ${e} in another (numpy broadcasting ` +
          `needs them equal or one of them 1)`,
      );
    }
    out.push(d);
  }
  return out;
}

/** An axis in [-rank, rank) as one in [0, rank). */
export function normAxis(axis: number, rank: number, where: string, what = "axis"): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new TesseraError(
      `${where}: ${what} ${axis} is out of range for rank ${rank}; expected an integer in ` +
        `[${-rank}, ${rank - 1}]`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

/** Normalized, distinct axes. */
export function normAxes(axes: readonly number[], rank: number, where: string): number[] {
  const out = axes.map((a) => normAxis(a, rank, where, "axis"));
  if (new Set(out).size !== out.length) {
    throw new TesseraError(`${where}: axes [${axes.join(", ")}] repeat an axis`);
  }
  return out;
}

/**
 * A product of dimensions as a number times symbols (a multiset of names), so that a
 * reshape can check `(n, 3, 4) -> (n, 12)` and solve a -1 entry with a symbolic batch.
 */
export interface DimProduct {
  coef: number;
  syms: string[];
}

export function productOf(dims: readonly Dim[]): DimProduct {
  let coef = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === "number") coef *= d;
    else syms.push(d);
  }
  syms.sort();
  return { coef, syms };
}

/** a / b when it is a single dimension (a number, or one symbol with coefficient 1), else null. */
export function divideProducts(a: DimProduct, b: DimProduct): Dim | null {
  const rest = [...a.syms];
  for (const s of b.syms) {
    const i = rest.indexOf(s);
    if (i < 0) return null;
    rest.splice(i, 1);
  }
  if (b.coef === 0 || a.coef % b.coef !== 0) return null;
  const coef = a.coef / b.coef;
  if (rest.length === 0) return coef;
  if (rest.length === 1 && coef === 1) return rest[0];
  return null;
}

export const sameProduct = (a: DimProduct, b: DimProduct): boolean =>
  a.coef === b.coef && a.syms.length === b.syms.length && a.syms.every((s, i) => s === b.syms[i]);

export function showProduct(p: DimProduct): string {
  return [String(p.coef), ...p.syms].join("*");
}
