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
 * random. At the end the seed and the best are measured again in one batch, so that their
 * ratio does not hinge on one unlucky measurement. Records are the memory: a rerun resumes
 * from them, measuring nothing twice and counting earlier trials towards the budget, and a
 * stopped run keeps all it measured. The task is a standard workload (`tuneWorkload`) or a
 * program in a module (`tuneModule`, lib/tune/task.ts).
 */
import { TesseraError } from "../error.ts";
import { warn } from "../warn.ts";
import { te } from "../te/te.ts";
import type { Workload } from "../bench/workload.ts";
import { progress, type ProgressMode } from "../display/progress.ts";
import { type Candidate, defaultCandidate, mutate, sample, type Space, traceKey } from "./space.ts";
import { seededRandom } from "./decisions.ts";
import { defaultFacts, type Facts } from "./default.ts";
import { loadProgram, type TaskSpec } from "./task.ts";
import { CostModel, heldOutRankCorrelation, loadCostModel } from "./costModel.ts";
import { FEATURE_NAMES, featuresOf } from "./features.ts";
import { Measurer } from "./measure.ts";
import { costOf, readRecords, RecordWriter, type TuneRecord } from "./records.ts";
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
  /** Measurements per candidate and least ms each (defaults 5 and 10). */
  repeat?: number;
  minRepeatMs?: number;
  /** The measuring script (tests pass a fake that crashes); default lib/tune/worker.ts. */
  worker?: string;
  /** Progress output; false for none. */
  progress?: ProgressMode | false;
  /** Overrides of the machine facts the rules use. */
  facts?: Partial<Facts>;
}

export interface Found {
  trace: Trace;
  /** Median seconds per call. */
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
  /** The fastest correct candidate in the records (this run's and earlier ones). */
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
  cost: number;
}

