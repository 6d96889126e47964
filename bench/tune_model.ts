/**
 * Which cost model pays: held-out rank correlation (Spearman) of each candidate model's
 * predictions with the measured speeds, per workload in a records file, against a random
 * ranking (which scores 0 on average). The models: the random forest the search uses
 * (lib/tune/costModel.ts, ml-random-forest) and a small multilayer perceptron trained with
 * tfjs (already a dependency). Also the share of the true fastest 10% found in each
 * model's top 10% (what the search acts on: it measures the model's top candidates).
 *
 *   deno run -A bench/tune_model.ts RECORDS.jsonl [--folds 4]
 */
import { te } from "../lib/te/te.ts";
import type { Workload } from "../lib/bench/workload.ts";
import { labelOf } from "../lib/bench/workload.ts";
import { definition } from "../lib/tune/workloads.ts";
import { costOf, readRecords } from "../lib/tune/records.ts";
import { CostModel, loadCostModel, rankCorrelation, targetsOf } from "../lib/tune/costModel.ts";
import { featuresOf } from "../lib/tune/features.ts";
import { applyTrace } from "../lib/tune/trace.ts";
import { seededRandom } from "../lib/tune/decisions.ts";

const path = Deno.args[0];
const foldsAt = Deno.args.indexOf("--folds");
const FOLDS = foldsAt >= 0 ? Number(Deno.args[foldsAt + 1]) : 4;
if (!path) {
  console.error("usage: deno run -A bench/tune_model.ts RECORDS.jsonl [--folds 4]");
  Deno.exit(2);
}

import type { Tensor, Tensor2D } from "@tensorflow/tfjs-core";

await loadCostModel();
const tf = await import("@tensorflow/tfjs-core");
await import("@tensorflow/tfjs-backend-cpu");
await tf.setBackend("cpu");
tf.enableProdMode();

/**
 * A 2-hidden-layer perceptron (32 ReLU units each) on standardized features, full-batch
 * Adam on mean squared error. tfjs-core ships no gradients without tfjs-layers, so the
 * backward pass is written out with tfjs ops.
 */
function mlp(trainX: number[][], trainY: number[], testX: number[][]): number[] {
  const d = trainX[0].length, n = trainX.length;
  const mean = Array.from({ length: d }, (_, j) => trainX.reduce((a, r) => a + r[j], 0) / n);
  const sd = Array.from(
    { length: d },
    (_, j) => Math.sqrt(trainX.reduce((a, r) => a + (r[j] - mean[j]) ** 2, 0) / n) || 1,
  );
  const norm = (X: number[][]) => X.map((r) => r.map((x, j) => (x - mean[j]) / sd[j]));
  const X = tf.tensor2d(norm(trainX));
  const Y = tf.tensor2d(trainY.map((y) => [y]));
  const sizes = [[d, 32], [32, 32], [32, 1]];
  let params: Tensor[] = sizes.flatMap(([r, c], i) => [
    tf.randomNormal([r, c], 0, Math.sqrt(2 / r), "float32", i + 1),
    tf.zeros([1, c]),
  ]);
  let m1 = params.map((p) => tf.zerosLike(p)), m2 = params.map((p) => tf.zerosLike(p));
  const forward = (x: Tensor, p: Tensor[]) => {
    const h1 = tf.relu(tf.add(tf.matMul(x as Tensor2D, p[0] as Tensor2D), p[1])) as Tensor2D;
    const h2 = tf.relu(tf.add(tf.matMul(h1, p[2] as Tensor2D), p[3])) as Tensor2D;
    return { h1, h2, y: tf.add(tf.matMul(h2, p[4] as Tensor2D), p[5]) as Tensor2D };
  };
  const lr = 0.01, beta1 = 0.9, beta2 = 0.999;
  for (let t = 1; t <= 400; t++) {
    const next = tf.tidy(() => {
      const { h1, h2, y } = forward(X, params);
      const dy = tf.mul(tf.sub(y, Y), 2 / n) as Tensor2D;
      const dh2 = tf.mul(
        tf.matMul(dy, params[4] as Tensor2D, false, true),
        tf.step(h2),
      ) as Tensor2D;
      const dh1 = tf.mul(
        tf.matMul(dh2, params[2] as Tensor2D, false, true),
        tf.step(h1),
      ) as Tensor2D;
      const grads = [
        tf.matMul(X, dh1, true, false),
        tf.sum(dh1, 0, true),
        tf.matMul(h1, dh2, true, false),
        tf.sum(dh2, 0, true),
        tf.matMul(h2, dy, true, false),
        tf.sum(dy, 0, true),
      ];
      const a = m1.map((m, i) => tf.add(tf.mul(m, beta1), tf.mul(grads[i], 1 - beta1)));
      const b = m2.map((m, i) => tf.add(tf.mul(m, beta2), tf.mul(tf.square(grads[i]), 1 - beta2)));
      const p = params.map((q, i) =>
        tf.sub(
          q,
          tf.mul(
            tf.div(
              tf.div(a[i], 1 - beta1 ** t),
              tf.add(tf.sqrt(tf.div(b[i], 1 - beta2 ** t)), 1e-8),
            ),
            lr,
          ),
        )
      );
      return { p, a, b };
    });
    tf.dispose([...params, ...m1, ...m2]);
    params = next.p;
    m1 = next.a;
    m2 = next.b;
  }
  const out = tf.tidy(() => Array.from(forward(tf.tensor2d(norm(testX)), params).y.dataSync()));
  tf.dispose([X, Y, ...params, ...m1, ...m2]);
  return out;
}

