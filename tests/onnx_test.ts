/**
 * ONNX export and import as a whole: round trips (an nn model exported, imported back, gives
 * the same listing and the same params), the nn reference models against onnxruntime-node
 * (their layers' numerics included), the real npm-shipped model when `deno task models` has
 * fetched it, and misuse: unsupported operators, bad bytes, wrong opsets, attributes import
 * cannot honour.
 */
import assert from "node:assert/strict";
import { graph, nn, onnx, TesseraError } from "../mod.ts";
import { decodeModel, encodeModel } from "../lib/graph/onnx/schema.ts";
import { evalGraph } from "./graph_ref_util.ts";
import { compare, loadOrt, modelBytes, randomData, runOrt } from "./onnx_util.ts";

const ort = await loadOrt();
const noOrt = typeof ort === "string" ? " (ignored: onnxruntime-node did not load)" : "";

function exported(m: nn.Module, shape: (number | string)[], seed = 3) {
  return m.exportGraph({ forward: { x: nn.spec.tensor(shape) } }, { seed }).graph;
}

Deno.test("onnx round trip: export then import gives the same listing and params", () => {
  const models: [nn.Module, (number | string)[]][] = [
    [new nn.MLP(), ["n", 784]],
    [nn.seedNormStats(new nn.ResNet18(10), 1), ["n", 3, 32, 32]],
  ];
  for (const [m, shape] of models) {
    const g = exported(m, shape);
    const back = onnx.importOnnx(onnx.exportOnnx(g));
    assert.equal(graph.printGraph(back), graph.printGraph(g));
    for (const [name, p] of g.params) {
      assert.deepEqual(back.params.get(name)!.data, p.data, name);
    }
  }
});

Deno.test("onnx round trip: every operator of a mixed graph survives export and import", () => {
  const b = graph.builder("mixed");
  const x = b.input("x", ["n", 4, 6, 6]);
  const w = b.param("w", new Float32Array(8 * 2 * 3 * 3).fill(0.1), [8, 2, 3, 3]);
  const c = b.call("conv2d", [x, w], { groups: 2, pads: [1, 1, 1, 1], strides: [2, 2] });
  const p = b.call("avgPool2d", [b.call("hardSwish", [c])], {
    kernel: [2, 2],
    countIncludePad: true,
  });
  const m = b.call("maxPool2d", [b.call("clip", [c], { min: 0, max: 6 })], { kernel: [2, 2] });
  const s = b.call("slice", [b.call("concat", [p, m], { axis: 1 })], {
    starts: [1],
    ends: [9],
    axes: [1],
    steps: [2],
  });
  const r = b.call("reduceSum", [b.call("hardSigmoid", [s], { alpha: 0.1 })], { axes: [2, 3] });
  const a = b.call("argmax", [r], { axis: 1, keepdims: false });
  const t = b.call("transpose", [b.call("reshape", [r], { shape: [0, 4] })], { perm: [1, 0] });
  b.output(b.call("softmax", [b.call("maximum", [t, b.call("neg", [t])])], { axis: 0 }), a);
  const g = b.build();
  assert.equal(graph.printGraph(onnx.importOnnx(onnx.exportOnnx(g))), graph.printGraph(g));
});

async function checkAgainstOrt(g: ReturnType<typeof exported>, feedShape: number[]) {
  if (typeof ort === "string") return;
  const n = feedShape.reduce((a, b) => a * b, 1);
  const feeds = { [g.inputs[0].name]: { shape: feedShape, data: randomData(n, 42) } };
  const bytes = onnx.exportOnnx(g);
  const [want] = await runOrt(ort, bytes, feeds);
  // Both the traced graph and its imported copy must compute what onnxruntime computes.
  for (const h of [g, onnx.importOnnx(bytes)]) {
    const [got] = evalGraph(h, feeds);
    assert.deepEqual(got.shape, want.dims);
    const r = compare(got.data, want.data);
    assert.ok(r.ok, `max abs ${r.maxAbs}, max rel ${r.maxRel}`);
  }
}

Deno.test({
  name: `onnx: the quick-start MLP matches onnxruntime at batch 3${noOrt}`,
  ignore: !!noOrt,
  fn: () => checkAgainstOrt(exported(new nn.MLP(), ["n", 784]), [3, 784]),
});

Deno.test({
  name:
    `onnx: ResNet-18 (32x32, 10 classes, seeded BatchNorm statistics) matches onnxruntime${noOrt}`,
  ignore: !!noOrt,
  fn: () =>
    checkAgainstOrt(exported(nn.seedNormStats(new nn.ResNet18(10), 2), [1, 3, 32, 32]), [
      1,
      3,
      32,
      32,
    ]),
});

Deno.test({
  name:
    `onnx: a small BERT layer (hidden 32, 4 heads, GELU, symbolic batch) matches onnxruntime${noOrt}`,
  ignore: !!noOrt,
  fn: () =>
    checkAgainstOrt(
      exported(nn.seedNormStats(new nn.BertLayer(32, 4, 64), 3), ["n", 8, 32]),
      [2, 8, 32],
    ),
});

