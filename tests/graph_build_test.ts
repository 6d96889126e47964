/**
 * graph.build end to end: the interpreter target and the C target (one library, one call per
 * inference) against the node-by-node interpreter, fused and unfused; tuning records chosen
 * when they match a group; and the mistakes a caller can make, refused before native code.
 */
import assert from "node:assert/strict";
import { graph, GraphBuilder, nd, TesseraError } from "../mod.ts";
import type { Graph } from "../lib/graph/ir.ts";
import { groupProgram } from "../lib/graph/fusedProgram.ts";
import { defaultSchedule } from "../lib/tune/default.ts";
import { targetKey, workloadKey } from "../lib/tune/key.ts";
import { targetFacts } from "../lib/tune/target.ts";
import { RECORD_FORMAT, SPACE_VERSION, type TuneRecord } from "../lib/tune/records.ts";
import { useTestCache } from "./c_util.ts";
import { assertClose, data } from "./graph_util.ts";
import { bertLayer, reseed, resnet18 } from "./graph_models.ts";

useTestCache();

/** A small CNN with BatchNorm, a residual, pooling and a classifier, batch symbolic. */
function model(): Graph {
  const b = new GraphBuilder();
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
  b.output(b.call("softmax", [fc]), b.call("argmax", [fc], { axis: 1, keepdims: false }));
  return b.build();
}

