/**
 * The facts of the machine at hand that decide a kernel's speed (lib/tune/key.ts hashes them
 * into the target key): gathered once per process. CPU features are the ones that change
 * code generation (the vector units), not the whole flag list, so a record tuned on one
 * machine applies to another of the same model and compiler.
 */
import { cpuModel } from "../bench/env.ts";
import { cpuFeatures } from "../bench/cpu.ts";
import { findCompiler } from "../codegen/c/compile.ts";
import { getDevice, WANTED_LIMITS } from "../codegen/wgsl/device.ts";
import type { TargetFacts } from "./key.ts";

const VECTOR_FEATURES = [
  "sse4_2",
  "avx",
  "avx2",
  "fma",
  "avx512f",
  "avx512bw",
  "avx512vl",
  "avx512dq",
  "avx512_bf16",
  "amx_tile",
  "asimd",
  "sve",
];

export async function targetFacts(target: "c" | "webgpu"): Promise<TargetFacts> {
  if (target === "c") {
    const { flags } = await cpuFeatures();
    return {
      target,
      cpu: cpuModel(),
      features: VECTOR_FEATURES.filter((f) => flags.has(f)),
      cores: navigator.hardwareConcurrency,
      compiler: (await findCompiler()).version,
    };
  }
  const gpu = await getDevice();
  const limits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) {
    const v = (gpu.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === "number") limits[k] = v;
  }
  return { target, adapter: gpu.description, limits };
}
