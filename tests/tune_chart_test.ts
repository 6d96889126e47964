/**
 * The tuning chart (lib/tune/liveChart.ts): in Jupyter it is one output, shown once and then
 * replaced in place (the same display id, update set) with every point so far; outside
 * Jupyter it shows nothing. A tuning result (lib/tune/resultDisplay.ts) shows its top
 * schedules with time, throughput and ratio to the seed, the code escaped.
 */
import assert from "node:assert/strict";
import { liveChart } from "../lib/tune/liveChart.ts";
import { withDisplay } from "../lib/tune/resultDisplay.ts";
import type { JupyterApi, JupyterDisplayOptions } from "../lib/display/jupyter.ts";

Deno.test("the best-so-far chart is shown once, then updated in place", async () => {
  const shown: { bundle: Record<string, unknown>; opts: JupyterDisplayOptions }[] = [];
  const kernel: JupyterApi = {
    display: (bundle, opts) => {
      shown.push({ bundle: bundle as Record<string, unknown>, opts: opts ?? {} });
      return Promise.resolve();
    },
    broadcast: () => Promise.resolve(),
  };
  const chart = liveChart("tune matmul", kernel);
  await chart.update([]);
  assert.equal(shown.length, 0, "nothing to show before the first trial");
  await chart.update([{ trial: 1, bestMs: 2, seconds: 0.5 }]);
  await chart.update([{ trial: 1, bestMs: 2, seconds: 0.5 }, {
    trial: 2,
    bestMs: 1.5,
    seconds: 1,
  }]);
  assert.equal(shown.length, 2);
  assert.deepEqual(shown.map((s) => s.opts.update), [false, true]);
  assert.equal(shown[0].opts.display_id, shown[1].opts.display_id);
  const spec = shown[1].bundle["application/vnd.vegalite.v5+json"] as {
    data: { values: unknown[] };
  };
  assert.equal(spec.data.values.length, 2);
  assert.match(String(shown[1].bundle["text/html"]), /<svg|<img/);

  const outside = liveChart("tune matmul", null);
  await outside.update([{ trial: 1, bestMs: 2, seconds: 0.5 }]); // no kernel: nothing, no error
});

Deno.test("a tuning result shows its top schedules with time, throughput and ratio, code escaped", () => {
  const found = (cost: number, code: string) => ({
    trace: [],
    cost,
    code,
    gflops: 2e-3 / cost,
    gbs: 1e-3 / cost,
  });
  const r = withDisplay({
    workload: "w",
    target: "c-1",
    label: "matmul 8x8x8",
    best: found(0.001, "s.stage(C) // <fast>"),
    top: [found(0.001, "s.stage(C) // <fast>"), found(0.002, "slower")],
    seedCost: 0.004,
    measured: 3,
    total: 5,
    errors: 1,
    modelCorrelation: null,
    history: [],
  });
  const text = Deno.inspect(r);
  assert.match(text, /tune matmul 8x8x8: 5 trials \(3 this run, 1 failed\); best 1\.0000 ms/);
  assert.match(text, /2\.0 GFLOP\/s, 1\.0 GB\/s, 4\.00x the seed/);
  const bundle = (r as unknown as Record<symbol, () => Record<string, string>>)[
    Symbol.for("Jupyter.display")
  ]();
  const html = bundle["text/html"];
  assert.equal(html.match(/<tr><td>/g)?.length, 2);
  assert.match(html, /&lt;fast&gt;/);
  assert.doesNotMatch(html, /<fast>/);
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(r))).sort(), Object.keys(r).sort());
});
