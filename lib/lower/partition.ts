/**
 * Loop partitioning, after TVM's LoopPartition and Halide's prologue/steady state/epilogue:
 * a split that does not divide leaves a guard such as `if io*6 + ii < 1024` inside the hot
 * loops, and that guard alone halves the speed of a register-tiled matmul kernel. Nearly every
 * iteration passes it, so the loop is split where the guard provably holds for every value of
 * the loops inside: the steady part runs without it, the short remainder keeps it. Guards are
 * the conjuncts of `if` conditions that are int32 comparisons linear in the loop variable
 * (symbolic sizes allowed); `x < p`-like ones leave a suffix remainder, `x >= p`-like ones
 * (padding, partial regions) a prefix one. Where a guard mentions no inner loop it is exactly
 * `x < p`, false all through the remainder, so that code is dead and the guard simply
 * becomes the loop's bound. Conditions of `select` expressions (a pad stage's
 * `y >= 1 && x >= 1 && ... ? in[...] : 0`) are guards too: the steady part reads `in` without
 * the test and vectorizes, the border keeps the select (or its else-value where an exact
 * guard fails).
 */
import { evalExact } from "../arith/exact.ts";
import { evalInterval, type Interval } from "../arith/interval.ts";
import { addLinear, constLinear, fromLinear, Linear, toLinear } from "../arith/linear.ts";
import { Simplifier } from "../arith/rules.ts";
import { simplifyStmt } from "../arith/simplify.ts";
import { exprEqual, exprKey } from "../arith/structural.ts";
import { Binary, Cmp, type Expr, intConst, Logical, Select, Var } from "../ir/expr.ts";
import { For, IfThenElse, Seq, seq, type Stmt } from "../ir/stmt.ts";
import { freeVars, mapChildren, mapStmt, usesVar, walkExpr, walkStmt } from "../ir/visit.ts";

/** Bodies with more statement nodes than this are never duplicated. */
export const MAX_BODY_STMTS = 200;
/**
 * Split points larger than this (in expression nodes) are not used: they come from several
 * guards whose order cannot be proven, read badly, and make every later proof slow.
 */
export const MAX_SPLIT_NODES = 40;

type Side = "lower" | "upper";

const EMPTY: Stmt = new Seq([]);
type Ctx = ReadonlyMap<Var, Interval>;

const bin = (op: Binary["op"], a: Expr, b: Expr): Expr => new Binary(op, a, b, "int32");

/**
 * Partitions every eligible loop of `body` and simplifies the result. `sizeVars` are the
 * function's symbolic sizes: they are array dimensions, hence never negative, and knowing
 * that lets split points print as `n // 4` instead of a clamp.
 *
 * Limits, so that code grows linearly: only the steady part is split again, and each split
 * takes at least one guard out of it; a remainder may only shrink (a partition that leaves
 * one live piece). So a nest with g guard conjuncts holds at most 2g + 1 copies of its
 * innermost body, g + 1 for split guards (which only leave suffixes). Bodies over
 * MAX_BODY_STMTS are never copied and split points over MAX_SPLIT_NODES never used. Serial
 * loops are split into loops; a parallel loop's pieces stay iterations of one parallel loop
 * that chooses its piece per iteration (`oneParallelLoop`), so that no piece runs on one core
 * alone; unrolled loops, copied per iteration anyway, may only shrink to constant bounds;
 * vectorized loops are the vector width, left to the backend to mask; thread-bound loops
 * name hardware axes; loops around a barrier must run the same trip count on every thread,
 * and loops around a shared allocation would allocate it twice.
 */
export function partitionLoops(body: Stmt, sizeVars: readonly Var[] = []): Stmt {
  const ctx = new Map<Var, Interval>();
  // Not [0, INT_MAX]: interval arithmetic would fold INT_MAX + 1 with int32 wrap-around and
  // "prove" nonsense. An upper bound that is a fresh, unknown symbol says only "n >= 0".
  for (const v of sizeVars) ctx.set(v, { min: intConst(0), max: new Var(`${v.name}_max`) });
  const out = visit(body, ctx, true);
  return out === body ? body : simplifyStmt(out);
}

