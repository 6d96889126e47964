/**
 * Symbolic interval analysis, the engine of bound inference: which region of a producer does
 * a consumer touch when its loop variables sweep their ranges? Ranges are symbolic (an inner
 * split loop runs over `[io*8, io*8 + 7]`, a tile over `[0, n - 1]`), so bounds are
 * expressions, not numbers. Variables are relaxed one at a time, the ones whose ranges
 * mention others first, simplifying in between; that keeps correlations a one-shot interval
 * arithmetic would lose (`n - i` with `i ∈ [0, n-1]` is `[1, n]`, not `[1 - n, n]`).
 */
import { Binary, type Expr, intConst, Select, type Var } from "../ir/expr.ts";
import { freeVars, usesVar } from "../ir/visit.ts";
import { type Bound, ConstBounds, UNKNOWN } from "./const_bound.ts";
import { exprEqual } from "./structural.ts";
import { simplify } from "./simplify.ts";

/** Inclusive bounds of an int32 expression. */
export interface Interval {
  min: Expr;
  max: Expr;
}

const bin = (op: Binary["op"], a: Expr, b: Expr) => new Binary(op, a, b, "int32");
const point = (e: Expr): Interval => ({ min: e, max: e });

/** Relaxed variables ordered so that a variable comes before every variable its range uses. */
function relaxOrder(relax: ReadonlyMap<Var, Interval>): Var[] {
  const post: Var[] = [];
  const seen = new Set<Var>();
  const visit = (v: Var) => {
    if (seen.has(v)) return;
    seen.add(v);
    const iv = relax.get(v)!;
    for (const u of [...freeVars(iv.min), ...freeVars(iv.max)]) if (relax.has(u)) visit(u);
    post.push(v);
  };
  for (const v of relax.keys()) visit(v);
  return post.reverse();
}

/**
 * The interval of `e` when only `v` varies over `iv`; everything else is a fixed symbol.
 * `bounds` knows all relaxed ranges and is used only to prove signs.
 */
function relaxOne(e: Expr, v: Var, iv: Interval, bounds: ConstBounds): Interval | null {
  const memo = new Map<Expr, Interval | null>();
  const only = new Set([v]);
  const go = (x: Expr): Interval | null => {
    if (!usesVar(x, only)) return point(x);
    const hit = memo.get(x);
    if (hit !== undefined) return hit;
    const r = visit(x);
    memo.set(x, r);
    return r;
  };
  const visit = (x: Expr): Interval | null => {
    if (x === v) return iv;
    if (x.kind === "neg") {
      const a = go(x.a);
      return a && { min: bin("sub", intConst(0), a.max), max: bin("sub", intConst(0), a.min) };
    }
    if (x.kind === "cast") {
      if (x.dtype !== "int32") return null;
      if (x.value.dtype === "bool") return { min: intConst(0), max: intConst(1) };
      return x.value.dtype === "int32" ? go(x.value) : null;
    }
    if (x.kind === "select") {
      const t = go(x.t), f = go(x.f);
      if (!t || !f) return null;
      // A condition that does not depend on v picks the same branch for every v.
      if (!usesVar(x.cond, only)) {
        return { min: new Select(x.cond, t.min, f.min), max: new Select(x.cond, t.max, f.max) };
      }
      return { min: bin("min", t.min, f.min), max: bin("max", t.max, f.max) };
    }
    if (x.kind !== "binary" || x.dtype !== "int32") return null;
    const a = go(x.a);
    if (!a) return null;
    const c = x.b.kind === "const" ? x.b.value : null;
    switch (x.op) {
      case "add":
      case "sub":
      case "min":
      case "max": {
        const b = go(x.b);
        if (!b) return null;
        if (x.op === "add") return { min: bin("add", a.min, b.min), max: bin("add", a.max, b.max) };
        if (x.op === "sub") return { min: bin("sub", a.min, b.max), max: bin("sub", a.max, b.min) };
        return { min: bin(x.op, a.min, b.min), max: bin(x.op, a.max, b.max) };
      }
      case "mul": {
        if (c !== null) return scale(a, x.b, c);
        const b = go(x.b);
        if (!b) return null;
        if (x.a.kind === "const") return scale(b, x.a, x.a.value);
        if (bounds.of(simplify(a.min)).lo >= 0 && bounds.of(simplify(b.min)).lo >= 0) {
          return { min: bin("mul", a.min, b.min), max: bin("mul", a.max, b.max) };
        }
        return null;
      }
      case "div":
      case "floordiv":
        if (c === null || c === 0 || usesVar(x.b, only)) return null;
        return c > 0
          ? { min: bin(x.op, a.min, x.b), max: bin(x.op, a.max, x.b) }
          : { min: bin(x.op, a.max, x.b), max: bin(x.op, a.min, x.b) };
      case "floormod":
      case "mod": {
        if (c === null || c <= 0) return null;
        const divOp = x.op === "mod" ? "div" : "floordiv";
        // Truncated and floored remainders agree on non-negative dividends.
        const nonNeg = x.op === "floormod" || bounds.of(simplify(a.min)).lo >= 0;
        if (nonNeg && samePeriod(a, divOp, c, bounds)) {
          return { min: bin(x.op, a.min, x.b), max: bin(x.op, a.max, x.b) };
        }
        if (nonNeg) return { min: intConst(0), max: intConst(c - 1) };
        return { min: intConst(-(c - 1)), max: intConst(c - 1) };
      }
      default:
        return null;
    }
  };
  return go(e);
}

