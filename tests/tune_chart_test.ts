/**
 * The tuning chart (lib/tune/liveChart.ts): in Jupyter it is one output, shown once and then
 * replaced in place (the same display id, update set) with every point so far; outside
 * Jupyter it shows nothing.
 */
import assert from "node:assert/strict";
import { liveChart } from "../lib/tune/liveChart.ts";
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
