/**
 * Tessera's schedule for the benchmark's elementwise workload, y = max(a*b + c, 0) - 0.5*a:
 * one pass over memory, so the only goal is to stream at the machine's bandwidth. On the CPU
 * parallel vectorized blocks; on WebGPU each invocation computes four consecutive elements as
 * one vec4 (vector loads of a, b and c). On llvmpipe that took 64-65 ms against 78 ms for four
 * elements strided by the workgroup width (same runs, 4M elements).
 */
import { type Schedule, te, type Tensor } from "../../mod.ts";
import type { Workload } from "../../lib/bench/workload.ts";

export function elementwiseSchedule(
  w: Extract<Workload, { op: "elementwise" }>,
  target: "c" | "webgpu",
): { s: Schedule; args: Tensor[] } {
  const A = te.placeholder([w.len], "float32", "A");
  const B = te.placeholder([w.len], "float32", "B");
  const C = te.placeholder([w.len], "float32", "C");
  const Y = te.compute(
    [w.len],
    (i) => te.max(A(i).mul(B(i)).add(C(i)), 0).sub(A(i).mul(0.5)),
    "Y",
  );
  const s = te.createSchedule(Y);
  const st = s.stage(Y);
  if (target === "c") {
    // Blocks of 64 Ki elements over both cores, each vectorized. Since the C target's parallel
    // loops restate their range, this measured 2.0-2.3 ms against 2.7 ms for one core (five
    // runs; one of them bimodal within the run, IQR 2.5 ms, as two OpenMP threads sometimes
    // are on this 2-core machine).
    const [o, i] = st.split(st.op.axis[0], { factor: 1 << 16 });
    const [, v] = st.split(i, { factor: 8 });
    st.parallel(o).vectorize(v);
  } else {
    const [o, v] = st.split(st.op.axis[0], { factor: 4 });
    const [b, t] = st.split(o, { factor: 256 });
    st.bind(b, "blockIdx.x").bind(t, "threadIdx.x").vectorize(v);
  }
  return { s, args: [A, B, C, Y] };
}
