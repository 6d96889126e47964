/**
 * Tessera's schedules for the benchmark's batch matmul, C[b, m, n] = A[b, m, k] . B[b, k, n]:
 * the matmul schedules of examples/matmul_cpu.ts and examples/matmul_gpu.ts with one more
 * outer axis. On the CPU each batch's B is packed into 16-wide column panels (zero-padded
 * past n) and C is computed in 6x16 register tiles, row tiles in parallel. On WebGPU the
 * batch goes to blockIdx.z and each invocation keeps a 16x16 register tile, reading storage
 * directly (on llvmpipe, workgroup memory and its barriers only cost).
 */
import { type Schedule, te, type Tensor } from "../../mod.ts";
import type { Workload } from "../../lib/bench/workload.ts";

export function batchMatmulSchedule(
  w: Extract<Workload, { op: "batch_matmul" }>,
  target: "c" | "webgpu",
): { s: Schedule; args: Tensor[] } {
  return target === "c" ? batchMatmulCpu(w) : batchMatmulGpu(w);
}

function batchMatmulCpu(
  { batch, m, n, k }: Extract<Workload, { op: "batch_matmul" }>,
  bm = 6,
  bn = 16,
  ku = 4,
) {
  const A = te.placeholder([batch, m, k], "float32", "A");
  const B = te.placeholder([batch, k, n], "float32", "B");
  const packedB = te.compute(
    [batch, Math.ceil(n / bn), k, bn],
    (q, x, y, z) =>
      n % bn === 0
        ? B(q, y, x.mul(bn).add(z))
        : te.select(x.mul(bn).add(z).lt(n), B(q, y, x.mul(bn).add(z)), 0),
    "packedB",
  );
  const r = te.reduceAxis([0, k], "k");
  const C = te.compute(
    [batch, m, n],
    (q, i, j) => te.sum(A(q, i, r).mul(packedB(q, j.floordiv(bn), r, j.floormod(bn))), [r]),
    "C",
  );
  const s = te.createSchedule(C);
  const CC = s.cacheWrite(C, "local");
  const st = s.stage(C);
  const [q, i, j] = st.op.axis;
  const [io, jo, , ji] = st.tile(i, j, bm, bn);
  // The batch is a serial loop around a parallel loop over row tiles, and each batch's B
  // is packed inside it: the packed panel's index then has no term from a parallel loop
  // variable, whose range GCC does not know in the OpenMP-outlined body (under -fwrapv it
  // then reads the panel with gathers, 20x slower).
  st.vectorize(ji).parallel(io);
  s.stage(CC).computeAt(st, jo);
  const [, mc, nc] = s.stage(CC).op.axis;
  const [ko, ki] = s.stage(CC).split(s.stage(CC).op.reduceAxis[0], { factor: ku });
  s.stage(CC).reorder(ko, ki, mc, nc).unroll(ki).unroll(mc).vectorize(nc);
  const pb = s.stage(packedB).computeAt(st, q);
  pb.vectorize(pb.op.axis[3]);
  return { s, args: [A, B, C] };
}

/** examples/matmul_gpu.ts's register-tiled schedule without shared memory, per batch. */
function batchMatmulGpu(
  { batch, m, n, k }: Extract<Workload, { op: "batch_matmul" }>,
  threads = 8,
  reg = 16,
) {
  const A = te.placeholder([batch, m, k], "float32", "A");
  const B = te.placeholder([batch, k, n], "float32", "B");
  const r = te.reduceAxis([0, k], "k");
  const C = te.compute([batch, m, n], (q, i, j) => te.sum(A(q, i, r).mul(B(q, r, j)), [r]), "C");
  const s = te.createSchedule(C);
  const CL = s.cacheWrite(C, "local");
  const st = s.stage(C);
  const [q, i, j] = st.op.axis;
  const block = threads * reg;
  const [by, bi] = st.split(i, { factor: block });
  const [bx, bj] = st.split(j, { factor: block });
  const [ty, yi] = st.split(bi, { nparts: threads });
  const [tx, xi] = st.split(bj, { nparts: threads });
  st.reorder(q, by, bx, ty, tx, yi, xi).unroll(yi).unroll(xi);
  st.bind(q, "blockIdx.z").bind(by, "blockIdx.y").bind(bx, "blockIdx.x");
  st.bind(ty, "threadIdx.y").bind(tx, "threadIdx.x");
  const cl = s.stage(CL);
  cl.computeAt(st, tx);
  const [, ci, cj] = cl.op.axis;
  // Unrolling the reduction by 4 as well ran 23 ms instead of 31 ms at 16x128x128x64 (host
  // clock, one wait), but made a shader that llvmpipe took 8-16 s to compile.
  cl.reorder(cl.op.reduceAxis[0], ci, cj).unroll(ci).unroll(cj);
  return { s, args: [A, B, C] };
}