/**
 * Partitions the loops of `s`. With `copies` false (inside a remainder) a loop may only
 * shrink: a partition that would leave more than one live piece is not made.
 */
function visit(s: Stmt, ctx: Ctx, copies: boolean): Stmt {
  switch (s.kind) {
    case "for": {
      // An unrolled loop is copied once per iteration anyway: it may shrink, never split.
      const done = splittable(s) ? partition(s, ctx, copies && s.forKind !== "unrolled") : null;
      if (done) return done;
      const body = visit(s.body, withRange(ctx, s.loopVar, s.min, s.extent), copies);
      return body === s.body
        ? s
        : new For(s.loopVar, s.min, s.extent, s.forKind, body, s.threadTag, s.pragmas);
    }
    case "let": {
      const inner = s.value.dtype === "int32"
        ? new Map(ctx).set(s.v, { min: s.value, max: s.value })
        : ctx;
      return mapStmt(s, (e) => e, (b) => visit(b, inner, copies));
    }
    default:
      return mapStmt(s, (e) => e, (b) => visit(b, ctx, copies));
  }
}

function withRange(ctx: Ctx, v: Var, min: Expr, extent: Expr): Ctx {
  return new Map(ctx).set(v, { min, max: bin("sub", bin("add", min, extent), intConst(1)) });
}

function splittable(s: For): boolean {
  if (s.forKind !== "serial" && s.forKind !== "parallel" && s.forKind !== "unrolled") return false;
  let stmts = 0, barrier = false;
  walkStmt(s.body, (x) => {
    stmts++;
    // A copied shared allocation is a second one: workgroup memory is small and counted.
    if (x.kind === "barrier" || (x.kind === "allocate" && x.buffer.scope === "shared")) {
      barrier = true;
    }
  });
  return !barrier && stmts <= MAX_BODY_STMTS;
}

/**
 * A guard conjunct that holds beyond `at`: for `x < at` ("upper") or `x >= at` ("lower") and
 * every value of the loops inside. `exact` when it mentions no inner loop, so that it is
 * exactly `x < at` (or `x >= at`) and fails everywhere else.
 */
interface Guard {
  readonly side: Side;
  readonly at: Expr;
  readonly exact: boolean;
}

/**
 * Per `if` statement or `select` expression, per conjunct of its condition: the guard it is,
 * or null where it must stay.
 */
type Guards = Map<IfThenElse | Select, (Guard | null)[]>;

