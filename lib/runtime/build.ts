/**
 * `te.build`: lowers a schedule and hands the `PrimFunc` to a target, returning a kernel the
 * user calls as `await f(...arrays)` with arrays in the order of `args`. Targets register
 * themselves here; the interpreter is always present, the C and WebGPU backends add theirs.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";
import { evaluate } from "../ir/interpret.ts";
import { PrimFunc } from "../ir/stmt.ts";
import { lower, type LowerArg } from "../lower/lower.ts";
import type { Schedule } from "../schedule/schedule.ts";
import type { NDArray } from "./ndarray.ts";
import type { DeviceArray } from "./device_array.ts";
import { parseTimeOptions, timeCalls, type TimeOptions, type TimingResult } from "./timing.ts";
import { buildC } from "../codegen/c/target.ts";
import { evalExact } from "../arith/exact.ts";
import { stageWork } from "../lower/stageWork.ts";
import { bindArguments } from "./args.ts";
import { Profile, type StageProfile } from "./profile.ts";
import { buildWebgpu } from "../codegen/wgsl/target.ts";
import { isTensor, type Tensor } from "../te/tensor.ts";
import { defaultSchedule } from "../tune/default.ts";
import { fromRecords } from "../tune/apply.ts";

/**
 * What kernels take: host arrays, or arrays resident on the target's device; and numbers for
 * scalar arguments (a `te.var` listed in the arguments).
 */
export type ArrayArg = NDArray | DeviceArray | number;

export interface Kernel {
  (...args: ArrayArg[]): Promise<void>;
  readonly func: PrimFunc;
  readonly target: string;
  /** The code the target runs: C or WGSL text, or the printed loop IR for the interpreter. */
  readonly source: string;
  /** A timer in the spirit of TVM's `time_evaluator`: `await f.timeEvaluator(o)(a, b, c)`. */
  timeEvaluator(opts?: TimeOptions): (...args: ArrayArg[]) => Promise<TimingResult>;
  /** The result of the last timeEvaluator run, if any. */
  readonly lastTiming: TimingResult | null;
  /**
   * Where a call's time goes, stage by stage (a kernel built with `{ profile: true }`, on the
   * C and WebGPU targets): `await f.profile(a, b, c)`.
   */
  profile(...args: ArrayArg[]): Promise<Profile>;
}

export interface BuildOptions {
  target?: string;
  name?: string;
  /** C: compiler flags replacing the default `-O3 -march=native`. */
  flags?: string[];
  /** C: the compiler (default $CC, else cc, gcc or clang). */
  cc?: string;
  /** C: run calls on a worker thread so that the event loop stays free (for notebooks). */
  nonblocking?: boolean;
  /**
   * C and WebGPU: check every load whose index lowering could not prove inside its buffer,
   * and report a read outside as an error (lib/lower/injectBoundsCheck.ts). The interpreter
   * always checks.
   */
  checked?: boolean;
  /**
   * C and WebGPU: time each root stage (`f.profile(...)`). Off by default, and then the kernel
   * carries no timer at all.
   */
  profile?: boolean;
  /**
   * "auto": schedule the program with the default rules (lib/tune/default.ts) for the target
   * first. `s` is then the output tensor(s), or a schedule no primitive has touched.
   */
  schedule?: "auto";
  /**
   * A tuning records file (lib/tune/records.ts): schedule the program with the fastest
   * record for this workload on this machine (TVM's "apply history best"), or, with none,
   * with the default schedule, saying so. `s` is then the output tensor(s), or an
   * unscheduled schedule.
   */
  records?: string;
}

/** What a target makes of a lowered function. */
export interface TargetKernel {
  source: string;
  /** Checks the arrays against the parameters, then returns a call that runs on them. */
  prepare(args: ArrayArg[]): () => Promise<void> | void;
  /** Seconds `n` back-to-back calls take, when the target times on its device. */
  measure?(args: ArrayArg[], n: number): Promise<number>;
  /** A profiling build: seconds of one call per marked stage, and how they were taken. */
  profile?(args: ArrayArg[]): Promise<{ stages: string[]; seconds: number[]; how: string }>;
}

export type TargetFn = (func: PrimFunc, opts: BuildOptions) => Promise<TargetKernel>;

const targets = new Map<string, TargetFn>([
  ["interpreter", (func) =>
    Promise.resolve({
      source: String(func),
      prepare: (args: ArrayArg[]) => () => evaluate(func, args as NDArray[]),
    })],
  ["c", buildC],
  ["webgpu", buildWebgpu],
]);

/** Set by lib/display: a kernel's Jupyter MIME bundle, so that core never imports Jupyter code. */
export const kernelDisplayHook: { bundle: (k: Kernel) => Record<string, unknown> } = {
  bundle: (k) => ({ "text/plain": `Kernel ${k.func.name} (target ${k.target})` }),
};

export function registerTarget(name: string, fn: TargetFn): void {
  targets.set(name, fn);
}

const optsSchema = z.object({
  target: z.string().optional(),
  name: z.string().optional(),
  flags: z.array(z.string()).optional(),
  cc: z.string().optional(),
  nonblocking: z.boolean().optional(),
  checked: z.boolean().optional(),
  profile: z.boolean().optional(),
  schedule: z.literal("auto").optional(),
  records: z.string().min(1).optional(),
}).strict();

