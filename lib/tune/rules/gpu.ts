/**
 * The WebGPU default rules, one form per root stage after inlining:
 * - a matmul-like reduction (analysis.ts registerTile) gets 8x8 threads per workgroup, each
 *   keeping a small register tile (4x4 where the extents allow) in a local cache, the
 *   remaining data axes on blockIdx.z;
 * - a long reduction with few outputs, a very long one or a symbolic one gets a workgroup
 *   per output:
 *   rfactored across the workgroup's threads, the partials in workgroup memory, the last
 *   sum on one thread (bench/schedules/row_reduce.ts threadReduceAtRow, standalone);
 * - everything else fuses its data loops and splits them into blockIdx.x and threadIdx.x,
 *   one output per invocation.
 * Each form is taken only when an invocation's serial loop iterations stay well under
 * llvmpipe's budget (lib/codegen/wgsl/loop_budget.ts); a stage that fits none keeps its
 * loops serial, and the build's own check says why it cannot run there. Each choice (the form,
 * threads per workgroup, the tile's sides) goes through `decide` with the rule's own pick
 * as the fallback (lib/tune/decisions.ts).
 */
import { LLVMPIPE_LOOP_LIMIT } from "../../codegen/wgsl/loop_budget.ts";
import type { Schedule } from "../../schedule/schedule.ts";
import type { Stage } from "../../schedule/stage.ts";
import type { ComputeOp, IterVar } from "../../te/tensor.ts";
import { constExtent, constProduct, registerTile, schedulable } from "./analysis.ts";
import { type Decide, fallbackDecide } from "../decisions.ts";

export interface GpuFacts {
  /** Invocations per workgroup for one-dimensional forms. */
  threads: number;
  /** Threads per side of a matmul-like stage's workgroup. */
  side: number;
  /** Outputs per side of one invocation's register tile, where the extents allow. */
  reg: number;
  /** Outputs (a constant count) below which a reduction gets a workgroup per output... */
  fewOutputs: number;
  /** ...when it has at least this many steps. */
  longReduction: number;
}

/** Our estimate leaves out loops of extent 1 and the printer's own: keep a margin. */
const BUDGET = Math.floor(LLVMPIPE_LOOP_LIMIT * 0.75);

/** Iterations of loops nested in this order (outermost first), as the budget counts them. */
function nested(exts: number[]): number {
  return exts.reduceRight((body, e) => e * (1 + body), 0);
}

const THREADS = [16, 32, 64, 128, 256];

export function gpuRules(
  s: Schedule,
  rs: Schedule,
  skip: Set<Stage>,
  f: GpuFacts,
  decide: Decide = fallbackDecide,
): void {
  schedulable(s, skip).forEach((st, k) => {
    const d: Decide = (name, options, fallback) => decide(`${k}.${name}`, options, fallback);
    const op = st.op as ComputeOp;
    const reduce = op.reduceAxis.map(constExtent);
    const steps = reduce.every((e) => e !== null) ? nested(reduce as number[]) : null;
    const outputs = constProduct(op.axis);
    const tile = registerTile(op);
    if (
      tile && steps !== null && steps <= BUDGET && d("tile", [true, false], true) &&
      tiled(rs, op, tile.a, tile.b, f, d)
    ) return;
    const few = op.axis.length === 0 || (outputs !== null && outputs < f.fewOutputs);
    // Few outputs alone do not make the cross-thread form pay: on llvmpipe a workgroup's
    // invocations are SIMD lanes of one CPU thread and every barrier switches between
    // them (softmax 16x100 took 0.22 ms so against 0.18 unscheduled).
    const wantRow = op.reduceAxis.length > 0 &&
      ((few && (steps === null || steps >= f.longReduction)) || steps === null ||
        steps > Math.min(BUDGET, 4096));
    const row = op.reduceAxis.length > 0 && op.numOutputs === 1 &&
      d("rowPerWorkgroup", [true, false], wantRow);
    if (row && rowPerWorkgroup(rs, op, f, d)) return;
    const fits = op.reduceAxis.length === 0 || (steps !== null && steps <= BUDGET);
    if (op.axis.length > 0 && fits) {
      threadPerOutput(rs.stage(op.output), op.axis, d("threads", THREADS, f.threads));
    }
  });
}