function scale(a: Interval, k: Expr, c: number): Interval {
  return c >= 0
    ? { min: bin("mul", a.min, k), max: bin("mul", a.max, k) }
    : { min: bin("mul", a.max, k), max: bin("mul", a.min, k) };
}

/** Whether every value of `a` lies in one period of the divisor, so the remainder is monotone. */
function samePeriod(a: Interval, divOp: "div" | "floordiv", c: number, bounds: ConstBounds) {
  const q1 = simplify(bin(divOp, a.min, intConst(c)));
  const q2 = simplify(bin(divOp, a.max, intConst(c)));
  if (exprEqual(q1, q2)) return true;
  const b1 = bounds.of(q1), b2 = bounds.of(q2);
  return Number.isFinite(b1.lo) && b1.lo === b1.hi && b2.lo === b2.hi && b1.lo === b2.lo;
}

/**
 * The range `e` takes when each variable in `relax` ranges over its interval; variables not
 * in `relax` stay symbols. Null when some part cannot be bounded (the caller then falls back
 * to the full domain).
 */
export function evalInterval(e: Expr, relax: ReadonlyMap<Var, Interval>): Interval | null {
  if (e.dtype !== "int32") return null;
  const bounds = new ConstBounds(relax);
  let lo = simplify(e), hi = lo;
  for (const v of relaxOrder(relax)) {
    const only = new Set([v]);
    const raw = relax.get(v)!;
    const iv = { min: simplify(raw.min), max: simplify(raw.max) };
    if (usesVar(lo, only)) {
      const r = relaxOne(lo, v, iv, bounds);
      if (!r) return null;
      lo = simplify(r.min);
    }
    if (usesVar(hi, only)) {
      const r = relaxOne(hi, v, iv, bounds);
      if (!r) return null;
      hi = simplify(r.max);
    }
  }
  return { min: lo, max: hi };
}

/** Converts loop ranges `[min, min + extent)` to inclusive intervals. */
export function rangesToIntervals(
  ranges: ReadonlyMap<Var, { min: Expr; extent: Expr }>,
): Map<Var, Interval> {
  const out = new Map<Var, Interval>();
  for (const [v, r] of ranges) {
    const min = simplify(r.min);
    out.set(v, { min, max: simplify(bin("sub", bin("add", min, r.extent), intConst(1))) });
  }
  return out;
}

/** Numeric bounds of `e` from its symbolic interval with every variable in `rel` relaxed. */
export function symbolicBound(e: Expr, rel: ReadonlyMap<Var, Interval>): Bound {
  const iv = evalInterval(e, rel);
  if (!iv) return UNKNOWN;
  const free = new ConstBounds(new Map());
  return { lo: free.of(iv.min).lo, hi: free.of(iv.max).hi };
}

/**
 * Constant bounds of an int32 expression (±Infinity where unknown) when each variable in
 * `ranges` lies in `[min, min + extent)`, like TVM's ConstIntBound. Symbolic ranges are
 * honoured: `n - i` for `i` in `[0, n)` is at least 1.
 */
export function constBound(
  e: Expr,
  ranges: ReadonlyMap<Var, { min: Expr; extent: Expr }>,
): { min: number; max: number } {
  if (e.kind === "const" && e.dtype === "int32") return { min: e.value, max: e.value };
  if (e.dtype !== "int32" && e.dtype !== "bool") return { min: -Infinity, max: Infinity };
  const rel = rangesToIntervals(ranges);
  const s = simplify(e, ranges);
  const num = new ConstBounds(rel).of(s);
  if (Number.isFinite(num.lo) && Number.isFinite(num.hi)) return { min: num.lo, max: num.hi };
  const sym = symbolicBound(s, rel);
  return { min: Math.max(num.lo, sym.lo), max: Math.min(num.hi, sym.hi) };
}
