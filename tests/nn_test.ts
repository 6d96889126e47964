/**
 * The nn frontend: TVM's quick-start MLP exported with a symbolic batch, parameter names and
 * seeded values, given data, every layer's traced form, the reference models' shapes, and the
 * errors a user can cause. Numerics are checked against onnxruntime in onnx_test.ts.
 */
import assert from "node:assert/strict";
import { graph, nn, TesseraError } from "../mod.ts";
import { MLPModel } from "../examples/quickstart_mlp.ts";

const fwd = (shape: (number | string)[], dtype: "float32" | "int64" = "float32") => ({
  forward: { x: nn.spec.tensor(shape, dtype) },
});

Deno.test("nn: the quick-start MLP exports with a symbolic batch, as TVM lists it", () => {
  const { graph: g, params } = new MLPModel().exportGraph(fwd(["n", 784]));
  assert.equal(g.name, "forward");
  assert.deepEqual(g.nodes.map((n) => n.op), [
    "transpose",
    "matmul",
    "add",
    "relu",
    "transpose",
    "matmul",
    "add",
  ]);
  assert.deepEqual(g.outputs[0].shape, ["n", 10]);
  assert.deepEqual([...params.keys()], ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
  assert.deepEqual(params.get("fc1.weight")!.shape, [256, 784]);
  assert.match(graph.printGraph(g), /def forward\(x: R.Tensor\(\(n, 784\), "float32"\)\)/);
});

Deno.test("nn: seeded parameters depend on the seed and the name only, within PyTorch's bound", () => {
  const a = new MLPModel().exportGraph(fwd([1, 784]), { seed: 7 }).params;
  const b = new MLPModel().exportGraph(fwd([2, 784]), { seed: 7 }).params;
  const c = new MLPModel().exportGraph(fwd([1, 784]), { seed: 8 }).params;
  const w = (p: typeof a) => p.get("fc1.weight")!.data as Float32Array;
  assert.deepEqual(w(a), w(b));
  assert.notDeepEqual(w(a), w(c));
  const bound = 1 / Math.sqrt(784);
  assert.ok(w(a).every((v) => Math.abs(v) <= bound));
  // Not all one value, and spread over the interval.
  const max = w(a).reduce((p, q) => Math.max(p, q)), min = w(a).reduce((p, q) => Math.min(p, q));
  assert.ok(max > 0.9 * bound && min < -0.9 * bound);
  // fc1.weight and fc2.weight are different streams.
  assert.notEqual(w(a)[0], (a.get("fc2.weight")!.data as Float32Array)[0]);
});

Deno.test("nn: parameters given as data are used as given; a wrong length names the parameter", () => {
  const m = new MLPModel();
  const bias = new Float32Array(10).fill(3);
  m.loadParams({ "fc2.bias": bias });
  assert.equal(m.exportGraph(fwd([1, 784])).params.get("fc2.bias")!.data, bias);
  assert.throws(
    () => m.loadParams({ "fc2.bias": new Float32Array(9) }),
    (e) => e instanceof TesseraError && /fc2\.bias/.test(e.message),
  );
  assert.throws(
    () => m.loadParams({ "fc3.bias": bias }),
    (e) => e instanceof TesseraError && /fc1\.weight/.test(e.message),
  );
});

Deno.test("nn: layers trace to the graph's operators with their attributes", () => {
  class Net extends nn.Module {
    conv = new nn.Conv2d(4, 8, 3, { stride: 2, padding: 1, dilation: 1, groups: 2 });
    bn = new nn.BatchNorm2d(8);
    pool = new nn.MaxPool2d(2);
    avg = new nn.AvgPool2d(3, { stride: 1, padding: 1 });
    act = new nn.Sequential(new nn.ReLU(), new nn.Sigmoid(), new nn.Tanh(), new nn.GELU("tanh"));
    drop = new nn.Dropout(0.1);
    gap = new nn.AdaptiveAvgPool2d(1);
    flat = new nn.Flatten();
    fc = new nn.Linear(8, 5, false);
    soft = new nn.Softmax(1);
    forward(x: nn.Tensor) {
      let y = this.pool.forward(this.bn.forward(this.conv.forward(x)));
      y = this.drop.forward(this.act.forward(this.avg.forward(y)));
      return this.soft.forward(this.fc.forward(this.flat.forward(this.gap.forward(y))));
    }
  }
  const { graph: g, params } = new Net().exportGraph(fwd(["b", 4, 16, 16]));
  assert.deepEqual(g.nodes.map((n) => n.op), [
    "conv2d",
    "batchNorm",
    "maxPool2d",
    "avgPool2d",
    "relu",
    "sigmoid",
    "tanh",
    "gelu",
    "globalAvgPool",
    "reshape",
    "transpose",
    "matmul",
    "softmax",
  ]);
  const conv = g.nodes[0];
  assert.deepEqual(conv.attrs, {
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    dilations: [1, 1],
    groups: 2,
  });
  assert.deepEqual(conv.outputs[0].shape, ["b", 8, 8, 8]);
  assert.deepEqual(g.nodes[2].outputs[0].shape, ["b", 8, 4, 4]);
  assert.equal((g.nodes[3].attrs as { countIncludePad: boolean }).countIncludePad, true);
  assert.deepEqual(g.nodes[9].outputs[0].shape, ["b", 8]);
  assert.deepEqual(g.outputs[0].shape, ["b", 5]);
  assert.deepEqual([...params.keys()], [
    "conv.weight",
    "conv.bias",
    "bn.weight",
    "bn.bias",
    "bn.running_mean",
    "bn.running_var",
    "fc.weight",
  ]);
  assert.deepEqual(params.get("conv.weight")!.shape, [8, 2, 3, 3]);
  assert.deepEqual([...params.get("bn.running_var")!.data as Float32Array], Array(8).fill(1));
});

Deno.test("nn: Embedding gathers rows; Residual adds its input", () => {
  class Net extends nn.Module {
    emb = new nn.Embedding(100, 16);
    block = new nn.Residual(new nn.Sequential(new nn.LayerNorm(16), new nn.Linear(16, 16)));
    forward(ids: nn.Tensor) {
      return this.block.forward(this.emb.forward(ids));
    }
  }
  const { graph: g } = new Net().exportGraph(fwd(["b", 12], "int64"));
  assert.deepEqual(g.nodes.map((n) => n.op), [
    "gather",
    "layerNorm",
    "transpose",
    "matmul",
    "add",
    "add",
  ]);
  assert.deepEqual(g.outputs[0].shape, ["b", 12, 16]);
  const last = g.nodes[g.nodes.length - 1];
  assert.equal(last.inputs[0], g.nodes[0].outputs[0]);
});

Deno.test("nn: MultiHeadAttention splits heads and keeps a symbolic batch", () => {
  class Net extends nn.Module {
    mha = new nn.MultiHeadAttention(32, 4);
    forward(x: nn.Tensor) {
      return this.mha.forward(x);
    }
  }
  const { graph: g, params } = new Net().exportGraph(fwd(["b", 10, 32]));
  assert.deepEqual(g.outputs[0].shape, ["b", 10, 32]);
  const scores = g.nodes.find((n) => n.op === "softmax")!;
  assert.deepEqual(scores.outputs[0].shape, ["b", 4, 10, 10]);
  assert.equal(params.size, 8 + 1); // 4 projections x (weight, bias) and the 1/sqrt(d) scale
  assert.deepEqual([...params.get("const0")!.data as Float32Array], [
    Math.fround(1 / Math.sqrt(8)),
  ]);
});

Deno.test("nn: the reference models export with the right output shapes", () => {
  const r = new nn.ResNet18().exportGraph(fwd(["n", 3, 224, 224]));
  assert.deepEqual(r.graph.outputs[0].shape, ["n", 1000]);
  assert.equal(r.graph.nodes.filter((n) => n.op === "conv2d").length, 20);
  // torchvision's parameter count: 11,689,512.
  let count = 0;
  for (const p of r.params.values()) count += p.shape.reduce((a, b) => a * b, 1);
  const bnStats = [...r.params.keys()].filter((k) => /running_/.test(k));
  for (const k of bnStats) count -= r.params.get(k)!.shape[0];
  assert.equal(count, 11689512);
  assert.ok(r.params.has("layer2.0.downsample.0.weight"));
  const bert = new nn.BertLayer().exportGraph(fwd([1, 128, 768]));
  assert.deepEqual(bert.graph.outputs[0].shape, [1, 128, 768]);
  assert.equal(bert.graph.nodes.filter((n) => n.op === "layerNorm").length, 2);
});

Deno.test("nn: misuse is a TesseraError that says what was wrong", () => {
  const err = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e) => e instanceof TesseraError && re.test(e.message));
  err(() => new nn.Linear(0, 3), /inFeatures must be a positive integer/);
  err(() => new nn.Conv2d(3, 8, 3, { groups: 2 }), /groups 2 must divide inChannels 3/);
  err(() => new nn.MultiHeadAttention(30, 4), /not divisible by numHeads/);
  err(() => new nn.AdaptiveAvgPool2d(2), /only 1/);
  // A shape error while tracing names the node and both shapes.
  err(() => new MLPModel().exportGraph(fwd(["n", 783])), /matmul.*\(n, 783\).*\(784, 256\)/);
  err(() => new MLPModel().exportGraph({ forward: { x: [1, 784] } } as never), /spec\.tensor/);
  err(() => new MLPModel().exportGraph(fwd([1, 784]), { seed: 1.5 }), /seed must be an integer/);
  class Stray extends nn.Module {
    forward(x: nn.Tensor) {
      return new nn.Linear(4, 4).forward(x);
    }
  }
  err(() => new Stray().exportGraph(fwd([1, 4])), /not a field/);
  class Leaky extends nn.Module {
    forward() {
      return new MLPModel().exportGraph(fwd([1, 784])).graph as never;
    }
  }
  err(() => new Leaky().exportGraph(fwd([1, 4])), /must return tensors/);
});