function forest(trainX: number[][], trainC: number[], testX: number[][]): number[] {
  const m = new CostModel(1);
  m.fit(trainX, trainC);
  return m.predict(testX);
}

/** Share of the true top 10% (fastest) that are in the predicted top 10%. */
function topRecall(predicted: number[], speed: number[]): number {
  const k = Math.max(1, Math.round(predicted.length / 10));
  const top = (xs: number[]) =>
    new Set(
      xs.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0]).slice(0, k).map((x) => x[1]),
    );
  const truth = top(speed), mine = top(predicted);
  return [...mine].filter((i) => truth.has(i)).length / k;
}

const { records, warnings } = await readRecords(path);
for (const w of warnings) console.error(w);
const groups = new Map<string, typeof records>();
for (const r of records) {
  if (!r.task) continue;
  const key = `${r.workload} ${r.target}`;
  groups.set(key, [...(groups.get(key) ?? []), r]);
}

const rows: string[][] = [];
for (const group of groups.values()) {
  const w = group[0].task as unknown as Workload;
  const args = definition(w);
  const X: number[][] = [], C: number[] = [];
  for (const r of group) {
    try {
      X.push(
        featuresOf(te.lower(applyTrace(te.createSchedule(args[args.length - 1]), r.trace), args)),
      );
      C.push(costOf(r));
    } catch { /* a trace of another space version */ }
  }
  const scores = { forest: [] as number[], mlp: [] as number[], random: [] as number[] };
  const recalls = { forest: [] as number[], mlp: [] as number[], random: [] as number[] };
  const random = seededRandom(5);
  for (let f = 0; f < FOLDS; f++) {
    const train = X.flatMap((_, i) => (i % FOLDS === f ? [] : [i]));
    const test = X.flatMap((_, i) => (i % FOLDS === f && Number.isFinite(C[i]) ? [i] : []));
    if (test.length < 3 || train.length < 8) continue;
    const tx = test.map((i) => X[i]), speed = test.map((i) => -Math.log(C[i]));
    const preds = {
      forest: forest(train.map((i) => X[i]), train.map((i) => C[i]), tx),
      mlp: mlp(train.map((i) => X[i]), targetsOf(train.map((i) => C[i])), tx),
      random: tx.map(() => random()),
    };
    for (const k of ["forest", "mlp", "random"] as const) {
      scores[k].push(rankCorrelation(preds[k], speed));
      recalls[k].push(topRecall(preds[k], speed));
    }
  }
  const avg = (xs: number[]) =>
    xs.length ? (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(2) : "—";
  rows.push([
    `${labelOf(w)} (${group[0].target.split("-")[0]})`,
    String(X.length),
    avg(scores.forest),
    avg(scores.mlp),
    avg(scores.random),
    avg(recalls.forest),
    avg(recalls.mlp),
    avg(recalls.random),
  ]);
}
const head = [
  "workload",
  "records",
  "ρ forest",
  "ρ mlp",
  "ρ random",
  "top-10% recall forest",
  "mlp",
  "random",
];
console.log(`held-out Spearman ρ (${FOLDS}-fold) of predicted vs measured speed`);
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map(() => "---").join("|")}|`);
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
