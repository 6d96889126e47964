/**
 * The search end to end, on small sizes (speed is never asserted, only that the search
 * measures, checks and records): a 20-trial run on C killed with SIGKILL midway resumes
 * from its records and reaches the same best as a finished run reports; a 20-trial run on
 * WebGPU (llvmpipe here) writes its records; a build from the records equals the float64
 * reference on both. A candidate that crashes or hangs its measuring process costs one
 * trial: its record is an error and the search goes on. A records file with nothing for
 * the program falls back to the default schedule and says so.
 */
import assert from "node:assert/strict";
import { nd, te } from "../mod.ts";
import { warnings } from "../lib/warn.ts";
import {
  inputShapes,
  inputsOf,
  maxRelError,
  outputShape,
  reference,
  TOLERANCE,
  type Workload,
} from "../lib/bench/workload.ts";
import { definition } from "../lib/tune/workloads.ts";
import { tuneModule, tuneWorkload } from "../lib/tune/search.ts";
import { Measurer } from "../lib/tune/measure.ts";
import { defaultFacts } from "../lib/tune/default.ts";
import { defaultCandidate, sample } from "../lib/tune/space.ts";
import { seededRandom } from "../lib/tune/decisions.ts";
import { best, costOf, pooledTraces, readRecords } from "../lib/tune/records.ts";
import { DeviceArray } from "../lib/runtime/device_array.ts";
import { applyTrace, recording } from "../lib/tune/trace.ts";
import { SMALL_MATMUL, TEST_TUNING } from "./fixtures/tune_task.ts";
import { useTestCache } from "./c_util.ts";
import { median } from "../lib/bench/stats.ts";

useTestCache();
const FIXTURES = new URL("./fixtures/", import.meta.url);

function captureWarnings(): { list: string[]; restore: () => void } {
  const list: string[] = [];
  const old = warnings.sink;
  warnings.sink = (m) => list.push(m);
  return { list, restore: () => (warnings.sink = old) };
}

/** Builds the workload from the records and checks it against the float64 reference. */
async function buildFromRecords(w: Workload, target: "c" | "webgpu", records: string) {
  const args = definition(w);
  const f = await te.build(args[args.length - 1], args, { target, records, name: "tuned" });
  const inputs = inputsOf(w);
  const shapes = inputShapes(w);
  const host = inputs.map((x, i) => nd.array(x, shapes[i]));
  const out = nd.empty(outputShape(w));
  if (target === "webgpu") {
    const o = await DeviceArray.empty(outputShape(w), "float32");
    await f(...await Promise.all(host.map((a) => a.to("webgpu"))), o);
    out.data.set((await o.toHost()).data as Float32Array);
  } else await f(...host, out);
  assert.ok(maxRelError(out.data as Float32Array, reference(w, inputs)) <= TOLERANCE);
  return f;
}

async function lineCount(path: string): Promise<number> {
  try {
    return (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim()).length;
  } catch {
    return 0;
  }
}

