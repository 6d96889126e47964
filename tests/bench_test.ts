/**
 * The bench module's arithmetic and bookkeeping, against hand-computed values: the statistics,
 * the roofline, the result schema (a damaged file must name the damaged field), the comparison
 * of two runs, and a suite run end to end on plain functions — interleaving, skips, failures,
 * checks, ratios. Nothing here asserts on how long anything took.
 */
import assert from "node:assert/strict";
import { bench, TesseraError } from "../mod.ts";
import type { CaseResult, ResultRecord } from "../mod.ts";
import { formatTable } from "../lib/bench/report.ts";

Deno.test("summarize: quartiles by interpolation, Tukey outliers reported", () => {
  const s = bench.summarize([3, 1, 100, 2, 4]);
  assert.equal(s.n, 5);
  assert.equal(s.min, 1);
  assert.equal(s.max, 100);
  assert.equal(s.mean, 22);
  assert.equal(s.median, 3);
  // sorted 1 2 3 4 100: q1 at position 1, q3 at position 3
  assert.equal(s.q1, 2);
  assert.equal(s.q3, 4);
  assert.equal(s.iqr, 2);
  // fences: 2 - 3 = -1 and 4 + 3 = 7
  assert.deepEqual(s.outliers, { low: [], high: [100] });
});

Deno.test("quantile interpolates between order statistics", () => {
  // positions (4 - 1) * p: 0.75 -> 10 + 0.75 * 10; 1.5 -> 20 + 0.5 * 10
  assert.equal(bench.quantile([10, 20, 30, 40], 0.25), 17.5);
  assert.equal(bench.quantile([10, 20, 30, 40], 0.5), 25);
  assert.equal(bench.quantile([10, 20, 30, 40], 1), 40);
  assert.equal(bench.quantile([7], 0.25), 7);
  assert.ok(Number.isNaN(bench.quantile([], 0.5)));
  const s = bench.summarize([1, 2, 3, 4, 5, 6, 7, 8, -40]);
  assert.deepEqual(s.outliers, { low: [-40], high: [] });
});

Deno.test("pairedRatio takes per-round ratios", () => {
  // rounds: 2/1, 4/2, 9/3 -> 2, 2, 3
  const r = bench.pairedRatio([2, 4, 9], [1, 2, 3]);
  assert.deepEqual(r, { median: 2, q1: 2, q3: 2.5 });
});

Deno.test("roofline arithmetic", () => {
  const peak = { gflops: 100, gbs: 20 };
  assert.equal(bench.ridge(peak), 5);
  assert.equal(bench.attainable(peak, 1), 20);
  assert.equal(bench.attainable(peak, 5), 100);
  assert.equal(bench.attainable(peak, 50), 100);
  // 2e9 FLOPs over 1e9 bytes (intensity 2) in 0.1 s: 20 GFLOP/s of an attainable 40
  const p = bench.placeOnRoofline(peak, 2e9, 1e9, 0.1);
  assert.equal(p.intensity, 2);
  assert.ok(Math.abs(p.gflops - 20) < 1e-9);
  assert.equal(p.attainable, 40);
  assert.ok(Math.abs(p.fraction - 0.5) < 1e-9);
  assert.equal(p.bound, "memory");
  assert.equal(bench.placeOnRoofline(peak, 1e10, 1e8, 1).bound, "compute");
});

function caseOf(name: string, samples: number[], extra: Partial<CaseResult> = {}): CaseResult {
  return {
    group: "g",
    name,
    status: "ok",
    samples,
    stats: bench.summarize(samples),
    ...extra,
  };
}

async function record(cases: CaseResult[]): Promise<ResultRecord> {
  return {
    format: "tessera-bench",
    version: 1,
    suite: "synthetic",
    env: await bench.collectEnv({ webgpu: false }),
    options: {},
    cases,
  };
}

