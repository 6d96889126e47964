/**
 * The measuring process (run by lib/tune/measure.ts as a separate Deno process, so that a
 * candidate that segfaults, hangs or exhausts memory takes this process down and never the
 * tuner). It reads one JSON line on standard input per batch: the task (a standard workload
 * or a task module, lib/tune/task.ts, and a target) and candidates' traces. It builds the
 * whole batch at once (the C compiler runs as parallel subprocesses), then runs the
 * candidates one at a time: each output is checked against the workload's float64 reference
 * (a module's: the interpreter, or for a large program the unscheduled C kernel; task.ts)
 * before it is timed, and the time is the kernel's timeEvaluator (TVM's time_evaluator), or
 * with `coldCache`, single calls each after the caches are flushed (TVM's
 * enable_cpu_cache_flush) and a fused group's activations read back in, as a model's kernels
 * run: between two inferences of ResNet-18 its 45 MB of weights pass through the caches, while
 * each kernel's input was just written by the kernel before it.
 * Before running a candidate it says so ("start"), so that the parent knows which candidate
 * was in flight if this process dies.
 *
 *   deno run -A lib/tune/worker.ts    (stdin: {"task": ..., "candidates": [{"id", "trace"}]})
 */
import { te } from "../te/te.ts";
import { build, type Kernel } from "../runtime/build.ts";
import { NDArray } from "../runtime/ndarray.ts";
import { DeviceArray } from "../runtime/device_array.ts";
import { maxRelError, TOLERANCE } from "../bench/workload.ts";
import { dataOf, loadProgram, type Program, type TaskSpec } from "./task.ts";
import { applyTrace, type Trace } from "./trace.ts";

export interface WorkerTask extends TaskSpec {
  target: "c" | "webgpu";
  /** Measurements per candidate (default 5) and least ms of calls in each (default 10). */
  repeat?: number;
  minRepeatMs?: number;
  /** Time single calls after flushing the CPU caches (C only; `repeat` of them, at least 7). */
  coldCache?: boolean;
}

export interface WorkerBatch {
  task: WorkerTask;
  candidates: { id: number; trace: Trace }[];
}

export type WorkerMessage =
  | { prepared: true }
  | { id: number; start: true }
  | { id: number; costs: number[] }
  | { id: number; error: string };

/** Called before each candidate runs (a test's fake worker crashes or hangs here). */
export type BeforeRun = (id: number, trace: Trace) => void | Promise<void>;

function say(m: WorkerMessage): void {
  const bytes = new TextEncoder().encode(JSON.stringify(m) + "\n");
  for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
}

interface Prepared {
  program: Program;
  inputs: Float32Array[];
  want: Float32Array[];
}

/** Each task's program, inputs and expected outputs, made once per process. */
const prepared = new Map<string, Promise<Prepared>>();

function preparedOf(task: WorkerTask): Promise<Prepared> {
  const key = JSON.stringify({ workload: task.workload, module: task.module, group: task.group });
  let p = prepared.get(key);
  if (!p) {
    p = (async () => {
      const program = await loadProgram(task);
      return { program, ...(await dataOf(task, program)) };
    })();
    prepared.set(key, p);
  }
  return p;
}

async function buildOne(task: WorkerTask, trace: Trace, id: number): Promise<Kernel> {
  const { program } = await preparedOf(task);
  const s = applyTrace(te.createSchedule(program.outputs), trace);
  return await build(s, program.args, { target: task.target, name: `tune_${id}` });
}

const shapeOf = (e: { shape: { kind: string }[] }) =>
  e.shape.map((x) => (x as unknown as { value: number }).value);

