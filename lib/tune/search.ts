/**
 * The search: an evolutionary search over the rules' sampled decisions (lib/tune/space.ts),
 * guided by a learned cost model (lib/tune/costModel.ts), as Ansor and MetaSchedule search.
 * The population starts from the default schedule, the user's hand schedule when one is
 * given, and the best records of neighbouring shapes of the same operation (their decisions
 * replayed on this shape). Each round breeds many mutants of the fastest candidates so far
 * (and a few fresh samples), ranks them with the model, measures the top few plus some
 * chosen at random (epsilon-greedy: the model learns only from what it is shown), appends
 * every result to the records and retrains. The model is used only while its rank
 * correlation on held-out records is clearly positive; until then candidates are taken at
 * random. At the end the seed and the leaders are measured again, alternately in one batch,
 * and the best is the fastest on all its measurements, not on its luckiest. Records are the
 * memory: a rerun resumes from them, measuring nothing twice and counting earlier trials
 * towards the budget, and a stopped run keeps all it measured. The task is a standard
 * workload (`tuneWorkload`) or a program in a module (`tuneModule`, lib/tune/task.ts).
 */
import { TesseraError } from "../error.ts";
import { warn } from "../warn.ts";
import { te } from "../te/te.ts";
import type { Workload } from "../bench/workload.ts";
import { progress, type ProgressMode } from "../display/progress.ts";
import { type Candidate, defaultCandidate, mutate, sample, type Space, traceKey } from "./space.ts";
import { seededRandom } from "./decisions.ts";
import { defaultFacts, type Facts } from "./default.ts";
import { loadProgram, type Program, type TaskSpec } from "./task.ts";
import { CostModel, heldOutRankCorrelation, loadCostModel } from "./costModel.ts";
import { FEATURE_NAMES, featuresOf } from "./features.ts";
import { Measurer } from "./measure.ts";
import type { WorkerTask } from "./worker.ts";
import {
  confirmedFirst,
  costOf,
  pool,
  readRecords,
  RecordWriter,
  type TuneRecord,
} from "./records.ts";
import { targetKey, workloadKey } from "./key.ts";
import { targetFacts } from "./target.ts";
import { applyTrace, printTrace, type Trace } from "./trace.ts";
import { liveChart } from "./liveChart.ts";
import { withDisplay } from "./resultDisplay.ts";

export interface TuneOptions {
  target?: "c" | "webgpu";
  /** Trials for this workload on this target, earlier records included (default 64). */
  trials?: number;
  /** Stop starting new rounds after this many minutes. */
  minutes?: number;
  /** The records file (JSON lines): read to resume, appended to as candidates are measured. */
  records: string;
  /** Resume from the records (default true); false measures anew, still appending. */
  resume?: boolean;
  /**
   * A hand schedule as a trace (tune.recording / traceOfCode): measured first, and the
   * result is never worse than it.
   */
  hand?: Trace;
  /** Candidates measured per round (default 8). */
  batch?: number;
  /**
   * Rank candidates with the cost model (default true); false is a plain random search
   * with the same budget (what the model is measured against).
   */
  model?: boolean;
  /** Share of each round picked at random instead of by the model (default 0.25). */
  epsilon?: number;
  seed?: number;
  /** Most ms one candidate may take in the measuring process (default 60 000). */
  timeoutMs?: number;
  /** Most ms the measuring process may take to prepare the task (its reference); 10 minutes. */
  prepareMs?: number;
  /** Measurements per candidate and least ms each (defaults 5 and 10). */
  repeat?: number;
  minRepeatMs?: number;
  /**
   * C: time each candidate's single calls after flushing the caches, as a model's kernels
   * run (lib/tune/worker.ts); default false here, true in tune.model.
   */
  coldCache?: boolean;
  /** The measuring script (tests pass a fake that crashes); default lib/tune/worker.ts. */
  worker?: string;
  /** Progress output; false for none. */
  progress?: ProgressMode | false;
  /** Overrides of the machine facts the rules use. */
  facts?: Partial<Facts>;
}

export interface Found {
  trace: Trace;
  /** Median seconds per call over all its measurements. */
  cost: number;
  /** The schedule as Tessera code. */
  code: string;
  /**
   * Throughput at that time: the workload's FLOPs and compulsory bytes per second, in G
   * (null for a module's program, whose work is not known).
   */
  gflops: number | null;
  gbs: number | null;
}

