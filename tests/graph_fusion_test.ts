/**
 * Patterns read off the legalized `te`, fusion by post-dominators (which groups form, and
 * which do not), horizontal fusion of parallel matmuls, and the memory plan's invariants.
 */
import assert from "node:assert/strict";
import { graph, GraphBuilder, nd, type Partition } from "../mod.ts";
import type { Graph } from "../lib/graph/ir.ts";
import { findViews } from "../lib/graph/passes/views.ts";
import { useTestCache } from "./c_util.ts";
import { data } from "./graph_util.ts";

useTestCache();

const groupsOf = (p: Partition) => p.groups.map((g) => g.nodes.map((n) => n.op).join("+"));

Deno.test("patterns: inferred from the te index expressions", () => {
  const b = new GraphBuilder();
  const x = b.input("x", [2, 3, 4, 4]);
  const m = b.input("m", [4, 4]);
  const w = b.param("w", data(3 * 27, 1), [3, 3, 3, 3]);
  const calls = {
    relu: b.call("relu", [x]),
    add: b.call("add", [x, b.param("c", data(4, 2), [4])]),
    addSame: b.call("add", [x, x]),
    transpose: b.call("transpose", [x], { perm: [0, 2, 3, 1] }),
    reshape: b.call("reshape", [x], { shape: [6, 16] }),
    matmul: b.call("matmul", [x, m]),
    conv2d: b.call("conv2d", [x, w], { pads: [1, 1, 1, 1] }),
    softmax: b.call("softmax", [x]),
    reduceSum: b.call("reduceSum", [x], { axes: [1] }),
    concat: b.call("concat", [x, x], { axis: 1 }),
    slice: b.call("slice", [x], { starts: [1], ends: [3], axes: [1] }),
    maxPool2d: b.call("maxPool2d", [x], { kernel: [2, 2] }),
    batchNorm: b.call("batchNorm", [
      x,
      ...[3, 4, 5, 6].map((s) => b.param(`bn${s}`, data(3, s), [3])),
    ]),
  };
  b.output(...Object.values(calls));
  b.build();
  const want: Record<string, string> = {
    relu: "elementwise",
    add: "broadcast",
    addSame: "elementwise",
    transpose: "injective",
    reshape: "injective",
    matmul: "outEWiseFusable",
    conv2d: "outEWiseFusable",
    softmax: "commReduce",
    reduceSum: "commReduce",
    concat: "injective",
    slice: "injective",
    maxPool2d: "commReduce",
    batchNorm: "broadcast",
  };
  for (const [k, v] of Object.entries(calls)) {
    assert.equal(graph.nodePattern(v.producer!), want[k], k);
  }
});

function cnn(): Graph {
  const b = new GraphBuilder();
  const x = b.input("x", [1, 3, 8, 8]);
  const c1 = b.call("conv2d", [x, b.param("w", data(4 * 27, 1), [4, 3, 3, 3])], {
    pads: [1, 1, 1, 1],
  });
  const y = b.call("relu", [b.call("add", [c1, b.param("b", data(4, 2), [4, 1, 1])])]);
  const c2 = b.call("conv2d", [y, b.param("w2", data(16, 3), [4, 4, 1, 1])]);
  const r = b.call("relu", [b.call("add", [c2, y])]); // residual
  const p = b.call("globalAvgPool", [r]);
  b.output(b.call("reshape", [p], { shape: [1, 4] }));
  return b.build();
}

Deno.test("fusion: epilogues join convolutions, reductions end groups", () => {
  const p = graph.passes.fuseOps(cnn());
  assert.deepEqual(groupsOf(p), [
    "conv2d+add+relu",
    "conv2d+add+relu",
    "globalAvgPool",
    "reshape",
  ]);
  assert.deepEqual(p.groups.map((g) => g.pattern), [
    "outEWiseFusable",
    "outEWiseFusable",
    "commReduce",
    "injective",
  ]);
  // The first group's output is read by both the second conv and the residual add.
  assert.equal(p.groups[0].outputs.length, 1);
  assert.deepEqual(p.groups[1].inputs.map((v) => v.name), ["lv2", "w2"]);
  assert.deepEqual(groupsOf(graph.passes.fuseOps(cnn(), { disable: true })).length, 8);
});

Deno.test("fusion: a diamond of elementwise ops fuses into the reduction that post-dominates it", () => {
  const b = new GraphBuilder();
  const x = b.input("x", [4, 8]);
  const e = b.call("exp", [x]);
  const s = b.call("add", [b.call("relu", [e]), b.call("neg", [e])]);
  const sm = b.call("softmax", [s]);
  b.output(b.call("relu", [sm]));
  assert.deepEqual(groupsOf(graph.passes.fuseOps(b.build())), ["exp+relu+neg+add+softmax", "relu"]);
  // A value the graph returns is materialized: nothing fuses through it.
  const c = new GraphBuilder();
  const y = c.input("y", [4, 8]);
  const t = c.call("tanh", [y]);
  c.output(c.call("sigmoid", [t]), t);
  assert.deepEqual(groupsOf(graph.passes.fuseOps(c.build())), ["tanh", "sigmoid"]);
});

