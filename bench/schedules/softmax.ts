/**
 * Tessera's schedules for the benchmark's row softmax, y[i, j] = exp(x[i, j] - max_j x[i]) /
 * sum_j exp(x[i, j] - max_j x[i]). Four stages (row max, exponentials, row sum, quotient)
 * are fused per row so that a row is read from memory once and stays in cache.
 */
import { type Schedule, te, type Tensor } from "../../mod.ts";
import type { Workload } from "../../lib/bench/workload.ts";
import { threadReduceAtRow, vectorReduceAtRow } from "./row_reduce.ts";

export function softmaxSchedule(
  w: Extract<Workload, { op: "softmax" }>,
  target: "c" | "webgpu",
): { s: Schedule; args: Tensor[] } {
  const { rows, cols } = w;
  const X = te.placeholder([rows, cols], "float32", "X");
  const k1 = te.reduceAxis([0, cols], "k1");
  const M = te.compute([rows], (i) => te.max(X(i, k1), [k1]), "M");
  const E = te.compute([rows, cols], (i, j) => te.exp(X(i, j).sub(M(i))), "E");
  const k2 = te.reduceAxis([0, cols], "k2");
  const S = te.compute([rows], (i) => te.sum(E(i, k2), [k2]), "S");
  const Y = te.compute([rows, cols], (i, j) => E(i, j).div(S(i)), "Y");
  const s = te.createSchedule(Y);
  const y = s.stage(Y);
  const [row, col] = y.op.axis;
  if (target === "c") {
    // Rows in parallel, each row's exponentials computed once into a row buffer (not once
    // for the sum and again for the output), every loop vectorized: exp goes to glibc's
    // vector expf (libmvec). 0.86 ms at 1024x1000 on two cores; with the scalar double exp
    // the C target used before, the same schedule took 5.2 ms.
    const [, v] = y.split(col, { factor: 8 });
    y.parallel(row).vectorize(v);
    s.stage(E).computeAt(y, row);
    const [, ev] = s.stage(E).split(s.stage(E).op.axis[1], { factor: 8 });
    s.stage(E).vectorize(ev);
    for (const T of [M, S]) vectorReduceAtRow(s, T, y, row);
  } else if (cols <= 4096) {
    // One invocation per row: the row's max and sum in its registers, exp computed twice
    // (for the sum and for the output) instead of stored. On llvmpipe this took 25 ms at
    // 1024x1000 against 60 ms for the cross-thread form below: there a workgroup's
    // invocations share a CPU thread, and every barrier switches between them. Only for
    // rows up to 4096: llvmpipe silently ends an invocation's loops once they have run
    // 65535 iterations in all (Mesa's LP_MAX_TGSI_LOOP_ITERATIONS, a guard against
    // endless loops shared by every loop of a shader), and a row takes three loops.
    s.stage(E).computeInline();
    const [b, t] = y.split(row, { factor: 64 });
    y.bind(b, "blockIdx.x").bind(t, "threadIdx.x");
    s.stage(M).computeAt(y, t).setScope("local");
    s.stage(S).computeAt(y, t).setScope("local");
  } else {
    // A workgroup per row: each reduction rfactored over 64 invocations, their partials in
    // workgroup memory, the row's max and sum shared (what a real GPU wants).
    const threads = 64;
    s.stage(E).computeInline();
    const [, t] = y.split(col, { factor: threads });
    y.bind(row, "blockIdx.x").bind(t, "threadIdx.x");
    for (const T of [M, S]) threadReduceAtRow(s, T, y, row, threads);
  }
  return { s, args: [X, Y] };
}