export interface TuneResult {
  workload: string;
  target: string;
  label: string;
  /**
   * The fastest correct candidate in the records (this run's and earlier ones), among those
   * measured more than once when there are any (see `finish`).
   */
  best: Found | null;
  /** The five fastest, best first. */
  top: Found[];
  /** Seconds per call of the seed: the hand schedule if given, else the default schedule. */
  seedCost: number | null;
  /** Candidates measured by this run, and in the records for this task in all. */
  measured: number;
  total: number;
  errors: number;
  /** The cost model's last held-out rank correlation (null: too few records to say). */
  modelCorrelation: number | null;
  /** Best ms after each trial of this task, for the chart. */
  history: { trial: number; bestMs: number; seconds: number }[];
}

interface Entry {
  trace: Trace;
  decisions: Candidate["decisions"];
  /** Every measurement of the trace, pooled across its records (records.ts pooledTraces). */
  costs: number[];
  /** Records (batches of measurements) that measured it. */
  runs: number;
  /** Median of `costs`; Infinity once any of its measurements failed. */
  cost: number;
}

const POOL = 48;
const PARENTS = 16;
/** Leaders measured again at the end of a search (`finish`). */
const CONFIRM = 4;
/** Held-out rank correlation above which the model ranks candidates. */
const MODEL_PAYS = 0.1;

function checkOptions(o: TuneOptions): void {
  const bad = (what: string, want: string, got: unknown) => {
    throw new TesseraError(`tune: ${what} must be ${want}, got ${String(got)}`);
  };
  if (typeof o.records !== "string" || o.records === "") {
    bad("records", "a file path for the records (JSON lines)", o.records);
  }
  if (o.target !== undefined && o.target !== "c" && o.target !== "webgpu") {
    bad("target", '"c" or "webgpu"', o.target);
  }
  if (o.trials !== undefined && !(Number.isInteger(o.trials) && o.trials >= 1)) {
    bad("trials", "an integer >= 1", o.trials);
  }
  if (o.minutes !== undefined && !(o.minutes > 0)) bad("minutes", "a number > 0", o.minutes);
  if (o.batch !== undefined && !(Number.isInteger(o.batch) && o.batch >= 1)) {
    bad("batch", "an integer >= 1", o.batch);
  }
  if (o.epsilon !== undefined && !(o.epsilon >= 0 && o.epsilon <= 1)) {
    bad("epsilon", "a number in [0, 1]", o.epsilon);
  }
  if (o.coldCache !== undefined && typeof o.coldCache !== "boolean") {
    bad("coldCache", "true or false", o.coldCache);
  }
}

/** What the measuring process is told of a task: its program and how to time it. */
export function workerTask(spec: TaskSpec, opts: TuneOptions): WorkerTask {
  return {
    ...spec,
    target: opts.target ?? "c",
    repeat: opts.repeat,
    minRepeatMs: opts.minRepeatMs,
    coldCache: opts.coldCache,
  };
}

/** Tunes a standard workload (lib/bench/workload.ts) on a target; see the file's comment. */
export function tuneWorkload(w: Workload, opts: TuneOptions): Promise<TuneResult> {
  return tuneTask({ workload: w }, opts);
}

/** Tunes a program in a module (lib/tune/task.ts says what it exports) on a target. */
export function tuneModule(path: string, opts: TuneOptions): Promise<TuneResult> {
  return tuneTask({ module: path }, opts);
}

async function tuneTask(spec: TaskSpec, opts: TuneOptions): Promise<TuneResult> {
  const search = await TaskSearch.open(spec, opts);
  try {
    while (await search.step(search.batch)) {
      /* until the budget, the deadline or the space ends */
    }
    await search.finish();
  } finally {
    await search.close();
  }
  return await search.done();
}

/**
 * One task's search, run a step at a time: `tuneWorkload` runs it to its trial budget, and
 * `tune.model` (lib/tune/model.ts) interleaves the searches of a model's tasks, giving each
 * step's trials to the task with the most to gain. A model's searches share one measuring
 * process (`measurer`).
 */
export class TaskSearch {
  readonly trials: number;
  readonly batch: number;
  private readonly epsilon: number;
  private readonly deadline: number;
  private readonly started = performance.now();
  private readonly measured = new Map<string, Entry>();
  private readonly features = new Map<string, number[]>();
  private readonly history: TuneResult["history"] = [];
  private bestCostSoFar = Infinity;
  private errors = 0;
  private earlier = 0;
  private seedCost: number | null = null;
  private seedKey = "";
  private seeded = false;
  private exhausted = false;
  private correlation: number | null = null;
  private readonly model: CostModel;
  private readonly random: () => number;
  private show: ReturnType<typeof progress> | null = null;
  private chart: ReturnType<typeof liveChart> | null = null;

