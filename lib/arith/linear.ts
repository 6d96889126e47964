/**
 * Canonical linear form of int32 sums. Index expressions built by split/fuse/tile are sums
 * of scaled loop variables, and most of what makes them read badly (`io*8 + ii - io*8`,
 * `(i*4 + j)*2`, `1 + i`) disappears once a sum is seen as `c0 + Σ coeff·atom`, with like
 * atoms merged. An atom is any int32 subexpression that is not itself add/sub/mul-by-constant/
 * neg (a variable, a floordiv, a load...). Coefficients and the constant wrap like int32, so
 * rebuilding an expression from its linear form preserves its value modulo 2^32, exactly as
 * the add/sub/mul it came from do.
 */
import { Binary, Const, type Expr, Neg } from "../ir/expr.ts";
import { exprKey } from "./structural.ts";

export interface Term {
  readonly atom: Expr;
  readonly coeff: number;
}

/** `constant + Σ terms`; the map keeps first-appearance order, which printing follows. */
export class Linear {
  constructor(readonly terms: ReadonlyMap<string, Term>, readonly constant: number) {}

  isConst(): boolean {
    return this.terms.size === 0;
  }
}

const INT_MIN = -2147483648;

export function constLinear(c: number): Linear {
  return new Linear(new Map(), c | 0);
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
    const coeff = ((prev?.coeff ?? 0) + sign * t.coeff) | 0;
    if (coeff === 0) terms.delete(k);
    else terms.set(k, { atom: prev?.atom ?? t.atom, coeff });
  }
  return new Linear(terms, (a.constant + sign * b.constant) | 0);
}

export function scaleLinear(a: Linear, k: number): Linear {
  if (k === 1) return a;
  if (k === 0) return constLinear(0);
  const terms = new Map<string, Term>();
  for (const [key, t] of a.terms) {
    const coeff = Math.imul(t.coeff, k);
    if (coeff !== 0) terms.set(key, { atom: t.atom, coeff });
  }
  return new Linear(terms, Math.imul(a.constant, k));
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
    if (!q || q.coeff !== Math.imul(t.coeff, m.b.value)) continue;
    const rest = new Map(l.terms);
    rest.delete(key);
    rest.delete(exprKey(div));
    const merged = addLinear(new Linear(rest, l.constant), scaleLinear(toLinear(m.a), t.coeff));
    return mergeDivMod(merged);
  }
  return l;
}

function scaled(atom: Expr, k: number): Expr {
  return k === 1 ? atom : new Binary("mul", atom, c32(k), "int32");
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
  if (firstPos < 0 && terms.length > 0 && c > 0) acc = c32(c);
  for (const t of terms) {
    if (acc === null) {
      acc = t.coeff === -1 ? new Neg(t.atom) : scaled(t.atom, t.coeff);
    } else if (t.coeff > 0 || t.coeff === INT_MIN) {
      acc = new Binary("add", acc, scaled(t.atom, t.coeff), "int32");
    } else {
      acc = new Binary("sub", acc, scaled(t.atom, -t.coeff), "int32");
    }
  }
  if (acc === null) return c32(c);
  if (c === 0 || (firstPos < 0 && c > 0)) return acc;
  if (c > 0 || c === INT_MIN) return new Binary("add", acc, c32(c), "int32");
  return new Binary("sub", acc, c32(-c), "int32");
}
