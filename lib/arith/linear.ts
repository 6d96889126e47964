/**
 * Canonical linear form of int32 sums. Index expressions built by split/fuse/tile are sums
 * of scaled loop variables, and most of what makes them read badly (`io*8 + ii - io*8`,
 * `(i*4 + j)*2`, `1 + i`) disappears once a sum is seen as `c0 + Σ coeff·atom`, with like
 * atoms merged. An atom is any int32 subexpression that is not itself add/sub/mul-by-constant/
 * neg (a variable, a floordiv, a load...). Coefficients and the constant are exact integers,
 * never wrapped: a sum whose coefficients would leave int32 stays as it was written (its own
 * add/sub/mul wrap at run time, or are computed in int64 where the C printer makes an index
 * wide), so a size such as `46341 * 46341` is never folded into a wrong constant. Rebuilding
 * from an exact form preserves the value exactly, and modulo 2^32 as well.
 */
import { Binary, Const, type Expr, Neg } from "../ir/expr.ts";
import { exprKey } from "./structural.ts";

export interface Term {
  readonly atom: Expr;
  readonly coeff: number;
}

/** `constant + Σ terms`; the map keeps first-appearance order, which printing follows. */
export class Linear {
  readonly constant: number;
  constructor(readonly terms: ReadonlyMap<string, Term>, constant: number) {
    this.constant = constant + 0; // never -0: it would fold to a -0 int32 constant
  }

  isConst(): boolean {
    return this.terms.size === 0;
  }
}

const INT_MIN = -2147483648;
const INT_MAX = 0x7fffffff;
const fits = (c: number) => c >= INT_MIN && c <= INT_MAX;

/** Whether every coefficient and the constant fit int32, so `fromLinear` gives int32 constants. */
export function fitsInt32(l: Linear): boolean {
  if (!fits(l.constant)) return false;
  for (const t of l.terms.values()) if (!fits(t.coeff)) return false;
  return true;
}

export function constLinear(c: number): Linear {
  return new Linear(new Map(), c + 0);
}

export function atomLinear(atom: Expr): Linear {
  return new Linear(new Map([[exprKey(atom), { atom, coeff: 1 }]]), 0);
}

/** `a + sign*b`, dropping terms that cancel. */
export function addLinear(a: Linear, b: Linear, sign: 1 | -1 = 1): Linear {
  if (b.isConst() && b.constant === 0) return a;
  const terms = new Map(a.terms);
  for (const [k, t] of b.terms) {
    const prev = terms.get(k);
    const coeff = (prev?.coeff ?? 0) + sign * t.coeff;
    if (coeff === 0) terms.delete(k);
    else terms.set(k, { atom: prev?.atom ?? t.atom, coeff });
  }
  return new Linear(terms, a.constant + sign * b.constant);
}

export function scaleLinear(a: Linear, k: number): Linear {
  if (k === 1) return a;
  if (k === 0) return constLinear(0);
  const terms = new Map<string, Term>();
  for (const [key, t] of a.terms) {
    const coeff = t.coeff * k;
    if (coeff !== 0) terms.set(key, { atom: t.atom, coeff });
  }
  return new Linear(terms, a.constant * k + 0);
}

// Linear forms are a pure function of the (immutable) node, so they can be cached globally.
const cache = new WeakMap<Expr, Linear>();

/** The linear form of an int32 expression; non-linear parts become atoms as they are. */
export function toLinear(e: Expr): Linear {
  const hit = cache.get(e);
  if (hit) return hit;
  let r: Linear;
  if (e.kind === "const") r = constLinear(e.value);
  else if (e.kind === "neg") r = scaleLinear(toLinear(e.a), -1);
  else if (e.kind === "binary" && (e.op === "add" || e.op === "sub")) {
    r = mergeDivMod(addLinear(toLinear(e.a), toLinear(e.b), e.op === "add" ? 1 : -1));
  } else if (e.kind === "binary" && e.op === "mul") {
    const a = toLinear(e.a), b = toLinear(e.b);
    if (a.isConst()) r = scaleLinear(b, a.constant);
    else if (b.isConst()) r = scaleLinear(a, b.constant);
    else r = atomLinear(e);
  } else r = atomLinear(e);
  // Past int32 the form could not be rebuilt without wrapping: the expression is its own atom.
  if (!fitsInt32(r)) r = atomLinear(e);
  cache.set(e, r);
  return r;
}