Deno.test({
  name: `onnx: every nn layer's numerics match onnxruntime${noOrt}`,
  ignore: !!noOrt,
  async fn() {
    class Net extends nn.Module {
      conv = new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1, dilation: 2, groups: 2 });
      bn = new nn.BatchNorm2d(6);
      pool = new nn.MaxPool2d(2, { stride: 1 });
      avg = new nn.AvgPool2d(3, { stride: 1, padding: 1 });
      acts = new nn.Sequential(new nn.GELU("tanh"), new nn.Sigmoid(), new nn.Tanh());
      res = new nn.Residual(new nn.Sequential(new nn.ReLU(), new nn.Dropout()));
      gap = new nn.AdaptiveAvgPool2d(1);
      flat = new nn.Flatten();
      fc = new nn.Linear(6, 5);
      ln = new nn.LayerNorm(5);
      soft = new nn.Softmax(-1);
      forward(x: nn.Tensor) {
        let y = this.pool.forward(this.bn.forward(this.conv.forward(x)));
        y = this.res.forward(this.acts.forward(this.avg.forward(y)));
        return this.soft.forward(
          this.ln.forward(this.fc.forward(this.flat.forward(this.gap.forward(y)))),
        );
      }
    }
    await checkAgainstOrt(exported(nn.seedNormStats(new Net(), 4), ["n", 4, 11, 11]), [
      2,
      4,
      11,
      11,
    ]);
  },
});

Deno.test({
  name: `onnx: Embedding and MultiHeadAttention match onnxruntime${noOrt}`,
  ignore: !!noOrt,
  async fn() {
    if (typeof ort === "string") return;
    class Net extends nn.Module {
      emb = new nn.Embedding(20, 16);
      mha = new nn.MultiHeadAttention(16, 2);
      forward(ids: nn.Tensor) {
        return this.mha.forward(this.emb.forward(ids));
      }
    }
    const g = new Net().exportGraph({ forward: { ids: nn.spec.tensor(["b", 5], "int64") } }).graph;
    const feeds = {
      ids: { shape: [2, 5], dtype: "int64" as const, data: randomData(10, 5, 0, 20, "int64") },
    };
    const [want] = await runOrt(ort, onnx.exportOnnx(g), feeds);
    const [got] = evalGraph(g, feeds);
    const r = compare(got.data, want.data);
    assert.ok(r.ok, `max abs ${r.maxAbs}, max rel ${r.maxRel}`);
  },
});

const REAL = "model-files/hello_deepa.onnx";
const haveReal = (() => {
  try {
    return Deno.statSync(REAL).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: `onnx: the real wake-word model from openwakeword-js imports and matches onnxruntime${
    haveReal ? noOrt : " (ignored: run `deno task models` to fetch it)"
  }`,
  ignore: !haveReal || !!noOrt,
  async fn() {
    if (typeof ort === "string") return;
    const bytes = Deno.readFileSync(REAL);
    const g = onnx.importOnnx(bytes);
    assert.deepEqual(g.inputs[0].shape, [1, 25, 96]);
    const feeds = { [g.inputs[0].name]: { shape: [1, 25, 96], data: randomData(2400, 8) } };
    const [want] = await runOrt(ort, bytes, feeds);
    const [got] = evalGraph(g, feeds);
    const r = compare(got.data, want.data);
    assert.ok(r.ok, `max abs ${r.maxAbs}, max rel ${r.maxRel}`);
  },
});

// ---- misuse -------------------------------------------------------------------------------

const err = (f: () => unknown, re: RegExp) =>
  assert.throws(f, (e) => e instanceof TesseraError && re.test(e.message), String(re));

const tiny = (op: string, opset = 17, attrs = {}, domain?: string) =>
  modelBytes({
    inputs: [{ name: "x", shape: [2, 3] }],
    outputs: [{ name: "y" }],
    nodes: [{ op, inputs: ["x"], outputs: ["y"], name: "my_node", attrs, domain }],
    opset,
  });

Deno.test("onnx misuse: an unsupported operator names the operator, the node and the opset", () => {
  err(
    () => onnx.importOnnx(tiny("Celu")),
    /node "my_node" \(Celu, opset 17\).*Celu is not supported/,
  );
  err(
    () => onnx.importOnnx(tiny("Relu", 17, {}, "com.example")),
    /com\.example\.Relu is not supported/,
  );
});

Deno.test("onnx misuse: bad bytes, no graph, wrong opsets", () => {
  err(() => onnx.importOnnx(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])), /not an ONNX model/);
  err(
    () => onnx.importOnnx(new TextEncoder().encode("hello")),
    /not an ONNX model|without a graph/,
  );
  err(() => onnx.importOnnx(new Uint8Array()), /without a graph/);
  err(() => onnx.importOnnx("model.onnx" as never), /Uint8Array/);
  err(() => onnx.importOnnx(tiny("Relu", 11)), /opset 11; Tessera imports opsets 13-17/);
  err(() => onnx.importOnnx(tiny("Relu", 18)), /opset 18/);
  err(
    () => onnx.importOnnx(tiny("HardSwish", 13)),
    /HardSwish is an operator of opset 14 and later; the model imports opset 13/,
  );
  const m = decodeModel(tiny("Relu"));
  m.opsetImport = [{ domain: "com.microsoft", version: 1 }];
  err(() => onnx.importOnnx(encodeModel(m)), /no opset of the default ONNX domain/);
});

