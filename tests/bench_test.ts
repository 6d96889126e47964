/**
 * The bench module's arithmetic and bookkeeping, against hand-computed values: the statistics,
 * the roofline, the result schema (a damaged file must name the damaged field), the comparison
 * of two runs, and a suite run end to end on plain functions — interleaving, skips, failures,
 * checks, ratios. Nothing here asserts on how long anything took.
 */
import assert from "node:assert/strict";
import { bench, TesseraError } from "../mod.ts";
import type { CaseResult, Peer, ResultRecord, Workload } from "../mod.ts";
import { reference } from "../lib/bench/workload.ts";
import { formatTable } from "../lib/bench/report.ts";
import { openblasOverride, parseCpuinfo, widestVector } from "../lib/bench/cpu.ts";

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

Deno.test("cpuinfo: the widest vector unit and the OpenBLAS core type that uses it", () => {
  const zen5 = parseCpuinfo(
    "processor\t: 0\nflags\t\t: fpu sse avx avx2 fma avx512f avx512dq avx512bw avx512vl\n" +
      "cache size\t: 1024 KB\n\nprocessor\t: 1\nflags\t\t: fpu\n",
  );
  assert.equal(widestVector(zen5.flags), "avx512");
  assert.equal(zen5.l2KiB, 1024);
  const zen3 = parseCpuinfo("flags\t\t: fpu sse avx avx2 fma\ncache size\t: 512 KB\n");
  assert.equal(widestVector(zen3.flags), "avx2");
  assert.equal(widestVector(parseCpuinfo("flags : avx512f avx2 fma\n").flags), "avx2");
  assert.equal(widestVector(parseCpuinfo("").flags), "other");

  const forced = { OPENBLAS_CORETYPE: "Haswell", OPENBLAS_L2_SIZE: "512" };
  // Core type and L2 size change together, the L2 size to the CPU's own.
  assert.deepEqual(
    { ...openblasOverride(forced, zen5), why: "" },
    { OPENBLAS_CORETYPE: "SkylakeX", OPENBLAS_L2_SIZE: "1024", why: "" },
  );
  assert.match(openblasOverride(forced, zen5)!.why, /forces OPENBLAS_CORETYPE=Haswell/);
  // Where the CPU does not say its L2 size, the forced one is dropped, not kept.
  assert.equal(openblasOverride(forced, { flags: zen5.flags })!.OPENBLAS_L2_SIZE, null);
  // Nothing lesser forced: left alone (unset means OpenBLAS detects the CPU itself).
  assert.equal(openblasOverride({ OPENBLAS_CORETYPE: "skylakex" }, zen5), null);
  assert.equal(openblasOverride({}, zen5), null);
  assert.equal(openblasOverride(forced, zen3), null);
  assert.equal(
    openblasOverride({ OPENBLAS_CORETYPE: "Prescott" }, zen3)!.OPENBLAS_CORETYPE,
    "Haswell",
  );
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
  assert.deepEqual(by("wrong").check, { ok: false, error: 0.5, tolerance: 1e-3 });
  assert.deepEqual(by("fast").check, { ok: true, error: 0, tolerance: 1e-3 });
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

Deno.test("a peer that times itself gives the samples, and its description reaches the record", async () => {
  // run() stands for a round trip through a pipe; time() for the timing taken on the far side.
  let runs = 0;
  const peer: Peer = {
    name: "self-timed",
    device: "cpu",
    available: () => Promise.resolve(null),
    supports: () => null,
    describe: () => Promise.resolve({ core: "TestCore", threads: 3 }),
    prepare(w: Workload, inputs: Float32Array[]) {
      const want = reference(w, inputs);
      return Promise.resolve({
        run: () => void runs++,
        time: (calls: number) => Promise.resolve(calls * 0.25),
        result: () => Promise.resolve(want),
        dispose() {},
      });
    },
  };
  const suite = bench.suite("self-timed", { progress: false, warmup: 0, minSampleMs: 0 });
  suite.addPeer(peer, { op: "elementwise", len: 8 });
  const r = await suite.run({ repeats: 3 });
  const c = r.cases[0];
  assert.equal(c.status, "ok", c.reason);
  assert.deepEqual(c.samples, [0.25, 0.25, 0.25]);
  assert.equal(c.check?.ok, true);
  assert.deepEqual(r.record.env.peers, { "self-timed": { core: "TestCore", threads: 3 } });
  assert.match(bench.describeEnv(r.record.env), /self-timed: TestCore core, 3 threads/);
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

Deno.test("a check that gives no finite error >= 0 is a WRONG row, and every report is written", async () => {
  const { maxRelError } = bench.workloads;
  const checks: Record<string, () => unknown> = {
    "NaN": () => NaN,
    "a NaN in the result": () => maxRelError(Float32Array.of(1, NaN), Float32Array.of(1, 2)),
    "a length mismatch": () => maxRelError(new Float32Array(3), new Float32Array(4)),
    "false": () => false,
    "-5": () => -5,
    "true": () => true,
    "undefined": () => undefined,
    "a promise of NaN": () => Promise.resolve(NaN),
  };
  const suite = bench.suite("checks", { progress: false, warmup: 0, minSampleMs: 0 });
  suite.add({ name: "right", fn: () => {}, check: () => 0 });
  for (const [name, check] of Object.entries(checks)) {
    suite.add({ name, fn: () => {}, check: check as () => number });
  }
  const result = await suite.run({ repeats: 2 });
  assert.deepEqual(result.get("right")!.check, { ok: true, error: 0, tolerance: 1e-3 });
  for (const name of Object.keys(checks)) {
    const c = result.get(name)!;
    assert.equal(c.status, "ok", `${name}: ${c.reason}`);
    assert.equal(c.check?.ok, false, `${name} must not pass`);
    assert.match(c.check!.reason!, /check returned .*the largest relative error/, name);
  }
  const table = result.table();
  assert.equal(table.match(/WRONG/g)?.length, Object.keys(checks).length, table);
  const dir = await Deno.makeTempDir();
  try {
    await result.save(`${dir}/r.json`);
    const back = await bench.readResult(`${dir}/r.json`);
    assert.equal(back.cases.filter((c) => c.check?.ok === false).length, 8);
    assert.equal(result.markdown().match(/WRONG/g)?.length, 8);
    assert.equal((await result.html()).match(/WRONG/g)?.length, 8);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a case returning a thenable is awaited like a promise", async () => {
  let pending = 0, overlapped = 0, calls = 0;
  const thenable = () => {
    if (pending > 0) overlapped++;
    pending++;
    calls++;
    return { then: (done: () => void) => setTimeout(() => (pending--, done()), 0) };
  };
  const suite = bench.suite("thenables", { progress: false, warmup: 1, minSampleMs: 0 });
  suite.add({ name: "t", fn: thenable, setup: thenable, teardown: thenable });
  const result = await suite.run({ repeats: 3 });
  assert.equal(result.get("t")!.status, "ok");
  assert.ok(calls >= 6, `${calls} calls`);
  assert.equal(overlapped, 0, "a call started before the previous thenable resolved");
  assert.equal(pending, 0);
});

Deno.test("a result whose numbers contradict its samples is refused, naming the field", async () => {
  const good = await record([
    caseOf("base", [1e-3, 2e-3, 3e-3], {
      baseline: true,
      ratio: { vs: "base", median: 1, q1: 1, q3: 1 },
      flops: 1e6,
      gflops: 1e6 / 2e-3 / 1e9,
    }),
    caseOf("peer", [2e-3, 4e-3, 6e-3], { ratio: { vs: "base", median: 0.5, q1: 0.5, q3: 0.5 } }),
  ]);
  bench.parseResult(good);
  const damages: [string, (r: ResultRecord) => void, RegExp][] = [
    [
      "median",
      (r) => (r.cases[0].stats!.median = 1.5e-3),
      /cases\[0\]\.stats\.median: is 0\.0015, but the samples give 0\.002/,
    ],
    ["n", (r) => (r.cases[1].stats!.n = 5), /cases\[1\]\.stats\.n/],
    ["a sample", (r) => (r.cases[1].samples[0] = 1e-3), /cases\[1\]\.stats\.min/],
    ["outliers", (r) => (r.cases[0].stats!.outliers.high = [3e-3]), /cases\[0\]\.stats\.outliers/],
    ["gflops", (r) => (r.cases[0].gflops = 100), /cases\[0\]\.gflops/],
    ["ratio", (r) => (r.cases[1].ratio!.median = 2), /cases\[1\]\.ratio\.median/],
    ["ratio vs", (r) => (r.cases[1].ratio!.vs = "nobody"), /cases\[1\]\.ratio\.vs/],
    [
      "check",
      (r) => (r.cases[1].check = { ok: true, error: 0.5, tolerance: 1e-3 }),
      /cases\[1\]\.check\.ok/,
    ],
    ["check with no error", (r) => (r.cases[1].check = { ok: true }), /cases\[1\]\.check\.error/],
  ];
  for (const [what, damage, re] of damages) {
    const bad = structuredClone(good);
    damage(bad);
    assert.throws(() => bench.parseResult(bad), (e: Error) => {
      assert.ok(e instanceof TesseraError, `${what}: ${e}`);
      assert.match(e.message, re, what);
      return true;
    }, what);
  }
});

Deno.test("a (group, name) pair twice in a result is refused, also by compare", async () => {
  const dup = await record([caseOf("a", [1]), caseOf("b", [2]), caseOf("a", [3])]);
  assert.throws(
    () => bench.parseResult(dup),
    /cases\[2\]\.name: "a" in group "g" is already cases\[0\]/,
  );
  const good = await record([caseOf("a", [1])]);
  assert.throws(() => bench.compare(good, dup), TesseraError);
  assert.throws(() => bench.formatCompare(dup, good), TesseraError);
  // The same name in another group is another case.
  bench.parseResult(await record([caseOf("a", [1]), caseOf("a", [1], { group: "h" })]));
});

Deno.test("a result file that starts with a byte-order mark is read", async () => {
  const r = await record([caseOf("a", [1e-3])]);
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, "\uFEFF" + JSON.stringify(r));
    assert.deepEqual(await bench.readResult(path), r);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("names reach the Markdown report as text, never as HTML", async () => {
  const r = await record([
    caseOf("<img src=x onerror=alert(1)>", [1e-3], { group: "<b>g</b> & co" }),
    caseOf("a|b\nc", [1e-3], { group: "<b>g</b> & co" }),
  ]);
  r.suite = "<script>alert(2)</script>";
  const md = new bench.Result(r).markdown();
  assert.doesNotMatch(md, /<img|<b>|<script/);
  assert.match(md, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(md, /\*\*&lt;b&gt;g&lt;\/b&gt; &amp; co\*\*/);
  assert.match(md, /\| a\\\|b c \|/, "a pipe is escaped and a newline does not break the row");
  assert.doesNotMatch(await new bench.Result(r).html(), /<img|<b>|<script>alert/);
});

Deno.test("the roofline measurement reports its progress instead of going quiet", async () => {
  const suite = bench.suite("roofline progress", { warmup: 0, minSampleMs: 0 });
  suite.add({ name: "noop", device: "cpu", fn: () => {}, flops: 1 });
  let out = "";
  const result = await suite.run({
    repeats: 1,
    roofline: "quick",
    progress: { mode: "tty", write: (s: string) => (out += s), minIntervalMs: 0 },
  });
  assert.ok(result.record.roofline?.cpu, "the record keeps the measured roof");
  const frames = out.split("\r\x1b[2K").filter((s) => s.length > 0);
  const at = (re: RegExp) => frames.findIndex((f) => re.test(f));
  assert.ok(at(/cpu roofline: compute peak/) >= 0, out);
  assert.ok(at(/cpu roofline: memory bandwidth/) > at(/cpu roofline: compute peak/), out);
});

Deno.test("after each settle pause, untimed calls run for warmMs before the sample", async () => {
  // Each call takes at least 3 ms (more when the machine is busy): 12 ms of warm calls are 2 to 4.
  for (const [warmMs, least, most] of [[0, 1, 1], [12, 2, 4]] as const) {
    let calls = 0;
    const suite = bench.suite("warm");
    suite.add({
      name: "busy 3 ms",
      fn: () => {
        calls++;
        for (const end = performance.now() + 3; performance.now() < end;);
      },
    });
    const result = await suite.run({ repeats: 3, warmup: 0, settleMs: 1, warmMs, progress: false });
    // Per round: the untimed calls, then one timed call; plus one calibration call.
    const perRound = (calls - 1) / 3 - 1;
    assert.ok(perRound >= least && perRound <= most, `warmMs ${warmMs}: ${perRound} a round`);
    assert.equal(result.record.options.warmMs, warmMs);
  }
});

Deno.test("where V8 exposes gc, each settle pause starts with a full collection, and only then", async () => {
  // So that no case pays for the garbage of the cases before it.
  const g = globalThis as { gc?: () => void };
  const had = g.gc;
  const log: string[] = [];
  g.gc = () => log.push("gc");
  try {
    for (const settleMs of [1, 0]) {
      log.length = 0;
      const suite = bench.suite("gc").add({ name: "a", fn: () => log.push("a") })
        .add({ name: "b", fn: () => log.push("b") });
      await suite.run({ repeats: 2, warmup: 0, settleMs, warmMs: 0, progress: false });
      const gcs = log.filter((x) => x === "gc").length;
      assert.equal(gcs, settleMs > 0 ? 4 : 0, `settleMs ${settleMs}: ${log.join(" ")}`);
      // Each collection is followed by the next case's calls, never in the middle of a sample.
      log.forEach((x, i) => {
        if (x === "gc") assert.notEqual(log[i + 1], "gc");
      });
    }
  } finally {
    if (had) g.gc = had;
    else delete g.gc;
  }
});
