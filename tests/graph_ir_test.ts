/**
 * The graph IR and its builder: output types inferred per operator (symbolic batch sizes
 * included), attributes normalized, the listing, and the errors a frontend can cause (each
 * naming the node and the shapes involved).
 */
import assert from "node:assert/strict";
import { graph, GraphBuilder, TesseraError } from "../mod.ts";
import { isOp } from "../lib/graph/ir.ts";

const f32 = (n: number) => new Float32Array(n);

function mlp(): GraphBuilder {
  const b = new GraphBuilder();
  const x = b.input("x", ["n", 784]);
  const w1 = b.param("fc1.weight", f32(784 * 256), [784, 256]);
  const b1 = b.param("fc1.bias", f32(256), [256]);
  const w2 = b.param("fc2.weight", f32(256 * 10), [256, 10]);
  const h = b.call("relu", [b.call("add", [b.call("matmul", [x, w1]), b1])]);
  b.output(b.call("add", [b.call("matmul", [h, w2]), b.param("fc2.bias", f32(10), [10])]));
  return b;
}

Deno.test("graph IR: the MLP's types are inferred with a symbolic batch, in topological order", () => {
  const g = mlp().build();
  assert.deepEqual(g.nodes.map((n) => n.op), ["matmul", "add", "relu", "matmul", "add"]);
  assert.deepEqual(g.nodes.map((n) => n.outputs[0].shape), [
    ["n", 256],
    ["n", 256],
    ["n", 256],
    ["n", 10],
    ["n", 10],
  ]);
  assert.deepEqual(g.symbols, ["n"]);
  assert.equal(g.params.size, 4);
  assert.equal(g.params.get("fc1.weight")!.dtype, "float32");
  // Every input of every node is defined before it.
  const seen = new Set([...g.inputs, ...g.paramValues.values()]);
  for (const n of g.nodes) {
    for (const v of n.inputs) assert.ok(seen.has(v), `${v.name} used before defined`);
    n.outputs.forEach((v) => seen.add(v));
  }
  assert.equal(g.users().get(g.nodes[0].outputs[0])![0], g.nodes[1]);
});

