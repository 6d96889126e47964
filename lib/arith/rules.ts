/**
 * The rewrite rules of the simplifier, one small function per operator family, in the style
 * of Halide's Simplify: each node is rebuilt from already-simplified children by a "smart
 * constructor" that folds constants, applies algebraic identities and uses variable ranges to
 * decide comparisons, min/max and divisions. int32 sums go through the canonical linear form,
 * so most arithmetic identities are not rules at all but fall out of merging like terms.
 * Floats are treated conservatively: only rewrites that are exact for every value (NaN, ±0
 * and infinities included) are applied. Every rule must keep the value and the dtype.
 */
import {
  Binary,
  type BinaryOp,
  Call,
  Cast,
  Cmp,
  type CmpOp,
  Const,
  type Expr,
  intConst,
  Logical,
  type LogicalOp,
  Not,
  Select,
  type Var,
} from "../ir/expr.ts";
import { type DType, isInt } from "../ir/dtype.ts";
import { evalBinary, evalBinary64, evalCall, evalCast, evalCmp, fit } from "../ir/scalar.ts";
import { freeVars, mapChildren } from "../ir/visit.ts";
import { type Bound, ConstBounds } from "./const_bound.ts";
import { type Interval, symbolicBound } from "./interval.ts";
import { addLinear, constLinear, fromLinear, Linear, type Term, toLinear } from "./linear.ts";
import { exprEqual } from "./structural.ts";

export const TRUE: Const = new Const(1, "bool");
export const FALSE: Const = new Const(0, "bool");
const boolConst = (b: boolean) => (b ? TRUE : FALSE);

const INT_MAX = 2147483647;
const DIVS: ReadonlySet<BinaryOp> = new Set(["div", "mod", "floordiv", "floormod"]);
const WRAPS: ReadonlySet<BinaryOp> = new Set(["add", "sub", "mul"]);
const isInt32 = (v: number) => v === (v | 0);
const exactArith = (op: BinaryOp, a: number, b: number) =>
  op === "add" ? a + b : op === "sub" ? a - b : a * b;

const gcd = (a: number, b: number): number => {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
};
const floorMod = (a: number, c: number) => a - Math.floor(a / c) * c;

const FLIP: Record<CmpOp, CmpOp> = { lt: "gt", le: "ge", gt: "lt", ge: "le", eq: "eq", ne: "ne" };
const NEGATE: Record<CmpOp, CmpOp> = { lt: "ge", le: "gt", gt: "le", ge: "lt", eq: "ne", ne: "eq" };

/** `d op 0` decided from the bounds of `d`; null when the bounds do not decide it. */
function decideSign(op: CmpOp, d: Bound): boolean | null {
  switch (op) {
    case "lt":
      return d.hi < 0 ? true : d.lo >= 0 ? false : null;
    case "le":
      return d.hi <= 0 ? true : d.lo > 0 ? false : null;
    case "gt":
      return d.lo > 0 ? true : d.hi <= 0 ? false : null;
    case "ge":
      return d.lo >= 0 ? true : d.hi < 0 ? false : null;
    case "eq":
      return d.lo === 0 && d.hi === 0 ? true : d.lo > 0 || d.hi < 0 ? false : null;
    case "ne":
      return d.lo === 0 && d.hi === 0 ? false : d.lo > 0 || d.hi < 0 ? true : null;
  }
}

/** Whether every value of `from` is exactly representable in `via`. */
function widens(from: DType, via: DType): boolean {
  if (from === via || from === "bool") return true;
  const into: Record<string, string[]> = {
    int8: ["int32", "int64", "float16", "float32", "float64"],
    uint8: ["int32", "int64", "float16", "float32", "float64"],
    int32: ["int64", "float64"],
    float16: ["float32", "float64"],
    float32: ["float64"],
  };
  return into[from]?.includes(via) ?? false;
}

/** A folded value as a constant, or null where a double cannot hold it (int64 past 2^53). */
function folded(v: number | bigint, dtype: DType): Const | null {
  if (typeof v === "number") return new Const(v, dtype);
  const n = Number(v);
  return Number.isSafeInteger(n) ? new Const(n, dtype) : null;
}

/** A simplification context: fixed variable ranges plus per-call memo tables. */
export class Simplifier {
  private readonly memo = new Map<Expr, Expr>();
  private readonly bounds: ConstBounds;
  private readonly symMemo = new Map<Expr, Bound>();
  /** Variables whose range is not constant; only these make symbolic bounds worth their cost. */
  private readonly symbolicVars = new Set<Var>();