export async function build(
  given: Schedule | PrimFunc | Tensor | Tensor[],
  args?: LowerArg[],
  opts: BuildOptions = {},
): Promise<Kernel> {
  const o = optsSchema.safeParse(opts);
  if (!o.success) {
    const issue = o.error.issues[0];
    throw new TesseraError(
      `te.build: bad option '${issue.path.join(".")}': ${issue.message}; expected ` +
        `{ target?, name?, flags?, cc?, nonblocking?, checked?, profile?, schedule?: "auto", records? }`,
    );
  }
  const target = o.data.target ?? "interpreter";
  const fn = targets.get(target);
  if (!fn) {
    throw new TesseraError(
      `te.build: target '${target}' is not available; available: ${[...targets.keys()].join(", ")}`,
    );
  }
  const s = await scheduled(given, args, o.data.schedule, target, o.data.records);
  let func: PrimFunc;
  if (s instanceof PrimFunc) func = s;
  else {
    if (!args) throw new TesseraError("te.build: pass the argument tensors (inputs and outputs)");
    func = lower(s, args, { name: o.data.name, profile: o.data.profile });
  }
  if (o.data.profile && target === "interpreter") {
    throw new TesseraError(
      "te.build: { profile: true } times the stages of a C or WebGPU kernel; the interpreter " +
        "has no profiler (build with target 'c' or 'webgpu')",
    );
  }
  const work = o.data.profile && !(s instanceof PrimFunc) ? stageWork(s) : [];
  const tk = await fn(func, o.data);
  let lastTiming: TimingResult | null = null;
  const kernel = async (...arrays: ArrayArg[]) => {
    await tk.prepare(arrays)();
  };
  const timeEvaluator = (topts: TimeOptions = {}) => {
    parseTimeOptions(topts);
    return async (...arrays: ArrayArg[]) => {
      const measure = tk.measure
        ? (n: number) => tk.measure!(arrays, n)
        : hostMeasure(tk.prepare(arrays));
      lastTiming = await timeCalls(measure, topts);
      return lastTiming;
    };
  };
  const profile = async (...arrays: ArrayArg[]): Promise<Profile> => {
    if (!tk.profile) {
      throw new TesseraError(
        `kernel ${func.name}: profile() needs a kernel built with { profile: true } ` +
          `(te.build(s, args, { target: "${target}", profile: true }))`,
      );
    }
    const sizes = bindArguments(func, arrays, `kernel ${func.name} (${target})`, {
      deviceArrays: target !== "c",
    });
    await tk.prepare(arrays)(); // warm up: caches, first-touch pages, pipelines
    const runs: { stages: string[]; seconds: number[]; how: string }[] = [];
    for (let i = 0; i < PROFILE_CALLS; i++) runs.push(await tk.profile(arrays));
    const stages = runs[0].stages.map((stage, k): StageProfile => {
      const seconds = median(runs.map((r) => r.seconds[k]));
      const w = work.find((x) => x.stage === stage);
      const flops = w?.flops ? evalExact(w.flops, sizes) : null;
      const bytes = w ? evalExact(w.bytes, sizes) : null;
      const per = (x: number | null) => (x !== null && seconds > 0 ? x / seconds / 1e9 : null);
      return {
        stage,
        seconds,
        flops,
        bytes,
        gflops: per(flops),
        gbs: per(bytes),
        intensity: flops !== null && bytes ? flops / bytes : null,
      };
    });
    return new Profile(func.name, target, stages, runs[0].how, PROFILE_CALLS, String(func));
  };
  Object.defineProperties(kernel, {
    profile: { value: profile },
    func: { value: func },
    target: { value: target },
    source: { value: tk.source },
    timeEvaluator: { value: timeEvaluator },
    lastTiming: { get: () => lastTiming },
    [Symbol.for("Jupyter.display")]: {
      value: () => kernelDisplayHook.bundle(kernel as unknown as Kernel),
    },
  });
  return kernel as unknown as Kernel;
}

/** The schedule to lower: the one given, or (schedule: "auto") the default one. */
async function scheduled(
  s: Schedule | PrimFunc | Tensor | Tensor[],
  args: LowerArg[] | undefined,
  auto: "auto" | undefined,
  target: string,
  records: string | undefined,
): Promise<Schedule | PrimFunc> {
  const tensors = isTensor(s) || Array.isArray(s);
  if (records !== undefined) {
    if (s instanceof PrimFunc) {
      throw new TesseraError(
        "te.build: { records } schedules a program from tuning records, but got a lowered " +
          "PrimFunc; pass the output tensors (or an unscheduled te.createSchedule(outputs))",
      );
    }
    return await fromRecords(s, target, records, (args ?? []).filter(isTensor));
  }
  if (!auto) {
    if (tensors) {
      throw new TesseraError(
        "te.build: got tensors, not a schedule; pass te.createSchedule(outputs), or " +
          '{ schedule: "auto" } to have the default schedule made for you',
      );
    }
    return s;
  }
  if (s instanceof PrimFunc) {
    throw new TesseraError(
      'te.build: { schedule: "auto" } schedules a program, but got a lowered PrimFunc; pass the ' +
        "output tensors (or an unscheduled te.createSchedule(outputs))",
    );
  }
  const keep = (args ?? []).filter(isTensor);
  return (await defaultSchedule(s, target, { keep })).schedule;
}

/** Calls a profile takes the median of. */
const PROFILE_CALLS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function hostMeasure(call: () => Promise<void> | void): (n: number) => Promise<number> {
  return async (n) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await call();
    return (performance.now() - t0) / 1000;
  };
}
