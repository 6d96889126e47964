/**
 * The work of each root stage, for the profiler: arithmetic operations and compulsory memory
 * traffic, as expressions of the size variables, evaluated once a call binds them. A root
 * stage's work includes the stages attached inside its loops and the bodies inlined into it,
 * because its timer covers them. FLOPs count one per arithmetic operation or math call in a
 * body (a reduction adds its combine), times the points of the domain; recomputation that a
 * schedule adds by overlapping tiles is not counted, so the figure is the program's work.
 * Bytes are the sizes of the tensors the stage reads (each once) and of the one it writes:
 * the traffic no schedule can avoid, which is what a roofline's intensity is made of.
 */
import { bytesOf } from "../ir/dtype.ts";
import { Binary, type Expr, intConst } from "../ir/expr.ts";
import { mapChildren, walkExpr } from "../ir/visit.ts";
import type { Schedule } from "../schedule/schedule.ts";
import type { Stage } from "../schedule/stage.ts";
import type { Operation, Tensor } from "../te/tensor.ts";
import { inlineBodies } from "./inline.ts";

export interface StageWork {
  stage: string;
  /** Arithmetic operations per call; null when the stage's work cannot be counted. */
  flops: Expr | null;
  /** Compulsory bytes moved per call. */
  bytes: Expr;
}

const mul = (a: Expr, b: Expr): Expr => new Binary("mul", a, b, "int32");
const add = (a: Expr, b: Expr): Expr => new Binary("add", a, b, "int32");
const product = (xs: Expr[]): Expr => xs.reduce(mul, intConst(1));

/** Operations one evaluation of `body` performs (index arithmetic in subscripts is not work). */
function opsOf(body: Expr): number {
  let n = 0;
  const visit = (e: Expr): Expr => {
    if (e.kind === "tensorRead") return e;
    if (e.kind === "binary" || e.kind === "neg" || (e.kind === "call" && e.op !== "checkIndex")) {
      n++;
    }
    // A tuple reduction's combine runs once per point for all its outputs: count it on
    // output 0 only, where the stage's other outputs read the same reduction.
    if (e.kind === "reduce" && e.valueIndex === 0) {
      n += e.combiner.result.reduce((sum, r) => sum + opsOf(r), 0);
    }
    return mapChildren(e, visit);
  };
  visit(body);
  return n;
}

function sizeBytes(t: { shape: Expr[]; dtype: Parameters<typeof bytesOf>[0] }): Expr {
  return mul(product(t.shape), intConst(bytesOf(t.dtype)));
}

export function stageWork(s: Schedule): StageWork[] {
  const bodies = inlineBodies(s);
  const attachedTo = (st: Stage): Stage => {
    let r = st;
    while (r.attach.type === "scope") r = r.attach.stage;
    return r;
  };
  const roots = s.stages.filter((st) => st.op.kind === "compute" && st.attach.type === "root");
  return roots.map((root) => {
    const members = s.stages.filter((st) =>
      st.op.kind === "compute" && st.attach.type !== "inline" && attachedTo(st) === root
    );
    let flops: Expr | null = intConst(0);
    const read = new Set<Operation>();
    for (const st of members) {
      const body = bodies.get(st);
      if (!body || st.op.kind !== "compute") {
        flops = null;
        continue;
      }
      const points = product([...st.op.axis, ...st.op.reduceAxis].map((a) => a.dom!.extent));
      const ops = body.reduce((sum, b) => sum + opsOf(b), 0);
      if (flops) flops = add(flops, mul(points, intConst(ops)));
      for (const b of body) {
        walkExpr(b, (e) => {
          if (e.kind !== "tensorRead") return;
          const p = s.stageOfOp((e.tensor as Tensor).op);
          // Reads of a stage computed inside this one stay in its loops, not in memory.
          if (!p || !members.includes(p)) read.add((e.tensor as Tensor).op);
        });
      }
    }
    const written = root.op.kind === "compute" ? root.op.outputs : [root.op.output];
    const bytes = [...read]
      .flatMap((op) => op.kind === "compute" || op.kind === "extern" ? op.outputs : [op.output])
      .map(sizeBytes).reduce(add, written.map(sizeBytes).reduce(add));
    return { stage: root.name, flops, bytes };
  });
}