  constructor(readonly rel: ReadonlyMap<Var, Interval>) {
    this.bounds = new ConstBounds(rel);
    for (const [v, iv] of rel) {
      if (iv.min.kind !== "const" || iv.max.kind !== "const") this.symbolicVars.add(v);
    }
  }

  run(e: Expr): Expr {
    const hit = this.memo.get(e);
    if (hit) return hit;
    let r = this.rebuild(mapChildren(e, (x) => this.run(x)));
    if (r.dtype === "int32" && r.kind !== "const") {
      const b = this.bounds.of(r);
      if (b.lo === b.hi && b.lo === (b.lo | 0)) r = intConst(b.lo);
    }
    this.memo.set(e, r);
    return r;
  }

  /** Numeric bounds, sharpened by symbolic interval analysis when symbolic ranges are involved. */
  bound(e: Expr): Bound {
    const n = this.bounds.of(e);
    if (this.symbolicVars.size === 0 || (n.lo === n.hi)) return n;
    let s = this.symMemo.get(e);
    if (!s) {
      const uses = [...freeVars(e)].some((v) => this.symbolicVars.has(v));
      s = uses ? symbolicBound(e, this.rel) : n;
      this.symMemo.set(e, s);
    }
    return { lo: Math.max(n.lo, s.lo), hi: Math.min(n.hi, s.hi) };
  }

  private rebuild(e: Expr): Expr {
    switch (e.kind) {
      case "binary":
        return this.binary(e.op, e.a, e.b, e.dtype, e);
      case "cmp":
        return this.cmp(e.op, e.a, e.b, e);
      case "logical":
        return this.logical(e.op, e.a, e.b, e);
      case "not":
        return this.not(e.a, e);
      case "neg":
        return this.neg(e.a, e);
      case "select":
        return this.select(e.cond, e.t, e.f, e);
      case "cast":
        return this.cast(e.dtype, e.value, e);
      case "call":
        return this.call(e);
      default:
        return e;
    }
  }

  // ---- arithmetic -------------------------------------------------------------------------

  private binary(op: BinaryOp, a: Expr, b: Expr, dtype: DType, orig?: Expr): Expr {
    const keep = () => orig ?? new Binary(op, a, b, dtype);
    if (a.kind === "const" && b.kind === "const") {
      // Integer division by zero is an error at run time; folding would hide it.
      if (isInt(dtype) && DIVS.has(op) && b.value === 0) return keep();
      if (dtype === "int64") {
        return folded(evalBinary64(op, BigInt(a.value), BigInt(b.value)), dtype) ?? keep();
      }
      // A sum or product past int32 is kept as written, not wrapped: it may be a size, and
      // an index computed wide (int64 in C) needs its exact value.
      if (dtype === "int32" && WRAPS.has(op) && !isInt32(exactArith(op, a.value, b.value))) {
        return keep();
      }
      return new Const(evalBinary(op, dtype, a.value, b.value), dtype);
    }
    if (dtype === "int32") {
      if (op === "add" || op === "sub" || op === "mul") return this.linear(keep());
      if (DIVS.has(op)) return this.divide(op, a, b, keep);
      if (op === "min" || op === "max") return this.minmax(op, a, b, keep);
      return keep();
    }
    return this.floatBinary(op, a, b, keep);
  }

  /** Only identities exact for every float, -0 and NaN included (`x + 0` is not: -0 + 0 = 0). */
  private floatBinary(op: BinaryOp, a: Expr, b: Expr, keep: () => Expr): Expr {
    const isC = (x: Expr, v: number) => x.kind === "const" && Object.is(x.value, v);
    switch (op) {
      case "mul":
        if (isC(b, 1)) return a;
        if (isC(a, 1)) return b;
        break;
      case "div":
        if (isC(b, 1)) return a;
        break;
      case "add":
        if (isC(b, -0)) return a;
        if (isC(a, -0)) return b;
        break;
      case "sub":
        if (isC(b, 0)) return a;
        break;
      case "min":
      case "max":
        if (exprEqual(a, b)) return a;
        break;
    }
    return keep();
  }

  private linear(e: Expr): Expr {
    return fromLinear(toLinear(e));
  }

