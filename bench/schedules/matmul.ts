/**
 * Tessera's schedules for the benchmark's matmul, C[m, n] = A[m, k] . B[k, n]: the hand
 * schedules of examples/matmul_cpu.ts (packed B panels, a register tile sized by the CPU's
 * vector unit: 6x16 floats, two ymm columns, with AVX2's 16 registers; 8x32, two zmm columns,
 * with AVX-512's 32; measured 1.4x faster than 6x16 at 1024 on Zen 5) and
 * examples/matmul_gpu.ts (8x8 threads with 16x16 register tiles read straight from storage,
 * the faster of its two on llvmpipe).
 */
import type { Schedule, Tensor } from "../../mod.ts";
import type { Workload } from "../../lib/bench/workload.ts";
import { matmulCpu } from "../../examples/matmul_cpu.ts";
import { matmulGpu } from "../../examples/matmul_gpu.ts";
import { cpuFeatures, widestVector } from "../../lib/bench/cpu.ts";

const [bm, bn] = widestVector((await cpuFeatures()).flags) === "avx512" ? [8, 32] : [6, 16];

export function matmulSchedule(
  w: Extract<Workload, { op: "matmul" }>,
  target: "c" | "webgpu",
): { s: Schedule; args: Tensor[] } {
  if (target === "webgpu") return matmulGpu(w.m, w.n, w.k, { threads: 8, reg: 16, shared: false });
  return matmulCpu(w.m, w.n, w.k, bm, bn);
}
