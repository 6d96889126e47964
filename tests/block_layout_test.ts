/**
 * The channel-blocked layout pass (passes/blockLayout.ts): which operators stay blocked, where
 * the NCHW tensor comes back, that the values do not change (interpreter before and after the
 * pass, and the C build against the unoptimized graph), and the operator checks of the
 * blocked attributes.
 */
import assert from "node:assert/strict";
import { graph, GraphBuilder, nd, TesseraError } from "../mod.ts";
import type { Graph } from "../lib/graph/ir.ts";
import { interpretGraph } from "../lib/graph/interpret.ts";
import { blockLayout } from "../lib/graph/passes/blockLayout.ts";
import { packConvWeights } from "../lib/graph/passes/packConvWeights.ts";
import { eliminateDeadCode } from "../lib/graph/passes/dce.ts";
import { assertClose, data } from "./graph_util.ts";

/** A small residual CNN: stem conv, max pool, a residual block, a 1x1 conv with a scale,
 * average pools, a classifier; the stem's output is also a graph output. */
function cnn(): Graph {
  const b = new GraphBuilder("cnn");
  const x = b.input("x", [1, 3, 12, 12]);
  const conv = (
    v: ReturnType<typeof b.input>,
    c: number,
    m: number,
    k: number,
    seed: number,
    attrs = {},
  ) =>
    b.call("conv2d", [
      v,
      b.param(`w${seed}`, data(m * c * k * k, seed), [m, c, k, k]),
      b.param(`b${seed}`, data(m, seed + 100), [m]),
    ], attrs);
  const stem = b.call("relu", [conv(x, 3, 16, 3, 1, { pads: [1, 1, 1, 1], strides: [2, 2] })]);
  const pool = b.call("maxPool2d", [stem], { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  const c1 = b.call("relu", [conv(pool, 16, 16, 3, 2, { pads: [1, 1, 1, 1] })]);
  const c2 = conv(c1, 16, 16, 3, 3, { pads: [1, 1, 1, 1] });
  const res = b.call("relu", [b.call("add", [c2, pool])]);
  const scaled = b.call("mul", [conv(res, 16, 8, 1, 4), b.param("s", Float32Array.of(0.5), [])]);
  const avg = b.call("avgPool2d", [scaled], { kernel: [2, 2], strides: [1, 1] });
  const gap = b.call("globalAvgPool", [avg]);
  const flat = b.call("reshape", [gap], { shape: [1, 8] });
  const fc = b.call("matmul", [flat, b.param("fc", data(8 * 4, 5), [8, 4])]);
  b.output(fc, stem);
  return b.build();
}

const input = () => nd.array(data(3 * 144, 9), [1, 3, 12, 12]);

Deno.test("blockLayout: convolutions, pools and elementwise operators stay blocked", () => {
  const g = cnn();
  const packed = packConvWeights(g, 8);
  const blocked = eliminateDeadCode(blockLayout(packed));
  const ops = blocked.nodes.map((n) => n.op);
  // One fromBlocks for the stem (a graph output), one for the reshape.
  assert.equal(ops.filter((o) => o === "fromBlocks").length, 2);
  for (const n of blocked.nodes) {
    const a = n.attrs as Record<string, unknown>;
    if (n.op === "conv2d") {
      assert.equal(a.outBlock, 8, `${n.name} blocked out`);
      // Every conv but the stem reads a blocked input.
      assert.equal(a.inBlock, n.inputs[0].kind === "input" ? undefined : 8, n.name);
    }
    if (["maxPool2d", "avgPool2d", "globalAvgPool"].includes(n.op)) assert.equal(a.block, 8);
    if (["relu", "add", "mul"].includes(n.op)) assert.equal(n.outputs[0].shape.length, 5);
  }
  assert.deepEqual(blocked.outputs.map((v) => v.shape), [[1, 4], [1, 16, 6, 6]]);
  const x = input();
  assertClose(interpretGraph(blocked, [x]), interpretGraph(g, [x]), 1e-5);
});

Deno.test("blockLayout: an operand in another layout gets the NCHW tensor back", () => {
  const b = new GraphBuilder();
  const x = b.input("x", [1, 8, 4, 4]);
  const w = b.param("w", data(8 * 8 * 9, 1), [8, 8, 3, 3]);
  const conv = b.call("conv2d", [x, w], { pads: [1, 1, 1, 1] });
  // A per-channel scale (8, 1, 1) is not a scalar: the add reads NCHW.
  const sum = b.call("add", [conv, b.param("c", data(8, 2), [8, 1, 1])]);
  b.output(b.call("softmax", [sum], { axis: 1 }));
  const g = b.build();
  const blocked = eliminateDeadCode(blockLayout(packConvWeights(g, 8)));
  assert.deepEqual(blocked.nodes.map((n) => n.op), ["conv2d", "fromBlocks", "add", "softmax"]);
  const xs = nd.array(data(128, 3), [1, 8, 4, 4]);
  assertClose(interpretGraph(blocked, [xs]), interpretGraph(g, [xs]), 1e-5);
  // Nothing to block: the graph itself.
  const plain = b.build();
  assert.equal(blockLayout(plain), plain);
});

Deno.test("blockLayout: the C build of a blocked CNN equals the unoptimized graph", async () => {
  const g = cnn();
  const x = input();
  const exe = await graph.build(g, { target: "c" });
  assert.ok(exe.graph.nodes.some((n) => n.op === "fromBlocks"), "the C build blocks");
  const want = interpretGraph(g, [x]);
  assertClose(await exe.run([x]), want, 1e-4);
  const web = await graph.build(g, { target: "interpreter", optimize: false });
  assertClose(await web.run([x]), want, 1e-6);
});

Deno.test("blockLayout: the blocked attributes are checked", () => {
  const b = new GraphBuilder();
  const x = b.input("x", [1, 16, 4, 4]);
  const xb = b.input("xb", [1, 2, 4, 4, 8]);
  const w = b.param("w", data(16 * 16 * 9, 1), [2, 16, 3, 3, 8]);
  assert.throws(
    () => b.call("conv2d", [x, w], { weightBlock: 8, outBlock: 16 }),
    (e) => e instanceof TesseraError && /outBlock=16 with weightBlock=8/.test(e.message),
  );
  assert.throws(
    () => b.call("conv2d", [x, w], { weightBlock: 8, inBlock: 8 }),
    (e) =>
      e instanceof TesseraError &&
      /\(inBlock=8\) has shape \(1, 16, 4, 4\) but must have rank 5/.test(e.message),
  );
  assert.throws(
    () => b.call("maxPool2d", [xb], { kernel: [2, 2], block: 4 }),
    (e) => e instanceof TesseraError && /block=4/.test(e.message),
  );
  const y = b.call("conv2d", [xb, w], { weightBlock: 8, inBlock: 8, outBlock: 8 });
  assert.deepEqual(y.shape, [1, 2, 2, 2, 8]);
  assert.deepEqual(b.call("fromBlocks", [y]).shape, [1, 16, 2, 2]);
  assert.deepEqual(b.call("globalAvgPool", [y], { block: 8 }).shape, [1, 2, 1, 1, 8]);
});