Deno.test("fusion: the group size cap splits long chains; matmuls do not absorb producers", () => {
  const b = new GraphBuilder();
  let v = b.input("x", [2, 4]);
  for (let i = 0; i < 10; i++) v = b.call(i % 2 ? "relu" : "tanh", [v]);
  v = b.call("matmul", [v, b.param("w", data(8, 1), [4, 2])]);
  b.output(v);
  const g = b.build();
  const sizes = graph.passes.fuseOps(g, { maxGroupSize: 4 }).groups.map((x) => x.nodes.length);
  assert.ok(sizes.every((n) => n <= 4), String(sizes));
  assert.equal(sizes.reduce((a, c) => a + c), 11);
  assert.deepEqual(groupsOf(graph.passes.fuseOps(g)).at(-1), "matmul");
});

Deno.test("horizontal fusion: Q, K, V projections become one matmul and slices", async () => {
  const b = new GraphBuilder();
  const x = b.input("x", [2, 5, 8]);
  const proj = (k: number) =>
    b.call("add", [
      b.call("matmul", [x, b.param(`w${k}`, data(8 * 6, k), [8, 6])]),
      b.param(`b${k}`, data(6, 10 + k), [6]),
    ]);
  const [q, kk, v] = [1, 2, 3].map(proj);
  const att = b.call("matmul", [q, b.call("transpose", [kk], { perm: [0, 2, 1] })]);
  b.output(b.call("matmul", [b.call("softmax", [att]), v]));
  const g = b.build();
  const h = graph.passes.eliminateDeadCode(graph.passes.combineParallelMatmul(g));
  const ops = h.nodes.map((n) => n.op);
  assert.deepEqual(ops.filter((o) => o === "matmul").length, 3); // 1 combined + 2 attention
  assert.deepEqual(ops.slice(0, 5), ["matmul", "add", "slice", "slice", "slice"]);
  assert.deepEqual(h.nodes[0].inputs[1].shape, [8, 18]);
  const input = nd.array(data(80, 7), [2, 5, 8]);
  const [want] = graph.interpret(g, [input]);
  const [got] = graph.interpret(h, [input]);
  const a = want.toArray(), c = got.toArray();
  a.forEach((w, i) => assert.ok(Math.abs(w - c[i]) < 1e-5, `${i}: ${w} vs ${c[i]}`));
  // And built: the combined graph runs through fusion and planning.
  const exe = await graph.build(g, { target: "interpreter" });
  const [out] = await exe.run([input]);
  out.toArray().forEach((w, i) => assert.ok(Math.abs(w - a[i]) < 1e-5));
});

Deno.test("memory plan: live intermediates never share bytes; bounds hold", () => {
  const b = new GraphBuilder();
  const x = b.input("x", [64]);
  // A chain with a long-lived value: a is read at the end.
  const a = b.call("softmax", [x]);
  let v = a;
  for (let i = 0; i < 6; i++) {
    v = b.call("softmax", [b.call("concat", [v, v], { axis: 0 })]);
    v = b.call("slice", [v], { starts: [0], ends: [64] });
  }
  b.output(b.call("add", [v, a]));
  const p = graph.passes.fuseOps(b.build());
  const plan = graph.passes.planMemory(p);
  for (const s of plan.buffers) {
    for (const t of plan.buffers) {
      if (s === t || s.start > t.end || t.start > s.end) continue;
      const apart = s.offset + s.bytes <= t.offset || t.offset + t.bytes <= s.offset;
      assert.ok(apart, `${s.value.name} and ${t.value.name} overlap while both live`);
    }
    assert.equal(s.offset % 64, 0);
  }
  assert.ok(plan.maxLiveBytes <= plan.arenaBytes);
  assert.ok(plan.arenaBytes < plan.naiveBytes);
  assert.ok(plan.buffers.some((s) => s.value === a && s.end === p.groups.length - 1));
});

Deno.test("views: a reshape alone in a group is its input's bytes, kept alive for its readers", async () => {
  const b = new GraphBuilder();
  const x = b.input("x", [4, 6]);
  const s = b.call("softmax", [x]); // group 0, in the arena
  const r = b.call("reshape", [s], { shape: [6, 4] }); // a view of s
  let v = b.call("softmax", [r]);
  for (let i = 0; i < 3; i++) v = b.call("softmax", [b.call("exp", [v])]);
  b.output(b.call("add", [v, r])); // r (so s) is read at the very end
  const g = b.build();
  const p = graph.passes.fuseOps(g);
  const views = findViews(p);
  assert.equal(views.get(r), s);
  const plan = graph.passes.planMemory(p, 64, views);
  assert.ok(!plan.buffers.some((q) => q.value === r), "a view has no buffer");
  const sb = plan.buffers.find((q) => q.value === s)!;
  assert.equal(sb.end, p.groups.length - 1);
  assert.equal(plan.offsets.get(r), sb.offset);
  const input = nd.array(data(24, 5), [4, 6]);
  const want = graph.interpret(g, [input]);
  for (const target of ["interpreter", "c", "webgpu"] as const) {
    const exe = await graph.build(g, { target });
    assert.equal(exe.kernels.length, p.groups.length - 1, target);
    const [got] = await exe.run([input]);
    const a = got.toArray(), w = want[0].toArray();
    a.forEach((y, i) => assert.ok(Math.abs(y - w[i]) < 1e-5, `${target} ${i}: ${y} vs ${w[i]}`));
  }
});
