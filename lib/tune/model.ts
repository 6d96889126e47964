/**
 * `tune.model(g, { trials, records })`: tunes a whole model under ONE trial budget, as TVM's
 * task scheduler does. The model's distinct fused groups (graph.extractTasks) are the tasks;
 * each gets its seed step first (the default schedule measured, which says how long the task
 * takes), then the budget goes a step at a time (`batch` trials) to the task with the largest
 * estimated gain: its weight (how many times the model runs it) times the time one more step
 * could save, estimated as TVM's gradient is (a fifth from the recent improvement, the rest
 * from an optimistic forward guess, best / trials so far). All tasks share one measuring
 * process and one records file, so `graph.build(g, { records })` finds every task's best
 * by its workload key. A rerun resumes from the records; trials in them count toward the
 * budget. A task the search cannot take (a non-float32 program) is skipped and reported.
 */
import { TesseraError } from "../error.ts";
import { warn } from "../warn.ts";
import type { Graph } from "../graph/ir.ts";
import { blockedFor, weightBlockFor } from "../graph/pipeline.ts";
import { extractTasks } from "../graph/tasks.ts";
import { groupData } from "../graph/groupData.ts";
import { progress, type ProgressMode } from "../display/progress.ts";
import { Measurer } from "./measure.ts";
import { readRecords, RecordWriter } from "./records.ts";
import { TaskSearch, type TuneOptions, workerTask } from "./search.ts";

export interface ModelTuneOptions extends Omit<TuneOptions, "hand" | "progress" | "trials"> {
  /** Trials for the whole model, earlier records of its tasks included. */
  trials: number;
  /** Values of the graph's symbolic sizes (as graph.build takes them). */
  sizes?: Record<string, number>;
  /** Fusion's group size cap (as graph.build takes it; default 32). */
  maxGroupSize?: number;
  /** Progress output; false for none. */
  progress?: ProgressMode | false;
}

export interface ModelTask {
  workload: string;
  /** The fused group's name (fused_matmul_add_relu). */
  label: string;
  /** How many groups of the model run this program. */
  count: number;
  flops: number | null;
  /** Candidates measured for it (earlier records included). */
  trials: number;
  /** Seconds per call: of the default schedule, and of the best found (null: none). */
  seedCost: number | null;
  bestCost: number | null;
  /** Why it was not tuned, when it was not. */
  skipped?: string;
}

export interface ModelTuneResult {
  tasks: ModelTask[];
  /** Trials of all tasks (earlier records included), and those measured by this run. */
  trials: number;
  measured: number;
  /** Sum over tasks of count x best seconds: the tuned kernels' estimated time per inference. */
  estimatedSeconds: number;
}

/** The share of a task's estimated gain taken from its recent improvement (TVM's alpha). */
const ALPHA = 0.2;
/** Trials back over which the recent improvement is measured. */
const WINDOW = 3;

/** Seconds one more step of `s` could save per inference, times how often the model runs it. */
export function estimatedGain(
  count: number,
  history: readonly { trial: number; bestMs: number }[],
): number {
  if (history.length === 0) return Infinity; // never measured: it must be measured first
  const now = history[history.length - 1];
  if (!Number.isFinite(now.bestMs)) return 0; // nothing correct yet: nothing to go by
  const n = now.trial;
  const forward = now.bestMs / n;
  let backward = 0;
  if (history.length > WINDOW) {
    const then = history[history.length - 1 - WINDOW];
    if (Number.isFinite(then.bestMs)) backward = (then.bestMs - now.bestMs) / (n - then.trial);
  }
  return count * (ALPHA * backward + (1 - ALPHA) * forward);
}

