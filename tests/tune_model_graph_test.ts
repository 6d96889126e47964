/**
 * tune.model: a small conv net's fused groups tuned under one 12-trial budget. Every float32
 * task gets its default schedule measured first and the rest of the budget is spent by gain;
 * all records land in one file under the tasks' workload keys; graph.build from them reports
 * "records" for those kernels and equals graph.interpret; a rerun resumes without measuring;
 * candidates are timed cold (after a cache flush) unless coldCache is false.
 * The argmax group (int64 output) is skipped with the reason. No speed is asserted.
 */
import assert from "node:assert/strict";
import { graph, GraphBuilder, nd, TesseraError, tune } from "../mod.ts";
import type { Graph } from "../lib/graph/ir.ts";
import { extractTasks } from "../lib/graph/tasks.ts";
import { groupData, groupDataProgram } from "../lib/graph/groupData.ts";
import { workloadKey } from "../lib/tune/key.ts";
import { best, costOf, pooledTraces } from "../lib/tune/records.ts";
import { estimatedGain } from "../lib/tune/model.ts";
import { useTestCache } from "./c_util.ts";
import { assertClose, data } from "./graph_util.ts";

useTestCache();

/** Conv, BatchNorm, a residual, pooling, a classifier with softmax and argmax; batch "n". */
function model(): Graph {
  const b = new GraphBuilder("tiny_cnn");
  const x = b.input("x", ["n", 3, 8, 8]);
  const p = (name: string, shape: number[], seed: number, pos = false) =>
    b.param(
      name,
      data(shape.reduce((a, c) => a * c, 1), seed).map((v) => pos ? Math.abs(v) + 0.5 : v),
      shape,
    );
  const c1 = b.call("conv2d", [x, p("c1.w", [4, 3, 3, 3], 1)], { pads: [1, 1, 1, 1] });
  const bn = b.call("batchNorm", [
    c1,
    p("bn.g", [4], 2),
    p("bn.b", [4], 3),
    p("bn.m", [4], 4),
    p("bn.v", [4], 5, true),
  ]);
  const r1 = b.call("relu", [bn]);
  const c2 = b.call("conv2d", [r1, p("c2.w", [4, 4, 3, 3], 6), p("c2.b", [4], 7)], {
    pads: [1, 1, 1, 1],
  });
  const r2 = b.call("relu", [b.call("add", [c2, r1])]);
  const pool = b.call("maxPool2d", [r2], { kernel: [2, 2], strides: [2, 2] });
  const flat = b.call("reshape", [pool], { shape: [0, -1] });
  const fc = b.call("add", [b.call("matmul", [flat, p("fc.w", [64, 10], 8)]), p("fc.b", [10], 9)]);
  const clipped = b.call("clip", [fc], { min: -Infinity, max: 2 });
  b.output(b.call("softmax", [clipped]), b.call("argmax", [fc], { axis: 1, keepdims: false }));
  return b.build();
}

Deno.test("a fused group rebuilt from its data has the same workload key; its weights are marked", () => {
  for (const t of extractTasks(model(), { sizes: { n: 2 } })) {
    const data = JSON.parse(JSON.stringify(groupData(t.group)));
    assert.equal(workloadKey(groupDataProgram(data).outputs), t.workload, t.group.name);
    // What the tuner's cold timing evicts (params) and reads back in (activations).
    assert.deepEqual(
      data.inputs.map((x: { param?: boolean }) => x.param === true),
      t.group.inputs.map((v) => v.kind === "param"),
    );
  }
  assert.ok(
    extractTasks(model(), { sizes: { n: 2 } }).some((t) =>
      groupData(t.group).inputs.some((x) => x.param) &&
      groupData(t.group).inputs.some((x) => !x.param)
    ),
  );
});

Deno.test("estimated gain: weight x time, unmeasured first, failed last, improvement counts", () => {
  assert.equal(estimatedGain(1, []), Infinity);
  assert.equal(estimatedGain(3, [{ trial: 1, bestMs: Infinity }]), 0);
  // Forward only (too short a history): count * 0.8 * best / trials.
  assert.ok(Math.abs(estimatedGain(2, [{ trial: 1, bestMs: 5 }]) - 2 * 0.8 * 5) < 1e-12);
  const flat = [4, 4, 4, 4, 4].map((bestMs, i) => ({ trial: i + 1, bestMs }));
  const falling = [8, 7, 6, 5, 4].map((bestMs, i) => ({ trial: i + 1, bestMs }));
  assert.ok(estimatedGain(1, falling) > estimatedGain(1, flat));
  assert.ok(estimatedGain(3, flat) > estimatedGain(1, flat));
});

