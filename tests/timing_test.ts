/**
 * The timer's arithmetic, on a fake clock so that nothing depends on this machine's speed:
 * one warm-up call, `number` grown until one measurement reaches `minRepeatMs`, `repeat`
 * measurements of `number` calls each, and the statistics and GFLOP/s derived from them.
 */
import assert from "node:assert/strict";
import { median, timeCalls } from "../lib/runtime/timing.ts";
import { TesseraError } from "../lib/error.ts";

Deno.test("timeCalls grows number to reach minRepeatMs, then takes repeat measurements", async () => {
  const calls: number[] = [];
  // Each call "takes" 1 ms, except that the k-th measurement is 10% slower for odd k.
  const measure = (n: number) => {
    calls.push(n);
    return Promise.resolve((n * 0.001) * (calls.length % 2 ? 1.1 : 1));
  };
  const r = await timeCalls(measure, { repeat: 4, minRepeatMs: 50, flops: 2e6 });
  assert.equal(calls[0], 1, "one warm-up call first");
  assert.ok(r.number * 1 >= 50, `number ${r.number} reaches 50 ms of 1 ms calls`);
  assert.deepEqual(calls.slice(-4), [r.number, r.number, r.number, r.number]);
  assert.equal(r.results.length, 4);
  for (const t of r.results) assert.ok(Math.abs(t - 0.001) < 0.00011, `per-call ${t}`);
  assert.equal(r.min, Math.min(...r.results));
  assert.equal(r.median, median(r.results));
  assert.ok(Math.abs(r.gflops!.median - 2e6 / r.median / 1e9) < 1e-12);
  assert.ok(Math.abs(r.gflops!.max - 2e6 / r.min / 1e9) < 1e-12);
});

Deno.test("median of even and odd counts", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

/** A fake kernel: the first call takes `warmup` s, every later one `each` s. */
function fakeKernel(each: number, warmup = each) {
  const calls: number[] = [];
  const measure = (n: number) => {
    calls.push(n);
    return Promise.resolve(calls.length === 1 ? warmup + (n - 1) * each : n * each);
  };
  const spent = () =>
    calls.reduce((a, n, k) => a + (k === 0 ? warmup + (n - 1) * each : n * each), 0);
  return { calls, measure, spent };
}

Deno.test("timeCalls refuses nonsense options before calling anything", async () => {
  const bad: [Record<string, number>, string][] = [
    [{ number: 1e12 }, "number"],
    [{ number: -1 }, "number"],
    [{ number: 1.5 }, "number"],
    [{ number: NaN }, "number"],
    [{ repeat: 0 }, "repeat"],
    [{ repeat: Infinity }, "repeat"],
    [{ minRepeatMs: -1 }, "minRepeatMs"],
    [{ minRepeatMs: NaN }, "minRepeatMs"],
    [{ minRepeatMs: 1e9 }, "minRepeatMs"], // more than the default budget
    [{ budgetMs: 0 }, "budgetMs"],
    [{ budgetMs: -5 }, "budgetMs"],
  ];
  for (const [opts, field] of bad) {
    const k = fakeKernel(0.001);
    await assert.rejects(timeCalls(k.measure, opts), (e: unknown) => {
      assert.ok(e instanceof TesseraError, String(e));
      assert.match(e.message, new RegExp(`timeEvaluator: bad options .*'${field}'`));
      return true;
    }, JSON.stringify(opts));
    assert.deepEqual(k.calls, [], `${JSON.stringify(opts)}: nothing was called`);
  }
});

Deno.test("timeCalls stops before a measurement would overrun the time budget", async () => {
  // 1 ms calls: a billion calls per measurement, a billion measurements, or 50 s measurements
  // repeated 5 times are each far past the 60 s default budget.
  for (const opts of [{ number: 1e9 }, { repeat: 1e9 }, { minRepeatMs: 50_000 }]) {
    const k = fakeKernel(0.001);
    await assert.rejects(timeCalls(k.measure, opts), (e: unknown) => {
      assert.ok(e instanceof TesseraError, String(e));
      assert.match(e.message, /over the time budget of 60000 ms.*raise budgetMs/);
      return true;
    }, JSON.stringify(opts));
    assert.ok(k.spent() <= 60, `${JSON.stringify(opts)}: ${k.spent()} s measured`);
  }
  const k = fakeKernel(0.001);
  await assert.rejects(timeCalls(k.measure, { number: 1000, budgetMs: 500 }), TesseraError);
  assert.ok(k.spent() <= 0.5, `${k.spent()} s measured`);
});

Deno.test("a slow warm-up call does not make the budget refuse a fast kernel", async () => {
  // The first call takes 2 s, later ones 1 us: a million calls is 1 s, within 10 s.
  const k = fakeKernel(1e-6, 2);
  const r = await timeCalls(k.measure, { number: 1e6, repeat: 3, budgetMs: 10_000 });
  assert.equal(r.number, 1e6);
  assert.deepEqual(r.results, [1e-6, 1e-6, 1e-6]);
  assert.ok(k.spent() <= 10, `${k.spent()} s measured`);
});
