/**
 * Index checks that cannot fail, removed from a finished loop nest. Lowering wraps the reads
 * of attached producers that it could not prove inside their shape over the reader's whole
 * domain (checkBounds.ts), and the checked build every load (injectBoundsCheck.ts); judged
 * out of their loops, a read like `Mean[i]` inside `for i in range(1024)` kept a check in a
 * vectorized hot loop. This is the one place where checks are proven: it walks the nest with
 * what holds at each point (the range of every enclosing loop and let, and the comparisons
 * of the `if`s, `select`s and `and`/`or`s guarding it) and drops each `checkIndex` whose
 * index provably lies in `[0, extent)` there. Guards that read memory are not used: a store
 * between the guard and the read could change what they compare.
 */
import { ConstBounds } from "../arith/const_bound.ts";
import { evalInterval, type Interval } from "../arith/interval.ts";
import { addLinear, fromLinear, Linear, scaleLinear, toLinear } from "../arith/linear.ts";
import { Simplifier } from "../arith/rules.ts";
import { simplify } from "../arith/simplify.ts";
import { Binary, type Call, type Expr, intConst, Logical, Select, type Var } from "../ir/expr.ts";
import { For, IfThenElse, LetStmt, type Stmt } from "../ir/stmt.ts";
import { mapChildren, mapStmt, walkExpr } from "../ir/visit.ts";
import { narrow } from "./checkBounds.ts";

/** What holds at a point of the nest: variable ranges, and int32 expressions known <= 0. */
interface Ctx {
  ranges: Map<Var, Interval>;
  facts: Expr[];
  sim?: Simplifier;
}

const int = (op: Binary["op"], a: Expr, b: Expr) => new Binary(op, a, b, "int32");

export function dropProvenChecks(body: Stmt): Stmt {
  return stmt(body, { ranges: new Map(), facts: [] });
}

function stmt(s: Stmt, ctx: Ctx): Stmt {
  const ex = (e: Expr) => root(e, ctx);
  switch (s.kind) {
    case "for": {
      const max = int("sub", int("add", s.min, s.extent), intConst(1));
      const body = stmt(s.body, bind(ctx, s.loopVar, { min: s.min, max }));
      const min = ex(s.min), extent = ex(s.extent);
      return min === s.min && extent === s.extent && body === s.body
        ? s
        : new For(s.loopVar, min, extent, s.forKind, body, s.threadTag, s.pragmas);
    }
    case "let": {
      const known = s.value.dtype === "int32" && !readsMemory(s.value);
      const inner = known ? bind(ctx, s.v, { min: s.value, max: s.value }) : ctx;
      const value = ex(s.value), body = stmt(s.body, inner);
      return value === s.value && body === s.body ? s : new LetStmt(s.v, value, body);
    }
    case "if": {
      const cond = ex(s.cond), then = stmt(s.then, assume(ctx, s.cond, true));
      const otherwise = s.otherwise && stmt(s.otherwise, assume(ctx, s.cond, false));
      return cond === s.cond && then === s.then && otherwise === s.otherwise
        ? s
        : new IfThenElse(cond, then, otherwise);
    }
    default:
      return mapStmt(s, ex, (b) => stmt(b, ctx));
  }
}

/** An expression of a statement; simplified again where a check went (`i - i` is 0). */
function root(e: Expr, ctx: Ctx): Expr {
  const r = expr(e, ctx);
  return r === e ? e : sim(ctx).run(r);
}

function expr(e: Expr, ctx: Ctx): Expr {
  switch (e.kind) {
    case "select": {
      const c = expr(e.cond, ctx);
      const t = expr(e.t, assume(ctx, e.cond, true)), f = expr(e.f, assume(ctx, e.cond, false));
      return c === e.cond && t === e.t && f === e.f ? e : new Select(c, t, f);
    }
    case "logical": {
      // `b` matters only where `a` has not decided the result already.
      const a = expr(e.a, ctx), b = expr(e.b, assume(ctx, e.a, e.op === "and"));
      return a === e.a && b === e.b ? e : new Logical(e.op, a, b);
    }
    case "call": {
      const m = mapChildren(e, (x) => expr(x, ctx)) as Call;
      if (m.op !== "checkIndex") return m;
      const [index, extent] = m.args;
      const inside = proven(int("sub", intConst(0), index), ctx) &&
        proven(int("add", int("sub", index, extent), intConst(1)), ctx);
      return inside ? index : m;
    }
    default:
      return mapChildren(e, (x) => expr(x, ctx));
  }
}