Deno.test("onnx misuse: attributes and inputs import cannot honour are refused by name", () => {
  err(
    () => onnx.importOnnx(tiny("Relu", 17, { fancy: 1 })),
    /my_node.*attribute fancy not supported/,
  );
  err(
    () => onnx.importOnnx(tiny("Softmax", 17, { axis: 1.5 })),
    /attribute axis must be an int/,
  );
  const pool = modelBytes({
    inputs: [{ name: "x", shape: [1, 1, 6, 6] }],
    outputs: [{ name: "y" }],
    nodes: [{
      op: "MaxPool",
      inputs: ["x"],
      outputs: ["y"],
      attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1], ceil_mode: 1 },
    }],
  });
  err(() => onnx.importOnnx(pool), /ceil_mode 1 changes the output size/);
  const reshape = modelBytes({
    inputs: [{ name: "x", shape: [2, 3] }, { name: "s", shape: [2], dtype: "int64" }],
    outputs: [{ name: "y" }],
    nodes: [{ op: "Reshape", inputs: ["x", "s"], outputs: ["y"] }],
  });
  err(() => onnx.importOnnx(reshape), /input 1 \(shape\) must be a constant at import/);
  const undef = modelBytes({
    inputs: [{ name: "x", shape: [2, 3] }],
    outputs: [{ name: "y" }],
    nodes: [{ op: "Add", inputs: ["x", "nowhere"], outputs: ["y"] }],
  });
  err(() => onnx.importOnnx(undef), /"nowhere" is not defined before it is used/);
  const bn = modelBytes({
    inputs: [{ name: "x", shape: [1, 2, 3, 3] }],
    outputs: [{ name: "y" }],
    inits: ["s", "b", "m", "v"].map((name) => ({
      name,
      shape: [2],
      data: new Float32Array(2).fill(1),
    })),
    nodes: [{
      op: "BatchNormalization",
      inputs: ["x", "s", "b", "m", "v"],
      outputs: ["y"],
      attrs: { training_mode: 1 },
    }],
  });
  err(() => onnx.importOnnx(bn), /training mode is not supported/);
  err(
    () => onnx.importOnnx(tiny("Relu"), { shapes: { z: [1, 2] } }),
    /options\.shapes names z, which is not an input/,
  );
  // A shape error in the imported graph names the node and both shapes.
  const mm = modelBytes({
    inputs: [{ name: "x", shape: [2, 3] }, { name: "w", shape: [4, 5] }],
    outputs: [{ name: "y" }],
    nodes: [{ op: "MatMul", inputs: ["x", "w"], outputs: ["y"] }],
  });
  err(() => onnx.importOnnx(mm), /node y = matmul\(x, w\).*\(2, 3\).*\(4, 5\)/);
});

Deno.test("onnx misuse: external weights and unsupported element types are explained", () => {
  const m = decodeModel(modelBytes({
    inputs: [{ name: "x", shape: [2] }],
    outputs: [{ name: "y" }],
    inits: [{ name: "c", shape: [2], data: new Float32Array(2) }],
    nodes: [{ op: "Add", inputs: ["x", "c"], outputs: ["y"] }],
  }));
  m.graph!.initializer![0].rawData = undefined;
  m.graph!.initializer![0].dataLocation = 1;
  m.graph!.initializer![0].externalData = [{ key: "location", value: "weights.bin" }];
  err(() => onnx.importOnnx(encodeModel(m)), /initializer c: .*external file/);
  const m2 = decodeModel(tiny("Relu"));
  m2.graph!.input![0].type!.tensorType!.elemType = 8; // STRING
  err(() => onnx.importOnnx(encodeModel(m2)), /element type STRING is not supported/);
});

Deno.test("onnx: dynamic dims import as symbols; options.shapes fixes them", () => {
  const bytes = onnx.exportOnnx(exported(new nn.MLP(), ["batch", 784]));
  assert.deepEqual(onnx.importOnnx(bytes).outputs[0].shape, ["batch", 10]);
  assert.deepEqual(onnx.importOnnx(bytes, { shapes: { x: [4, 784] } }).outputs[0].shape, [4, 10]);
  // A dim_param that is not a plain name is made one.
  const m = decodeModel(bytes);
  m.graph!.input![0].type!.tensorType!.shape!.dim![0] = { dimParam: "batch size" };
  assert.deepEqual(onnx.importOnnx(encodeModel(m)).inputs[0].shape, ["batch_size", 784]);
});