const POOL = 48;
const PARENTS = 16;
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
  checkOptions(opts);
  const target = opts.target ?? "c";
  const trials = opts.trials ?? 64;
  const batch = opts.batch ?? 8;
  const epsilon = opts.epsilon ?? 0.25;
  const started = performance.now();
  const deadline = opts.minutes ? started + opts.minutes * 60_000 : Infinity;
  const program = await loadProgram(spec);
  await loadCostModel();
  const { label, args, outputs } = program;
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
  const random = seededRandom(opts.seed ?? 1);

  const read = await readRecords(opts.records);
  for (const message of read.warnings) warn(`tune: ${message}`);
  const resume = opts.resume ?? true;
  const mine = resume ? read.records.filter((r) => r.workload === wkey && r.target === tkey) : [];
  const measured = new Map<string, Entry>();
  const features = new Map<string, number[]>();
  const history: TuneResult["history"] = [];
  let bestCost = Infinity, errors = 0;
  // A trace measured more than once keeps its fastest measurement, as records.best does.
  const note = (e: Entry) => {
    const key = traceKey(e.trace);
    const old = measured.get(key);
    bestCost = Math.min(bestCost, e.cost);
    if (old) {
      old.cost = Math.min(old.cost, e.cost);
      return;
    }
    measured.set(key, e);
    if (e.cost === Infinity) errors++;
    history.push({
      trial: measured.size,
      bestMs: bestCost * 1e3,
      seconds: (performance.now() - started) / 1000,
    });
  };
  for (const r of mine) note({ trace: r.trace, decisions: r.decisions ?? null, cost: costOf(r) });
  const earlier = measured.size;

  const featuresOfTrace = (t: Trace): number[] | null => {
    const key = traceKey(t);
    let f = features.get(key);
    if (!f) {
      try {
        f = featuresOf(te.lower(applyTrace(te.createSchedule(outputs), t), args));
      } catch {
        return null;
      }
      features.set(key, f);
    }
    return f;
  };

  const show = opts.progress === false
    ? null
    : progress(`tune ${label} (${target})`, trials, opts.progress ? { mode: opts.progress } : {});
  const chart = liveChart(`tune ${label} (${target})`);
  let seedCost: number | null = null;
  const seedKey = { key: "" };
  const status = () => {
    const best = bestCost === Infinity ? "—" : `${(bestCost * 1e3).toFixed(3)} ms`;
    const ratio = seedCost && bestCost < Infinity
      ? ` · ${(seedCost / bestCost).toFixed(2)}x seed`
      : "";
    return `best ${best}${ratio}`;
  };
  show?.update(measured.size, status());

  const writer = await RecordWriter.open(opts.records);
  const measurer = new Measurer(
    { ...spec, target, repeat: opts.repeat, minRepeatMs: opts.minRepeatMs },
    { timeoutMs: opts.timeoutMs, worker: opts.worker },
  );
  const task = program.record;
  const run = async (cands: Candidate[]) => {
    await measurer.measure(cands.map((c) => c.trace), async (i, r) => {
      const c = cands[i];
      const rec = await writer.append({
        workload: wkey,
        target: tkey,
        trace: c.trace,
        costs: r.costs,
        ...(r.error !== undefined ? { error: r.error } : {}),
        ...(c.decisions ? { decisions: c.decisions } : {}),
        task,
      });
      note({ trace: c.trace, decisions: c.decisions, cost: costOf(rec) });
      const seed = measured.get(seedKey.key);
      if (seed && seed.cost < Infinity) seedCost = seed.cost;
      show?.update(measured.size, status());
    });
    await chart.update(history);
  };

  const model = new CostModel(opts.seed ?? 1);
  let correlation: number | null = null;
  try {
    // Seeds: the hand schedule, the default schedule, neighbours' best decisions.
    const dflt = defaultCandidate(space);
    const seeds: Candidate[] = [];
    if (opts.hand) seeds.push({ decisions: null, trace: opts.hand });
    seeds.push(dflt);
    seedKey.key = traceKey(seeds[0].trace);
    const neighbours = read.records.filter((r) =>
      r.target === tkey && r.workload !== wkey && program.op !== null &&
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
    const fresh = seeds.filter((c) => {
      const k = traceKey(c.trace);
      if (measured.has(k) || seen.has(k)) return false;
      seen.add(k);
      return true;
    }).slice(0, Math.max(0, trials - measured.size));
    if (measured.has(seedKey.key)) {
      const c = measured.get(seedKey.key)!.cost;
      seedCost = c < Infinity ? c : null;
    }
    if (fresh.length) await run(fresh);

    const retrain = () => {
      const rows = [...measured.values()].flatMap((e) => {
        const f = featuresOfTrace(e.trace);
        return f ? [{ f, cost: e.cost }] : [];
      });
      model.fit(rows.map((r) => r.f), rows.map((r) => r.cost));
      correlation = heldOutRankCorrelation(rows.map((r) => r.f), rows.map((r) => r.cost));
    };
    retrain();

    while (measured.size < trials && performance.now() < deadline) {
      const parents = [...measured.values()].filter((e) => e.cost < Infinity)
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
        const k = traceKey(c.trace);
        if (measured.has(k) || inPool.has(k)) continue;
        inPool.add(k);
        pool.push(c);
      }
      if (pool.length === 0) break; // nothing new left to try in this space
      const useModel = (opts.model ?? true) && model.trained && correlation !== null &&
        correlation > MODEL_PAYS;
      let order: Candidate[];
      if (useModel) {
        const f = pool.map((c) => featuresOfTrace(c.trace));
        const predicted = model.predict(f.map((x) => x ?? FEATURE_NAMES.map(() => 0)));
        order = pool.map((c, i) => ({ c, p: f[i] ? predicted[i] : -Infinity }))
          .sort((a, b) => b.p - a.p).map((x) => x.c);
      } else order = shuffle(pool, random);
      const k = Math.min(batch, trials - measured.size);
      const explore = useModel ? Math.min(k - 1, Math.round(k * epsilon)) : 0;
      const chosen = order.slice(0, k - explore);
      const rest = shuffle(order.slice(k - explore), random);
      chosen.push(...rest.slice(0, explore));
      await run(chosen);
      retrain();
    }
    // The seed and the best measured again, side by side in one batch (each keeps its faster
    // measurement): the ratio between them should not hinge on how loaded the machine was
    // when one of them was first measured.
    const seed = measured.get(seedKey.key);
    const top = [...measured.values()].filter((e) => e.cost < Infinity)
      .sort((a, b) => a.cost - b.cost)[0];
    if (measured.size > earlier && seed && seed.cost < Infinity && top && top !== seed) {
      await run([
        { decisions: seed.decisions, trace: seed.trace },
        { decisions: top.decisions, trace: top.trace },
      ]);
    }
  } finally {
    await measurer.close();
    writer.close();
  }
  const ranked = [...measured.values()].filter((e) => e.cost < Infinity)
    .sort((a, b) => a.cost - b.cost);
  const found = (e: Entry): Found => ({
    trace: e.trace,
    cost: e.cost,
    code: printTrace(te.createSchedule(outputs), e.trace).code,
    gflops: program.flops === null ? null : program.flops / e.cost / 1e9,
    gbs: program.bytes === null ? null : program.bytes / e.cost / 1e9,
  });
  const result: TuneResult = {
    workload: wkey,
    target: tkey,
    label,
    best: ranked.length ? found(ranked[0]) : null,
    top: ranked.slice(0, 5).map(found),
    seedCost,
    measured: measured.size - earlier,
    total: measured.size,
    errors,
    modelCorrelation: correlation,
    history,
  };
  await show?.done(
    `${result.total} trials (${result.measured} this run, ${errors} failed), ${status()}`,
  );
  return withDisplay(result);
}

function shuffle<T>(xs: T[], random: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
