/**
 * The graph passes, each on a graph made to exercise it: what it changes in the graph's
 * structure, and that the interpreter gives the same outputs before and after.
 */
import assert from "node:assert/strict";
import { graph, GraphBuilder, nd, type NDArray } from "../mod.ts";
import { narrowIndices } from "../lib/graph/passes/narrowIndices.ts";
import type { Graph } from "../lib/graph/ir.ts";
import { interpretGraph } from "../lib/graph/interpret.ts";
import { eliminateDeadCode } from "../lib/graph/passes/dce.ts";
import { eliminateCommonSubexpressions } from "../lib/graph/passes/cse.ts";
import { foldConstants } from "../lib/graph/passes/foldConstants.ts";
import { foldBatchNorm } from "../lib/graph/passes/foldBatchNorm.ts";
import { cancelLayout } from "../lib/graph/passes/cancelLayout.ts";
import { inferShapes } from "../lib/graph/passes/inferShapes.ts";
import { bindSizes } from "../lib/graph/passes/bindSizes.ts";
import { data } from "./graph_util.ts";

function sameOutputs(a: Graph, b: Graph, inputs: NDArray[], tol = 1e-5) {
  const x = interpretGraph(a, inputs), y = interpretGraph(b, inputs);
  assert.equal(x.length, y.length);
  x.forEach((o, i) => {
    assert.deepEqual(o.shape, y[i].shape);
    const p = o.toArray(), q = y[i].toArray();
    p.forEach((v, j) =>
      assert.ok(Math.abs(v - q[j]) <= tol * (1 + Math.abs(v)), `out ${i}[${j}]: ${v} vs ${q[j]}`)
    );
  });
}

const ops = (g: Graph) => g.nodes.map((n) => n.op);

Deno.test("passes: DCE drops unread nodes and params, CSE merges equal calls", () => {
  const b = new GraphBuilder();
  const x = b.input("x", [2, 3]);
  const w = b.param("w", data(9, 1), [3, 3]);
  b.param("unused", data(4, 2), [4]);
  const a1 = b.call("matmul", [x, w]);
  const a2 = b.call("matmul", [x, w]);
  b.call("exp", [a1]); // dead
  const c1 = b.call("clip", [x], { min: -Infinity, max: 0 });
  const c2 = b.call("clip", [x], { min: 0, max: Infinity }); // same JSON but not equal
  b.output(b.call("add", [b.call("relu", [a1]), b.call("relu", [a2])]), b.call("add", [c1, c2]));
  const g = b.build();
  const d = eliminateDeadCode(g);
  assert.deepEqual(ops(d), ["matmul", "matmul", "clip", "clip", "relu", "relu", "add", "add"]);
  assert.deepEqual([...d.params.keys()], ["w"]);
  const c = eliminateDeadCode(eliminateCommonSubexpressions(g));
  assert.deepEqual(ops(c), ["matmul", "clip", "clip", "relu", "add", "add"]);
  assert.equal(c.nodes.at(-2)!.inputs[0], c.nodes.at(-2)!.inputs[1]);
  sameOutputs(g, c, [nd.array(data(6, 3), [2, 3])]);
  assert.equal(eliminateDeadCode(c), c, "nothing to do returns the graph itself");
});

Deno.test("passes: constant folding computes param-only chains into params", () => {
  const b = new GraphBuilder();
  const x = b.input("x", [2, 4]);
  const w = b.param("w", data(12, 1), [3, 4]);
  const wt = b.call("transpose", [w]);
  const scale = b.param("s", Float32Array.of(2), [1]);
  const ws = b.call("mul", [wt, scale]);
  b.output(b.call("matmul", [x, ws]));
  const g = b.build();
  const f = eliminateDeadCode(foldConstants(g));
  assert.deepEqual(ops(f), ["matmul"]);
  assert.equal(f.nodes[0].inputs[1].kind, "param");
  assert.deepEqual(f.nodes[0].inputs[1].shape, [4, 3]);
  sameOutputs(g, f, [nd.array(data(8, 4), [2, 4])]);
  // Too large to fold: stays a node.
  assert.deepEqual(ops(foldConstants(g, { maxElements: 4 })), ops(g));
});