  private constructor(
    readonly spec: TaskSpec,
    readonly opts: TuneOptions,
    readonly program: Program,
    readonly space: Space,
    readonly workload: string,
    readonly target: string,
    private readonly read: { records: TuneRecord[] },
    private readonly writer: RecordWriter,
    private readonly measurer: Measurer,
    private readonly ownMeasurer: boolean,
  ) {
    this.trials = opts.trials ?? 64;
    this.batch = opts.batch ?? 8;
    this.epsilon = opts.epsilon ?? 0.25;
    this.deadline = opts.minutes ? this.started + opts.minutes * 60_000 : Infinity;
    this.model = new CostModel(opts.seed ?? 1);
    this.random = seededRandom(opts.seed ?? 1);
  }

  /**
   * Loads the task and its earlier records. `shared` is a measurer to use (and leave open)
   * and a writer of the records file, for a model's searches; by default the search opens
   * its own.
   */
  static async open(
    spec: TaskSpec,
    opts: TuneOptions,
    shared?: { measurer: Measurer; writer: RecordWriter; records: TuneRecord[] },
  ): Promise<TaskSearch> {
    checkOptions(opts);
    const target = opts.target ?? "c";
    const program = await loadProgram(spec);
    await loadCostModel();
    const { label, outputs } = program;
    const space: Space = { outputs, target, facts: { ...(await defaultFacts()), ...opts.facts } };
    if (opts.hand) {
      try {
        applyTrace(te.createSchedule(outputs), opts.hand);
      } catch (e) {
        throw new TesseraError(
          `tune: the hand schedule does not replay onto ${label}: ${(e as Error).message} ` +
            "(pass the trace recorded on this workload's tensors: tune.recording or tune.traceOfCode)",
        );
      }
    }
    const wkey = workloadKey(outputs);
    const tkey = targetKey(await targetFacts(target));
    let records: TuneRecord[];
    if (shared) records = shared.records;
    else {
      const read = await readRecords(opts.records);
      for (const message of read.warnings) warn(`tune: ${message}`);
      records = read.records;
    }
    const writer = shared?.writer ?? await RecordWriter.open(opts.records);
    const measurer = shared?.measurer ?? new Measurer(
      workerTask(spec, opts),
      { timeoutMs: opts.timeoutMs, prepareMs: opts.prepareMs, worker: opts.worker },
    );
    const search = new TaskSearch(
      spec,
      opts,
      program,
      space,
      wkey,
      tkey,
      { records },
      writer,
      measurer,
      !shared,
    );
    search.resume();
    if (opts.progress !== false) {
      const title = `tune ${label} (${target})`;
      search.show = progress(title, search.trials, opts.progress ? { mode: opts.progress } : {});
      search.chart = liveChart(title);
      search.show.update(search.measured.size, search.status());
    }
    return search;
  }

  /** Candidates of this task in the records, this run's included. */
  get count(): number {
    return this.measured.size;
  }

  /** Seconds per call of the fastest correct candidate so far (Infinity: none yet). */
  get bestCost(): number {
    return this.bestCostSoFar;
  }

  /** Best seconds after each trial (the chart's data). */
  get bestHistory(): TuneResult["history"] {
    return this.history;
  }

  /** False once the budget, the deadline or the space (nothing new to sample) is spent. */
  get open(): boolean {
    return !this.exhausted && this.measured.size < this.trials &&
      performance.now() < this.deadline;
  }

  private resume(): void {
    const resume = this.opts.resume ?? true;
    const mine = resume
      ? this.read.records.filter((r) => r.workload === this.workload && r.target === this.target)
      : [];
    for (const r of mine) this.note(r.trace, r.decisions ?? null, r);
    this.earlier = this.measured.size;
  }

  // A trace measured more than once is judged on all its measurements, as records.best does.
  private note(trace: Trace, decisions: Candidate["decisions"], r: TuneRecord): void {
    const key = traceKey(trace);
    const old = this.measured.get(key);
    this.bestCostSoFar = Math.min(this.bestCostSoFar, costOf(r));
    if (old) {
      pool(old, r);
      return;
    }
    const e: Entry = { trace, decisions, costs: [], runs: 0, cost: 0 };
    pool(e, r);
    this.measured.set(key, e);
    if (e.cost === Infinity) this.errors++;
    this.history.push({
      trial: this.measured.size,
      bestMs: this.bestCostSoFar * 1e3,
      seconds: (performance.now() - this.started) / 1000,
    });
  }

