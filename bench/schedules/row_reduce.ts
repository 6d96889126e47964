/**
 * The CPU form of a per-row float reduction that softmax and layernorm share: GCC does not
 * vectorize a float sum or max over one accumulator (it would reorder the operations), so the
 * reduction is rfactored into 16 independent accumulators (two AVX2 registers), the partial
 * stage updates them in vector lanes, and both stages are computed at the consumer's row.
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