Deno.test("graph.build (interpreter): fused and unfused equal the node-by-node interpreter", async () => {
  const g = model();
  const x = nd.array(data(2 * 3 * 64, 10), [2, 3, 8, 8]);
  const want = graph.interpret(g, [x]);
  const fused = await graph.build(g, { target: "interpreter", sizes: { n: 2 } });
  assertClose(await fused.run([x]), want, 1e-4);
  // "interpret" is the same target.
  const unfused = await graph.build(g, { target: "interpret", sizes: { n: 2 }, fuse: false });
  assert.equal(unfused.target, "interpreter");
  assertClose(await unfused.run({ x }), want, 1e-4);
  assert.ok(fused.kernels.length < unfused.kernels.length);
  await assert.rejects(() => fused.profile([x]), /interpreter target has no per-kernel timer/);
  // BatchNorm folded away by the pipeline.
  assert.ok(!fused.graph.nodes.some((n) => n.op === "batchNorm"));
  assert.match(
    fused.summary(),
    /kernels: \d+ for \d+ fused groups \(0 from records, \d+ default schedules/,
  );
  assert.match(fused.summary(), /arena: .* \(naive .*, max-live bound .*\)/);
  assert.ok(fused.plan.arenaBytes >= fused.plan.maxLiveBytes);
  // Intermediates a kernel keeps at the root (a convolution before its epilogue) are in the
  // arena too, live during their group only.
  const scratch = fused.kernels.flatMap((k) => k.scratch);
  assert.ok(scratch.length > 0);
  for (const v of scratch) {
    const b = fused.plan.buffers.find((q) => q.value === v)!;
    assert.equal(b.start, b.end);
  }
});

Deno.test("graph.build: a reshape of a graph input is a view read with its own shape, on every target", async () => {
  // Found by the fusion property in CI: the interpreter target handed the softmax kernel the
  // input's [1, 1, 2] array for its [1, 2] parameter.
  const b = new GraphBuilder();
  const x = b.input("x", [1, 1, 2]);
  const r = b.call("relu", [x]);
  const soft = b.call("softmax", [b.call("reshape", [x], { shape: [1, 2] })], { axis: 1 });
  b.output(b.call("relu", [soft]), r);
  const g = b.build();
  const inputs = [nd.array(Float32Array.from([0.3, -0.2]), [1, 1, 2])];
  const want = graph.interpret(g, inputs);
  for (const target of ["interpreter", "c"] as const) {
    const exe = await graph.build(g, { target });
    assert.ok(exe.summary().includes("reshape groups as views"), exe.summary());
    assertClose(await exe.run(inputs), want, 1e-6);
  }
});

Deno.test({
  name: "graph.build (c): one library, one call per inference, equal to the interpreter",
  async fn() {
    const g = model();
    const x = nd.array(data(3 * 3 * 64, 11), [3, 3, 8, 8]);
    const want = graph.interpret(g, [x]);
    const exe = await graph.build(g, { target: "c", sizes: { n: 3 } });
    assertClose(await exe.run([x]), want, 1e-4);
    // Run again: the arena is reused, the result the same.
    assertClose(await exe.run([x]), want, 1e-4);
    // One entry per inference, and its twin that times each kernel (exe.profile).
    const entries = exe.code.match(/visibility\("default"\)\)\) int32_t (tsr_model\w*)/g) ?? [];
    assert.deepEqual(entries.map((e) => e.split(" ").pop()), ["tsr_model", "tsr_model_timed"]);
    assert.equal((exe.code.match(/if \(\(s = k_g\d+/g) ?? []).length, 2 * exe.kernels.length);
    const p = await exe.profile([x], { runs: 3 });
    assert.deepEqual(
      p.rows.map((r) => r.kernel).sort(),
      exe.kernels.map((k) => k.func.name).sort(),
    );
    assert.ok(p.rows.every((r) => r.ms >= 0) && p.totalMs > 0, p.table());
    assert.match(p.table(), /sum of \d+ kernels: [\d.]+ ms \(medians of 3 runs\)/);
    await assert.rejects(() => exe.profile([x], { runs: 0 }), /runs must be a positive integer/);
    const unfused = await graph.build(g, { target: "c", sizes: { n: 3 }, fuse: false });
    assertClose(await unfused.run([x]), want, 1e-4);
  },
});

Deno.test({
  name: "graph.build (c): outputs that are inputs, params or repeated are copied",
  async fn() {
    const b = new GraphBuilder();
    const x = b.input("x", [2, 2]);
    const w = b.param("w", Float32Array.of(1, 2, 3, 4), [2, 2]);
    const y = b.call("matmul", [x, w]);
    b.output(y, x, w, y);
    const exe = await graph.build(b.build(), { target: "c" });
    const outs = await exe.run([nd.array([[1, 0], [0, 1]])]);
    assert.deepEqual(outs.map((o) => [...o.toArray()]), [[1, 2, 3, 4], [1, 0, 0, 1], [1, 2, 3, 4], [
      1,
      2,
      3,
      4,
    ]]);
  },
});

Deno.test("graph.build: a matching tuning record is used and reported", async () => {
  const b = new GraphBuilder();
  const x = b.input("x", [16, 32]);
  b.output(b.call("relu", [b.call("matmul", [x, b.param("w", data(32 * 16, 1), [32, 16])])]));
  const g = b.build();
  const exe0 = await graph.build(g, { target: "interpreter" });
  const prog = groupProgram(exe0.kernels[0].group);
  const { trace } = await defaultSchedule(prog.outputs, "c");
  const record: TuneRecord = {
    format: RECORD_FORMAT,
    version: SPACE_VERSION,
    workload: workloadKey(prog.outputs),
    target: targetKey(await targetFacts("c")),
    trace,
    costs: [1e-4],
    time: new Date(0).toISOString(),
  };
  const exe = await graph.build(g, { target: "interpreter", records: [record] });
  assert.deepEqual(exe.kernels.map((k) => k.schedule), ["records"]);
  assert.match(exe.summary(), /1 from records/);
  const input = nd.array(data(16 * 32, 2), [16, 32]);
  assertClose(await exe.run([input]), graph.interpret(g, [input]));
  // A record for another workload is not used.
  const other = await graph.build(g, {
    target: "interpreter",
    records: [{ ...record, workload: "x" }],
  });
  assert.deepEqual(other.kernels.map((k) => k.schedule), ["default"]);
});

Deno.test("graph.build: mistakes are TesseraErrors before anything runs", async () => {
  const g = model();
  await assert.rejects(() => graph.build(g, {}), /symbolic sizes n.*sizes: \{ n: 1 \}/);
  await assert.rejects(
    () => graph.build(g, { target: "cuda" as "c", sizes: { n: 1 } }),
    /target "cuda" is not available/,
  );
  const exe = await graph.build(g, { target: "interpreter", sizes: { n: 1 } });
  await assert.rejects(
    () => exe.run([nd.array(data(2 * 192, 1), [2, 3, 8, 8])]),
    (e: unknown) =>
      e instanceof TesseraError && /input x is \(2, 3, 8, 8\) float32/.test(e.message),
  );
  await assert.rejects(() => exe.run([]), /0 inputs given but graph main takes 1 \(x\)/);
  await assert.rejects(() => exe.run({ y: nd.array([1]) } as never), /input x is missing/);
});

Deno.test("graph.build (webgpu): one submission per inference, equal to the interpreter", async () => {
  const g = model();
  const x = nd.array(data(2 * 3 * 64, 12), [2, 3, 8, 8]);
  // argmax gives int64, which WebGPU refuses: the softmax output alone.
  const b = new GraphBuilder();
  const xi = b.input("x", [2, 3, 8, 8]);
  const w = b.param("w", data(4 * 27, 1), [4, 3, 3, 3]);
  const c = b.call("relu", [b.call("conv2d", [xi, w], { pads: [1, 1, 1, 1] })]);
  const p = b.call("reshape", [b.call("globalAvgPool", [c])], { shape: [2, 4] });
  b.output(b.call("softmax", [p]), b.call("layerNorm", [p, b.param("g", data(4, 2), [4])]));
  const h = b.build();
  const want = graph.interpret(h, [x]);
  const exe = await graph.build(h, { target: "webgpu" });
  const proto = GPUQueue.prototype as unknown as { submit: (...a: unknown[]) => void };
  const submit = proto.submit;
  let submits = 0;
  proto.submit = function (this: unknown, ...a: unknown[]) {
    submits++;
    return submit.apply(this, a);
  };
  try {
    assertClose(await exe.run([x]), want, 1e-4);
    assert.equal(submits, 1);
    assertClose(await exe.run([x]), want, 1e-4);
    assert.equal(submits, 2);
  } finally {
    proto.submit = submit;
  }
  assert.match(exe.summary(), /one submission per inference/);
  await assert.rejects(() => graph.build(g, { target: "webgpu", sizes: { n: 1 } }), /int64/);
});

Deno.test("graph.build (c): a small ResNet and a small BERT layer equal the interpreter", async () => {
  reseed();
  for (
    const [g, shape] of [[resnet18(32, [8, 8, 16, 16], 10), [1, 3, 32, 32]], [bertLayer(8, 32, 4), [
      2,
      8,
      32,
    ]]] as const
  ) {
    const n = shape.reduce((a: number, c: number) => a * c, 1);
    const x = nd.array(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7)), [...shape]);
    const want = graph.interpret(g, [x]);
    const exe = await graph.build(g, { target: "c", sizes: { n: shape[0] } });
    assertClose(await exe.run([x]), want, 1e-4);
    assert.ok(exe.kernels.length < g.nodes.length / 2, exe.summary());
    assert.ok(exe.plan.arenaBytes < exe.plan.naiveBytes, exe.summary());
  }
});
