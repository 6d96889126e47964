/**
 * One stage as a loop nest: its leaf loops in schedule order, the store of its body, and for
 * a reduction an initialisation nest placed just outside the first reduction loop (over the
 * data loops that come after it). Guards for non-dividing splits and for regions that run
 * past a producer's domain are placed at the innermost loop whose variable they mention, so
 * they cost nothing in loops that never need them. Stages attached at one of these loops are
 * built by the caller and spliced in through `atLoop`.
 */
import { simplify } from "../arith/simplify.ts";
import { TesseraError } from "../error.ts";
import { type Buffer, BufferLoad, compare, type Expr, intConst, logical, Var } from "../ir/expr.ts";
import { BufferStore, For, IfThenElse, LetStmt, seq, type Stmt } from "../ir/stmt.ts";
import { freeVars, substitute } from "../ir/visit.ts";
import { splitGuards } from "../schedule/relations.ts";
import type { Stage } from "../schedule/stage.ts";
import type { ComputeOp, IterVar } from "../te/tensor.ts";
import { rootValues, type StageBounds } from "./bounds.ts";
import { crossThreadNest, isThreadReduce } from "./gpu/crossThreadNest.ts";

export interface NestContext {
  /** Turns te reads into buffer loads (with region offsets). */
  toLoads(e: Expr): Expr;
  /** Statements to run inside loop `v` before the rest of the body, wrapped by allocations. */
  atLoop(v: IterVar): { pre: Stmt[]; wrap: (s: Stmt) => Stmt };
}

export function stageNest(
  st: Stage,
  bodies: Expr[],
  b: StageBounds,
  buffers: Buffer[],
  ctx: NestContext,
): Stmt {
  const op = st.op as ComputeOp;
  const leaves = st.leafIterVars;
  const values = rootValues(st, b);
  const index = op.axis.map((a) => b.inPlace ? values.get(a)! : b.offsets.get(a)!);
  const guards = splitGuards(st.relations, b.offsets, b.ext);
  if (b.regionMin) {
    // The region may run past the domain (partial tiles, padding): skip those points.
    op.axis.forEach((a) => {
      const v = values.get(a)!;
      guards.push(compare("ge", v, 0), compare("lt", v, a.dom!.extent));
    });
  }
  for (const v of leaves) {
    const kind = st.attrs.get(v)?.forKind;
    if (kind === "vectorized" && b.ext.get(v)!.kind !== "const") {
      throw new TesseraError(
        `lower: vectorize(stage '${st.name}', axis '${v.name}'): the loop's extent ${
          String(b.ext.get(v))
        } is not a constant; split by a constant factor and vectorize the inner loop`,
      );
    }
  }
  const level = (g: Expr, among: IterVar[]): number => {
    const fv = freeVars(g);
    let at = -1;
    among.forEach((v, i) => {
      if (fv.has(v)) at = i;
    });
    return at;
  };
  const nest = (
    loops: IterVar[],
    gs: Expr[],
    innermost: Stmt,
    before: (i: number) => Stmt[],
    attachHere: boolean,
  ): Stmt => {
    const byLevel = new Map<number, Expr[]>();
    for (const g of gs) {
      const l = level(g, loops);
      byLevel.set(l, [...(byLevel.get(l) ?? []), g]);
    }
    const guard = (l: number, s: Stmt): Stmt => {
      const list = byLevel.get(l);
      if (!list) return s;
      // A region bound may read a tensor (a gather attached at its reader's loop).
      return new IfThenElse(ctx.toLoads(list.reduce((x, y) => logical("and", x, y))), s);
    };
    const rec = (i: number): Stmt => {
      if (i === loops.length) return seq([...before(i), innermost]);
      const v = loops[i];
      let bodyStmt = rec(i + 1);
      if (attachHere) {
        const { pre, wrap } = ctx.atLoop(v);
        bodyStmt = wrap(seq([...pre, bodyStmt]));
      }
      const a = st.attrs.get(v);
      const loop = new For(
        v,
        intConst(0),
        b.ext.get(v)!,
        a?.forKind ?? "serial",
        guard(i, bodyStmt),
        a?.threadTag ?? null,
        a?.pragmas ?? [],
      );
      return seq([...before(i), loop]);
    };
    return guard(-1, rec(0));
  };

  // A store predicate (setStorePredicate) says which iterations store.
  const pred = (s: Stmt): Stmt =>
    st.storePredicate ? new IfThenElse(ctx.toLoads(st.storePredicate), s) : s;
  const body = bodies[0];
  if (body.kind !== "reduce") {
    // Several outputs share the loops: one store each.
    const stores = bodies.map((e, k) =>
      new BufferStore(buffers[k], index, ctx.toLoads(substitute(e, values)))
    );
    return nest(leaves, guards, pred(seq(stores)), () => [], true);
  }
  // The init nest runs just outside the first reduction loop, over the data loops after it;
  // guards on the loops outside it are placed once, around both init and update.
  const p = leaves.findIndex((v) => v.iterType === "reduce");
  const first = p < 0 ? leaves.length : p;
  const initLoops = leaves.slice(first).filter((v) => v.iterType === "data");
  const c = body.combiner;
  const cur = buffers.map((buf) => new BufferLoad(buf, index));
  const srcs = body.sources.map((x) => ctx.toLoads(substitute(x, values)));
  let update: Stmt;
  if (buffers.length === 1) {
    const m = new Map<Var, Expr>([[c.lhs[0], cur[0]], [c.rhs[0], srcs[0]]]);
    update = new BufferStore(buffers[0], index, substitute(c.result[0], m));
  } else {
    // A tuple reduction: every new value is computed from the old ones before any is stored,
    // so each component's combine sees the same, consistent accumulator.
    const ys = c.rhs.map((v, k) => new Var(`${st.name}_in${k}`, v.dtype));
    const news = c.lhs.map((v, k) => new Var(`${st.name}_new${k}`, v.dtype));
    const m = new Map<Var, Expr>([
      ...c.lhs.map((v, k) => [v, cur[k]] as const),
      ...c.rhs.map((v, k) => [v, ys[k]] as const),
    ]);
    update = seq(buffers.map((buf, k) => new BufferStore(buf, index, news[k])));
    for (let k = news.length - 1; k >= 0; k--) {
      update = new LetStmt(news[k], substitute(c.result[k], m), update);
    }
    for (let k = ys.length - 1; k >= 0; k--) update = new LetStmt(ys[k], srcs[k], update);
  }
  const cond = simplify(substitute(body.condition, values));
  if (!(cond.kind === "const" && cond.value === 1)) {
    update = new IfThenElse(ctx.toLoads(cond), update);
  }
  if (leaves.some((v) => isThreadReduce(st, v))) {
    return crossThreadNest({
      st,
      ext: b.ext,
      guards,
      out: buffers,
      index,
      combiner: c,
      source: srcs,
      cond: cond.kind === "const" && cond.value === 1 ? null : ctx.toLoads(cond),
      toLoads: ctx.toLoads,
      atLoop: ctx.atLoop,
      nest: (loops, gs, inner) => nest(loops, gs, inner, () => [], true),
    });
  }
  update = pred(update);
  const usesReduce = (g: Expr) =>
    [...freeVars(g)].some((v) => (v as IterVar).iterType === "reduce");
  const initGuards = guards.filter((g) => !usesReduce(g) && level(g, leaves) >= first);
  const init = nest(
    initLoops,
    initGuards,
    seq(buffers.map((buf, k) => new BufferStore(buf, index, c.identity[k]))),
    () => [],
    false,
  );
  return nest(leaves, guards, update, (i) => (i === first ? [init] : []), true);
}
