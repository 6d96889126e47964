/**
 * The first default rule on every target: inline elementwise (injective) stages into their
 * readers, so that a chain of cheap maps becomes one loop nest instead of a round trip
 * through memory per stage. What stays:
 * - outputs, and intermediates the caller lists as arguments (they must be written anyway);
 * - reductions and multi-output computes;
 * - a stage whose body calls a math function (exp, rsqrt...) or is long, when inlining
 *   would compute it more often than once per element: several readers or reads, a
 *   reduction reading it (once per step), or a read that broadcasts it (a row's statistic
 *   read for every element of the row). Computing it once at the root costs one pass over
 *   memory, never more work than the unscheduled program;
 * - stages a scan owns or reads from (its lowering decides where they run).
 * - a layout change (a copy that moves its innermost axis) read by a reduction: kept, it is
 *   packing, and inlined it would make every reduction step read across the source's rows.
 * On the CPU (`padsInline`) a padding stage (one read or a constant, by a condition) counts as
 * cheap however long its condition: loop partitioning takes the condition out of the interior
 * of the loops that read it, so a convolution reads its input in place instead of a padded
 * copy (ResNet-18's convolutions 1.05-1.21x faster each, timed alternately with the copy).
 * Stages are visited consumers first, so a chain collapses into its last reader. Whether a
 * stage that may be inlined is goes through `decide`, the above being the fallback.
 */
import type { Schedule } from "../../schedule/schedule.ts";
import type { Stage } from "../../schedule/stage.ts";
import type { ComputeOp } from "../../te/tensor.ts";
import { bodyCost, readsOf } from "./analysis.ts";
import { walkExpr } from "../../ir/visit.ts";
import type { Expr } from "../../ir/expr.ts";
import { type Decide, fallbackDecide } from "../decisions.ts";

/** Nodes above which a body counts as long (a few adds and multiplies stay cheap). */
const CHEAP_NODES = 24;

export function inlineElementwise(
  s: Schedule,
  rs: Schedule,
  keep: Set<Stage>,
  skip: Set<Stage>,
  decide: Decide = fallbackDecide,
  padsInline = false,
): void {
  const inlined = new Set<Stage>();
  // The stages that end up computing `st`'s values: readers, through inlined ones.
  const effective = (st: Stage): Stage[] =>
    s.readers(st).flatMap((r) => (inlined.has(r) ? effective(r) : [r]));
  for (const st of [...s.stages].reverse()) {
    if (st.op.kind !== "compute" || st.isOutput || keep.has(st) || skip.has(st)) continue;
    const op = st.op as ComputeOp;
    if (op.reduceAxis.length > 0 || op.numOutputs > 1) continue;
    const direct = s.readers(st);
    if (direct.length === 0 || direct.some((r) => skip.has(r))) continue;
    const readers = effective(st);
    const reads = direct.flatMap((r) =>
      readsOf(r.op as ComputeOp).filter((x) => x.tensor.op === op).map((x) => ({ r, x }))
    );
    // A read that leaves out some of the reader's axes (a row's statistic read per element)
    // would compute the value once per element of those axes.
    const broadcast = reads.some(({ r, x }) =>
      (r.op as ComputeOp).axis.some((v) => !x.uses.has(v))
    );
    const { nodes, calls } = bodyCost(op);
    const repeated = readers.length > 1 || reads.length > 1 || broadcast ||
      readers.some((r) => r.op.kind !== "compute" || r.op.reduceAxis.length > 0);
    // A layout change read by a reduction (a blocked convolution's packed weights): inlined,
    // every step of the reduction would read the source across its innermost index; kept,
    // the copy runs once and the reduction reads it contiguously.
    const relayout = movesInnermost(op) &&
      readers.some((r) => r.op.kind === "compute" && r.op.reduceAxis.length > 0);
    const long = calls > 0 || (nodes > CHEAP_NODES && !(padsInline && isPad(op)));
    const rule = !(repeated && long) && !relayout;
    if (!decide(`inline.${s.stages.indexOf(st)}`, [true, false], rule)) continue;
    rs.stage(op.output).computeInline();
    inlined.add(st);
  }
}

/** Whether a stage is padding: `select(cond, read, constant)` (either way round). */
function isPad(op: ComputeOp): boolean {
  const [body] = op.bodies;
  if (op.bodies.length !== 1 || body.kind !== "select") return false;
  const read = (e: Expr) => e.kind === "tensorRead";
  const constant = (e: Expr) => e.kind === "const";
  return (read(body.t) && constant(body.f)) || (constant(body.t) && read(body.f));
}

/**
 * Whether a stage moves its innermost axis: it reads some tensor with that axis in an index
 * other than the last, and not in the last (a transposing or blocking copy).
 */
function movesInnermost(op: ComputeOp): boolean {
  const last = op.axis[op.axis.length - 1];
  if (!last) return false;
  return readsOf(op).some((x) => {
    if (!x.uses.has(last) || x.indices.length === 0) return false;
    const inLast = new Set<unknown>();
    walkExpr(x.indices[x.indices.length - 1], (e) => void inLast.add(e));
    return !inLast.has(last);
  });
}
