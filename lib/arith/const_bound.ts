/**
 * Constant integer bounds (TVM's ConstIntBound): the cheapest question the simplifier asks,
 * "what numbers can this int32 expression take, given the loop ranges?". It answers with
 * plain numbers (±Infinity when unknown) by interval arithmetic over the tree, treating
 * values as exact integers: like the rest of the arith layer it reasons as if int32 never
 * overflows. Each analyzer memoizes per node, since a simplification asks about the same
 * subtrees over and over.
 */
import type { Expr, Var } from "../ir/expr.ts";
import type { Interval } from "./interval.ts";

export interface Bound {
  readonly lo: number;
  readonly hi: number;
}

export const UNKNOWN: Bound = { lo: -Infinity, hi: Infinity };
const BOOL: Bound = { lo: 0, hi: 1 };

// 0 * ±Infinity is NaN in JS but 0 here: an unknown factor times exactly zero is zero.
const mulB = (x: number, y: number) => (x === 0 || y === 0 ? 0 : x * y);

function hull(xs: number[]): Bound {
  return { lo: Math.min(...xs), hi: Math.max(...xs) };
}

function divBound(a: Bound, c: number, round: (x: number) => number): Bound {
  // `+ 0` turns Math.trunc's -0 into 0: a -0 bound would fold to a -0 int32 constant.
  const x = round(a.lo / c) + 0, y = round(a.hi / c) + 0;
  return c > 0 ? { lo: x, hi: y } : { lo: y, hi: x };
}

function floorModBound(a: Bound, c: number): Bound {
  if (c < 0) return { lo: c + 1, hi: 0 };
  if (
    Number.isFinite(a.lo) && Number.isFinite(a.hi) && Math.floor(a.lo / c) === Math.floor(a.hi / c)
  ) {
    const r = (x: number) => x - Math.floor(x / c) * c;
    return { lo: r(a.lo), hi: r(a.hi) };
  }
  return { lo: 0, hi: a.lo >= 0 ? Math.min(c - 1, a.hi) : c - 1 };
}

function truncModBound(a: Bound, c: number): Bound {
  const m = Math.abs(c) - 1;
  if (a.lo >= 0) {
    if (Number.isFinite(a.hi) && Math.trunc(a.lo / c) === Math.trunc(a.hi / c)) {
      return { lo: a.lo % c, hi: a.hi % c };
    }
    return { lo: 0, hi: Math.min(m, a.hi) };
  }
  if (a.hi <= 0) return { lo: Math.max(-m, a.lo), hi: 0 };
  return { lo: -m, hi: m };
}

/** Numeric bounds of int32 expressions, under variable ranges given as symbolic intervals. */
export class ConstBounds {
  private readonly memo = new Map<Expr, Bound>();
  private readonly varMemo = new Map<Var, Bound>();
  private readonly inProgress = new Set<Var>();

  constructor(private readonly vars: ReadonlyMap<Var, Interval>) {}

  of(e: Expr): Bound {
    const hit = this.memo.get(e);
    if (hit) return hit;
    const b = this.compute(e);
    this.memo.set(e, b);
    return b;
  }

  private ofVar(v: Var): Bound {
    const hit = this.varMemo.get(v);
    if (hit) return hit;
    const iv = this.vars.get(v);
    if (!iv) return v.dtype === "bool" ? BOOL : UNKNOWN;
    // Ranges are acyclic by contract; the guard only keeps a broken caller from looping.
    if (this.inProgress.has(v)) return UNKNOWN;
    this.inProgress.add(v);
    const b = { lo: this.of(iv.min).lo, hi: this.of(iv.max).hi };
    this.inProgress.delete(v);
    this.varMemo.set(v, b);
    return b;
  }

  private compute(e: Expr): Bound {
    if (e.dtype === "bool") {
      return e.kind === "const" ? { lo: e.value, hi: e.value } : BOOL;
    }
    if (e.dtype !== "int32") return UNKNOWN;
    switch (e.kind) {
      case "const":
        return { lo: e.value, hi: e.value };
      case "var":
        return this.ofVar(e);
      case "neg": {
        const a = this.of(e.a);
        return { lo: -a.hi, hi: -a.lo };
      }
      case "select": {
        const t = this.of(e.t), f = this.of(e.f);
        return { lo: Math.min(t.lo, f.lo), hi: Math.max(t.hi, f.hi) };
      }
      case "cast":
        return e.value.dtype === "bool"
          ? BOOL
          : e.value.dtype === "int32"
          ? this.of(e.value)
          : UNKNOWN;
      case "call": {
        if (e.op !== "abs") return UNKNOWN;
        const a = this.of(e.args[0]);
        const lo = a.lo >= 0 ? a.lo : a.hi <= 0 ? -a.hi : 0;
        return { lo, hi: Math.max(Math.abs(a.lo), Math.abs(a.hi)) };
      }
      case "binary":
        return this.binary(e.op, this.of(e.a), this.of(e.b));
      default:
        return UNKNOWN;
    }
  }

  private binary(op: string, a: Bound, b: Bound): Bound {
    const c = b.lo === b.hi ? b.lo : null;
    switch (op) {
      case "add":
        return { lo: a.lo + b.lo, hi: a.hi + b.hi };
      case "sub":
        return { lo: a.lo - b.hi, hi: a.hi - b.lo };
      case "mul":
        return hull([mulB(a.lo, b.lo), mulB(a.lo, b.hi), mulB(a.hi, b.lo), mulB(a.hi, b.hi)]);
      case "min":
        return { lo: Math.min(a.lo, b.lo), hi: Math.min(a.hi, b.hi) };
      case "max":
        return { lo: Math.max(a.lo, b.lo), hi: Math.max(a.hi, b.hi) };
      case "floordiv":
        if (c !== null && c !== 0) return divBound(a, c, Math.floor);
        break;
      case "div":
        if (c !== null && c !== 0) return divBound(a, c, Math.trunc);
        break;
      case "floormod":
        if (c !== null && c !== 0) return floorModBound(a, c);
        if (b.lo > 0) return { lo: 0, hi: b.hi - 1 };
        break;
      case "mod":
        if (c !== null && c !== 0) return truncModBound(a, c);
        break;
    }
    // Whatever the (nonzero) divisor, a truncated quotient or remainder is no larger than the
    // dividend. A divisor that may be zero gets no bound, so nothing folds a division by zero.
    if ((op === "div" || op === "mod") && (b.lo > 0 || b.hi < 0)) {
      const m = Math.max(Math.abs(a.lo), Math.abs(a.hi));
      return { lo: op === "mod" && a.lo >= 0 ? 0 : -m, hi: op === "mod" && a.hi <= 0 ? 0 : m };
    }
    return UNKNOWN;
  }
}