  private diff(a: Expr, b: Expr): Expr {
    return fromLinear(addLinear(toLinear(a), toLinear(b), -1));
  }

  /**
   * Division by a positive constant. Floored division is exact on sums: multiples of the
   * divisor come out (`(a*c + b) // c = a + b // c`) and a remainder proven to stay within one
   * period folds away. Truncating division agrees with floored division on a non-negative
   * dividend, so it gets the same rules once that is proven.
   */
  private divide(op: BinaryOp, a: Expr, b: Expr, keep: () => Expr): Expr {
    if (b.kind !== "const" || b.value <= 0) return keep();
    const c = b.value;
    const isDiv = op === "div" || op === "floordiv";
    if (c === 1) return isDiv ? a : intConst(0);
    const trunc = op === "div" || op === "mod";
    if (trunc && this.bound(a).lo < 0) return keep();

    const la = toLinear(a);
    const q = new Map<string, Term>(), r = new Map<string, Term>();
    for (const [k, t] of la.terms) {
      if (t.coeff % c === 0) q.set(k, { atom: t.atom, coeff: t.coeff / c });
      else r.set(k, t);
    }
    const quot = new Linear(q, 0);
    const rest = new Linear(r, isDiv ? la.constant : floorMod(la.constant, c));
    const rb = this.bound(fromLinear(rest));
    const period = Math.floor(rb.lo / c);
    const onePeriod = Number.isFinite(rb.lo) && period === Math.floor(rb.hi / c);
    if (isDiv) {
      if (onePeriod) return fromLinear(addLinear(quot, constLinear(period)));
      const d = this.divideRest(rest, c, trunc ? "div" : "floordiv", "floordiv");
      return quot.isConst() ? d : this.linear(new Binary("add", fromLinear(quot), d, "int32"));
    }
    if (onePeriod) return fromLinear(addLinear(rest, constLinear(-period * c)));
    return this.divideRest(rest, c, trunc ? "mod" : "floormod", "floormod");
  }

  /**
   * `rest / c` or `rest % c` when no term of `rest` is a multiple of `c`: cancel a common
   * factor, or merge nested divisions. Emits the truncating op only where it provably agrees
   * with the floored one (`rest` is non-negative).
   */
  private divideRest(rest: Linear, c: number, truncOp: BinaryOp, floorOp: BinaryOp): Expr {
    const op = truncOp !== floorOp && this.bound(fromLinear(rest)).lo >= 0 ? truncOp : floorOp;
    const isDiv = op === "div" || op === "floordiv";
    let g = gcd(rest.constant, c);
    for (const t of rest.terms.values()) g = gcd(g, t.coeff);
    if (g > 1) {
      const inner = this.divide(
        op,
        fromLinear(scaleDown(rest, g)),
        intConst(c / g),
        () => new Binary(op, fromLinear(scaleDown(rest, g)), intConst(c / g), "int32"),
      );
      return isDiv ? inner : this.linear(new Binary("mul", inner, intConst(g), "int32"));
    }
    const x = fromLinear(rest);
    if (rest.constant === 0 && rest.terms.size === 1) {
      const [t] = rest.terms.values();
      const at = t.atom;
      if (t.coeff === 1 && at.kind === "binary" && at.b.kind === "const" && at.b.value > 0) {
        const c1 = at.b.value;
        // (x // c1) // c2 = x // (c1*c2), and the same for truncation with positive divisors.
        if (isDiv && at.op === op && c1 * c <= INT_MAX) {
          return this.binary(op, at.a, intConst(c1 * c), "int32");
        }
        // (x % c1) % c2 = x % c2 when c2 divides c1.
        if (!isDiv && at.op === op && c1 % c === 0) {
          return this.binary(op, at.a, intConst(c), "int32");
        }
      }
    }
    return new Binary(op, x, intConst(c), "int32");
  }

  private minmax(op: "min" | "max", a: Expr, b: Expr, keep: () => Expr): Expr {
    if (a.kind === "const" && b.kind !== "const") {
      return this.minmax(op, b, a, () => new Binary(op, b, a, "int32"));
    }
    const d = this.bound(this.diff(a, b));
    if (op === "min" ? d.hi <= 0 : d.lo >= 0) return a;
    if (op === "min" ? d.lo >= 0 : d.hi <= 0) return b;
    // min(min(x, c1), c2) = min(x, min(c1, c2))
    if (b.kind === "const" && a.kind === "binary" && a.op === op && a.b.kind === "const") {
      const c = evalBinary(op, "int32", a.b.value, b.value);
      return this.minmax(op, a.a, intConst(c), () => new Binary(op, a.a, intConst(c), "int32"));
    }
    return keep();
  }