Deno.test("a valid result round-trips through a file", async () => {
  const r = await record([caseOf("a", [1e-3, 2e-3, 3e-3])]);
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await new bench.Result(r).save(path);
    const back = await bench.readResult(path);
    assert.deepEqual(back, r);
    assert.equal(back.env.cores, navigator.hardwareConcurrency);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("a damaged result names the damaged field", async () => {
  const good = await record([caseOf("a", [1e-3, 2e-3]), caseOf("b", [1e-3])]);
  const damaged = structuredClone(good) as unknown as {
    cases: { stats: { median: unknown } }[];
    env: Record<string, unknown>;
  };
  damaged.cases[1].stats.median = "fast";
  assert.throws(
    () => bench.parseResult(damaged, "run.json"),
    (e: Error) =>
      e instanceof TesseraError && /run\.json/.test(e.message) &&
      /cases\[1\]\.stats\.median/.test(e.message),
  );
  const noCpu = structuredClone(good) as unknown as { env: Record<string, unknown> };
  delete noCpu.env.cpu;
  assert.throws(() => bench.parseResult(noCpu), /env\.cpu/);
  const skippedWithoutReason = structuredClone(good);
  skippedWithoutReason.cases[0].status = "skipped";
  assert.throws(() => bench.parseResult(skippedWithoutReason), /cases\[0\]\.reason/);
  assert.throws(() => bench.parseResult({ ...good, format: "other" }), /format/);

  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const text = JSON.stringify(good);
    await Deno.writeTextFile(path, text.slice(0, text.length / 2));
    await assert.rejects(
      () => bench.readResult(path),
      (e: Error) =>
        e instanceof TesseraError && e.message.includes(path) && /not JSON/.test(e.message),
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("compare marks only changes beyond both runs' interquartile ranges", async () => {
  const before = await record([
    caseOf("faster", [10, 11, 12, 13]),
    caseOf("noisy", [10, 11, 12, 13]),
    caseOf("slower", [1, 1.1, 1.2]),
    caseOf("gone", [1]),
  ]);
  const after = await record([
    caseOf("faster", [5, 5.5, 6, 6.5]),
    caseOf("noisy", [9, 10, 11, 12]),
    caseOf("slower", [2, 2.1, 2.2]),
    caseOf("new", [1]),
  ]);
  const rows = bench.compare(before, after);
  const by = new Map(rows.map((r) => [r.name, r]));
  assert.equal(by.get("faster")!.change, "faster");
  assert.equal(by.get("faster")!.speedup, 11.5 / 5.75);
  assert.equal(by.get("noisy")!.change, "same");
  assert.equal(by.get("slower")!.change, "slower");
  assert.equal(by.get("gone")!.change, "only before");
  assert.equal(by.get("new")!.change, "only after");
  const text = bench.formatCompare(before, after);
  assert.match(text, /faster\s+11500\s+5750\s+2\.00x\s+FASTER/);
  assert.match(text, /noisy.*same/);
});

Deno.test("a suite interleaves its cases and records skips, failures, checks and ratios", async () => {
  const order: string[] = [];
  const spin = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* busy */ }
  };
  const suite = bench.suite("unit", { progress: false, warmup: 0, minSampleMs: 0 });
  suite.add({ name: "slow", fn: () => (order.push("slow"), spin(2)), flops: 1e6, baseline: true });
  suite.add({
    name: "fast",
    fn: () => (order.push("fast"), spin(0.5)),
    flops: 1e6,
    check: () => 0,
  });
  suite.add({
    name: "absent",
    setup: () => {
      throw new bench.Skip("not installed here (install it with apt-get)");
    },
    fn: () => {},
  });
  suite.add({ name: "broken", fn: () => Promise.reject(new Error("boom")) });
  suite.add({ name: "wrong", fn: () => {}, check: () => 0.5, tolerance: 1e-3 });
  suite.add({ name: "other", group: "elsewhere", fn: () => order.push("other") });
  const result = await suite.run({ repeats: 4, filter: /default|elsewhere/ });
  const r = result.record;
  bench.parseResult(r); // the record is a valid result file
  // calibration call, then 4 rounds; slow and fast alternate
  const timed = order.filter((x) => x !== "other").slice(2);
  assert.deepEqual(timed, ["slow", "fast", "slow", "fast", "slow", "fast", "slow", "fast"]);
  const by = (n: string) => result.get(n)!;
  assert.equal(by("slow").samples.length, 4);
  assert.equal(by("absent").status, "skipped");
  assert.match(by("absent").reason!, /not installed/);
  assert.equal(by("broken").status, "failed");
  assert.equal(by("broken").reason, "boom");
  assert.deepEqual(by("wrong").check, { ok: false, error: 0.5 });
  assert.deepEqual(by("fast").check, { ok: true, error: 0 });
  assert.equal(by("slow").ratio!.median, 1);
  assert.ok(by("fast").ratio!.median > 1.5, `fast is ${by("fast").ratio!.median}x slow`);
  assert.equal(by("other").group, "elsewhere");
  assert.equal(by("other").ratio, undefined);
  assert.ok(by("fast").gflops! > 0);
  const table = formatTable(r);
  for (
    const x of ["slow *", "fast", "skipped: not installed", "failed: boom", "WRONG", "elsewhere"]
  ) {
    assert.ok(table.includes(x), `table lacks ${x}:\n${table}`);
  }
  const only = await suite.run({ repeats: 1, filter: "elsewhere" });
  assert.deepEqual(only.cases.map((c) => c.name), ["other"]);
});

Deno.test("bad cases and options are refused with what was expected", () => {
  const suite = bench.suite("refusals", { progress: false });
  assert.throws(() => suite.add({ name: "", fn: () => {} }), /name/);
  assert.throws(() => suite.add({ name: "x" } as never), /fn/);
  suite.add({ name: "x", fn: () => {}, baseline: true });
  assert.throws(() => suite.add({ name: "x", fn: () => {} }), /already in group/);
  assert.throws(() => suite.add({ name: "y", fn: () => {}, baseline: true }), /baseline/);
  assert.throws(() => suite.run({ repeats: 0 }), /repeats/);
  assert.throws(() => suite.run({ repeat: 3 } as never), /repeat/);
});

Deno.test("charts render to SVG: speedup bars and a roofline", async () => {
  const r = await record([
    caseOf("base", [2e-3, 2e-3], {
      baseline: true,
      ratio: { vs: "base", median: 1, q1: 1, q3: 1 },
    }),
    caseOf("peer", [4e-3, 4e-3], {
      ratio: { vs: "base", median: 0.5, q1: 0.5, q3: 0.5 },
      device: "cpu",
      flops: 1e9,
      bytes: 1e8,
    }),
  ]);
  r.roofline = { cpu: { gflops: 100, gbs: 10, method: "test" } };
  assert.deepEqual(bench.speedupRows(r), [{
    group: "g",
    case: "peer",
    baseline: "base",
    speedup: 0.5,
  }]);
  const bars = await bench.svgOf(bench.speedupChartSpec(r));
  assert.match(bars, /^<svg/);
  assert.ok(bars.includes("peer"));
  const roof = await bench.svgOf(bench.rooflineChartSpec(r));
  assert.match(roof, /^<svg/);
  assert.ok(roof.includes("arithmetic intensity"));
  const html = await new bench.Result(r).html();
  assert.equal((html.match(/<svg/g) ?? []).length, 2);
});
