/**
 * Benchmark cases and suites, and the loop that times them. A case is anything callable: a
 * kernel from `te.build`, a peer library, a user's function. Cases in one group are compared,
 * so they are timed in interleaved rounds (A B C A B C ...): slow drift on a noisy machine
 * (frequency, other processes, a neighbour's thread pool) then hits every side of a
 * comparison alike, and ratios are taken per round. Each case is set up once, warmed up,
 * and timed in samples of enough calls that the clock resolves them; a sample is seconds per
 * call. A case that cannot run here is skipped with its reason, one that throws is recorded
 * as failed — the rest of the suite still runs.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";
import { progress as startProgress, type ProgressOptions } from "../display/progress.ts";
import { collectEnv } from "./env.ts";
import type { Peer } from "./peers/peer.ts";
import { measureRoofline, QUICK_ROOFLINE } from "./roofline.ts";
import { BenchResult } from "./result.ts";
import type { CaseResult, ResultRecord } from "./schema.ts";
import { FORMAT, VERSION } from "./schema.ts";
import { pairedRatio, summarize } from "./stats.ts";
import {
  bytesOf,
  flopsOf,
  inputsOf,
  labelOf,
  maxRelError,
  reference,
  TOLERANCE,
  type Workload,
} from "./workload.ts";

export interface CaseSpec {
  name: string;
  /** Cases of one group are interleaved and compared; default "default". */
  group?: string;
  /** What is timed: one call. May return a promise (or any thenable), which is awaited. */
  fn: () => unknown;
  /**
   * Seconds for `calls` calls, timed by the case itself; when given, samples come from it
   * rather than from timing `fn` (a peer in a subprocess times there, without the pipe).
   */
  time?: (calls: number) => Promise<number>;
  /** Runs once before the first timed call; throw `new Skip(reason)` to skip the case. */
  setup?: () => unknown;
  /** Runs once after the last timed call (also after a failure). */
  teardown?: () => unknown;
  /**
   * After timing: the largest relative error of the result against a reference, a finite
   * number >= 0; anything else (NaN, Infinity, a boolean, a negative number) marks it WRONG.
   */
  check?: () => number | Promise<number>;
  /** The largest error `check` may return (default 1e-3). */
  tolerance?: number;
  /** Work per call, for GFLOP/s, GB/s and the roofline. */
  flops?: number;
  bytes?: number;
  device?: "cpu" | "webgpu";
  /** The case the others of its group are measured against. */
  baseline?: boolean;
}

/** Thrown by a case's setup when it cannot run here; the message says why and how to fix it. */
export class Skip extends Error {}

export interface RunOptions {
  /** Samples per case (interleaved rounds). Default 10. */
  repeats?: number;
  /** Least samples per case when a time budget cuts the rounds short. Default 3. */
  minRepeats?: number;
  /** Time budget per group in ms: rounds stop once it is spent (after `minRepeats`). */
  budgetMs?: number;
  /** Untimed calls per case before sampling. Default 1. */
  warmup?: number;
  /** Least duration of one sample in ms; short calls are batched to reach it. Default 1. */
  minSampleMs?: number;
  /**
   * Pause before each sample, in ms, so the previous case's thread pool has gone idle; after
   * a pause untimed calls run for `warmMs` (at least one) before the sample. Default 0. Where
   * V8 exposes `gc` (`--v8-flags=--expose-gc`), a full collection comes first.
   */
  settleMs?: number;
  /**
   * Untimed calls after each pause, in ms of calls (at least one call), so that the sample
   * is the case's steady speed. After a pause a kernel is slower for a few calls even alone
   * (its data left the caches, the idle CPUs slowed): a 512^3 matmul took 4.2, 2.5, 2.1 ms
   * on its first three calls after 50 ms of sleep, then 2.07 (Zen 3 VM, 2 cores). Default 10.
   */
  warmMs?: number;
  /** Only cases whose "group / name" matches. */
  filter?: string | RegExp;
  /**
   * Measure the roofline of the devices the cases use (a few seconds; "quick": small kernels,
   * for smoke runs, whose peaks are only rough). Default false.
   */
  roofline?: boolean | "quick";
  /** Progress display options, or false for none. */
  progress?: ProgressOptions | false;
  /** Stops sampling (what was measured is kept). */
  signal?: AbortSignal;
  /** Recorded with the result: the seed of the inputs. */
  seed?: number;
}