function partition(loop: For, ctx: Ctx, copies: boolean): Stmt | null {
  const sim = new Simplifier(ctx);
  const guards = collect(loop, sim);
  if (!guards) return null;
  const all = [...guards.values()].flat().filter((g): g is Guard => g !== null);
  const x = loop.loopVar, m = loop.min;
  const end = sim.run(bin("add", m, loop.extent));
  // Taking every guard gives the cleanest steady state, but guards of both kinds whose ranges
  // miss each other leave none, and a loose guard can hide an exact one that would let a
  // remainder shrink away: fall back to one kind, then to exact guards only.
  const choices: Array<(g: Guard) => boolean> = [
    () => true,
    (g) => g.side === "upper",
    (g) => g.side === "lower",
    (g) => g.exact,
    (g) => g.exact && g.side === "upper",
    (g) => g.exact && g.side === "lower",
  ];
  const prove = new Prover(sim);
  const tried = new Set<string>();
  const bound = (gs: Guard[], side: Side, join: (a: Expr, b: Expr) => Expr) => {
    const ats = gs.filter((g) => g.side === side).map((g) => g.at);
    return ats.length ? ats.reduce(join) : null;
  };
  for (const use of choices) {
    const chosen = all.filter(use);
    const lo = bound(chosen, "lower", (a, b) => prove.max(a, b));
    const hi = bound(chosen, "upper", (a, b) => prove.min(a, b));
    // Fallbacks often choose the same bounds again; nothing new can come of them.
    const key = `${lo && exprKey(lo)} ${hi && exprKey(hi)}`;
    if ((!lo && !hi) || tried.has(key)) continue;
    tried.add(key);
    // Clamped so that m <= s <= t <= end: every piece is a valid, possibly empty, loop.
    const s = lo ? prove.clamp(lo, m, end) : m;
    const t = hi ? prove.clamp(hi, s, end) : end;
    if (size(s) > MAX_SPLIT_NODES || size(t) > MAX_SPLIT_NODES || prove.le(t, s)) continue;
    const before = prove.le(s, m) ? null : killGuards(loop.body, guards, "lower", lo);
    const after = prove.le(end, t) ? null : killGuards(loop.body, guards, "upper", hi);
    const live = (b: Stmt | null): b is Stmt => b !== null && stores(b);
    if (!copies && (live(before) || live(after))) continue;
    if (loop.forKind === "unrolled" && (s.kind !== "const" || t.kind !== "const")) continue;
    // Each piece is simplified under its own, narrower range before it is partitioned again:
    // that may turn a guard linear (`v // 2 * 2 + v % 2` is `v` on [0, 2)). This ends, since
    // every partition takes at least one guard out of the piece it recurses into.
    const piece = (a: Expr, b: Expr, body: Stmt, c: boolean): Stmt => {
      const ext = sim.run(bin("sub", b, a));
      const p = new For(x, a, ext, loop.forKind, body, loop.threadTag, loop.pragmas);
      return visit(simplifyStmt(p), ctx, c);
    };
    const steady = rewriteGuards(loop.body, guards, (gs) => gs.map((g) => (g && use(g)) || null));
    const pieces: [Expr, Expr, Stmt][] = [
      ...(live(before) ? [[m, s, piece(m, s, before, false)] as [Expr, Expr, Stmt]] : []),
      [s, t, piece(s, t, steady, copies)],
      ...(live(after) ? [[t, end, piece(t, end, after, false)] as [Expr, Expr, Stmt]] : []),
    ];
    if (loop.forKind === "parallel" && pieces.length > 1) {
      const one = oneParallelLoop(loop, pieces, prove);
      if (one) return one;
    }
    return seq(pieces.map((p) => p[2]));
  }
  return null;
}

/**
 * The pieces of a partitioned parallel loop as ONE parallel loop whose iterations choose
 * their piece: `for x in parallel: if x < s { border } else if x < t { steady } else {...}`.
 * As separate loops, a border piece of one iteration (a convolution's first row of output,
 * whose padding the steady rows do not test) runs on one core while the others wait: in
 * ResNet-18's 3x3 convolutions, 2 of 56 rows, 4% of the time. Null where a piece is not a
 * run of parallel loops over `x` or a single iteration (then the pieces stay as they are).
 */
function oneParallelLoop(loop: For, pieces: [Expr, Expr, Stmt][], prove: Prover): Stmt | null {
  const x = loop.loopVar;
  type Run = { start: Expr; end: Expr; body: Stmt };
  const loopsOver = (r: Stmt): Run[] | null => {
    if (r.kind === "for" && r.loopVar === x && r.forKind === "parallel" && !r.pragmas.length) {
      return [{ start: r.min, end: prove.sim.run(bin("add", r.min, r.extent)), body: r.body }];
    }
    if (r.kind !== "seq") return null;
    const parts = r.stmts.map(loopsOver);
    return parts.every((p) => p !== null) ? (parts as Run[][]).flat() : null;
  };
  const found: Run[] = [];
  for (const [a, b, r] of pieces) {
    const inner = loopsOver(r);
    if (inner) found.push(...inner);
    // A piece of one iteration was simplified to its body at x = a: it is iteration a.
    else if (prove.le(b, prove.sim.run(bin("add", a, intConst(1))))) {
      found.push({ start: a, end: b, body: r });
    } else return null;
  }
  // A piece partitioned again may have dropped a dead end of its range: those iterations
  // did nothing, and must still do nothing, so each gap becomes an empty run. Runs whose
  // order cannot be proven leave the pieces as they are.
  const runs: Run[] = [];
  for (const r of found) {
    const last = runs[runs.length - 1];
    if (last && !prove.le(last.end, r.start)) return null;
    if (last && !prove.le(r.start, last.end)) {
      runs.push({ start: last.end, end: r.start, body: EMPTY });
    }
    runs.push(r);
  }
  if (runs.length < 2) return null;
  let body = runs[runs.length - 1].body;
  for (let i = runs.length - 2; i >= 0; i--) {
    body = new IfThenElse(new Cmp("lt", x, runs[i].end), runs[i].body, body);
  }
  // Iterations outside the runs (a dead remainder) are not run, as before.
  const start = runs[0].start, end = runs[runs.length - 1].end;
  const extent = prove.sim.run(bin("sub", end, start));
  return new For(x, start, extent, "parallel", body, loop.threadTag, loop.pragmas);
}

