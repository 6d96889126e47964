/**
 * The cost model (lib/tune/costModel.ts): Spearman's rank correlation against values worked
 * out by hand, training targets (relative throughput, failures below the slowest), and a
 * forest that ranks held-out points of a known cost function well where a random ranking
 * does not.
 */
import assert from "node:assert/strict";
import {
  CostModel,
  heldOutRankCorrelation,
  loadCostModel,
  rankCorrelation,
  targetsOf,
} from "../lib/tune/costModel.ts";
import { seededRandom } from "../lib/tune/decisions.ts";

await loadCostModel();

Deno.test("rank correlation: hand-computed values, ties, constants", () => {
  assert.equal(rankCorrelation([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assert.equal(rankCorrelation([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  // d = [0, 0, 1, -1]: 1 - 6 * 2 / (4 * 15) = 0.8
  assert.ok(Math.abs(rankCorrelation([1, 2, 3, 4], [1, 2, 4, 3]) - 0.8) < 1e-12);
  // Ties share their mean rank: ranks [1.5, 1.5, 3] against [1, 2, 3] give sqrt(3)/2.
  assert.ok(Math.abs(rankCorrelation([5, 5, 7], [1, 2, 3]) - Math.sqrt(3) / 2) < 1e-12);
  assert.equal(rankCorrelation([1, 1, 1], [1, 2, 3]), 0);
});

Deno.test("training targets: log2 of the best over each cost; failures below the slowest", () => {
  assert.deepEqual(targetsOf([1, 2, 4, Infinity]), [0, -1, -2, -3]);
  assert.deepEqual(targetsOf([Infinity, Infinity]), [0, 0]);
});

Deno.test("the forest ranks held-out points of a known cost well; random does not", () => {
  const random = seededRandom(11);
  const X = Array.from({ length: 160 }, () => Array.from({ length: 6 }, () => random() * 8));
  // A cost with a threshold (a tile that stops fitting) and a product, plus noise.
  const cost = X.map((x) => (1 + (x[0] > 5 ? 3 : 0) + x[1] * x[2] / 8) * (1 + 0.05 * random()));
  const rho = heldOutRankCorrelation(X, cost);
  assert.ok(rho !== null && rho > 0.6, `held-out rank correlation ${rho}`);
  const m = new CostModel(1);
  m.fit(X.slice(0, 120), cost.slice(0, 120));
  const test = X.slice(120), speed = cost.slice(120).map((c) => -Math.log(c));
  assert.ok(rankCorrelation(m.predict(test), speed) > 0.6);
  assert.ok(Math.abs(rankCorrelation(test.map(() => random()), speed)) < 0.4);
  // Too few records to train: untrained, every prediction 0.
  const small = new CostModel(1);
  small.fit(X.slice(0, 3), cost.slice(0, 3));
  assert.equal(small.trained, false);
  assert.deepEqual(small.predict(X.slice(0, 2)), [0, 0]);
});
