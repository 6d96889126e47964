/**
 * Timing a kernel the way TVM's `time_evaluator` does: one warm-up call, then `repeat`
 * measurements, each the mean over `number` back-to-back calls; if one measurement takes
 * less than `minRepeatMs`, `number` grows until it does not, so that short kernels are
 * timed over enough work for the clock to resolve. Targets that can time on the device
 * (GPU timestamps) pass their own `measure`; the default times host calls.
 *
 * A timing has a budget (`budgetMs`, of measured time, warm-up included) so that a large
 * `number`, `repeat` or `minRepeatMs` cannot run for hours: no measurement starts that the
 * calls measured so far predict would overrun it; a TesseraError says so instead.
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
  /**
   * Most time the whole timing may take, in ms of measured calls (warm-up included). A
   * measurement predicted to overrun it is not started: a TesseraError. Default 60 000.
   */
  budgetMs?: number;
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

/** Where `number` stops growing: more calls per measurement add nothing to the clock. */
const MAX_NUMBER = 1e9;
const DEFAULT_BUDGET_MS = 60_000;

const schema = z.object({
  number: z.number().int().positive().max(MAX_NUMBER).optional(),
  repeat: z.number().int().positive().optional(),
  minRepeatMs: z.number().nonnegative().optional(),
  budgetMs: z.number().positive().optional(),
  flops: z.number().nonnegative().optional(),
}).strict().refine((o) => (o.minRepeatMs ?? 0) <= (o.budgetMs ?? DEFAULT_BUDGET_MS), {
  message: "minRepeatMs is more than the time budget (budgetMs, default 60000)",
  path: ["minRepeatMs"],
});

export function parseTimeOptions(opts: unknown): Required<Omit<TimeOptions, "flops">> & {
  flops?: number;
} {
  const r = schema.safeParse(opts ?? {});
  if (!r.success) {
    throw new TesseraError(
      `timeEvaluator: bad options ${JSON.stringify(opts)}: ${r.error.issues[0].message} at ` +
        `'${
          r.error.issues[0].path.join(".")
        }'; expected { number?, repeat?, minRepeatMs?, budgetMs?, flops? }`,
    );
  }
  return { number: 1, repeat: 5, minRepeatMs: 0, budgetMs: DEFAULT_BUDGET_MS, ...r.data };
}

/**
 * `measure(n)` runs the kernel n times back to back and returns the seconds it took.
 */
export async function timeCalls(
  measure: (n: number) => Promise<number>,
  options: TimeOptions = {},
): Promise<TimingResult> {
  const o = parseTimeOptions(options);
  let spent = 0; // seconds measured so far
  // The latest per-call time and over how many warm calls (0: only the slower warm-up's).
  let perCall = 0, sample = 0;
  const overrun = (calls: number) => (spent + calls * perCall) * 1000 > o.budgetMs;
  const refuse = (what: string, calls: number) =>
    new TesseraError(
      `timeEvaluator: ${what} would take about ${(calls * perCall).toPrecision(3)} s (` +
        `${perCall.toPrecision(3)} s per call), over the time budget of ${o.budgetMs} ms with ` +
        `${spent.toPrecision(3)} s spent; lower number, repeat or minRepeatMs, or raise budgetMs`,
    );
  const run = async (n: number): Promise<number> => {
    // An estimate from far fewer calls than n (or from the warm-up) may be too slow: refine it
    // on 10x more calls first, and refuse only what a sample of n/10 calls predicts.
    while (overrun(n)) {
      const probe = Math.max(1, sample * 10);
      if (probe >= n) throw refuse(`a measurement of ${n} calls`, n);
      await run(probe);
    }
    const t = await measure(n);
    spent += t;
    [perCall, sample] = [t / n, n];
    return t;
  };
  await run(1); // warm-up: page faults, caches, lazy thread-pool start
  sample = 0;
  let number = o.number;
  for (;;) {
    const t = await run(number);
    if (t * 1000 >= o.minRepeatMs || number >= MAX_NUMBER) break;
    // Aim a little past the target so one more try usually suffices.
    number = Math.min(
      MAX_NUMBER,
      Math.ceil(number * Math.min(100, Math.max(2, (o.minRepeatMs / 1000 / t) * 1.2))),
    );
  }
  if (overrun(o.repeat * number)) throw refuse(`${o.repeat} measurements`, o.repeat * number);
  const results: number[] = [];
  for (let r = 0; r < o.repeat; r++) results.push((await run(number)) / number);
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