/**
 * Concrete values for the context's variables, in the order they were bound (a range only
 * mentions variables bound before): each loop at its first, middle and last value, symbolic
 * sizes (whose upper bound is unknown) at a few small and large values. Points where a range
 * is empty are left out.
 */
function samplePoints(ctx: Ctx): Map<Var, number>[] {
  const out: Map<Var, number>[] = [];
  for (const n of [0, 1, 2, 3, 5, 7, 13, 64, 1000]) {
    for (const pick of [0, 0.5, 1]) {
      const env = new Map<Var, number>();
      let ok = true;
      for (const [v, iv] of ctx) {
        const lo = evalExact(iv.min, env);
        if (lo === null) {
          ok = false;
          break;
        }
        const hi = evalExact(iv.max, env) ?? lo + n;
        if (hi < lo) {
          ok = false;
          break;
        }
        env.set(v, lo + Math.floor((hi - lo) * pick));
      }
      if (ok) out.push(env);
    }
  }
  return out;
}

function size(e: Expr): number {
  let n = 0;
  walkExpr(e, () => n++);
  return n;
}

/** Whether `s` can write anything; a piece that cannot is dead and left out. */
function stores(s: Stmt): boolean {
  let any = false;
  walkStmt(s, (x) => {
    if (x.kind === "store") any = true;
  });
  return any;
}

/** The conjuncts of an `and` chain, in order. */
function conjuncts(e: Expr): Expr[] {
  return e.kind === "logical" && e.op === "and" ? [...conjuncts(e.a), ...conjuncts(e.b)] : [e];
}

function collect(loop: For, sim: Simplifier): Guards | null {
  const x = loop.loopVar;
  const boundInside = new Set<Var>([x]);
  let rebinds = false;
  walkStmt(loop.body, (s) => {
    if (s.kind === "for") {
      if (s.loopVar === x) rebinds = true;
      boundInside.add(s.loopVar);
    }
    if (s.kind === "let") boundInside.add(s.v);
  });
  // A nest that binds `x` again would let one name stand for two values.
  if (rebinds) return null;
  const guards: Guards = new Map();
  let any = false;
  const note = (node: IfThenElse | Select, inner: Map<Var, Interval>) => {
    const here = conjuncts(node.cond).map((c) => guardOf(c, x, inner, boundInside, sim));
    if (here.some((g) => g)) any = true;
    // A node reached twice keeps a guard only where both visits agree on it.
    const prev = guards.get(node);
    guards.set(node, prev ? prev.map((p, i) => agree(p, here[i])) : here);
  };
  const go = (s: Stmt, inner: Map<Var, Interval>): void => {
    // This statement's own expressions, evaluated where the inner loops have these ranges.
    mapStmt(s, (e) => {
      walkExpr(e, (n) => {
        if (n.kind === "select") note(n, inner);
      });
      return e;
    }, (b) => b);
    switch (s.kind) {
      case "for": {
        const max = bin("sub", bin("add", s.min, s.extent), intConst(1));
        go(s.body, new Map(inner).set(s.loopVar, { min: s.min, max }));
        return;
      }
      case "if": {
        note(s, inner);
        go(s.then, inner);
        if (s.otherwise) go(s.otherwise, inner);
        return;
      }
      case "let":
      case "allocate":
        go(s.body, inner);
        return;
      case "seq":
        for (const c of s.stmts) go(c, inner);
        return;
      default:
        return;
    }
  };
  go(loop.body, new Map());
  return any ? guards : null;
}

function agree(a: Guard | null, b: Guard | null): Guard | null {
  if (!a || !b || a.side !== b.side || !exprEqual(a.at, b.at)) return null;
  return a.exact && b.exact ? a : { ...a, exact: false };
}

