/**
 * What this CPU can do, read from the kernel rather than from the environment: the widest
 * vector unit (AVX-512 or AVX2 with FMA), the L2 size, and from them the OpenBLAS core type
 * that uses that unit. The benchmark needs this because an environment may force a lesser
 * configuration (a container that sets OPENBLAS_CORETYPE=Haswell on an AVX-512 machine, since
 * old OpenBLAS builds misdetect new CPUs), and a comparison against a peer held below its best
 * flatters Tessera. Deno reads /proc/cpuinfo only with --allow-all, so it is read through `cat`
 * (--allow-run) when a direct read is refused.
 */

export type VectorUnit = "avx512" | "avx2" | "other";

export interface CpuFeatures {
  /** The flags of the first processor in /proc/cpuinfo (empty where there is none). */
  flags: Set<string>;
  /** L2 per core in KiB, from cpuinfo's "cache size" (undefined where it does not say). */
  l2KiB?: number;
}

/** Parses /proc/cpuinfo's text (the first processor's entry). */
export function parseCpuinfo(text: string): CpuFeatures {
  const flags = /^flags\s*:(.*)$/m.exec(text)?.[1].trim().split(/\s+/) ?? [];
  const cache = /^cache size\s*:\s*(\d+)\s*KB/m.exec(text);
  return { flags: new Set(flags), ...(cache ? { l2KiB: Number(cache[1]) } : {}) };
}

let features: Promise<CpuFeatures> | undefined;

/** This machine's CPU features; an empty set where /proc/cpuinfo cannot be read. */
export function cpuFeatures(): Promise<CpuFeatures> {
  features ??= (async () => {
    if (Deno.build.os !== "linux") return { flags: new Set<string>() };
    try {
      return parseCpuinfo(await Deno.readTextFile("/proc/cpuinfo"));
    } catch {
      try {
        const out = await new Deno.Command("cat", {
          args: ["/proc/cpuinfo"],
          stdout: "piped",
          stderr: "null",
        }).output();
        return parseCpuinfo(new TextDecoder().decode(out.stdout));
      } catch {
        return { flags: new Set<string>() };
      }
    }
  })();
  return features;
}

/** The widest vector unit with FMA: AVX-512 needs the F, BW, VL and DQ subsets (SkylakeX's). */
export function widestVector(flags: Set<string>): VectorUnit {
  if (["avx512f", "avx512bw", "avx512vl", "avx512dq"].every((f) => flags.has(f))) return "avx512";
  if (flags.has("avx2") && flags.has("fma")) return "avx2";
  return "other";
}

/** float32 lanes of one vector register of that unit (4: SSE or NEON). */
export function lanes(unit: VectorUnit): number {
  return unit === "avx512" ? 16 : unit === "avx2" ? 8 : 4;
}

// OpenBLAS's x86 core types by the vector unit their kernels use: 3 AVX-512, 2 AVX2 + FMA,
// 1 AVX. A name not listed (a typo, an old core) counts as less than all of them.
const CORE_RANK: Record<string, number> = {
  sapphirerapids: 3,
  cooperlake: 3,
  skylakex: 3,
  haswell: 2,
  zen: 2,
  excavator: 2,
  sandybridge: 1,
  bulldozer: 1,
  piledriver: 1,
  steamroller: 1,
};

export function coreRank(name: string): number {
  return CORE_RANK[name.toLowerCase()] ?? 0;
}

/** The OpenBLAS core type whose kernels use this CPU's widest unit; undefined off x86. */
export function bestOpenblasCore(flags: Set<string>): string | undefined {
  const unit = widestVector(flags);
  return unit === "avx512" ? "SkylakeX" : unit === "avx2" ? "Haswell" : undefined;
}

/**
 * OPENBLAS_THREAD_TIMEOUT for a bench: OpenBLAS's pthreads build keeps its idle workers spinning
 * for 2^28 cycles after each call by default (about 130 ms of a core per call, measured with
 * bench/interference.ts on Zen 5), which takes a core from whatever runs next, in a bench the
 * next library timed. 2^22 cycles (1-2 ms) still spans back-to-back calls, so OpenBLAS's own
 * times do not change. Null when the user set the variable.
 */
export function openblasSpin(env: { OPENBLAS_THREAD_TIMEOUT?: string }): string | null {
  return env.OPENBLAS_THREAD_TIMEOUT === undefined ? "22" : null;
}

/**
 * The OpenBLAS environment that gives it this CPU's best: when `env` forces a core type below
 * the best one, that core type and the CPU's own L2 size (the two are set together, since a
 * forced core type comes with the L2 size of the CPU it was forced for). null when the
 * environment forces nothing (OpenBLAS then detects the CPU itself) or nothing lesser.
 */
export function openblasOverride(
  env: { OPENBLAS_CORETYPE?: string; OPENBLAS_L2_SIZE?: string },
  cpu: CpuFeatures,
): { OPENBLAS_CORETYPE: string; OPENBLAS_L2_SIZE: string | null; why: string } | null {
  const forced = env.OPENBLAS_CORETYPE;
  const best = bestOpenblasCore(cpu.flags);
  if (!forced || !best || coreRank(forced) >= coreRank(best)) return null;
  return {
    OPENBLAS_CORETYPE: best,
    // null: unset, so that OpenBLAS asks the CPU rather than keep the forced one's size.
    OPENBLAS_L2_SIZE: cpu.l2KiB ? String(cpu.l2KiB) : null,
    why: `the environment forces OPENBLAS_CORETYPE=${forced}` +
      (env.OPENBLAS_L2_SIZE ? `, OPENBLAS_L2_SIZE=${env.OPENBLAS_L2_SIZE}` : "") +
      `; this CPU has ${widestVector(cpu.flags)}`,
  };
}