/** Fuses `data` (all the stage's data loops, in order) and splits it over blocks and threads. */
function threadPerOutput(st: Stage, data: IterVar[], threads: number): IterVar {
  const n = constProduct(data);
  const fused = data.length > 1 ? st.fuse(...data) : data[0];
  const [b, t] = st.split(fused, { factor: n !== null && n < threads ? n : threads });
  st.bind(b, "blockIdx.x").bind(t, "threadIdx.x");
  return b;
}

function rowPerWorkgroup(rs: Schedule, op: ComputeOp, f: GpuFacts, d: Decide): boolean {
  const K = constProduct(op.reduceAxis);
  const wanted = d("rowThreads", THREADS, f.threads);
  const threads = K !== null && K < wanted ? K : wanted;
  if (K !== null && Math.ceil(K / threads) + threads > BUDGET) return false;
  const st = rs.stage(op.output);
  const r = op.reduceAxis.length > 1 ? st.fuse(...op.reduceAxis) : op.reduceAxis[0];
  const [, ri] = st.split(r, { factor: threads });
  const RF = rs.rfactor(op.output, ri, op.axis.length);
  const rf = rs.stage(RF);
  rf.bind(rf.op.axis[rf.op.axis.length - 1], "threadIdx.x");
  if (op.axis.length === 0) return true; // one workgroup fills the partials; one thread sums
  const row = op.axis.length > 1 ? st.fuse(...op.axis) : op.axis[0];
  st.bind(row, "blockIdx.x");
  rf.setScope("shared").computeAt(st, row);
  return true;
}

/**
 * `side` x `side` threads, each computing a `reg` x `reg` tile of (a, b) in registers; the
 * other data axes fused onto blockIdx.z. False (nothing applied) when those do not fit a
 * constant grid.
 */
function tiled(
  rs: Schedule,
  op: ComputeOp,
  a: IterVar,
  b: IterVar,
  f: GpuFacts,
  d: Decide,
): boolean {
  const others = op.axis.filter((v) => v !== a && v !== b);
  const z = constProduct(others);
  if (z === null || z > 65535) return false;
  const ea = constExtent(a)!, eb = constExtent(b)!;
  const side = d("side", [2, 4, 8, 16], f.side);
  const fits = (r: number) => r === 1 || (ea >= side * r && eb >= side * r);
  const reg = d("reg", [1, 2, 4, 8].filter(fits), fits(f.reg) ? f.reg : 1);
  f = { ...f, side, reg };
  const CL = reg > 1 ? rs.cacheWrite(op.output, "local") : null;
  const st = rs.stage(op.output);
  const [by, ain] = st.split(a, { factor: f.side * reg });
  const [bx, bin] = st.split(b, { factor: f.side * reg });
  const [ty, yi] = st.split(ain, { nparts: f.side });
  const [tx, xi] = st.split(bin, { nparts: f.side });
  st.reorder(...others, by, bx, ty, tx, yi, xi);
  if (others.length > 0) st.bind(others.length > 1 ? st.fuse(...others) : others[0], "blockIdx.z");
  st.bind(by, "blockIdx.y").bind(bx, "blockIdx.x").bind(ty, "threadIdx.y").bind(tx, "threadIdx.x");
  if (CL) {
    st.unroll(yi).unroll(xi);
    const cl = rs.stage(CL);
    cl.computeAt(st, tx);
    const k = op.axis.indexOf(a), data = cl.op.axis;
    // The innermost reduce loop may be split, its inner part unrolled (0: left alone).
    const reduce = [...cl.op.reduceAxis];
    const last = reduce[reduce.length - 1];
    const ext = constExtent(last);
    const factors = ext === null ? [] : [2, 4, 8].filter((x) => x < ext && ext % x === 0);
    const unroll = d("reduceUnroll", [0, ...factors], 0);
    if (unroll > 0) {
      const [ko, ki] = cl.split(last, { factor: unroll });
      reduce.splice(reduce.length - 1, 1, ko, ki);
    }
    cl.reorder(...reduce, ...data).unroll(data[k]).unroll(data[data.length - 1]);
    if (unroll > 0) cl.unroll(reduce[reduce.length - 1]);
  }
  return true;
}