/**
 * The guard a conjunct `c` inside the loop over `x` is, or null when it is not an int32
 * comparison linear in `x`, reads memory or a value bound inside the loop, or cannot be
 * bounded. With `c` as `k*x + r >= 0` and `r >= rmin` over the inner loops (`inner`), `k < 0`
 * gives `x <= rmin // -k` and `k > 0` gives `x >= ceil(-rmin / k)`.
 */
function guardOf(
  c: Expr,
  x: Var,
  inner: ReadonlyMap<Var, Interval>,
  boundInside: ReadonlySet<Var>,
  sim: Simplifier,
): Guard | null {
  if (c.kind !== "cmp" || c.a.dtype !== "int32") return null;
  if (c.op === "eq" || c.op === "ne") return null;
  if (!plainArith(c.a) || !plainArith(c.b)) return null;
  const fv = freeVars(c);
  if (!fv.has(x)) return null;
  for (const v of fv) if (v !== x && boundInside.has(v) && !inner.has(v)) return null;
  const [hi, lo] = c.op === "lt" || c.op === "le" ? [c.b, c.a] : [c.a, c.b];
  let g = addLinear(toLinear(hi), toLinear(lo), -1);
  if (c.op === "lt" || c.op === "gt") g = addLinear(g, constLinear(-1));
  const key = exprKey(x);
  const k = g.terms.get(key)?.coeff;
  if (k === undefined) return null;
  const rest = new Map(g.terms);
  rest.delete(key);
  const onlyX = new Set([x]);
  for (const t of rest.values()) if (usesVar(t.atom, onlyX)) return null;
  const r = fromLinear(new Linear(rest, g.constant));
  const exact = ![...freeVars(r)].some((v) => inner.has(v));
  const iv = exact ? { min: r, max: r } : evalInterval(r, inner);
  if (!iv || usesVar(iv.min, boundInside) || !plainArith(iv.min)) return null;
  const a = Math.abs(k), ka = intConst(a), rmin = iv.min;
  return k < 0
    ? { side: "upper", at: sim.run(bin("floordiv", bin("add", rmin, ka), ka)), exact }
    : { side: "lower", at: sim.run(bin("floordiv", bin("sub", intConst(a - 1), rmin), ka)), exact };
}

/**
 * Whether `e` is int32 arithmetic that is safe to evaluate before the loop: no memory reads
 * (the loop may write what they read) and no division by something that may be zero.
 */
function plainArith(e: Expr): boolean {
  let ok = true;
  walkExpr(e, (n) => {
    if (n.dtype !== "int32") ok = false;
    else if (n.kind === "binary") {
      if (n.op === "pow") ok = false;
      else if (n.op === "div" || n.op === "mod" || n.op === "floordiv" || n.op === "floormod") {
        if (!(n.b.kind === "const" && n.b.value > 0)) ok = false;
      }
    } else if (n.kind !== "const" && n.kind !== "var" && n.kind !== "neg") ok = false;
  });
  return ok;
}

/**
 * `s` with the guard conjuncts that `decide` maps to a constant replaced by it: an `if` whose
 * conjuncts are all true becomes its then-branch, one with a false conjunct its else-branch.
 * `decide` sees all of an `if`'s guards at once (null where a conjunct is not a guard).
 */
function rewriteGuards(
  s: Stmt,
  guards: Guards,
  decide: (gs: readonly (Guard | null)[]) => (boolean | null)[],
): Stmt {
  // A select whose conjuncts are all true becomes its then-value, one with a false
  // conjunct its else-value. Looked up before its operands are rewritten (which would make
  // it a new node).
  const expr = (e: Expr): Expr => {
    const gs = e.kind === "select" ? guards.get(e) : undefined;
    if (e.kind !== "select" || !gs) return mapChildren(e, expr);
    const values = decide(gs);
    if (values.includes(false)) return expr(e.f);
    const parts = conjuncts(e.cond);
    const keep = parts.filter((_, i) => values[i] === null);
    if (keep.length === 0) return expr(e.t);
    const cond = keep.length === parts.length
      ? e.cond
      : keep.reduce((a, b) => new Logical("and", a, b));
    return new Select(cond, expr(e.t), expr(e.f));
  };
  const go = (st: Stmt): Stmt => {
    if (st.kind !== "if") return mapStmt(st, expr, go);
    const then = go(st.then), otherwise = st.otherwise && go(st.otherwise);
    const parts = conjuncts(st.cond);
    const gs = guards.get(st);
    const values = gs ? decide(gs) : parts.map(() => null);
    if (values.includes(false)) return otherwise ?? EMPTY;
    const keep = parts.filter((_, i) => values[i] === null);
    if (keep.length === 0) return then;
    const cond = keep.length === parts.length
      ? st.cond
      : keep.reduce((a, b) => new Logical("and", a, b));
    return cond === st.cond && then === st.then && otherwise === st.otherwise
      ? st
      : new IfThenElse(cond, then, otherwise);
  };
  return go(s);
}