Deno.test("nn: a scalar constant's name never takes a parameter's", () => {
  class Net extends nn.Module {
    const0 = new nn.Parameter([3], nn.init.ones());
    forward(x: nn.Tensor) {
      return x.mul(2).add(x.ctx.wrap(x.ctx.param(this.const0)));
    }
  }
  const { params } = new Net().exportGraph(fwd([2, 3]));
  assert.deepEqual([...params.keys()].sort(), ["const0", "const1"]);
  assert.deepEqual([...params.get("const0")!.data as Float32Array], [1, 1, 1]);
  assert.deepEqual([...params.get("const1")!.data as Float32Array], [2]);
});

Deno.test("nn: a module shows itself as PyTorch's repr, in text and in a notebook", () => {
  const m = new MLPModel();
  assert.equal(
    String(m),
    [
      "MLPModel(",
      "  (fc1): Linear(in_features=784, out_features=256, bias=True)",
      "  (relu1): ReLU()",
      "  (fc2): Linear(in_features=256, out_features=10, bias=True)",
      ")",
    ].join("\n"),
  );
  assert.equal(Deno.inspect(m), String(m));
  const bundle = (m as unknown as Record<symbol, () => Record<string, string>>)[
    Symbol.for("Jupyter.display")
  ]();
  assert.match(bundle["text/plain"], /# 4 parameters, 203530 elements/);
  assert.match(bundle["text/html"], /<pre>MLPModel\(\n {2}\(fc1\): Linear\(in_features=784/);
  const block = String(new nn.BasicBlock(64, 128, 2));
  assert.match(
    block,
    /\(downsample\): Sequential\(\n {4}\(0\): Conv2d\(64, 128, kernel_size=\(1, 1\), stride=\(2, 2\)/,
  );
  assert.match(
    String(new nn.MultiHeadAttention(16, 2)),
    /^MultiHeadAttention\(embed_dim=16, num_heads=2,\n {2}\(q_proj\)/,
  );
});
