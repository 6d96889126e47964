/**
 * Tessera's schedules for the benchmark's layernorm, y = (x - mean) / sqrt(var + eps) * gamma
 * + beta over each row with the biased variance. The mean and variance are two passes over
 * the row (as the reference computes them), fused with the output pass per row so that the
 * row is read from memory once and the second and third passes hit cache.
 */
import { type Schedule, te, type Tensor } from "../../mod.ts";
import type { Workload } from "../../lib/bench/workload.ts";
import { threadReduceAtRow, vectorReduceAtRow } from "./row_reduce.ts";

export function layernormSchedule(
  w: Extract<Workload, { op: "layernorm" }>,
  target: "c" | "webgpu",
): { s: Schedule; args: Tensor[] } {
  const { rows, cols, eps } = w;
  const X = te.placeholder([rows, cols], "float32", "X");
  const G = te.placeholder([cols], "float32", "gamma");
  const Bt = te.placeholder([cols], "float32", "beta");
  const k1 = te.reduceAxis([0, cols], "k1");
  const Sum = te.compute([rows], (i) => te.sum(X(i, k1), [k1]), "Sum");
  const Mean = te.compute([rows], (i) => Sum(i).div(cols), "Mean");
  const k2 = te.reduceAxis([0, cols], "k2");
  const SqSum = te.compute([rows], (i) => {
    const d = X(i, k2).sub(Mean(i));
    return te.sum(d.mul(d), [k2]);
  }, "SqSum");
  // One reciprocal square root per row, not per element.
  const Inv = te.compute([rows], (i) => te.rsqrt(SqSum(i).div(cols).add(eps)), "Inv");
  const Y = te.compute(
    [rows, cols],
    (i, j) => X(i, j).sub(Mean(i)).mul(Inv(i)).mul(G(j)).add(Bt(j)),
    "Y",
  );
  const s = te.createSchedule(Y);
  const y = s.stage(Y);
  const [row, col] = y.op.axis;
  if (target === "c") {
    // No parallel loop: one core streams this near the memory's speed once the loops are
    // vectorized. Parallel rows on two cores measured 0.2 to 1.5 ms from run to run (median
    // of 10 samples each, a 50 ms settle and a wake call before each) against a steady
    // 0.3 to 0.4 ms serial.
    const [, v] = y.split(col, { factor: 8 });
    y.vectorize(v);
    s.stage(Mean).computeAt(y, row);
    s.stage(Inv).computeAt(y, row);
    for (const T of [Sum, SqSum]) vectorReduceAtRow(s, T, y, row);
  } else if (cols <= 4096) {
    // One invocation per row, its statistics in registers: on llvmpipe 32-37 ms at
    // 1024x768 against 51 ms for the cross-thread form below (see softmax.ts for why, and
    // for the bound on the row length).
    const [b, t] = y.split(row, { factor: 64 });
    y.bind(b, "blockIdx.x").bind(t, "threadIdx.x");
    for (const T of [Sum, Mean, SqSum, Inv]) s.stage(T).computeAt(y, t).setScope("local");
  } else {
    // A workgroup per row: both sums rfactored over 64 invocations, partials and the row's
    // statistics in workgroup memory.
    const threads = 64;
    const [, t] = y.split(col, { factor: threads });
    y.bind(row, "blockIdx.x").bind(t, "threadIdx.x");
    s.stage(Mean).computeAt(y, row).setScope("shared");
    s.stage(Inv).computeAt(y, row).setScope("shared");
    for (const T of [Sum, SqSum]) threadReduceAtRow(s, T, y, row, threads);
  }
  return { s, args: [X, G, Bt, Y] };
}
