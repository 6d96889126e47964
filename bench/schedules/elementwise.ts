/**
 * Tessera's schedule for the benchmark's elementwise workload, y = max(a*b + c, 0) - 0.5*a:
 * one pass over memory, so the only goal is to stream at the machine's bandwidth. On the CPU
 * one vectorized loop; on WebGPU each invocation computes four elements strided by the
 * workgroup width, so that neighbouring invocations touch neighbouring words.
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
    // One core streams the 64 MiB near the memory's speed once the loop is vectorized. A
    // parallel outer loop (blocks of 4096 over both cores) measured bimodal here, 2.3 or
    // 5.4 ms from run to run against a steady 3.2 ms for one core, so one core it is.
    const [, v] = st.split(st.op.axis[0], { factor: 8 });
    st.vectorize(v);
  } else {
    const [b, i] = st.split(st.op.axis[0], { factor: 1024 });
    const [u, t] = st.split(i, { nparts: 4 });
    st.reorder(b, t, u).bind(b, "blockIdx.x").bind(t, "threadIdx.x").unroll(u);
  }
  return { s, args: [A, B, C, Y] };
}
