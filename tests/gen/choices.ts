/**
 * Test programs and schedules are built from a list of random naturals drawn by fast-check:
 * each decision takes the next number modulo its number of options. A failing case is thus
 * reproduced from fast-check's seed, and shrinking the list shrinks the program.
 */
export class Choices {
  private i = 0;
  readonly log: string[] = [];
  constructor(private readonly xs: readonly number[]) {}

  /** An integer in [0, n). */
  pick(n: number): number {
    if (n <= 1) return 0;
    const x = this.i < this.xs.length ? this.xs[this.i++] : 0;
    return x % n;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + this.pick(hi - lo + 1);
  }

  one<T>(options: readonly T[]): T {
    return options[this.pick(options.length)];
  }

  chance(percent: number): boolean {
    return this.pick(100) < percent;
  }

  /** A random permutation of `xs`. */
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.pick(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  get exhausted(): boolean {
    return this.i >= this.xs.length;
  }
}

/** A small deterministic generator for input data (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * fast-check options for a property run: `numRuns`, and the seed and path of a failure
 * when TESSERA_PROPERTY_SEED / TESSERA_PROPERTY_PATH are set (copy them from the failure
 * report to replay exactly that case).
 */
export function propertyOptions(
  numRuns: number,
): { numRuns: number; seed?: number; path?: string } {
  const given = Deno.env.get("TESSERA_PROPERTY_SEED");
  const path = Deno.env.get("TESSERA_PROPERTY_PATH");
  // The seed is chosen here and printed before the run, not by fast-check after it: a
  // property that hangs (a kernel that never returns) reports nothing afterwards.
  const seed = given ? Number(given) : (Math.random() * 2 ** 31) | 0;
  console.log(`property seed ${seed} (TESSERA_PROPERTY_SEED=${seed} reruns it)`);
  return { numRuns, seed, ...(path ? { path } : {}) };
}
