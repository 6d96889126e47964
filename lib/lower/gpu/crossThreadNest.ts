/**
 * The loop nest of a reduction stage with reduce loops bound to `threadIdx.*` (a cross-thread
 * reduction, TVM's reduction tutorial): the stage's data loops as usual, and inside them the
 * three phases of `lowerAllreduce`. Stage-level checks live here: the data loops must all be
 * outside the reduce loops (each thread's partial is of one output element), and the thread
 * extents must be constants (the partials buffer lives in workgroup memory). The thread-bound
 * reduce loops move outermost among the reduce loops, so each thread walks its share into a
 * register, unless a stage is attached at a reduce loop and they are not already first: then
 * the loops keep their order (the attached region may depend on a loop outside the thread
 * loop) and each thread folds into its slot of the partials buffer.
 */
import { TesseraError } from "../../error.ts";
import type { Buffer, CommReducer, Expr } from "../../ir/expr.ts";
import { logical } from "../../ir/expr.ts";
import { seq, type Stmt } from "../../ir/stmt.ts";
import { freeVars } from "../../ir/visit.ts";
import type { Stage } from "../../schedule/stage.ts";
import type { IterVar } from "../../te/tensor.ts";
import { lowerAllreduce, type ThreadLoop } from "./threadAllreduce.ts";

export interface CrossThreadInput {
  st: Stage;
  ext: ReadonlyMap<IterVar, Expr>;
  guards: Expr[];
  out: readonly Buffer[];
  index: Expr[];
  combiner: CommReducer;
  source: Expr[];
  cond: Expr | null;
  toLoads(e: Expr): Expr;
  atLoop(v: IterVar): { pre: Stmt[]; wrap: (s: Stmt) => Stmt };
  /** Builds loops `loops` around `inner`, with guards placed by level and attached stages. */
  nest(loops: IterVar[], guards: Expr[], inner: Stmt): Stmt;
}

export const isThreadReduce = (st: Stage, v: IterVar): boolean =>
  v.iterType === "reduce" && (st.attrs.get(v)?.threadTag ?? "").startsWith("threadIdx");

export function crossThreadNest(x: CrossThreadInput): Stmt {
  const { st } = x;
  const leaves = st.leafIterVars;
  const where = `lower: stage '${st.name}' (a reduction across threads)`;
  const first = leaves.findIndex((v) => v.iterType === "reduce");
  const late = leaves.slice(first).find((v) => v.iterType === "data");
  if (late) {
    throw new TesseraError(
      `${where}: data loop '${late.name}' is inside a reduce loop; each thread's partial is of one output element, so reorder the data loops outside the reduce loops`,
    );
  }
  const data = leaves.slice(0, first);
  const reduce = leaves.slice(first);
  const threads: ThreadLoop[] = reduce.filter((v) => isThreadReduce(st, v)).map((v) => {
    const e = x.ext.get(v)!;
    if (e.kind !== "const") {
      throw new TesseraError(
        `${where}: reduce loop '${v.name}' bound to ${st.attrs.get(v)!.threadTag} has extent ${
          String(e)
        }; a cross-thread reduction needs a constant thread count (split by a constant factor and bind the inner loop)`,
      );
    }
    const { pre, wrap } = x.atLoop(v);
    return {
      v,
      extent: e.value,
      tag: st.attrs.get(v)!.threadTag!,
      attach: (s: Stmt) => wrap(seq([...pre, s])),
    };
  });
  const serial = reduce.filter((v) => !isThreadReduce(st, v));
  // Thread loops first: each thread's partial in a register. Where a stage is attached at a
  // reduce loop the leaf order stays (its region may depend on a serial loop outside it).
  const attachedInside = st.schedule.stages.some((a) =>
    a.attach.type === "scope" && a.attach.stage === st && reduce.includes(a.attach.axis)
  );
  const threadsFirst = !attachedInside ||
    reduce.slice(0, threads.length).every((v) => isThreadReduce(st, v));
  // Guards that mention a reduce loop skip points of the reduction: they go round the
  // accumulator's update, so that every thread still writes its partial.
  const reduceVars = new Set<unknown>(reduce);
  const inReduce = (g: Expr) => [...freeVars(g)].some((v) => reduceVars.has(v));
  const rg = x.guards.filter(inReduce).map(x.toLoads);
  const cond = [...rg, ...(x.cond ? [x.cond] : [])];
  const body = lowerAllreduce({
    out: x.out,
    index: x.index,
    combiner: x.combiner,
    threads,
    serial: (update) => x.nest(serial, [], update),
    inOrder: threadsFirst ? null : (update) => x.nest(reduce, [], update),
    source: x.source,
    cond: cond.length ? cond.reduce((a, b) => logical("and", a, b)) : null,
    storePredicate: st.storePredicate,
  });
  return x.nest(data, x.guards.filter((g) => !inReduce(g)), body);
}
