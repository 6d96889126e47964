/**
 * The timer's arithmetic, on a fake clock so that nothing depends on this machine's speed:
 * one warm-up call, `number` grown until one measurement reaches `minRepeatMs`, `repeat`
 * measurements of `number` calls each, and the statistics and GFLOP/s derived from them.
 */
import assert from "node:assert/strict";
import { median, timeCalls } from "../lib/runtime/timing.ts";

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
