/**
 * Ansor's "fuse consumer" rule for the CPU register tile: when a matmul-like stage has one
 * elementwise consumer at the root (a bias add and GELU, a convolution's bias, residual add
 * and ReLU, read back from a blocked layout), the consumer is tiled like the reduction and
 * the reduction is computed inside each of its tiles, in a tile-sized local buffer. The
 * epilogue then runs on values still in registers or L1 instead of making a second pass over
 * a buffer as large as the output, and the intermediate is never written to memory. Without
 * it, fusing a matmul with its epilogue saves a kernel launch but no time.
 *
 * The consumer must cover the reduction's iteration space one to one: each of its axes gives
 * one axis of the reduction whole, or two as (axis / c, axis % c) with c the inner axis's
 * extent (the packed matmul's and the blocked convolution's read back). Its loops are split
 * to match, so each axis of the reduction has a loop of the consumer with the same extent.
 */
import { exprEqual } from "../../arith/structural.ts";
import type { Expr } from "../../ir/expr.ts";
import type { Schedule } from "../../schedule/schedule.ts";
import type { Stage } from "../../schedule/stage.ts";
import type { ComputeOp, IterVar } from "../../te/tensor.ts";
import { constExtent, readsOf } from "./analysis.ts";

/** How one axis of the reduction is given by the consumer's axis `axis`. */
type Part = { axis: number; part: "whole" } | { axis: number; part: "outer" | "inner"; c: number };

export interface Epilogue {
  /** The consumer at the root. */
  stage: Stage;
  /** For each axis of the reduction, in order, the consumer's axis and which part of it. */
  parts: Part[];
}

/** The consumer `p` can carry as its epilogue, or null (see the file's comment). */
export function epilogueOf(s: Schedule, p: Stage, keep: ReadonlySet<Stage>): Epilogue | null {
  const op = p.op as ComputeOp;
  if (p.isOutput || keep.has(p) || op.numOutputs !== 1) return null;
  // Every reader of p, through inlined stages, must be one root compute stage.
  const roots = new Set<Stage>();
  const reach = (st: Stage): boolean =>
    s.readers(st).every((r) => {
      if (r.attach.type === "inline") return reach(r);
      roots.add(r);
      return r.attach.type === "root" && r.op.kind === "compute";
    });
  if (!reach(p) || roots.size !== 1) return null;
  const [e] = roots;
  const eop = e.op as ComputeOp;
  if (eop.reduceAxis.length > 0 || eop.numOutputs !== 1) return null;
  const reads = readsOf(eop, s).filter((r) => r.tensor.op === op);
  if (reads.length === 0) return null;
  const first = reads[0].indices;
  if (!reads.every((r) => r.indices.every((x, d) => exprEqual(x, first[d])))) return null;
  const extents = op.axis.map(constExtent);
  if (extents.some((x) => x === null)) return null;
  const parts = first.map((x, d) => partOf(x, eop.axis, extents[d]!));
  if (parts.some((x) => x === null)) return null;
  return covers(parts as Part[], eop.axis, extents as number[])
    ? { stage: e, parts: parts as Part[] }
    : null;
}

function partOf(x: Expr, axes: readonly IterVar[], extent: number): Part | null {
  const axis = axes.indexOf(x as IterVar);
  if (axis >= 0) return { axis, part: "whole" };
  if (x.kind !== "binary" || (x.op !== "floordiv" && x.op !== "floormod")) return null;
  const i = axes.indexOf(x.a as IterVar);
  if (i < 0 || x.b.kind !== "const" || !Number.isInteger(x.b.value) || x.b.value < 1) return null;
  const c = x.b.value;
  if (x.op === "floormod" && extent !== c) return null;
  return { axis: i, part: x.op === "floordiv" ? "outer" : "inner", c };
}

/** Whether each consumer axis is used once whole, or once as an outer and an inner part. */
function covers(parts: Part[], axes: readonly IterVar[], extents: number[]): boolean {
  return axes.every((v, i) => {
    const mine = parts.map((p, d) => ({ p, d })).filter(({ p }) => p.axis === i);
    const ext = constExtent(v);
    if (ext === null) return false;
    if (mine.length === 1) return mine[0].p.part === "whole" && extents[mine[0].d] === ext;
    if (mine.length !== 2) return false;
    const outer = mine.find(({ p }) => p.part === "outer");
    const inner = mine.find(({ p }) => p.part === "inner");
    if (!outer || !inner || outer.p.part === "whole" || inner.p.part === "whole") return false;
    const c = inner.p.c;
    return outer.p.c === c && ext % c === 0 && extents[outer.d] === ext / c;
  });
}

/**
 * Splits the consumer's axes as `epi` says, through `rs` (the recording schedule), and
 * returns, for each axis of the reduction, the consumer's loop with the same extent; also
 * the index of the reduction axis whose loop is the consumer's innermost (its output's
 * contiguous one), or -1.
 */
export function matchLoops(rs: Schedule, epi: Epilogue): { loops: IterVar[]; contiguous: number } {
  const st = rs.stage((epi.stage.op as ComputeOp).output);
  const axes = (epi.stage.op as ComputeOp).axis;
  const split = new Map<number, [IterVar, IterVar]>();
  const loops = epi.parts.map((p) => {
    if (p.part === "whole") return axes[p.axis];
    if (!split.has(p.axis)) split.set(p.axis, st.split(axes[p.axis], { factor: p.c }));
    return split.get(p.axis)![p.part === "outer" ? 0 : 1];
  });
  const last = axes.length - 1;
  const contiguous = epi.parts.findIndex((p) => p.axis === last && p.part !== "outer");
  return { loops, contiguous };
}