const c32 = (v: number) => new Const(v, "int32");

/**
 * `k·(x / c)·c + k·(x % c)` is `k·x`, for floor and truncating division alike (and modulo
 * 2^32, so wrapping cannot break it). Fusing loops and splitting them again leaves exactly
 * this in every index (`(f // 6) * 6 + f % 6`), and without the rule a kernel recomputes two
 * divisions per access.
 */
function mergeDivMod(l: Linear): Linear {
  if (l.terms.size < 2) return l;
  for (const [key, t] of l.terms) {
    const m = t.atom;
    if (m.kind !== "binary" || (m.op !== "floormod" && m.op !== "mod")) continue;
    if (m.b.kind !== "const" || m.b.value === 0) continue;
    const div = new Binary(m.op === "mod" ? "div" : "floordiv", m.a, m.b, "int32");
    const q = l.terms.get(exprKey(div));
    if (!q || q.coeff !== t.coeff * m.b.value) continue;
    const rest = new Map(l.terms);
    rest.delete(key);
    rest.delete(exprKey(div));
    const merged = addLinear(new Linear(rest, l.constant), scaleLinear(toLinear(m.a), t.coeff));
    return mergeDivMod(merged);
  }
  return l;
}

function scaled(atom: Expr, k: number): Expr {
  if (k === 1) return atom;
  if (fits(k)) return new Binary("mul", atom, c32(k), "int32");
  // Only forms derived from in-range ones get here; written as a product of int32 factors,
  // the value stays exact where it is computed wide and wraps as before where it is not.
  const hi = Math.trunc(k / 65536), lo = k - hi * 65536;
  const big = new Binary("mul", scaled(atom, hi), c32(65536), "int32");
  return lo === 0 ? big : new Binary("add", big, scaled(atom, lo), "int32");
}

/** An int32 constant, or a sum of products of int32 constants for a value outside int32. */
function constant(c: number): Expr {
  if (fits(c)) return c32(c);
  const hi = Math.trunc(c / 65536), lo = c - hi * 65536;
  const big = new Binary("mul", constant(hi), c32(65536), "int32");
  return lo === 0 ? big : new Binary("add", big, c32(lo), "int32");
}

/**
 * Rebuilds an expression that reads like hand-written code: terms in first-appearance order
 * but led by a positive one (`n - i`, not `-i + n`), subtraction instead of negative
 * coefficients, the constant last unless it is the only positive part (`5 - i`).
 */
export function fromLinear(l: Linear): Expr {
  const terms = [...l.terms.values()];
  const firstPos = terms.findIndex((t) => t.coeff > 0);
  if (firstPos > 0) terms.unshift(...terms.splice(firstPos, 1));
  let acc: Expr | null = null;
  const c = l.constant;
  if (firstPos < 0 && terms.length > 0 && c > 0) acc = constant(c);
  for (const t of terms) {
    if (acc === null) {
      acc = t.coeff === -1 ? new Neg(t.atom) : scaled(t.atom, t.coeff);
    } else if (t.coeff > 0 || t.coeff === INT_MIN) {
      acc = new Binary("add", acc, scaled(t.atom, t.coeff), "int32");
    } else {
      acc = new Binary("sub", acc, scaled(t.atom, -t.coeff), "int32");
    }
  }
  if (acc === null) return constant(c);
  if (c === 0 || (firstPos < 0 && c > 0)) return acc;
  if (c > 0 || c === INT_MIN) return new Binary("add", acc, constant(c), "int32");
  return new Binary("sub", acc, constant(-c), "int32");
}