  // The best so far while searching; `done` passes the confirmed best.
  private status(b = this.bestCostSoFar): string {
    const best = b === Infinity ? "—" : `${(b * 1e3).toFixed(3)} ms`;
    const ratio = this.seedCost && b < Infinity ? ` · ${(this.seedCost / b).toFixed(2)}x seed` : "";
    return `best ${best}${ratio}`;
  }

  private featuresOfTrace(t: Trace): number[] | null {
    const key = traceKey(t);
    let f = this.features.get(key);
    if (!f) {
      try {
        f = featuresOf(
          te.lower(applyTrace(te.createSchedule(this.program.outputs), t), this.program.args),
        );
      } catch {
        return null;
      }
      this.features.set(key, f);
    }
    return f;
  }

  private async run(cands: Candidate[]): Promise<void> {
    const task = workerTask(this.spec, this.opts);
    await this.measurer.measure(cands.map((c) => c.trace), async (i, r) => {
      const c = cands[i];
      const rec = await this.writer.append({
        workload: this.workload,
        target: this.target,
        trace: c.trace,
        costs: r.costs,
        ...(r.error !== undefined ? { error: r.error } : {}),
        ...(c.decisions ? { decisions: c.decisions } : {}),
        task: this.program.record,
      });
      this.note(c.trace, c.decisions, rec);
      const seed = this.measured.get(this.seedKey);
      if (seed && seed.cost < Infinity) this.seedCost = seed.cost;
      this.show?.update(this.measured.size, this.status());
    }, task);
    await this.chart?.update(this.history);
  }

  private retrain(): void {
    const rows = [...this.measured.values()].flatMap((e) => {
      const f = this.featuresOfTrace(e.trace);
      return f ? [{ f, cost: e.cost }] : [];
    });
    this.model.fit(rows.map((r) => r.f), rows.map((r) => r.cost));
    this.correlation = heldOutRankCorrelation(rows.map((r) => r.f), rows.map((r) => r.cost));
  }

  /** The seeds: the hand schedule, the default schedule, neighbours' best decisions. */
  private seeds(): Candidate[] {
    const { space, program, random } = this;
    const seeds: Candidate[] = [];
    if (this.opts.hand) seeds.push({ decisions: null, trace: this.opts.hand });
    seeds.push(defaultCandidate(space));
    this.seedKey = traceKey(seeds[0].trace);
    const neighbours = this.read.records.filter((r) =>
      r.target === this.target && r.workload !== this.workload && program.op !== null &&
      r.task?.op === program.op && r.decisions &&
      costOf(r) < Infinity
    );
    const bestOf = new Map<string, TuneRecord>();
    for (const r of neighbours) {
      const b = bestOf.get(r.workload);
      if (!b || costOf(r) < costOf(b)) bestOf.set(r.workload, r);
    }
    for (const r of [...bestOf.values()].slice(0, 4)) {
      seeds.push(sample(space, random, r.decisions));
    }
    const seen = new Set<string>();
    return seeds.filter((c) => {
      const k = traceKey(c.trace);
      if (this.measured.has(k) || seen.has(k)) return false;
      seen.add(k);
      return true;
    });
  }

