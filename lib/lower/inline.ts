/**
 * `computeInline` as a rewrite of the dataflow: every read of an inlined stage is replaced by
 * that stage's body with its axes bound to the read's indices. Lowering works on the bodies
 * this returns and never sees an inlined stage again.
 */
import type { Expr, Var } from "../ir/expr.ts";
import { rewriteExpr, substitute } from "../ir/visit.ts";
import type { Schedule } from "../schedule/schedule.ts";
import type { Stage } from "../schedule/stage.ts";
import type { Tensor } from "../te/tensor.ts";

/** The bodies (one per output) of every computed stage with inlined producers substituted. */
export function inlineBodies(s: Schedule): Map<Stage, Expr[]> {
  const bodies = new Map<Stage, Expr[]>();
  for (const st of s.stages) {
    if (st.op.kind !== "compute") continue;
    const inline = (body: Expr) =>
      rewriteExpr(body, (e) => {
        if (e.kind !== "tensorRead") return e;
        const p = s.stageOfOp((e.tensor as Tensor).op);
        if (!p || p.attach.type !== "inline" || p.op.kind !== "compute") return e;
        const inlined = bodies.get(p)![(e.tensor as Tensor).valueIndex];
        const map = new Map<Var, Expr>();
        p.op.axis.forEach((a, d) => map.set(a, e.indices[d]));
        return substitute(inlined, map);
      });
    bodies.set(st, st.op.bodies.map(inline));
  }
  return bodies;
}