Deno.test("tune.model: one budget over the tasks, one records file, graph.build uses it", async () => {
  const g = model();
  const dir = await Deno.makeTempDir();
  const records = `${dir}/model.jsonl`;
  try {
    const opts = {
      trials: 12,
      records,
      sizes: { n: 2 },
      progress: false as const,
      repeat: 2,
      minRepeatMs: 1,
    };
    const r = await tune.model(g, opts);
    const tasks = extractTasks(g, { sizes: { n: 2 } });
    assert.deepEqual(r.tasks.map((t) => t.workload), tasks.map((t) => t.workload));
    const skipped = r.tasks.filter((t) => t.skipped);
    assert.deepEqual(skipped.map((t) => t.label), ["fused_argmax"]);
    assert.match(skipped[0].skipped!, /int64.*float32/);
    const tuned = r.tasks.filter((t) => !t.skipped);
    assert.ok(tuned.length >= 3, `${tuned.length} float32 tasks`);
    assert.ok(tuned.every((t) => t.trials >= 1 && t.seedCost !== null && t.bestCost !== null));
    assert.equal(r.trials, 12);
    assert.equal(r.measured, 12);
    assert.equal(tuned.reduce((a, t) => a + t.trials, 0), 12);
    assert.ok(tuned.some((t) => t.trials > 1), "the budget past the seeds went somewhere");
    const lines = (await Deno.readTextFile(records)).trim().split("\n").map((l) => JSON.parse(l));
    // 12 candidates; each task's seed and leaders timed twice more at the end (confirmed).
    assert.equal(new Set(lines.map((l) => JSON.stringify([l.workload, l.trace]))).size, 12);
    for (const t of tuned) {
      const pooled = pooledTraces(lines, t.workload, lines[0].target);
      assert.ok(pooled.every((p) => p.runs === 1 || p.runs === 3), t.label);
      const top = best(lines, t.workload, lines[0].target)!;
      const same = (p: { trace: unknown }) => JSON.stringify(p.trace) === JSON.stringify(top.trace);
      assert.equal(pooled.find(same)!.runs, 3, `${t.label}: its best was confirmed`);
      assert.equal(costOf(top), t.bestCost);
    }
    assert.deepEqual(
      new Set(lines.map((l) => l.workload)),
      new Set(tuned.map((t) => t.workload)),
    );
    // On C a model's candidates are timed cold: single calls after a cache flush, at least 7
    // of them whatever `repeat` says (warm, `repeat` measurements: below).
    assert.ok(lines.every((l) => l.error || l.costs.length === 7), JSON.stringify(lines[0]));

    const exe = await graph.build(g, { target: "c", sizes: { n: 2 }, records });
    for (const k of exe.kernels) {
      const key = workloadKey(graph.groupProgram(k.group).outputs);
      const isTuned = tuned.some((t) => t.workload === key);
      assert.equal(k.schedule, isTuned ? "records" : "default", k.group.name);
    }
    assert.match(exe.summary(), new RegExp(`${exe.kernels.length - 1} from records`));
    const x = nd.array(data(2 * 3 * 64, 10), [2, 3, 8, 8]);
    assertClose(await exe.run([x]), graph.interpret(g, [x]), 1e-4);

    // A rerun resumes from the records: the budget is spent, nothing is measured.
    const again = await tune.model(g, opts);
    assert.equal(again.measured, 0);
    assert.equal(again.trials, 12);
    assert.equal((await Deno.readTextFile(records)).trim().split("\n").length, lines.length);

    const warm = `${dir}/warm.jsonl`;
    await tune.model(g, { ...opts, trials: 2, records: warm, coldCache: false });
    const wl = (await Deno.readTextFile(warm)).trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(wl.every((l) => l.error || l.costs.length === 2), JSON.stringify(wl[0]));
    await assert.rejects(
      () => tune.model(g, { ...opts, records: warm, coldCache: "yes" as unknown as boolean }),
      (e: Error) => e instanceof TesseraError && /coldCache must be true or false/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tune.validateModel keeps a group's records only where they beat its defaults inside the model", async () => {
  const g = model();
  const dir = await Deno.makeTempDir();
  const records = `${dir}/model.jsonl`, out = `${dir}/kept.jsonl`;
  try {
    const common = { sizes: { n: 2 }, progress: false as const };
    await tune.model(g, { ...common, trials: 10, records, repeat: 2, minRepeatMs: 1 });
    const lines = (await Deno.readTextFile(records)).trim().split("\n");
    const v = await tune.validateModel(g, { ...common, records, out, rounds: 2, runs: 3 });
    assert.ok(v.groups.length >= 3, `${v.groups.length} groups from records`);
    for (const x of v.groups) {
      assert.ok(x.count >= 1 && x.defaultMs > 0 && x.recordsMs > 0, JSON.stringify(x));
      assert.equal(x.kept, x.recordsMs <= 0.97 * x.defaultMs, JSON.stringify(x));
    }
    assert.ok(v.defaultMs > 0 && v.recordsMs > 0);
    const kept = (await Deno.readTextFile(out)).split("\n").filter((l) => l);
    assert.equal(kept.length, v.written);
    assert.equal(v.written + v.removed, lines.length);
    const byKey = new Map(v.groups.map((x) => [x.workload, x.kept]));
    for (const l of lines) {
      assert.equal(kept.includes(l), byKey.get(JSON.parse(l).workload) ?? true, l.slice(0, 80));
    }
    // Nothing is 100x faster with its records: every model group's records go.
    const none = await tune.validateModel(g, {
      ...common,
      records,
      out,
      rounds: 1,
      runs: 1,
      margin: 0.99,
    });
    assert.equal(none.written, 0);
    assert.equal((await Deno.readTextFile(out)).trim(), "");
    for (
      const [bad, re] of [
        [{ records, out: records }, /out must be a file path other than records/],
        [{ records, out, rounds: 0 }, /rounds must be an integer >= 1/],
        [{ records, out, margin: 1 }, /margin must be in \[0, 1\)/],
      ] as const
    ) {
      await assert.rejects(
        () => tune.validateModel(g, { ...common, ...bad }),
        (e: Error) => e instanceof TesseraError && re.test(e.message),
      );
    }
    await assert.rejects(
      () => tune.validateModel(g, { records, out, progress: false }),
      (e: Error) => e instanceof TesseraError && /sizes/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tune.model refuses a bad budget or records path before measuring", async () => {
  const g = model();
  await assert.rejects(
    () => tune.model(g, { trials: 0, records: "x.jsonl" }),
    (e) => e instanceof TesseraError && /trials must be an integer >= 1/.test(e.message),
  );
  await assert.rejects(
    () => tune.model(g, { trials: 4, records: "" }),
    (e) => e instanceof TesseraError && /records must be a file path/.test(e.message),
  );
});