Deno.test("C: a 20-trial run killed with SIGKILL midway resumes from its records to the same best", async () => {
  const dir = await Deno.makeTempDir();
  const records = `${dir}/records.jsonl`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL("tune_run.ts", FIXTURES).pathname, records, "20"],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const deadline = Date.now() + 120_000;
  while ((await lineCount(records)) < 6 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  await child.status;
  await child.stderr.cancel();
  const before = await lineCount(records);
  assert.ok(before >= 6 && before < 20, `killed after ${before} records`);

  const caught = captureWarnings();
  let resumed;
  try {
    resumed = await tuneWorkload(SMALL_MATMUL, { ...TEST_TUNING, records, trials: 20 });
  } finally {
    caught.restore();
  }
  // Only a torn last line may be lost: at most the candidate in flight.
  assert.ok(caught.list.every((m) => /torn last line/.test(m)), caught.list.join("\n"));
  assert.equal(resumed.total, 20);
  assert.ok(resumed.measured <= 20 - before + 1, `resumed measured ${resumed.measured}`);
  const { records: recs } = await readRecords(records);
  // 20 candidates, and the seed and the four fastest measured twice more at the end.
  assert.equal(new Set(recs.map((r) => JSON.stringify(r.trace))).size, 20);
  assert.ok(recs.every((r) => r.error !== undefined || r.costs.length === 2));
  const pooled = pooledTraces(recs, resumed.workload, resumed.target);
  const confirmed = pooled.filter((p) => p.runs === 3);
  assert.ok(confirmed.length >= 4 && confirmed.length <= 5, `${confirmed.length} confirmed`);
  assert.ok(pooled.every((p) => p.runs === 1 || p.runs === 3));
  assert.equal(recs.length, 20 + 2 * confirmed.length);
  // The best is the fastest of the confirmed, on all three of its measurements.
  const fastest = Math.min(...confirmed.map((p) => p.cost));
  assert.ok(resumed.best && resumed.best.cost === fastest);
  assert.equal(costOf(best(recs, resumed.workload, resumed.target)!), fastest);
  // Never worse than the seed (the default schedule is measured first).
  assert.ok(resumed.seedCost !== null && resumed.best.cost <= resumed.seedCost);

  // A rerun measures nothing and reports the same best.
  const again = await tuneWorkload(SMALL_MATMUL, { ...TEST_TUNING, records, trials: 20 });
  assert.equal(again.measured, 0);
  assert.deepEqual(again.best?.trace, resumed.best.trace);
  // The build applies that record, and it is correct.
  const f = await buildFromRecords(SMALL_MATMUL, "c", records);
  const args = definition(SMALL_MATMUL);
  const s = applyTrace(te.createSchedule(args[args.length - 1]), resumed.best.trace);
  assert.equal(String(f.func), String(te.lower(s, args, { name: "tuned" })));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("WebGPU: a 20-trial run writes its records and the build from them is correct", async () => {
  const dir = await Deno.makeTempDir();
  const records = `${dir}/records.jsonl`;
  const w: Workload = { op: "conv2d", n: 1, c: 4, h: 8, w: 8, k: 8, r: 3, stride: 1, pad: 1 };
  const r = await tuneWorkload(w, { ...TEST_TUNING, target: "webgpu", records, trials: 20 });
  const { records: recs, warnings: bad } = await readRecords(records);
  assert.deepEqual(bad, []);
  assert.equal(new Set(recs.map((x) => JSON.stringify(x.trace))).size, 20);
  assert.ok(recs.length <= 30, "20 candidates, and at most 5 confirmed twice");
  assert.equal(r.total, 20);
  assert.ok(recs.every((x) => x.target.startsWith("webgpu-") && x.workload === r.workload));
  assert.ok(recs.filter((x) => costOf(x) < Infinity).length >= 10, "most candidates ran");
  assert.ok(r.best && r.seedCost !== null && r.best.cost <= r.seedCost);
  await buildFromRecords(w, "webgpu", records);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("preparing a task may take longer than a candidate's timeout, up to prepareMs", async () => {
  const args = definition(SMALL_MATMUL);
  const space = { outputs: [args[args.length - 1]], target: "c", facts: await defaultFacts() };
  const trace = defaultCandidate(space).trace;
  Deno.env.set("TUNE_FAKE_PREPARE_MS", "6000");
  try {
    for (const [prepareMs, ok] of [[12_000, true], [1, false]] as const) {
      const m = new Measurer(
        { workload: SMALL_MATMUL, target: "c", repeat: 2, minRepeatMs: 1 },
        { timeoutMs: 4_000, prepareMs, worker: new URL("tune_fake_worker.ts", FIXTURES).pathname },
      );
      try {
        const [r] = await m.measure([trace]);
        if (ok) assert.equal(r.costs.length, 2, r.error);
        else assert.match(r.error ?? "", /timeout/);
      } finally {
        await m.close();
      }
    }
  } finally {
    Deno.env.delete("TUNE_FAKE_PREPARE_MS");
  }
});

Deno.test("a candidate that crashes or hangs its measuring process costs one trial", async () => {
  const facts = await defaultFacts();
  const args = definition(SMALL_MATMUL);
  const space = { outputs: [args[args.length - 1]], target: "c", facts };
  const random = seededRandom(3);
  const traces = [defaultCandidate(space).trace];
  while (traces.length < 4) {
    const t = sample(space, random).trace;
    if (!traces.some((x) => JSON.stringify(x) === JSON.stringify(t))) traces.push(t);
  }
  Deno.env.set("TUNE_FAKE_CRASH", JSON.stringify(traces[1]));
  Deno.env.set("TUNE_FAKE_HANG", JSON.stringify(traces[2]));
  const m = new Measurer(
    { workload: SMALL_MATMUL, target: "c", repeat: 2, minRepeatMs: 1 },
    { timeoutMs: 8_000, worker: new URL("tune_fake_worker.ts", FIXTURES).pathname },
  );
  const seen: number[] = [];
  let results;
  try {
    results = await m.measure(traces, (i) => void seen.push(i));
  } finally {
    await m.close();
  }
  assert.equal(seen.length, 4);
  assert.match(results[1].error ?? "", /crash: .*SIGSEGV/);
  assert.match(results[2].error ?? "", /timeout/);
  for (const i of [0, 3]) assert.equal(results[i].costs.length, 2, results[i].error);

  // In a search: every candidate with a parallel loop crashes; the others are measured.
  Deno.env.set("TUNE_FAKE_CRASH", '"p":"parallel"');
  Deno.env.delete("TUNE_FAKE_HANG");
  const dir = await Deno.makeTempDir();
  const records = `${dir}/records.jsonl`;
  try {
    const r = await tuneWorkload(SMALL_MATMUL, {
      ...TEST_TUNING,
      records,
      trials: 8,
      worker: new URL("tune_fake_worker.ts", FIXTURES).pathname,
    });
    const { records: recs } = await readRecords(records);
    assert.equal(new Set(recs.map((x) => JSON.stringify(x.trace))).size, 8);
    const crashed = recs.filter((x) => x.error?.startsWith("crash"));
    assert.ok(crashed.length >= 1, "no candidate crashed");
    assert.ok(crashed.every((x) => JSON.stringify(x.trace).includes('"p":"parallel"')));
    assert.equal(r.errors, recs.filter((x) => x.error !== undefined).length);
    assert.ok(r.best && !JSON.stringify(r.best.trace).includes('"p":"parallel"'));
  } finally {
    Deno.env.delete("TUNE_FAKE_CRASH");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("te.build with records that have nothing for the program uses the default schedule and says so", async () => {
  const dir = await Deno.makeTempDir();
  const records = `${dir}/records.jsonl`;
  await Deno.writeTextFile(records, '{"format":"tessera-tune","version":1,"workl\n');
  const caught = captureWarnings();
  try {
    const f = await buildFromRecords(SMALL_MATMUL, "c", records);
    assert.ok(caught.list.some((m) => /not JSON|torn/.test(m)), caught.list.join("\n"));
    assert.ok(caught.list.some((m) => /no record .* default schedule/.test(m)));
    const args = definition(SMALL_MATMUL);
    const d = await te.build(args[args.length - 1], args, {
      target: "c",
      schedule: "auto",
      name: "tuned",
    });
    assert.equal(String(f.func), String(d.func));
  } finally {
    caught.restore();
    await Deno.remove(dir, { recursive: true });
  }
  await assert.rejects(
    () => te.build(definition(SMALL_MATMUL)[2], definition(SMALL_MATMUL), { records }),
    /records.*machine target/,
  );
});

Deno.test("a rerun over records whose best was never timed twice confirms it, and only then measures nothing", async () => {
  const dir = await Deno.makeTempDir();
  const records = `${dir}/records.jsonl`;
  try {
    const first = await tuneWorkload(SMALL_MATMUL, { ...TEST_TUNING, records, trials: 6 });
    // As an older Tessera left them: each trace measured once.
    const lines = (await Deno.readTextFile(records)).trim().split("\n");
    const seen = new Set<string>();
    const once = lines.filter((l) => {
      const k = JSON.stringify(JSON.parse(l).trace);
      return !seen.has(k) && seen.add(k);
    });
    assert.equal(once.length, 6);
    await Deno.writeTextFile(records, once.join("\n") + "\n");
    const again = await tuneWorkload(SMALL_MATMUL, { ...TEST_TUNING, records, trials: 6 });
    assert.equal(again.measured, 0, "no new candidate");
    const recs = (await readRecords(records)).records;
    assert.ok(recs.length > 6, "the leaders were timed again");
    const top = pooledTraces(recs, first.workload, first.target)
      .find((p) => JSON.stringify(p.trace) === JSON.stringify(again.best?.trace));
    assert.equal(top?.runs, 3);
    const third = await tuneWorkload(SMALL_MATMUL, { ...TEST_TUNING, records, trials: 6 });
    assert.equal((await readRecords(records)).records.length, recs.length);
    assert.deepEqual(third.best?.trace, again.best?.trace);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a hand schedule seeds the search and is never beaten down; neighbouring shapes seed it too", async () => {
  const dir = await Deno.makeTempDir();
  const records = `${dir}/records.jsonl`;
  try {
    await tuneWorkload(SMALL_MATMUL, { ...TEST_TUNING, records, trials: 4 });
    const { records: first } = await readRecords(records);
    const neighbour = first.filter((r) => costOf(r) < Infinity)
      .sort((a, b) => costOf(a) - costOf(b))[0];

    const w: Workload = { op: "matmul", m: 48, n: 32, k: 16 };
    const args = definition(w);
    const C = args[args.length - 1];
    const { schedule, trace: hand } = recording(te.createSchedule(C));
    const [, j] = C.op.axis;
    const [, ji] = schedule.stage(C).split(j, { factor: 8 });
    schedule.stage(C).vectorize(ji);
    const r = await tuneWorkload(w, { ...TEST_TUNING, records, trials: 4, hand });
    const mine = (await readRecords(records)).records.filter((x) => x.workload === r.workload);
    assert.equal(new Set(mine.map((x) => JSON.stringify(x.trace))).size, 4);
    assert.deepEqual(mine[0].trace, hand, "the hand schedule is measured first");
    const handCosts = mine.filter((x) => JSON.stringify(x.trace) === JSON.stringify(hand));
    assert.equal(r.seedCost, median(handCosts.flatMap((x) => x.costs)));
    assert.ok(r.best && r.best.cost <= r.seedCost!);
    // The neighbour's best decisions, replayed on this shape, were measured.
    assert.ok(
      mine.some((x) => JSON.stringify(x.decisions) === JSON.stringify(neighbour.decisions)),
      JSON.stringify(neighbour.decisions),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task tune: tunes a standard workload by name into the records; a bad name lists them", async () => {
  const dir = await Deno.makeTempDir();
  const records = `${dir}/records.jsonl`;
  const cli = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        new URL("../bench/tune.ts", import.meta.url).pathname,
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
  try {
    const ok = await cli("elementwise", "--quick", "--trials", "3", "--records", records);
    const out = new TextDecoder().decode(ok.stdout);
    assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
    assert.match(out, /elementwise 4096 on c: 3 trials, 0 failed/);
    assert.match(out, /best [\d.]+ ms/);
    const recs = (await readRecords(records)).records;
    assert.equal(new Set(recs.map((x) => JSON.stringify(x.trace))).size, 3);
    const bad = await cli("matmull", "--records", records);
    assert.equal(bad.code, 2);
    const said = new TextDecoder().decode(bad.stderr);
    assert.match(said, /no standard workload 'matmull'/);
    assert.match(said, /matmul 1024x1024x1024/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tune refuses bad options and a hand schedule that does not replay, before measuring", async () => {
  const bad = [
    [{ records: "" }, /records must be a file path/],
    [{ records: "x.jsonl", trials: 0 }, /trials must be an integer >= 1/],
    [{ records: "x.jsonl", target: "cuda" }, /target must be "c" or "webgpu"/],
    [{ records: "x.jsonl", epsilon: 2 }, /epsilon must be a number in \[0, 1\]/],
    [
      { records: "x.jsonl", hand: [{ p: "split", s: 9, a: 0, factor: 2 }] },
      /hand schedule does not replay onto matmul 24x32x16/,
    ],
  ] as const;
  for (const [opts, message] of bad) {
    await assert.rejects(
      () => tuneWorkload(SMALL_MATMUL, { ...TEST_TUNING, ...opts } as never),
      (e: Error) => e.name === "TesseraError" && message.test(e.message),
    );
  }
  const workloads = [
    [{ op: "fft", n: 8 }, /'fft' is not a standard workload; one of matmul/],
    [{ op: "matmul", m: 0, n: 8, k: 8 }, /m = 0 is not valid; expected an integer >= 1/],
  ] as const;
  for (const [w, message] of workloads) {
    await assert.rejects(
      () => tuneWorkload(w as never, { ...TEST_TUNING, records: "x.jsonl" }),
      (e: Error) => e.name === "TesseraError" && message.test(e.message),
    );
  }
});

Deno.test("a program in a module is tuned, checked against the interpreter, and built from its records", async () => {
  const dir = await Deno.makeTempDir();
  const records = `${dir}/records.jsonl`;
  const path = new URL("tune_module_task.ts", FIXTURES).pathname;
  try {
    const r = await tuneModule(path, { ...TEST_TUNING, records, trials: 6 });
    const { records: recs } = await readRecords(records);
    assert.equal(new Set(recs.map((x) => JSON.stringify(x.trace))).size, 6);
    assert.ok(recs.every((x) => x.task?.module === path && x.workload === r.workload));
    assert.ok(recs.filter((x) => costOf(x) < Infinity).length >= 3, "most candidates ran");
    assert.ok(r.best && r.best.gflops === null);
    // The same program built anew from the records equals the interpreter.
    const { task } = await import(path);
    const { args } = task();
    const [A, B, bias, Y] = args;
    const f = await te.build(Y, args, { target: "c", records });
    const g = await te.build(te.createSchedule(Y), args, { target: "interpreter" });
    const data = [A, B, bias].map((t, n) =>
      nd.array(
        Float32Array.from(
          { length: t.shape.reduce((p: number, e: { value: number }) => p * e.value, 1) },
          (_, i) => Math.sin(i + n),
        ),
        t.shape.map((e: { value: number }) => e.value),
      )
    );
    const got = nd.empty([16, 20]), want = nd.empty([16, 20]);
    await f(...data, got);
    await g(...data, want);
    assert.ok(maxRelError(got.data as Float32Array, want.data as Float32Array) <= 1e-5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await assert.rejects(
    () => tuneModule(new URL("tune_task.ts", FIXTURES).pathname, { ...TEST_TUNING, records }),
    /must export task = \{ args: \[inputs\.\.\., outputs\.\.\.\] \}/,
  );
});

Deno.test("a kernel whose output is wrong is never timed, and a segfaulting extern costs one trial each", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const kind of ["wrong", "segfault"]) {
      const path = new URL(`tune_extern_task.ts?kind=${kind}`, FIXTURES).href;
      const records = `${dir}/${kind}.jsonl`;
      const r = await tuneModule(path, { ...TEST_TUNING, records, trials: 3 });
      const { records: recs } = await readRecords(records);
      assert.equal(recs.length, 3);
      assert.equal(r.errors, 3);
      assert.equal(r.best, null);
      for (const x of recs) {
        assert.deepEqual(x.costs, []);
        assert.match(
          x.error ?? "",
          kind === "wrong" ? /^run: wrong result: output 0/ : /^crash: .*SIGSEGV/,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