async function runOne(task: WorkerTask, f: Kernel): Promise<number[]> {
  const { program, inputs, want } = await preparedOf(task);
  const host = program.inputs.map((t, i) => new NDArray(shapeOf(t), "float32", inputs[i]));
  const outs = program.outputs.map((t) => new NDArray(shapeOf(t), "float32"));
  const webgpu = task.target === "webgpu";
  const ins = webgpu ? await Promise.all(host.map((a) => a.to("webgpu"))) : host;
  const os = webgpu
    ? await Promise.all(outs.map((o) => DeviceArray.empty(o.shape, "float32")))
    : outs;
  await f(...ins, ...os);
  for (let k = 0; k < os.length; k++) {
    const o = os[k];
    const got = o instanceof DeviceArray ? await o.toHost() : o;
    const err = maxRelError(got.data as Float32Array, want[k]);
    if (!(err <= TOLERANCE)) {
      throw new Error(`wrong result: output ${k} has max relative error ${err}`);
    }
  }
  // Warm up before timing: caches, first-touch pages, the thread pool of a parallel loop
  // (the first parallel kernel in a process starts it, and would be charged for it).
  const warm = performance.now();
  for (let n = 0; n < 1000 && (n < 3 || performance.now() - warm < WARM_MS); n++) {
    await f(...ins, ...os);
  }
  if (task.coldCache && !webgpu) {
    // A fused group's activations were just written by the kernel before it: back in cache
    // after the flush, its weights (params) not.
    const warmed = task.group
      ? host.filter((_, i) => !task.group!.inputs[i]?.param).map((a) => a.data as Float32Array)
      : [];
    const costs: number[] = [];
    for (let r = 0; r < Math.max(7, task.repeat ?? 7); r++) {
      flushCaches();
      for (const a of warmed) touch(a);
      const t0 = performance.now();
      await f(...ins, ...os);
      costs.push((performance.now() - t0) / 1000);
    }
    return costs;
  }
  const timer = f.timeEvaluator({
    repeat: task.repeat ?? 5,
    minRepeatMs: task.minRepeatMs ?? 10,
    budgetMs: 20_000,
  });
  return (await timer(...ins, ...os)).results;
}

/** Bytes written to flush the caches: twice the last-level cache (sysfs), else 64 MiB. */
function flushBytes(): number {
  try {
    const text = Deno.readTextFileSync("/sys/devices/system/cpu/cpu0/cache/index3/size").trim();
    const m = /^(\d+)([KM]?)$/.exec(text);
    if (m) return 2 * Number(m[1]) * (m[2] === "M" ? 1 << 20 : m[2] === "K" ? 1 << 10 : 1);
  } catch {
    // no sysfs (another OS, a sandbox): the fallback
  }
  return 64 << 20;
}

let flushBuffer: Int32Array | null = null;
let flushes = 0;

let touched = 0;

/** Reads one element of every cache line of `a`, bringing it into cache. */
function touch(a: Float32Array): void {
  for (let i = 0; i < a.length; i += 16) touched += a[i];
}

/** Evicts every cache line this process had: writes a buffer larger than the caches. */
function flushCaches(): void {
  flushBuffer ??= new Int32Array(Math.min(flushBytes(), 512 << 20) / 4);
  flushBuffer.fill(++flushes);
}

/** Least ms of untimed calls before a candidate is timed. */
const WARM_MS = 30;

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 500);

/** Measures one batch, saying each result on standard output. */
export async function measureBatch(batch: WorkerBatch, before?: BeforeRun): Promise<void> {
  // The task's program and reference first (once per process), before the build's timeout.
  await preparedOf(batch.task);
  say({ prepared: true });
  const built = await Promise.allSettled(
    batch.candidates.map((c) => buildOne(batch.task, c.trace, c.id)),
  );
  for (let i = 0; i < batch.candidates.length; i++) {
    const { id, trace } = batch.candidates[i];
    const b = built[i];
    if (b.status === "rejected") {
      say({ id, error: `build: ${messageOf(b.reason)}` });
      continue;
    }
    say({ id, start: true });
    await before?.(id, trace);
    try {
      say({ id, costs: await runOne(batch.task, b.value) });
    } catch (e) {
      say({ id, error: `run: ${messageOf(e)}` });
    }
  }
}

/** Serves batches from standard input until it closes. */
export async function serve(before?: BeforeRun): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of Deno.stdin.readable) {
    pending += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim()) await measureBatch(JSON.parse(line) as WorkerBatch, before);
    }
  }
}

if (import.meta.main) await serve();
