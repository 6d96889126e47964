/**
 * The simplifier's public face. Lowering produces index arithmetic that is correct but
 * unreadable (`(io*8 + ii) // 8`, `if (i < n)` inside a loop over `[0, n)`); every loop nest
 * goes through here so the printed IR reads like hand-written code and later passes see
 * fewer, simpler expressions. Expressions are simplified under known variable ranges;
 * statements are walked so each loop body knows the range of every enclosing loop variable.
 */
import { Binary, type Expr, intConst, type Var } from "../ir/expr.ts";
import {
  Allocate,
  BufferStore,
  For,
  IfThenElse,
  LetStmt,
  Seq,
  seq,
  type Stmt,
} from "../ir/stmt.ts";
import { mapStmt, mapStmtExprs, substitute } from "../ir/visit.ts";
import { type Interval, rangesToIntervals } from "./interval.ts";
import { Simplifier } from "./rules.ts";
import { exprEqual } from "./structural.ts";

export type Ranges = ReadonlyMap<Var, { min: Expr; extent: Expr }>;

const NO_RANGES: ReadonlyMap<Var, Interval> = new Map();

/** Simplifies `e`, assuming each variable in `ranges` lies in `[min, min + extent)`. */
export function simplify(e: Expr, ranges?: Ranges): Expr {
  const rel = ranges && ranges.size > 0 ? rangesToIntervals(ranges) : NO_RANGES;
  return new Simplifier(rel).run(e);
}

/** True only when `cond` is provably true for every value of the ranged variables. */
export function proveTrue(cond: Expr, ranges?: Ranges): boolean {
  const r = simplify(cond, ranges);
  return r.kind === "const" && r.value !== 0;
}

/** True only when `a` and `b` provably have the same value (and dtype). */
export function canProveEqual(a: Expr, b: Expr, ranges?: Ranges): boolean {
  if (exprEqual(a, b)) return true;
  if (a.dtype !== b.dtype) return false;
  if (a.dtype === "int32") {
    const d = simplify(new Binary("sub", a, b, "int32"), ranges);
    return d.kind === "const" && d.value === 0;
  }
  return exprEqual(simplify(a, ranges), simplify(b, ranges));
}

const EMPTY: Stmt = new Seq([]);
const isEmpty = (s: Stmt) => s.kind === "seq" && s.stmts.length === 0;

/**
 * Simplifies every expression of a loop nest under the ranges of its enclosing loops, folds
 * `if`s whose condition is decided, drops loops that never run (or run an empty body) and
 * inlines loops that run once. Thread-bound loops are kept as they are: they name a hardware
 * axis, which must exist even when its extent is 1.
 */
export function simplifyStmt(s: Stmt): Stmt {
  return walk(s, new Simplifier(NO_RANGES));
}

function walk(s: Stmt, ctx: Simplifier): Stmt {
  const ex = (e: Expr) => ctx.run(e);
  switch (s.kind) {
    case "for": {
      const min = ex(s.min), extent = ex(s.extent);
      const thread = s.forKind === "threadBinding";
      if (!thread && extent.kind === "const" && extent.value <= 0) return EMPTY;
      // A loop with pragmas is kept: a pragma may say something about it (a profiling mark).
      if (!thread && extent.kind === "const" && extent.value === 1 && s.pragmas.length === 0) {
        return walk(mapStmtExprs(s.body, (e) => substitute(e, new Map([[s.loopVar, min]]))), ctx);
      }
      const max = ex(
        new Binary("sub", new Binary("add", min, extent, "int32"), intConst(1), "int32"),
      );
      const body = walk(s.body, extend(ctx, s.loopVar, { min, max }));
      if (!thread && isEmpty(body)) return EMPTY;
      return min === s.min && extent === s.extent && body === s.body
        ? s
        : new For(s.loopVar, min, extent, s.forKind, body, s.threadTag, s.pragmas);
    }
    case "store": {
      const idx = s.indices.map(ex), v = ex(s.value);
      return idx.every((x, i) => x === s.indices[i]) && v === s.value
        ? s
        : new BufferStore(s.buffer, idx, v);
    }
    case "if": {
      const cond = ex(s.cond);
      if (cond.kind === "const") {
        const taken = cond.value !== 0 ? s.then : s.otherwise;
        return taken ? walk(taken, ctx) : EMPTY;
      }
      const then = walk(s.then, ctx);
      const other = s.otherwise && walk(s.otherwise, ctx);
      const otherwise = other && !isEmpty(other) ? other : null;
      if (isEmpty(then) && !otherwise) return EMPTY;
      return cond === s.cond && then === s.then && otherwise === s.otherwise
        ? s
        : new IfThenElse(cond, then, otherwise);
    }
    case "allocate": {
      const body = walk(s.body, ctx);
      if (isEmpty(body)) return EMPTY;
      return body === s.body ? s : new Allocate(s.buffer, body, s.note);
    }
    case "let": {
      const value = ex(s.value);
      // Inside the body the variable equals its value: a one-point range says exactly that.
      const inner = value.dtype === "int32" ? extend(ctx, s.v, { min: value, max: value }) : ctx;
      const body = walk(s.body, inner);
      return value === s.value && body === s.body ? s : new LetStmt(s.v, value, body);
    }
    case "barrier":
      return s;
    case "extern":
      return mapStmt(s, ex, (x) => x);
    case "seq": {
      const xs = s.stmts.map((x) => walk(x, ctx));
      if (xs.every((x, i) => x === s.stmts[i])) return s;
      return seq(xs.filter((x) => !isEmpty(x)));
    }
  }
}

function extend(ctx: Simplifier, v: Var, iv: Interval): Simplifier {
  return new Simplifier(new Map(ctx.rel).set(v, iv));
}
