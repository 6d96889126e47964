/**
 * Tessera's schedules for the benchmark's matmul, C[m, n] = A[m, k] . B[k, n]: the hand
 * schedules of examples/matmul_cpu.ts (packed B panels, a 6x16 register tile) and
 * examples/matmul_gpu.ts (8x8 threads with 16x16 register tiles read straight from storage,
 * the faster of its two on llvmpipe).
 */
import type { Schedule, Tensor } from "../../mod.ts";
import type { Workload } from "../../lib/bench/workload.ts";
import { matmulCpu } from "../../examples/matmul_cpu.ts";
import { matmulGpu } from "../../examples/matmul_gpu.ts";

export function matmulSchedule(
  w: Extract<Workload, { op: "matmul" }>,
  target: "c" | "webgpu",
): { s: Schedule; args: Tensor[] } {
  if (target === "webgpu") return matmulGpu(w.m, w.n, w.k, { threads: 8, reg: 16, shared: false });
  return matmulCpu(w.m, w.n, w.k);
}