/** Whether `g <= 0` follows from the ranges alone, or from the ranges and one fact. */
function proven(g: Expr, ctx: Ctx): boolean {
  const s = sim(ctx);
  return [g, ...ctx.facts.map((f) => int("sub", g, f))].some((h) => {
    if (s.bound(s.run(h)).hi <= 0) return true;
    const iv = evalInterval(h, ctx.ranges);
    return iv !== null && atMostZero(iv.max, 3);
  });
}

const NUM = new ConstBounds(new Map());

/**
 * Whether `e <= 0` for every value of its symbols, using that `min(a, b)` is at most `a` and
 * at most `b`: a loop over `range(min(n, m))` reads `i < n` as `min(n, m) - n <= 0`.
 */
function atMostZero(e: Expr, depth: number): boolean {
  const lin = toLinear(simplify(e));
  if (NUM.of(fromLinear(lin)).hi <= 0) return true;
  if (depth === 0) return false;
  for (const [key, t] of lin.terms) {
    const a = t.atom;
    if (a.kind !== "binary" || a.op !== (t.coeff > 0 ? "min" : "max")) continue;
    const rest = new Map(lin.terms);
    rest.delete(key);
    for (const x of [a.a, a.b]) {
      const bigger = addLinear(new Linear(rest, lin.constant), scaleLinear(toLinear(x), t.coeff));
      if (atMostZero(fromLinear(bigger), depth - 1)) return true;
    }
  }
  return false;
}

function sim(ctx: Ctx): Simplifier {
  return ctx.sim ??= new Simplifier(ctx.ranges);
}

function bind(ctx: Ctx, v: Var, iv: Interval): Ctx {
  return { ranges: new Map(ctx.ranges).set(v, iv), facts: ctx.facts };
}

/** `ctx` where `cond` is known to be `truth`. */
function assume(ctx: Ctx, cond: Expr, truth: boolean): Ctx {
  if (readsMemory(cond)) return ctx;
  const facts = [...ctx.facts];
  collect(cond, truth, facts);
  const ranges = narrow(cond, truth, ctx.ranges) ?? ctx.ranges;
  if (facts.length === ctx.facts.length && ranges === ctx.ranges) return ctx;
  return { ranges: ranges as Map<Var, Interval>, facts };
}

/** The int32 comparisons `cond = truth` implies, each as an expression known to be <= 0. */
function collect(cond: Expr, truth: boolean, out: Expr[]): void {
  if (cond.kind === "not") return collect(cond.a, !truth, out);
  if (cond.kind === "logical") {
    // a && b true, or a || b false, says something of both sides.
    if ((cond.op === "and") === truth) {
      collect(cond.a, truth, out);
      collect(cond.b, truth, out);
    }
    return;
  }
  if (cond.kind !== "cmp" || cond.a.dtype !== "int32") return;
  const op = truth
    ? cond.op
    : ({ lt: "ge", le: "gt", gt: "le", ge: "lt", eq: "ne", ne: "eq" } as const)[cond.op];
  const { a, b } = cond;
  if (op === "lt" || op === "eq" || op === "le") {
    out.push(op === "lt" ? int("add", int("sub", a, b), intConst(1)) : int("sub", a, b));
  }
  if (op === "gt" || op === "eq" || op === "ge") {
    out.push(op === "gt" ? int("add", int("sub", b, a), intConst(1)) : int("sub", b, a));
  }
}

function readsMemory(e: Expr): boolean {
  let hit = false;
  walkExpr(e, (x) => {
    if (x.kind === "bufferLoad" || x.kind === "tensorRead") hit = true;
  });
  return hit;
}