export async function tuneModel(g: Graph, opts: ModelTuneOptions): Promise<ModelTuneResult> {
  if (!(Number.isInteger(opts?.trials) && opts.trials >= 1)) {
    throw new TesseraError(
      `tune.model: trials must be an integer >= 1 (for the whole model), got ${opts?.trials}`,
    );
  }
  if (typeof opts.records !== "string" || opts.records === "") {
    throw new TesseraError(
      `tune.model: records must be a file path for the records (JSON lines), got ${opts.records}`,
    );
  }
  if (opts.coldCache !== undefined && typeof opts.coldCache !== "boolean") {
    throw new TesseraError(`tune.model: coldCache must be true or false, got ${opts.coldCache}`);
  }
  const target = opts.target ?? "c";
  // A model's kernels run with cold caches (its weights stream through them): measured so.
  const coldCache = opts.coldCache ?? target === "c";
  const batch = opts.batch ?? 4;
  const deadline = opts.minutes ? performance.now() + opts.minutes * 60_000 : Infinity;
  const tasks = extractTasks(g, {
    sizes: opts.sizes,
    maxGroupSize: opts.maxGroupSize,
    block: await weightBlockFor(target),
    blocked: blockedFor(target),
  });
  const read = await readRecords(opts.records);
  for (const message of read.warnings) warn(`tune.model: ${message}`);
  const writer = await RecordWriter.open(opts.records);
  const measurer = new Measurer(
    workerTask({}, { ...opts, target, coldCache }),
    { timeoutMs: opts.timeoutMs, prepareMs: opts.prepareMs, worker: opts.worker },
  );
  const shared = { measurer, writer, records: read.records };
  const rows: ModelTask[] = tasks.map((t) => ({
    workload: t.workload,
    label: t.group.name,
    count: t.count,
    flops: t.flops,
    trials: 0,
    seedCost: null,
    bestCost: null,
  }));
  const searches: (TaskSearch | null)[] = [];
  const show = opts.progress === false ? null : progress(
    `tune.model ${g.name} (${target}, ${tasks.length} tasks)`,
    opts.trials,
    opts.progress ? { mode: opts.progress } : {},
  );
  const used = () => searches.reduce((a, s) => a + (s?.count ?? 0), 0);
  const estimate = () =>
    searches.reduce(
      (a, s, i) => a + (s && s.bestCost < Infinity ? s.bestCost * rows[i].count : 0),
      0,
    );
  const status = (doing: string) =>
    `est. ${(estimate() * 1e3).toFixed(3)} ms per inference · ${doing}`;
  let before = 0;
  try {
    for (const [i, t] of tasks.entries()) {
      try {
        const s = await TaskSearch.open(
          { group: groupData(t.group) },
          { ...opts, target, batch, coldCache, trials: opts.trials, progress: false },
          shared,
        );
        if (s.workload !== t.workload) {
          throw new TesseraError(
            `internal: fused group ${t.group.name} rebuilt with another workload key`,
          );
        }
        searches.push(s);
      } catch (e) {
        if (!(e instanceof TesseraError) || e.message.startsWith("internal")) throw e;
        rows[i].skipped = e.message;
        searches.push(null);
      }
    }
    before = used();
    const live = () => searches.filter((s): s is TaskSearch => s !== null && s.open);
    const left = () => opts.trials - used();
    // Seed steps: every task's default schedule (and earlier records) first.
    for (const [i, s] of searches.entries()) {
      if (!s || left() <= 0 || performance.now() >= deadline) continue;
      show?.update(used(), status(`seeding ${rows[i].label}`));
      await s.step(Math.min(batch, left()));
    }
    while (left() > 0 && performance.now() < deadline) {
      const open = live();
      if (open.length === 0) break;
      const gain = (s: TaskSearch) => estimatedGain(rows[searches.indexOf(s)].count, s.bestHistory);
      const next = open.reduce((a, b) => (gain(b) > gain(a) ? b : a));
      show?.update(used(), status(`tuning ${next.program.label}`));
      const got = await next.step(Math.min(batch, left()));
      if (got === 0 && next.open) break; // cannot happen: a step either measures or closes
    }
    // Each task's leaders timed again (TaskSearch.finish), so that records.best trusts them.
    for (const [i, s] of searches.entries()) {
      if (!s) continue;
      show?.update(used(), status(`confirming ${rows[i].label}`));
      await s.finish();
    }
  } finally {
    await measurer.close();
    writer.close();
  }
  for (const [i, s] of searches.entries()) {
    if (!s) continue;
    const r = await s.done();
    rows[i].trials = r.total;
    rows[i].seedCost = r.seedCost;
    rows[i].bestCost = r.best?.cost ?? null;
  }
  const result: ModelTuneResult = {
    tasks: rows,
    trials: used(),
    measured: used() - before,
    estimatedSeconds: estimate(),
  };
  await show?.done(
    `${result.trials} trials (${result.measured} this run) over ${tasks.length} tasks, ` +
      status("done"),
  );
  return result;
}
