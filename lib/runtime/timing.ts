/**
 * Timing a kernel the way TVM's `time_evaluator` does: one warm-up call, then `repeat`
 * measurements, each the mean over `number` back-to-back calls; if one measurement takes
 * less than `minRepeatMs`, `number` grows until it does not, so that short kernels are
 * timed over enough work for the clock to resolve. Targets that can time on the device
 * (GPU timestamps) pass their own `measure`; the default times host calls.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";
import { median } from "../bench/stats.ts";

export { median };

export interface TimeOptions {
  /** Calls per measurement (grown to reach `minRepeatMs`). Default 1. */
  number?: number;
  /** Measurements. Default 5. */
  repeat?: number;
  /** Least time one measurement should take, in ms. Default 0. */
  minRepeatMs?: number;
  /** Floating-point operations per call, to report GFLOP/s. */
  flops?: number;
}

export interface TimingResult {
  /** Seconds per call: the fastest, median and mean measurement. */
  min: number;
  median: number;
  mean: number;
  /** Seconds per call of every measurement, in order. */
  results: number[];
  number: number;
  repeat: number;
  /** GFLOP/s at the median and at the fastest measurement, when `flops` was given. */
  gflops?: { median: number; max: number };
}

const schema = z.object({
  number: z.number().int().positive().optional(),
  repeat: z.number().int().positive().optional(),
  minRepeatMs: z.number().nonnegative().optional(),
  flops: z.number().nonnegative().optional(),
}).strict();

export function parseTimeOptions(opts: unknown): Required<Omit<TimeOptions, "flops">> & {
  flops?: number;
} {
  const r = schema.safeParse(opts ?? {});
  if (!r.success) {
    throw new TesseraError(
      `timeEvaluator: bad options ${JSON.stringify(opts)}: ${r.error.issues[0].message} at ` +
        `'${
          r.error.issues[0].path.join(".")
        }'; expected { number?, repeat?, minRepeatMs?, flops? }`,
    );
  }
  return { number: 1, repeat: 5, minRepeatMs: 0, ...r.data };
}

/**
 * `measure(n)` runs the kernel n times back to back and returns the seconds it took.
 */
export async function timeCalls(
  measure: (n: number) => Promise<number>,
  options: TimeOptions = {},
): Promise<TimingResult> {
  const o = parseTimeOptions(options);
  await measure(1); // warm-up: page faults, caches, lazy thread-pool start
  let number = o.number;
  for (;;) {
    const t = await measure(number);
    if (t * 1000 >= o.minRepeatMs || number >= 1e9) break;
    // Aim a little past the target so one more try usually suffices.
    number = Math.ceil(number * Math.min(100, Math.max(2, (o.minRepeatMs / 1000 / t) * 1.2)));
  }
  const results: number[] = [];
  for (let r = 0; r < o.repeat; r++) results.push((await measure(number)) / number);
  const res: TimingResult = {
    min: Math.min(...results),
    median: median(results),
    mean: results.reduce((a, b) => a + b, 0) / results.length,
    results,
    number,
    repeat: o.repeat,
  };
  if (o.flops !== undefined) {
    res.gflops = { median: o.flops / res.median / 1e9, max: o.flops / res.min / 1e9 };
  }
  // Not enumerable: the result stays plain data for JSON and comparisons.
  Object.defineProperty(res, Symbol.for("Jupyter.display"), {
    value: () => timingDisplayHook.bundle(res),
  });
  return res;
}

/** Set by lib/display: a timing result's Jupyter MIME bundle. */
export const timingDisplayHook: { bundle: (t: TimingResult) => Record<string, unknown> } = {
  bundle: (t) => ({ "text/plain": JSON.stringify(t) }),
};