/**
 * The remainder beyond `bound` on `side`: there `x` is past at least one term of `bound` (a
 * min of upper bounds, a max of lower ones), so an `if` with an exact guard at every term
 * has a false conjunct, and its then-branch is dead.
 */
function killGuards(s: Stmt, guards: Guards, side: Side, bound: Expr | null): Stmt {
  if (!bound) return s;
  const join = side === "upper" ? "min" : "max";
  const terms: Expr[] = [];
  const flatten = (e: Expr): void => {
    if (e.kind === "binary" && e.op === join) {
      flatten(e.a);
      flatten(e.b);
    } else terms.push(e);
  };
  flatten(bound);
  return rewriteGuards(s, guards, (gs) => {
    const dead = terms.every((t) =>
      gs.some((g) => g && g.exact && g.side === side && exprEqual(g.at, t))
    );
    return gs.map((_, i) => (dead && i === 0 ? false : null));
  });
}

/**
 * Decides `a <= b` for every value of the context, memoized: split points are compared over
 * and over. A proof may need symbolic interval analysis, which is slow, and most questions
 * asked are false (is the split point past the end?), so each is first tried on a few
 * concrete points of the context: one counterexample settles it. The simplifier knows
 * nothing of floor division's monotonicity, which split points need (`n // 4 <= (n + 3) // 4`),
 * nor of min/max nesting, so those are taken apart here.
 */
class Prover {
  private readonly memo = new Map<string, boolean>();
  private points: Map<Var, number>[] | null = null;
  constructor(readonly sim: Simplifier) {}

  le(a: Expr, b: Expr): boolean {
    if (exprEqual(a, b)) return true;
    const key = `${exprKey(a)} <= ${exprKey(b)}`;
    let r = this.memo.get(key);
    if (r === undefined) {
      r = !this.refuted(a, b) && this.decide(a, b);
      this.memo.set(key, r);
    }
    return r;
  }

  private refuted(a: Expr, b: Expr): boolean {
    this.points ??= samplePoints(this.sim.rel);
    return this.points.some((env) => {
      const x = evalExact(a, env), y = evalExact(b, env);
      return x !== null && y !== null && x > y;
    });
  }

  private decide(a: Expr, b: Expr): boolean {
    const r = this.sim.run(new Cmp("le", a, b));
    if (r.kind === "const") return r.value !== 0;
    if (
      a.kind === "binary" && b.kind === "binary" && a.op === b.op &&
      (a.op === "floordiv" || a.op === "div") && a.b.kind === "const" && b.b.kind === "const" &&
      a.b.value === b.b.value && a.b.value > 0
    ) {
      return this.le(a.a, b.a);
    }
    if (a.kind === "binary" && a.op === "min") return this.le(a.a, b) || this.le(a.b, b);
    if (b.kind === "binary" && b.op === "max") return this.le(a, b.a) || this.le(a, b.b);
    return false;
  }

  min(a: Expr, b: Expr): Expr {
    if (this.le(a, b)) return a;
    if (this.le(b, a)) return b;
    return bin("min", a, b);
  }

  max(a: Expr, b: Expr): Expr {
    if (this.le(a, b)) return b;
    if (this.le(b, a)) return a;
    return bin("max", a, b);
  }

  /** `v` moved into `[lo, hi]`; `lo` when that range is empty (a loop that never runs). */
  clamp(v: Expr, lo: Expr, hi: Expr): Expr {
    return this.max(lo, this.min(v, hi));
  }
}
