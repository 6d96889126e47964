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
  // max(z, 0) as a select: the C target's float max keeps Math.max's NaN rule with
  // branches that GCC does not vectorize. The two differ only for NaN inputs.
  const Y = te.compute([w.len], (i) => {
    const z = A(i).mul(B(i)).add(C(i));
    return te.select(z.gt(0), z, 0).sub(A(i).mul(0.5));
  }, "Y");
  const s = te.createSchedule(Y);
  const st = s.stage(Y);
  if (target === "c") {
    // One core moves the 64 MiB at the memory's speed once the loop is vectorized (about
    // 32 GB/s here). A parallel outer loop would cost the vectorization: GCC cannot bound
    // an OpenMP loop variable in the outlined body, so under -fwrapv an index built from it
    // may wrap and the loop stays scalar (two scalar cores: about 27 GB/s).
    const [, v] = st.split(st.op.axis[0], { factor: 8 });
    st.vectorize(v);
  } else {
    const [b, i] = st.split(st.op.axis[0], { factor: 1024 });
    const [u, t] = st.split(i, { nparts: 4 });
    st.reorder(b, t, u).bind(b, "blockIdx.x").bind(t, "threadIdx.x").unroll(u);
  }
  return { s, args: [A, B, C, Y] };
}
