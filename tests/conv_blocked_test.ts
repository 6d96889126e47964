/**
 * Convolutions whose output channels are a multiple of 8 are legalized in the channel-blocked
 * form (packed weights, sums over blocks of channels: lib/graph/legalize.ts blockedConv).
 * Random ones (strides, pads, dilations, bias, widths a vector does not divide) are held to
 * the plain float64 reference (tests/graph_ref_util.ts, independent of legalization) on the
 * interpreter and on C with the default schedules, where the packing stays a stage of its
 * own (the inline rule keeps a layout change a reduction reads).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { graph, GraphBuilder, nd, onnx, te } from "../mod.ts";
import { legalizeNode } from "../lib/graph/legalize.ts";
import { defaultFacts, defaultSchedule } from "../lib/tune/default.ts";
import { weightBlockFor } from "../lib/graph/pipeline.ts";
import { Choices, propertyOptions } from "./gen/choices.ts";
import { evalGraph } from "./graph_ref_util.ts";
import { useTestCache } from "./c_util.ts";
import { data } from "./graph_util.ts";

useTestCache();

function randomConv(c: Choices) {
  const ci = c.int(1, 5), co = 8 * c.int(1, 4), k = c.int(1, 3);
  const h = c.int(k, 9), w = c.int(k, 9);
  const stride = c.int(1, 2), dil = k > 1 && c.chance(30) ? 2 : 1;
  const p = c.int(0, 1);
  const b = new GraphBuilder();
  const x = b.input("x", [1, ci, h + (dil - 1) * 2, w + (dil - 1) * 2]);
  const bias = c.chance(50);
  const W = b.param("w", data(co * ci * k * k, 1), [co, ci, k, k]);
  const ins = bias ? [x, W, b.param("b", data(co, 2), [co])] : [x, W];
  b.output(b.call("relu", [b.call("conv2d", ins, {
    strides: [stride, stride],
    pads: [p, p, p, p],
    dilations: [dil, dil],
  })]));
  const g = b.build();
  const shape = g.inputs[0].shape as number[];
  const n = shape.reduce((a, q) => a * q, 1);
  return { g, shape, x: data(n, 3) };
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= 1e-4 * (1 + Math.abs(want[i])))) {
      assert.fail(`${what}: element ${i}: ${got[i]} vs ${want[i]}`);
    }
  }
}

function property(runs: number, target: "interpreter" | "c"): Promise<void> {
  return fc.assert(
    fc.asyncProperty(fc.array(fc.nat(1 << 20), { minLength: 12, maxLength: 40 }), async (xs) => {
      const { g, shape, x } = randomConv(new Choices(xs));
      const want = evalGraph(g, { x: { shape, data: x } })[0].data;
      const exe = await graph.build(g, { target });
      const [got] = await exe.run([nd.array(x, shape)]);
      close(got.data as Float32Array, want, `${target}\n${graph.printGraph(g)}`);
    }),
    propertyOptions(runs),
  );
}

Deno.test("blocked convolutions equal the float64 reference (40 random, interpreter)", async () => {
  await property(40, "interpreter");
});

Deno.test("blocked convolutions equal the float64 reference (6 random, c)", async () => {
  await property(6, "c");
});

Deno.test("the default CPU schedule keeps the packed weights a stage and vectorizes channels", async () => {
  const b = new GraphBuilder();
  const x = b.input("x", [1, 8, 7, 7]);
  b.output(b.call("conv2d", [x, b.param("w", data(16 * 8 * 9, 1), [16, 8, 3, 3])], {
    pads: [1, 1, 1, 1],
  }));
  const g = b.build();
  const node = g.nodes[0];
  const X = te.placeholder([1, 8, 7, 7], "float32", "X");
  const Wt = te.placeholder([16, 8, 3, 3], "float32", "W");
  const Y = legalizeNode(node, [X, Wt]);
  const { schedule } = await defaultSchedule([Y], "c");
  const ir = String(te.lower(schedule, [X, Wt, Y]));
  assert.match(ir, /t\d+_wpack = T\.alloc_buffer\(\(1, 8, 3, 3, 16\)\)/);
  assert.match(ir, /T\.vectorized\((8|16)\)/);
  // Fewer than 8 output channels keep the plain form.
  const b2 = new GraphBuilder();
  const x2 = b2.input("x", [1, 3, 5, 5]);
  b2.output(b2.call("conv2d", [x2, b2.param("w", data(4 * 3 * 9, 1), [4, 3, 3, 3])]));
  const plain = String(
    legalizeNode(b2.build().nodes[0], [
      te.placeholder([1, 3, 5, 5], "float32", "X"),
      te.placeholder([4, 3, 3, 3], "float32", "W"),
    ]).op.name,
  );
  assert.match(plain, /conv2d/);
});

Deno.test("packConvWeights packs param weights once at compile time, and the result is unchanged", async () => {
  const b = new GraphBuilder();
  const x = b.input("x", [1, 4, 6, 6]);
  const w = b.param("w", data(16 * 4 * 9, 1), [16, 4, 3, 3]);
  const y1 = b.call("conv2d", [x, w], { pads: [1, 1, 1, 1] });
  const y2 = b.call("conv2d", [x, w], { strides: [2, 2] }); // shares w: packed once
  const w3 = b.param("w3", data(6 * 4, 2), [6, 4, 1, 1]); // 6 channels: not blocked
  const y3 = b.call("conv2d", [x, w3]);
  const wx = b.call("relu", [b.param("wx", data(8 * 4, 3), [8, 4, 1, 1])]);
  const y4 = b.call("conv2d", [x, b.call("add", [wx, wx])]); // computed weight: left alone
  b.output(y1, y2, y3, y4);
  const g = b.build();
  const p = graph.passes.packConvWeights(g);
  const convs = p.nodes.filter((n) => n.op === "conv2d");
  const by8 = graph.passes.packConvWeights(g, 8).nodes.filter((n) => n.op === "conv2d");
  assert.deepEqual(by8.map((n) => (n.attrs as { weightBlock?: number }).weightBlock), [
    8,
    8,
    undefined,
    undefined,
  ]);
  assert.deepEqual(convs.map((n) => (n.attrs as { weightBlock?: number }).weightBlock), [
    16,
    16,
    undefined,
    undefined,
  ]);
  assert.equal(convs[0].inputs[1], convs[1].inputs[1]);
  assert.deepEqual(convs[0].inputs[1].shape, [1, 4, 3, 3, 16]);
  const packed = p.params.get(convs[0].inputs[1].name)!.data as Float32Array;
  const orig = g.params.get("w")!.data as Float32Array;
  // packed[0][c][y][x][l] = w[l][c][y][x]
  assert.equal(packed[(2 * 9 + 4) * 16 + 5], orig[5 * 36 + 2 * 9 + 4]);
  const xs = data(4 * 36, 4);
  const want = evalGraph(g, { x: { shape: [1, 4, 6, 6], data: xs } });
  for (const target of ["interpreter", "c"] as const) {
    const exe = await graph.build(g, { target });
    const got = await exe.run([nd.array(xs, [1, 4, 6, 6])]);
    got.forEach((t, i) => close(t.data as Float32Array, want[i].data, `${target} output ${i}`));
  }
  // The packed form has no ONNX spelling; a bad weightBlock is a shape error.
  assert.throws(() => onnx.exportOnnx(p), /packed weights \(weightBlock=16\)/);
  const b2 = new GraphBuilder();
  const x2 = b2.input("x", [1, 4, 6, 6]);
  const bad = b2.param("w", data(16 * 4 * 9, 1), [1, 4, 3, 3, 16]);
  assert.throws(
    () => b2.call("conv2d", [x2, bad], { weightBlock: 8 }),
    /weightBlock=8 .* \(M\/B, C, kh, kw, B\)/,
  );
});

Deno.test("packMatmulWeights packs 2-D param weights by panels, and the result is unchanged", async () => {
  const b = new GraphBuilder();
  const x = b.input("x", [2, 3, 8]);
  const w = b.param("w", data(8 * 64, 5), [8, 64]);
  const y1 = b.call("matmul", [x, w]); // 64 columns: panels of 32
  const y2 = b.call("matmul", [b.call("relu", [x]), w]); // shares w: packed once
  const y3 = b.call("matmul", [b.input("v", [8]), b.param("w24", data(8 * 24, 6), [8, 24])]);
  const y4 = b.call("matmul", [x, b.param("w6", data(8 * 6, 7), [8, 6])]); // 6: not packed
  const wx = b.call("relu", [b.param("wx", data(8 * 16, 8), [8, 16])]);
  const y5 = b.call("matmul", [x, wx]); // computed weight: left alone
  b.output(y1, y2, y3, y4, y5);
  const g = b.build();
  const p = graph.passes.packMatmulWeights(g);
  const mms = p.nodes.filter((n) => n.op === "matmul");
  assert.deepEqual(mms.map((n) => (n.attrs as { weightBlock?: number }).weightBlock), [
    32,
    32,
    8,
    undefined,
    undefined,
  ]);
  assert.equal(mms[0].inputs[1], mms[1].inputs[1]);
  assert.deepEqual(mms[0].inputs[1].shape, [2, 8, 32]);
  const packed = p.params.get(mms[0].inputs[1].name)!.data as Float32Array;
  const orig = g.params.get("w")!.data as Float32Array;
  // packed[o][r][l] = w[r][o * 32 + l]
  assert.equal(packed[(1 * 8 + 3) * 32 + 5], orig[3 * 64 + 32 + 5]);
  const xs = data(2 * 3 * 8, 9), vs = data(8, 10);
  const inputs = { x: { shape: [2, 3, 8], data: xs }, v: { shape: [8], data: vs } };
  const want = evalGraph(g, inputs);
  // At most `widest` columns a panel; graph.build asks for two of the CPU's vectors.
  const narrow = graph.passes.packMatmulWeights(g, 16).nodes.filter((n) => n.op === "matmul");
  assert.deepEqual(narrow.map((n) => (n.attrs as { weightBlock?: number }).weightBlock), [
    16,
    16,
    8,
    undefined,
    undefined,
  ]);
  const block = await weightBlockFor("c");
  assert.equal(block, Math.min(32, 2 * (await defaultFacts()).lanes));
  assert.equal(await weightBlockFor("webgpu"), 32);
  for (const target of ["interpreter", "c"] as const) {
    const exe = await graph.build(g, { target });
    assert.ok(
      exe.graph.nodes.some((n) => graph.isOp(n, "matmul") && n.attrs.weightBlock === block),
    );
    const got = await exe.run([nd.array(xs, [2, 3, 8]), nd.array(vs, [8])]);
    got.forEach((t, i) => close(t.data as Float32Array, want[i].data, `${target} output ${i}`));
  }
  assert.throws(() => onnx.exportOnnx(p), /matmul with packed weights \(weightBlock=32\)/);
  const b2 = new GraphBuilder();
  const bad = b2.param("w", data(64, 1), [2, 8, 4]);
  assert.throws(
    () => b2.call("matmul", [b2.input("x", [3, 8]), bad], { weightBlock: 8 }),
    /weightBlock=8 with weight \(2, 8, 4\).*\(N\/B, K, B\)/,
  );
});