Deno.test("passes: BatchNorm folds into the convolution before it", () => {
  const b = new GraphBuilder();
  const x = b.input("x", [1, 3, 6, 6]);
  const w = b.param("w", data(4 * 27, 1), [4, 3, 3, 3]);
  const bias = b.param("b", data(4, 2), [4]);
  const conv = b.call("conv2d", [x, w, bias], { pads: [1, 1, 1, 1] });
  const p = (name: string, seed: number, abs = false) =>
    b.param(name, data(4, seed).map((v) => (abs ? Math.abs(v) + 0.1 : v)), [4]);
  const bn = b.call("batchNorm", [conv, p("g", 3), p("be", 4), p("m", 5), p("v", 6, true)], {
    epsilon: 1e-3,
  });
  const conv2 = b.call("conv2d", [bn, b.param("w2", data(16, 7), [4, 4, 1, 1])]);
  // conv2's output is read twice: the BatchNorm after it stays.
  const bn2 = b.call("batchNorm", [conv2, p("g2", 8), p("be2", 9), p("m2", 10), p("v2", 11, true)]);
  b.output(b.call("add", [bn2, conv2]));
  const g = b.build();
  const f = eliminateDeadCode(foldBatchNorm(g));
  assert.deepEqual(ops(f), ["conv2d", "conv2d", "batchNorm", "add"]);
  sameOutputs(g, f, [nd.array(data(108, 12), [1, 3, 6, 6])], 1e-4);
});

Deno.test("passes: transpose and reshape pairs cancel", () => {
  const b = new GraphBuilder();
  const x = b.input("x", [2, 3, 4]);
  const t1 = b.call("transpose", [x], { perm: [1, 2, 0] });
  const t2 = b.call("transpose", [t1], { perm: [2, 0, 1] }); // identity overall
  const r1 = b.call("reshape", [t2], { shape: [6, 4] });
  const r2 = b.call("reshape", [r1], { shape: [2, 12] });
  const r3 = b.call("reshape", [r2], { shape: [2, 12] }); // no-op
  const u1 = b.call("transpose", [x], { perm: [0, 2, 1] });
  const u2 = b.call("transpose", [u1], { perm: [1, 0, 2] }); // composes to [2, 0, 1]
  b.output(r3, u2);
  const g = b.build();
  const c = cancelLayout(g);
  assert.deepEqual(ops(c), ["reshape", "transpose"]);
  assert.equal(c.nodes[0].inputs[0], c.inputs[0]);
  assert.deepEqual(c.nodes[1].attrs, { perm: [2, 0, 1] });
  sameOutputs(g, c, [nd.array(data(24, 1), [2, 3, 4])]);
});

Deno.test("passes: shape inference re-runs over a graph; sizes bind", () => {
  const b = new GraphBuilder();
  const x = b.input("x", ["n", 4]);
  const w = b.param("w", data(8, 1), [4, 2]);
  b.output(b.call("reduceSum", [b.call("matmul", [b.call("relu", [x]), w])], { axes: [1] }));
  const g = b.build();
  const h = inferShapes(g, { x: ["m", 4] });
  assert.deepEqual(h.outputs[0].shape, ["m", 1]);
  assert.throws(() => inferShapes(g, { x: ["m", 5] }), /node lv1 = matmul\(lv0, w\).*\(m, 5\)/);
  assert.deepEqual(bindSizes(g, { n: 3 }).outputs[0].shape, [3, 1]);
  assert.throws(() => bindSizes(g, {}), /n: 1/);
});

Deno.test("passes: int64 gather indices that fit become int32 params", async () => {
  const b = new GraphBuilder();
  const table = b.input("t", [5, 2]);
  const ids = b.param("ids", BigInt64Array.of(4n, -1n, 0n), [3]);
  const big = b.param("big", BigInt64Array.of(2n ** 40n), [1]);
  b.output(b.call("gather", [table, ids]), b.call("gather", [table, big]));
  const g = b.build();
  const h = narrowIndices(g);
  assert.equal(h.nodes[0].inputs[1].dtype, "int32");
  assert.equal(h.nodes[1].inputs[1].dtype, "int64", "a value past int32 stays");
  const t = nd.array(data(10, 3), [5, 2]);
  const [want] = interpretGraph(g, [t]);
  const [got] = interpretGraph(h, [t]);
  assert.deepEqual([...got.toArray()], [...want.toArray()]);
  // On WebGPU a 64-bit value left in the graph is named, before any GPU work.
  await assert.rejects(
    () => graph.build(g, { target: "webgpu" }),
    /value big \(a graph param\) is int64.*WGSL has no 64-bit types/,
  );
});