  private neg(a: Expr, orig: Expr): Expr {
    if (a.dtype === "int32") return this.linear(orig);
    if (a.kind === "const" && !(a.dtype === "int64" && a.value === -(2 ** 63))) {
      return new Const(fit(a.dtype, -a.value), a.dtype);
    }
    if (a.kind === "neg") return a.a;
    return orig;
  }

  private call(e: Call): Expr {
    if (e.args.every((x) => x.kind === "const")) {
      const vals = e.args.map((x) => (x as Const).value);
      // A failing index check is an error at run time; folding would hide it.
      if (e.op === "checkIndex" && !(vals[0] >= 0 && vals[0] < vals[1])) return e;
      if (e.dtype === "int64") return e; // abs(-2^63) wraps; a double would not
      return new Const(evalCall(e.op, e.dtype, vals), e.dtype);
    }
    return e;
  }

  private cast(dtype: DType, v: Expr, orig?: Expr): Expr {
    if (v.dtype === dtype) return v;
    if (v.kind === "const") {
      const c = folded(evalCast(dtype, v.dtype, v.value), dtype);
      if (c) return c;
    }
    // A cast through a type that holds every value of the source exactly is no cast at all.
    if (v.kind === "cast" && widens(v.value.dtype, v.dtype)) return this.cast(dtype, v.value);
    return orig ?? new Cast(dtype, v);
  }

  // ---- conditions -------------------------------------------------------------------------

  private cmp(op: CmpOp, a: Expr, b: Expr, orig?: Expr): Expr {
    if (a.kind === "const" && b.kind === "const") {
      return boolConst(evalCmp(op, a.value, b.value) === 1);
    }
    if (a.dtype !== "int32") return orig ?? new Cmp(op, a, b);
    if (a.kind === "const") return this.cmp(FLIP[op], b, a);
    const decided = decideSign(op, this.bound(this.diff(a, b)));
    if (decided !== null) return boolConst(decided);
    // `x + 3 < 10` reads better as `x < 7`: move the constant to the constant side.
    const la = toLinear(a);
    if (b.kind === "const" && la.constant !== 0) {
      const lhs = fromLinear(addLinear(la, constLinear(-la.constant)));
      const c = b.value - la.constant;
      if (isInt32(c)) return new Cmp(op, lhs, intConst(c));
    }
    return orig ?? new Cmp(op, a, b);
  }

  private logical(op: LogicalOp, a: Expr, b: Expr, orig?: Expr): Expr {
    // false absorbs `and`, true absorbs `or`; the other constant is the identity.
    const absorbing = op === "or";
    if (a.kind === "const") return (a.value !== 0) === absorbing ? boolConst(absorbing) : b;
    if (b.kind === "const") return (b.value !== 0) === absorbing ? boolConst(absorbing) : a;
    if (exprEqual(a, b)) return a;
    return orig ?? new Logical(op, a, b);
  }

  private not(a: Expr, orig?: Expr): Expr {
    if (a.kind === "const") return boolConst(a.value === 0);
    if (a.kind === "not") return a.a;
    // !(x < y) is x >= y only without NaN; (in)equality negates exactly for every dtype.
    if (
      a.kind === "cmp" &&
      (a.op === "eq" || a.op === "ne" || a.a.dtype === "int32" || a.a.dtype === "bool")
    ) {
      return this.cmp(NEGATE[a.op], a.a, a.b);
    }
    return orig ?? new Not(a);
  }

  private select(c: Expr, t: Expr, f: Expr, orig?: Expr): Expr {
    if (c.kind === "const") return c.value !== 0 ? t : f;
    if (exprEqual(t, f)) return t;
    if (t.dtype === "bool" && t.kind === "const" && f.kind === "const") {
      return t.value === f.value ? t : t.value !== 0 ? c : this.not(c);
    }
    return orig ?? new Select(c, t, f);
  }
}

function scaleDown(l: Linear, g: number): Linear {
  const terms = new Map<string, Term>();
  for (const [k, t] of l.terms) terms.set(k, { atom: t.atom, coeff: t.coeff / g });
  return new Linear(terms, l.constant / g);
}