Deno.test("graph IR: the listing is Relax-like and shows types and attributes", () => {
  const text = graph.printGraph(mlp().build());
  assert.match(text, /^# params: 4 tensors, 203530 elements, 795\.0 KB$/m);
  assert.match(text, /def main\(x: R\.Tensor\(\(n, 784\), "float32"\)\) -> R\.Tensor\(\(n, 10\)/);
  assert.match(text, /lv0: R\.Tensor\(\(n, 256\), "float32"\) = R\.matmul\(x, fc1\.weight\)/);
  assert.match(text, /R\.output\(lv4\)\n {4}return lv4$/);
  const b = new GraphBuilder();
  const x = b.input("x", [1, 3, 8, 8]);
  b.output(b.call("maxPool2d", [x], { kernel: [2, 2], strides: [2, 2] }));
  assert.match(
    graph.printGraph(b.build()),
    /R\.maxPool2d\(x, kernel=\[2, 2\], strides=\[2, 2\], pads=\[0, 0, 0, 0\], countIncludePad=false\)/,
  );
});

Deno.test("graph IR: operator output types follow ONNX", () => {
  const b = new GraphBuilder();
  const x = b.input("x", ["n", 3, 32, 32]);
  const w = b.param("w", f32(16 * 3 * 3 * 3), [16, 3, 3, 3]);
  const conv = b.call("conv2d", [x, w], { strides: [2, 2], pads: [1, 1, 1, 1] });
  assert.deepEqual(conv.shape, ["n", 16, 16, 16]);
  const dw = b.param("dw", f32(16 * 9), [16, 1, 3, 3]);
  assert.deepEqual(
    b.call("conv2d", [conv, dw], { groups: 16, dilations: [2, 2] }).shape,
    ["n", 16, 12, 12],
  );
  const pool = b.call("avgPool2d", [conv], { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  assert.deepEqual(pool.shape, ["n", 16, 8, 8]);
  assert.deepEqual(b.call("globalAvgPool", [pool]).shape, ["n", 16, 1, 1]);
  const flat = b.call("reshape", [pool], { shape: [0, -1] });
  assert.deepEqual(flat.shape, ["n", 1024]);
  assert.deepEqual(b.call("reshape", [flat], { shape: [-1, 4, 256] }).shape, ["n", 4, 256]);
  assert.deepEqual(b.call("transpose", [conv], { perm: [0, 2, 3, 1] }).shape, ["n", 16, 16, 16]);
  assert.deepEqual(b.call("transpose", [flat]).shape, [1024, "n"]);
  assert.deepEqual(b.call("reduceMean", [conv], { axes: [-1, 2], keepdims: false }).shape, [
    "n",
    16,
  ]);
  const red = b.call("reduceSum", [flat], {});
  assert.deepEqual(red.shape, [1, 1]);
  assert.deepEqual(red.producer!.attrs, { axes: [0, 1], keepdims: true });
  const am = b.call("argmax", [flat], { axis: 1, keepdims: false });
  assert.deepEqual([am.shape, am.dtype], [["n"], "int64"]);
  assert.deepEqual(b.call("concat", [conv, conv], { axis: 1 }).shape, ["n", 32, 16, 16]);
  const sl = b.call("slice", [conv], { starts: [1, -4], ends: [100, -1], axes: [2, 3] });
  assert.deepEqual(sl.shape, ["n", 16, 15, 3]);
  assert.deepEqual(sl.producer!.attrs, {
    starts: [1, 12],
    ends: [16, 15],
    axes: [2, 3],
    steps: [1, 1],
  });
  const back = b.call("slice", [conv], { starts: [-1], ends: [-1000], axes: [3], steps: [-2] });
  assert.deepEqual(back.shape, ["n", 16, 16, 8]);
  // Normalized attributes are accepted again unchanged (passes rebuild nodes from them).
  const node = back.producer!;
  assert.ok(isOp(node, "slice"));
  const again = b.call("slice", [conv], node.attrs);
  assert.deepEqual([again.shape, again.producer!.attrs], [back.shape, back.producer!.attrs]);
  const table = b.param("emb", f32(100 * 8), [100, 8]);
  const ids = b.input("ids", ["n", "s"], "int32");
  assert.deepEqual(b.call("gather", [table, ids]).shape, ["n", "s", 8]);
  assert.deepEqual(b.call("matmul", [b.input("q", [2, 1, 5, 4]), b.input("k", [3, 4, 6])]).shape, [
    2,
    3,
    5,
    6,
  ]);
  assert.deepEqual(b.call("matmul", [b.input("v", [4]), b.input("m", [4, 6])]).shape, [6]);
  const g = b.param("g", f32(1024), [1024]);
  assert.deepEqual(b.call("layerNorm", [flat, g, g]).producer!.attrs, { axis: 1, epsilon: 1e-5 });
  assert.equal(b.call("cast", [flat], { to: "float16" }).dtype, "float16");
  assert.deepEqual(b.call("clip", [flat], { max: 6 }).producer!.attrs, { min: -Infinity, max: 6 });
  const c = b.param("c", f32(16), [16]);
  assert.deepEqual(b.call("batchNorm", [conv, c, c, c, c]).shape, conv.shape);
});

function throwsWith(fn: () => unknown, ...parts: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TesseraError, `expected a TesseraError, got ${e}`);
    for (const p of parts) assert.match(e.message, p);
    return true;
  });
}

Deno.test("graph IR: a shape error names the node and both shapes", () => {
  const b = new GraphBuilder();
  const x = b.input("x", ["n", 784]);
  const w = b.param("w", f32(700 * 10), [700, 10]);
  throwsWith(
    () => b.call("matmul", [x, w], {}, "logits"),
    /node logits = matmul\(x, w\)/,
    /\(n, 784\)/,
    /\(700, 10\)/,
  );
  const y = b.input("y", ["m", 784]);
  throwsWith(() => b.call("add", [x, y]), /node lv\d+ = add\(x, y\)/, /\(n, 784\) and \(m, 784\)/);
  throwsWith(() => b.call("reshape", [x], { shape: [-1, 100] }), /cannot reshape \(n, 784\)/);
  throwsWith(() => b.call("reshape", [x], { shape: ["n", 785] }), /element counts/);
  const img = b.input("img", [1, 3, 4, 4]);
  const k = b.param("k", f32(8 * 3 * 5 * 5), [8, 3, 5, 5]);
  throwsWith(() => b.call("conv2d", [img, k]), /height/, /empty/);
  throwsWith(() => b.call("conv2d", [img, k], { groups: 2, pads: [2, 2, 2, 2] }), /groups=2/);
  throwsWith(() => b.call("layerNorm", [x, w]), /gamma has shape \(700, 10\).*\(784,\)/);
  throwsWith(() => b.call("concat", [x, y], { axis: 1 }), /\(n, 784\) and \(m, 784\)/);
  throwsWith(() => b.call("slice", [x], { starts: [1], ends: [3] }), /symbolic dimension "n"/);
});

Deno.test("graph IR: misuse of the builder is a TesseraError saying what would be right", () => {
  const b = new GraphBuilder();
  const x = b.input("x", [2, 3]);
  throwsWith(() => b.input("x", [2]), /already used/);
  throwsWith(() => b.input("z", [2, -1]), /shape\[1\] is -1/);
  throwsWith(() => b.input("z2", ["bad name"]), /symbol name/);
  throwsWith(() => b.param("p", f32(5), [2, 3]), /5 elements but 6/);
  throwsWith(() => b.param("p2", [1, 2] as unknown as Float32Array, [2]), /typed array/);
  throwsWith(() => b.param("p3", f32(6), [2, "n"] as unknown as number[]), /symbol "n"/);
  throwsWith(() => b.call("conv3d" as "relu", [x]), /unknown operator "conv3d"/);
  throwsWith(() => b.call("relu", [x, x]), /relu takes 1 inputs, got 2/);
  throwsWith(() => b.call("softmax", [x], { axes: 1 } as never), /no attribute "axes".*axis/);
  throwsWith(() => b.call("softmax", [x], { axis: 2 }), /axis 2 is out of range for rank 2/);
  throwsWith(() => b.call("transpose", [x], { perm: [0, 0] }), /not a permutation/);
  throwsWith(() => b.call("sqrt", [b.input("i", [2], "int32")]), /float/);
  throwsWith(() => b.call("add", [x, b.input("j", [3], "int32")]), /float32 and int32/);
  const other = new GraphBuilder().input("x", [2, 3]);
  throwsWith(() => b.call("relu", [other]), /another graph/);
  throwsWith(() => b.output(other), /graph output 0/);
  throwsWith(() => new GraphBuilder().build(), /no outputs/);
  // A name asked for twice is made unique, not an error.
  const r1 = b.call("relu", [x], {}, "r");
  const r2 = b.call("relu", [x], {}, "r");
  assert.notEqual(r1.name, r2.name);
});
