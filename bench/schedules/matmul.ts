/**
 * Tessera's schedules for the benchmark's matmul, C[m, n] = A[m, k] . B[k, n]: the hand
 * schedules of examples/matmul_cpu.ts (packed B panels, a 6x16 register tile) and
 * examples/matmul_gpu.ts (8x8 threads with 16x16 register tiles read straight from storage,
 * the faster of its two on llvmpipe; see bench/gpu.ts). The CPU example packs B into panels
 * of exactly 16 columns, so for a width that 16 does not divide the same schedule is built
 * here over a zero-padded last panel.
 */
import { type Schedule, te, type Tensor } from "../../mod.ts";
import type { Workload } from "../../lib/bench/workload.ts";
import { matmulCpu } from "../../examples/matmul_cpu.ts";
import { matmulGpu } from "../../examples/matmul_gpu.ts";

export function matmulSchedule(
  w: Extract<Workload, { op: "matmul" }>,
  target: "c" | "webgpu",
): { s: Schedule; args: Tensor[] } {
  if (target === "webgpu") return matmulGpu(w.m, w.n, w.k, { threads: 8, reg: 16, shared: false });
  if (w.n % 16 === 0) return matmulCpu(w.m, w.n, w.k);
  return paddedMatmulCpu(w.m, w.n, w.k);
}

/** matmulCpu's schedule with ceil(n / bn) panels, the columns past n packed as zeros. */
function paddedMatmulCpu(m: number, n: number, k: number, bm = 6, bn = 16, ku = 4) {
  const A = te.placeholder([m, k], "float32", "A");
  const B = te.placeholder([k, n], "float32", "B");
  const packedB = te.compute(
    [Math.ceil(n / bn), k, bn],
    (x, y, z) => te.select(x.mul(bn).add(z).lt(n), B(y, x.mul(bn).add(z)), 0),
    "packedB",
  );
  const r = te.reduceAxis([0, k], "k");
  const C = te.compute(
    [m, n],
    (i, j) => te.sum(A(i, r).mul(packedB(j.floordiv(bn), r, j.floormod(bn))), [r]),
    "C",
  );
  const s = te.createSchedule(C);
  const CC = s.cacheWrite(C, "local");
  const [i, j] = s.stage(C).op.axis;
  const [io, jo, , ji] = s.stage(C).tile(i, j, bm, bn);
  s.stage(C).vectorize(ji).parallel(io);
  s.stage(CC).computeAt(s.stage(C), jo);
  const [mc, nc] = s.stage(CC).op.axis;
  const [ko, ki] = s.stage(CC).split(s.stage(CC).op.reduceAxis[0], { factor: ku });
  s.stage(CC).reorder(ko, ki, mc, nc).unroll(ki).unroll(mc).vectorize(nc);
  const [px, , pz] = s.stage(packedB).op.axis;
  s.stage(packedB).parallel(px).vectorize(pz);
  return { s, args: [A, B, C] };
}
