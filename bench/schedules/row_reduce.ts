/**
 * The per-row float reductions softmax and layernorm share, in their CPU and GPU forms. On
 * the CPU, GCC does not vectorize a float sum or max over one accumulator (it would reorder
 * the operations), so the reduction is rfactored into 16 independent accumulators (two AVX2
 * registers) that the partial stage updates in vector lanes. On the GPU, a workgroup reduces
 * a row: a reduction across its invocations, the result in workgroup memory.
 */
import type { IterVar, Schedule, Stage, Tensor } from "../../mod.ts";

export function vectorReduceAtRow(s: Schedule, T: Tensor, consumer: Stage, row: IterVar): void {
  const st = s.stage(T);
  const [, ki] = st.split(st.op.reduceAxis[0], { factor: 16 });
  const F = s.rfactor(T, ki, 1);
  st.computeAt(consumer, row);
  const f = s.stage(F).computeAt(consumer, row);
  f.reorder(f.op.reduceAxis[0], f.op.axis[1]).vectorize(f.op.axis[1]);
}

/**
 * A row's reduction across the `threads` invocations of the workgroup that owns the row: the
 * reduce loop split by `threads` and the inner part bound to threadIdx.x, a cross-thread
 * reduction (lib/lower/gpu/threadAllreduce.ts: per-thread partials, a tree in workgroup
 * memory, one thread stores). Attached under the row's blockIdx only, the result is inferred
 * `shared`: every invocation reads the row's value.
 */
export function threadReduceAtRow(
  s: Schedule,
  T: Tensor,
  consumer: Stage,
  row: IterVar,
  threads: number,
): void {
  const st = s.stage(T).computeAt(consumer, row);
  const [, ki] = st.split(st.op.reduceAxis[0], { factor: threads });
  st.bind(ki, "threadIdx.x");
}