const optionsSchema = z.object({
  repeats: z.number().int().positive().optional(),
  minRepeats: z.number().int().positive().optional(),
  budgetMs: z.number().positive().optional(),
  warmup: z.number().int().nonnegative().optional(),
  minSampleMs: z.number().nonnegative().optional(),
  settleMs: z.number().nonnegative().optional(),
  warmMs: z.number().nonnegative().optional(),
  filter: z.union([z.string(), z.instanceof(RegExp)]).optional(),
  roofline: z.union([z.boolean(), z.literal("quick")]).optional(),
  progress: z.union([z.literal(false), z.record(z.string(), z.unknown())]).optional(),
  signal: z.instanceof(AbortSignal).optional(),
  seed: z.number().int().optional(),
}).strict();

const caseSchema = z.object({
  name: z.string().min(1),
  group: z.string().optional(),
  fn: z.function(),
  time: z.function().optional(),
  setup: z.function().optional(),
  teardown: z.function().optional(),
  check: z.function().optional(),
  tolerance: z.number().nonnegative().optional(),
  flops: z.number().nonnegative().optional(),
  bytes: z.number().nonnegative().optional(),
  device: z.enum(["cpu", "webgpu"]).optional(),
  baseline: z.boolean().optional(),
}).strict();

function invalid(what: string, error: z.ZodError, expected: string): TesseraError {
  const i = error.issues[0];
  return new TesseraError(`${what}: ${i.path.join(".") || "value"}: ${i.message}; ${expected}`);
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

/** Seconds for `calls` calls of `fn`. */
async function timeCalls(fn: () => unknown, calls: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await call(fn);
  return (performance.now() - t0) / 1000;
}

/** Calls `fn`, awaiting what it returns only when that is a promise or any other thenable. */
async function call(fn: () => unknown): Promise<void> {
  const r = fn();
  // Not `await` always: a microtask per call would add to every sample of a fast sync case.
  if (typeof (r as { then?: unknown } | null)?.then === "function") await r;
}

/**
 * The verdict on what a case's `check` returned. Only a finite number >= 0 is an error to
 * hold against the tolerance; anything else (NaN or Infinity from a NaN in the result or a
 * length mismatch, false, a negative number, true, undefined) is a wrong result, never ok.
 */
export function judge(value: unknown, tolerance: number): NonNullable<CaseResult["check"]> {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) {
    return { ok: value <= tolerance, error: value, tolerance };
  }
  const why = value === Infinity || Number.isNaN(value)
    ? `${value} (a NaN in the result, or a length mismatch?)`
    : typeof value === "string"
    ? JSON.stringify(value)
    : String(value);
  return {
    ok: false,
    tolerance,
    reason: `check returned ${why}; it must return the largest relative error, a number >= 0`,
  };
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

export class Suite {
  readonly cases: CaseSpec[] = [];
  /** The peers of addPeer, described in the machine record (versions, cores, threads). */
  readonly peers = new Set<Peer>();
  constructor(readonly name: string, readonly defaults: RunOptions = {}) {
    if (typeof name !== "string" || !name) {
      throw new TesseraError("bench.suite: the name must be a non-empty string");
    }
    parseOptions(defaults);
  }

  add(spec: CaseSpec): this {
    const r = caseSchema.safeParse(spec);
    if (!r.success) {
      throw invalid(
        `bench case ${JSON.stringify((spec as { name?: unknown })?.name)}`,
        r.error,
        "a case is { name, fn, group?, setup?, teardown?, check?, flops?, bytes?, device?, baseline? }",
      );
    }
    const group = spec.group ?? "default";
    if (this.cases.some((c) => (c.group ?? "default") === group && c.name === spec.name)) {
      throw new TesseraError(`bench case "${spec.name}" is already in group "${group}"`);
    }
    if (spec.baseline && this.cases.some((c) => (c.group ?? "default") === group && c.baseline)) {
      throw new TesseraError(`group "${group}" already has a baseline; give it one only`);
    }
    this.cases.push(spec);
    return this;
  }

  /**
   * A peer library running a standard workload as a case: set up (inputs copied in) before
   * timing, checked against the float64 reference afterwards, skipped with the peer's own
   * reason when it cannot run here. The group defaults to the workload's label and device.
   */
  addPeer(
    peer: Peer,
    w: Workload,
    opts: { group?: string; baseline?: boolean; seed?: number } = {},
  ): this {
    let prepared: Awaited<ReturnType<Peer["prepare"]>> | undefined;
    const seed = opts.seed ?? this.defaults.seed ?? 1;
    this.peers.add(peer);
    return this.add({
      name: peer.name,
      group: opts.group ?? `${labelOf(w)} [${peer.device}]`,
      device: peer.device,
      baseline: opts.baseline,
      flops: flopsOf(w),
      bytes: bytesOf(w),
      async setup() {
        const why = await peer.available() ?? peer.supports(w);
        if (why) throw new Skip(why);
        prepared = await peer.prepare(w, inputsOf(w, seed));
      },
      fn: () => prepared!.run(),
      time: (calls) =>
        prepared!.time ? prepared!.time(calls) : timeCalls(() => prepared!.run(), calls),
      async check() {
        return maxRelError(await prepared!.result(), referenceOf(w, seed));
      },
      tolerance: TOLERANCE,
      teardown: () => prepared?.dispose(),
    });
  }

  run(opts: RunOptions = {}): Promise<BenchResult> {
    return runSuite(this, { ...this.defaults, ...parseOptions(opts) });
  }
}

function parseOptions(opts: RunOptions): RunOptions {
  const r = optionsSchema.safeParse(opts ?? {});
  if (!r.success) {
    throw invalid(
      "bench options",
      r.error,
      "options are { repeats?, minRepeats?, budgetMs?, warmup?, minSampleMs?, settleMs?, warmMs?, " +
        "filter?, roofline?, progress?, signal?, seed? }",
    );
  }
  return opts ?? {};
}

/** The reference output of a workload, computed once per workload and seed. */
const references = new Map<string, Float32Array>();
function referenceOf(w: Workload, seed: number): Float32Array {
  const key = `${JSON.stringify(w)}/${seed}`;
  let ref = references.get(key);
  if (!ref) {
    ref = reference(w, inputsOf(w, seed));
    if (references.size > 8) references.clear();
    references.set(key, ref);
  }
  return ref;
}

interface Live {
  spec: CaseSpec;
  result: CaseResult;
  number: number;
}

async function runSuite(suite: Suite, o: RunOptions): Promise<BenchResult> {
  const repeats = o.repeats ?? 10, minRepeats = Math.min(o.minRepeats ?? 3, repeats);
  const warmup = o.warmup ?? 1, minSampleMs = o.minSampleMs ?? 1, settleMs = o.settleMs ?? 0;
  const warmMs = o.warmMs ?? 10;
  const filter = typeof o.filter === "string" ? new RegExp(o.filter, "i") : o.filter;
  const cases = suite.cases.filter((c) =>
    !filter || filter.test(`${c.group ?? "default"} / ${c.name}`)
  );
  const groups = [...new Set(cases.map((c) => c.group ?? "default"))];
  // The roofline counts as two steps a device (compute, then bandwidth), so the line keeps
  // saying what runs through its seconds of measurement.
  const rooflineSteps = o.roofline ? 4 : 0;
  // Redrawn at most once a second: in Jupyter each redraw is a message that the notebook's
  // own processes handle on the same cores while the next sample runs (at the default 100 ms,
  // notebook 03's 512^3 matmul sampled 3.5 ms with an IQR of 2.2 against 2.2 in a script).
  const bar = o.progress === false ? null : startProgress(
    `bench ${suite.name}`,
    cases.length * repeats + rooflineSteps,
    { minIntervalMs: 1000, ...o.progress },
  );
  let steps = 0;
  const results: CaseResult[] = [];
  for (const group of groups) {
    const live: Live[] = [];
    for (const spec of cases.filter((c) => (c.group ?? "default") === group)) {
      const result: CaseResult = {
        group,
        name: spec.name,
        status: "ok",
        samples: [],
        ...(spec.device ? { device: spec.device } : {}),
        ...(spec.flops !== undefined ? { flops: spec.flops } : {}),
        ...(spec.bytes !== undefined ? { bytes: spec.bytes } : {}),
        ...(spec.baseline ? { baseline: true } : {}),
      };
      results.push(result);
      bar?.update(steps, `${group}: setting up ${spec.name}`);
      try {
        if (spec.setup) await call(spec.setup);
        for (let i = 0; i < warmup; i++) await call(spec.fn);
        // Calibrate: enough calls per sample for the clock to resolve them.
        const t0 = performance.now();
        await call(spec.fn);
        const ms = performance.now() - t0;
        const number = ms >= minSampleMs
          ? 1
          : Math.min(1e6, Math.ceil(minSampleMs / Math.max(ms, 1e-4)));
        live.push({ spec, result, number });
      } catch (e) {
        fail(result, e);
        steps += repeats;
        await teardown(spec, result);
      }
    }
    const start = performance.now();
    for (let round = 0; round < repeats && live.length > 0; round++) {
      if (o.signal?.aborted) break;
      if (
        o.budgetMs !== undefined && round >= minRepeats && performance.now() - start > o.budgetMs
      ) {
        break;
      }
      for (const l of [...live]) {
        bar?.update(steps++, `${group}: ${l.spec.name}, round ${round + 1}/${repeats}`);
        try {
          if (settleMs > 0) {
            // A full collection first, where V8 exposes it (--v8-flags=--expose-gc, as `deno
            // task bench` runs): otherwise a case pays for the garbage of the cases before it
            // (onnxruntime's layer norm sampled at 0.8 or 9 ms after tfjs-cpu's 200 ms calls;
            // 0.84-1.14 ms with it).
            (globalThis as { gc?: () => void }).gc?.();
            await sleep(settleMs);
            const warm = performance.now();
            do await call(l.spec.fn); while (performance.now() - warm < warmMs);
          }
          const seconds = l.spec.time
            ? await l.spec.time(l.number)
            : await timeCalls(l.spec.fn, l.number);
          l.result.samples.push(seconds / l.number);
        } catch (e) {
          fail(l.result, e);
          live.splice(live.indexOf(l), 1);
          await teardown(l.spec, l.result);
        }
      }
    }
    steps = Math.max(steps, results.length * repeats);
    for (const l of live) {
      bar?.update(steps, `${group}: checking ${l.spec.name}`);
      finish(l);
      if (l.spec.check) {
        try {
          l.result.check = judge(await l.spec.check(), l.spec.tolerance ?? TOLERANCE);
        } catch (e) {
          fail(l.result, e);
        }
      }
      await teardown(l.spec, l.result);
    }
    addRatios(results.filter((r) => r.group === group));
  }
  let roofline: ResultRecord["roofline"];
  if (o.roofline) {
    const devices = [...new Set(results.filter((r) => r.status === "ok").map((r) => r.device))];
    roofline = {};
    for (const d of ["cpu", "webgpu"] as const) {
      if (!devices.includes(d)) continue;
      try {
        roofline[d] = await measureRoofline(
          d,
          o.roofline === "quick" ? QUICK_ROOFLINE : {},
          (what) => bar?.update(steps++, what),
        );
      } catch (e) {
        console.log(`roofline: skipping ${d}: ${firstLine(e)}`);
      }
    }
  }
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? "" : "s"}`;
  await bar?.done(`${plural(results.length, "case")} in ${plural(groups.length, "group")}`);
  const record: ResultRecord = {
    format: FORMAT,
    version: VERSION,
    suite: suite.name,
    env: await collectEnv({ webgpu: true, peers: [...suite.peers] }),
    options: {
      repeats,
      minRepeats,
      warmup,
      minSampleMs,
      settleMs,
      ...(settleMs > 0 ? { warmMs } : {}),
      ...(o.budgetMs !== undefined ? { budgetMs: o.budgetMs } : {}),
      ...(filter ? { filter: filter.source } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    },
    cases: results,
    ...(roofline ? { roofline } : {}),
  };
  return new BenchResult(record);
}

function fail(result: CaseResult, e: unknown): void {
  result.status = e instanceof Skip ? "skipped" : "failed";
  result.reason = firstLine(e) || (e instanceof Skip ? "skipped" : "threw");
  delete result.stats;
}

async function teardown(spec: CaseSpec, result: CaseResult): Promise<void> {
  try {
    if (spec.teardown) await call(spec.teardown);
  } catch (e) {
    if (result.status === "ok") fail(result, e);
  }
}

function finish(l: Live): void {
  const r = l.result;
  if (r.samples.length === 0) {
    fail(r, new Skip("no samples (stopped before its first round)"));
    return;
  }
  r.number = l.number;
  r.stats = summarize(r.samples);
  if (r.flops !== undefined) r.gflops = r.flops / r.stats.median / 1e9;
  if (r.bytes !== undefined) r.gbs = r.bytes / r.stats.median / 1e9;
}

/** Each case of a group against the group's baseline, paired by round. */
function addRatios(group: CaseResult[]): void {
  const base = group.find((r) => r.baseline && r.status === "ok");
  if (!base) return;
  for (const r of group) {
    if (r.status !== "ok") continue;
    r.ratio = { vs: base.name, ...pairedRatio(base.samples, r.samples) };
  }
}
