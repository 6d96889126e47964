/**
 * The cost model that ranks candidates before any is measured (Ansor's and MetaSchedule's
 * learned models, AutoTVM's XGBoost ranker): a random forest regression (the npm package
 * ml-random-forest, over ml-cart trees) from the features of the lowered loop IR
 * (lib/tune/features.ts) to the log of relative throughput, log2(best time / time), so that
 * workloads of any size share one scale and only the ranking matters. Trees suit the
 * features (counts, extents and one-hot kinds whose effect jumps at thresholds, as a tile
 * that stops fitting the registers does) and train in milliseconds on the few hundred
 * records a search makes, with no tuning of their own.
 *
 * Whether the model pays is measured, not assumed: `heldOutRankCorrelation` trains on part
 * of the records and reports Spearman's rank correlation of its predictions with the
 * measured speeds on the rest; a random ranking scores 0 on average. The search uses the
 * model only while that correlation is clearly above zero, and ranks at random otherwise.
 * The library is loaded on first use: `await loadCostModel()` before training.
 */
import type { RandomForestRegression } from "ml-random-forest";
import { TesseraError } from "../error.ts";

/** The forest library, loaded on first use (importing Tessera does not pay for it). */
let Forest: typeof RandomForestRegression | null = null;

export async function loadCostModel(): Promise<void> {
  Forest ??= (await import("ml-random-forest")).RandomForestRegression;
}

/** Failed candidates train as this much slower than the slowest working one (log2). */
const FAILED_PENALTY = 1;

/** Training targets: log2(fastest / cost), failures below the slowest working candidate. */
export function targetsOf(costs: number[]): number[] {
  const ok = costs.filter((c) => Number.isFinite(c) && c > 0);
  if (ok.length === 0) return costs.map(() => 0);
  const best = Math.min(...ok);
  const y = costs.map((c) => (Number.isFinite(c) && c > 0 ? Math.log2(best / c) : NaN));
  const worst = Math.min(...y.filter((v) => !Number.isNaN(v)));
  return y.map((v) => (Number.isNaN(v) ? worst - FAILED_PENALTY : v));
}

export class CostModel {
  private forest: RandomForestRegression | null = null;

  constructor(private readonly seed = 1) {}

  get trained(): boolean {
    return this.forest !== null;
  }

  /** Trains on feature vectors and their costs (seconds; Infinity for a failed candidate). */
  fit(features: number[][], costs: number[]): void {
    if (features.length < 4) {
      this.forest = null;
      return;
    }
    if (!Forest) {
      throw new TesseraError("CostModel: await loadCostModel() before training the model");
    }
    const forest = new Forest({
      nEstimators: 40,
      maxFeatures: 0.6,
      replacement: true,
      seed: this.seed,
      useSampleBagging: true,
      // Out-of-bag estimates fail on a handful of records (none left out) and go unused.
      noOOB: true,
    });
    forest.train(features, targetsOf(costs));
    this.forest = forest;
  }

  /** Predicted relative throughput (higher is faster); 0 everywhere when untrained. */
  predict(features: number[][]): number[] {
    if (!this.forest || features.length === 0) return features.map(() => 0);
    return this.forest.predict(features);
  }
}

/** Ranks (1-based, ties sharing their mean rank). */
function ranks(xs: number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

/** Spearman's rank correlation of two equally long lists (0 when either is constant). */
export function rankCorrelation(a: number[], b: number[]): number {
  const ra = ranks(a), rb = ranks(b);
  const n = a.length;
  const mean = (n + 1) / 2;
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < n; i++) {
    num += (ra[i] - mean) * (rb[i] - mean);
    da += (ra[i] - mean) ** 2;
    db += (rb[i] - mean) ** 2;
  }
  return da === 0 || db === 0 ? 0 : num / Math.sqrt(da * db);
}

/**
 * The model's ranking quality on records it did not see: `folds`-fold cross-validation,
 * the rank correlation of predicted against measured relative throughput on each held-out
 * fold (working candidates only), averaged. Null with too few records to say.
 */
export function heldOutRankCorrelation(
  features: number[][],
  costs: number[],
  folds = 4,
  seed = 1,
): number | null {
  const n = features.length;
  if (n < 4 * folds) return null;
  const fold = features.map((_, i) => (i * 7919 + seed) % folds);
  const scores: number[] = [];
  for (let f = 0; f < folds; f++) {
    const train = features.flatMap((_, i) => (fold[i] === f ? [] : [i]));
    const test = features.flatMap((
      _,
      i,
    ) => (fold[i] === f && Number.isFinite(costs[i]) ? [i] : []));
    if (test.length < 3) continue;
    const m = new CostModel(seed);
    m.fit(train.map((i) => features[i]), train.map((i) => costs[i]));
    const predicted = m.predict(test.map((i) => features[i]));
    scores.push(rankCorrelation(predicted, test.map((i) => -Math.log(costs[i]))));
  }
  return scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : null;
}