  /**
   * Measures at most `k` new candidates (the first step: the seeds; later steps: one round
   * of the evolutionary search each) and retrains the model. Returns how many it measured;
   * 0 when the search is no longer open.
   */
  async step(k: number): Promise<number> {
    if (!this.open) return 0;
    const before = this.measured.size;
    const room = Math.min(k, this.trials - this.measured.size);
    if (!this.seeded) {
      this.seeded = true;
      const fresh = this.seeds().slice(0, room);
      if (this.measured.has(this.seedKey)) {
        const c = this.measured.get(this.seedKey)!.cost;
        this.seedCost = c < Infinity ? c : null;
      }
      if (fresh.length) await this.run(fresh);
      this.retrain();
      if (this.measured.size > before) return this.measured.size - before;
    }
    const { random, space } = this;
    const parents = [...this.measured.values()].filter((e) => e.cost < Infinity)
      .sort((a, b) => a.cost - b.cost).slice(0, PARENTS);
    const pool: Candidate[] = [];
    const inPool = new Set<string>();
    for (let tries = 0; pool.length < POOL && tries < POOL * 8; tries++) {
      let c: Candidate;
      if (parents.length === 0 || random() < 0.2) c = sample(space, random);
      else {
        // A tournament of two: the faster parent breeds (rank-biased, never only the best).
        const a = parents[Math.floor(random() * parents.length)];
        const b = parents[Math.floor(random() * parents.length)];
        c = mutate(space, a.cost <= b.cost ? a : b, random);
      }
      const key = traceKey(c.trace);
      if (this.measured.has(key) || inPool.has(key)) continue;
      inPool.add(key);
      pool.push(c);
    }
    if (pool.length === 0) {
      this.exhausted = true; // nothing new left to try in this space
      return 0;
    }
    const useModel = (this.opts.model ?? true) && this.model.trained &&
      this.correlation !== null && this.correlation > MODEL_PAYS;
    let order: Candidate[];
    if (useModel) {
      const f = pool.map((c) => this.featuresOfTrace(c.trace));
      const predicted = this.model.predict(f.map((x) => x ?? FEATURE_NAMES.map(() => 0)));
      order = pool.map((c, i) => ({ c, p: f[i] ? predicted[i] : -Infinity }))
        .sort((a, b) => b.p - a.p).map((x) => x.c);
    } else order = shuffle(pool, random);
    const explore = useModel ? Math.min(room - 1, Math.round(room * this.epsilon)) : 0;
    const chosen = order.slice(0, room - explore);
    const rest = shuffle(order.slice(room - explore), random);
    chosen.push(...rest.slice(0, explore));
    await this.run(chosen);
    this.retrain();
    return this.measured.size - before;
  }

  /**
   * Confirmation: the seed and the fastest few are measured again, twice, alternately in one
   * batch, and each is judged on all its measurements. The fastest of hundreds of candidates
   * each timed once is often one timed in a lucky moment (in a cold-cache ResNet-18 search,
   * winners ran 2.5% slower when timed again, up to 9%); timed again beside its rivals and the
   * seed, the best and its ratio to the seed stop hinging on that luck. records.best prefers
   * confirmed traces for the same reason. A rerun over records whose best was never
   * confirmed (an older Tessera's) confirms it.
   */
  async finish(): Promise<void> {
    // Nothing new and a confirmed best (a rerun of a finished search): nothing to do.
    const top = this.ranked()[0];
    if (this.measured.size === this.earlier && (!top || top.runs >= 2)) return;
    const seed = this.measured.get(this.seedKey);
    const leaders = [...this.measured.values()].filter((e) => e.cost < Infinity)
      .sort((a, b) => a.cost - b.cost).slice(0, CONFIRM);
    const again = [...new Set([...(seed && seed.cost < Infinity ? [seed] : []), ...leaders])]
      .map((e) => ({ decisions: e.decisions, trace: e.trace }));
    if (again.length > 0) await this.run([...again, ...again]);
  }

  /** Correct candidates, confirmed ones first (as records.best ranks), each group fastest first. */
  private ranked(): Entry[] {
    return confirmedFirst(this.measured.values());
  }

  /** Ends the measuring process and the records file, when this search opened them. */
  async close(): Promise<void> {
    if (!this.ownMeasurer) return;
    await this.measurer.close();
    this.writer.close();
  }

  /** The result; ends the progress line. */
  async done(): Promise<TuneResult> {
    const { program } = this;
    const ranked = this.ranked();
    const found = (e: Entry): Found => ({
      trace: e.trace,
      cost: e.cost,
      code: printTrace(te.createSchedule(program.outputs), e.trace).code,
      gflops: program.flops === null ? null : program.flops / e.cost / 1e9,
      gbs: program.bytes === null ? null : program.bytes / e.cost / 1e9,
    });
    const result: TuneResult = {
      workload: this.workload,
      target: this.target,
      label: program.label,
      best: ranked.length ? found(ranked[0]) : null,
      top: ranked.slice(0, 5).map(found),
      seedCost: this.seedCost,
      measured: this.measured.size - this.earlier,
      total: this.measured.size,
      errors: this.errors,
      modelCorrelation: this.correlation,
      history: this.history,
    };
    await this.show?.done(
      `${result.total} trials (${result.measured} this run, ${this.errors} failed), ` +
        this.status(result.best?.cost ?? Infinity) + (ranked[0]?.runs > 1 ? " (confirmed)" : ""),
    );
    return withDisplay(result);
  }
}

function shuffle<T>(xs: T[], random: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
