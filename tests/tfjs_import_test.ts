/**
 * tfjs graph-model import against tfjs itself: small GraphDefs written here as the tfjs
 * converter writes them (NHWC convolutions and pools, fused MatMul/Conv2D epilogues, batch
 * norm, the common elementwise and shape operators), run by @tensorflow/tfjs-converter on the
 * CPU backend and, imported, by the plain reference; outputs compared at 1e-4 abs / 1e-3 rel.
 * Misuse: unknown operators, missing shards, layers models.
 */
import assert from "node:assert/strict";
import { TesseraError, tfjsGraph } from "../mod.ts";
import type { ModelJson } from "../lib/graph/tfjs/model.ts";
import { evalGraph } from "./graph_ref_util.ts";
import { compare, randomData } from "./onnx_util.ts";

type Tf = typeof import("@tensorflow/tfjs-core");
type Tfc = typeof import("@tensorflow/tfjs-converter");

const peer: { tf: Tf; tfc: Tfc } | string = await (async () => {
  try {
    const tf = await import("@tensorflow/tfjs-core");
    await import("@tensorflow/tfjs-backend-cpu");
    await tf.setBackend("cpu");
    const tfc = await import("@tensorflow/tfjs-converter");
    return { tf, tfc };
  } catch (e) {
    return String(e);
  }
})();
const why = typeof peer === "string" ? " (ignored: tfjs-converter did not load)" : "";

// ---- GraphDef JSON helpers ---------------------------------------------------------------

type Attr = Record<string, unknown>;
const T = { T: { type: "DT_FLOAT" } };
const ints = (xs: number[]) => ({ list: { i: xs.map(String) } });
const str = (s: string) => ({ s: btoa(s) });
const strs = (xs: string[]) => ({ list: { s: xs.map((s) => btoa(s)) } });

interface Weight {
  name: string;
  shape: number[];
  data: Float32Array | Int32Array;
}

class Model {
  nodes: { name: string; op: string; input?: string[]; attr?: Attr }[] = [];
  weights: Weight[] = [];
  #k = 0;

  input(name: string, shape: number[]) {
    this.nodes.push({
      name,
      op: "Placeholder",
      attr: {
        dtype: { type: "DT_FLOAT" },
        shape: { shape: { dim: shape.map((s) => ({ size: String(s) })) } },
      },
    });
    return name;
  }

  const(shape: number[], lo = -1, hi = 1, name = `c${this.#k++}`) {
    const n = shape.reduce((a, b) => a * b, 1);
    return this.weight(name, shape, randomData(n, 50 + this.#k, lo, hi) as Float32Array);
  }

  ints(vals: number[]) {
    return this.weight(`i${this.#k++}`, [vals.length], Int32Array.from(vals), "DT_INT32");
  }

  weight(name: string, shape: number[], data: Float32Array | Int32Array, type = "DT_FLOAT") {
    this.weights.push({ name, shape, data });
    this.nodes.push({
      name,
      op: "Const",
      attr: { dtype: { type }, value: { tensor: { dtype: type } } },
    });
    return name;
  }

  op(op: string, input: string[], attr: Attr = T) {
    const name = `${op.toLowerCase()}_${this.#k++}`;
    this.nodes.push({ name, op, input, attr: { ...T, ...attr } });
    return name;
  }

  json(): ModelJson {
    return {
      format: "graph-model",
      modelTopology: {
        node: this.nodes as ModelJson["modelTopology"]["node"],
        versions: { producer: 1 },
      },
      weightsManifest: [{
        paths: ["group1-shard1of1.bin"],
        weights: this.weights.map((w) => ({
          name: w.name,
          shape: w.shape,
          dtype: w.data instanceof Int32Array ? "int32" : "float32",
        })),
      }],
    };
  }

  bytes(): Uint8Array {
    const parts = this.weights.map((w) => new Uint8Array(w.data.buffer));
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

async function check(m: Model, inputShape: number[], output: string) {
  if (typeof peer === "string") return;
  const { tf, tfc } = peer;
  const json = m.json(), bytes = m.bytes();
  const model = await tfc.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest![0].weights as never,
    weightData: bytes.slice().buffer,
  }));
  const n = inputShape.reduce((a, b) => a * b, 1);
  const data = randomData(n, 11) as Float32Array;
  const out = model.execute(
    tf.tensor(data, inputShape),
    output,
  ) as import("@tensorflow/tfjs-core").Tensor;
  const want = await out.data();
  const g = tfjsGraph.importTfjs(json, bytes, { outputs: [output] });
  const [got] = evalGraph(g, { [g.inputs[0].name]: { shape: inputShape, data } });
  assert.deepEqual(got.shape, out.shape);
  const r = compare(got.data, want);
  assert.ok(r.ok, `max abs ${r.maxAbs}, max rel ${r.maxRel}`);
  return g;
}

Deno.test({
  name: `tfjs import vs tfjs: an MLP with _FusedMatMul, BiasAdd and Softmax${why}`,
  ignore: !!why,
  async fn() {
    const m = new Model();
    const x = m.input("x", [-1, 8]);
    const h = m.op("_FusedMatMul", [x, m.const([8, 16]), m.const([16])], {
      fused_ops: strs(["BiasAdd", "Relu"]),
      num_args: { i: "1" },
      transpose_a: { b: false },
      transpose_b: { b: false },
    });
    const y = m.op("BiasAdd", [
      m.op("MatMul", [h, m.const([4, 16])], { transpose_b: { b: true } }),
      m.const([4]),
    ]);
    const g = await check(m, [3, 8], m.op("Softmax", [y]));
    if (g) assert.deepEqual(g.inputs[0].shape, ["n", 8]);
  },
});

Deno.test({
  name:
    `tfjs import vs tfjs: an NHWC CNN (Conv2D SAME, batch norm, Relu6, depthwise, pools, Mean)${why}`,
  ignore: !!why,
  async fn() {
    const m = new Model();
    const x = m.input("x", [1, 9, 9, 3]);
    let y = m.op("Conv2D", [x, m.const([3, 3, 3, 4])], {
      strides: ints([1, 2, 2, 1]),
      padding: str("SAME"),
      data_format: str("NHWC"),
      dilations: ints([1, 1, 1, 1]),
    });
    y = m.op("FusedBatchNormV3", [
      y,
      m.const([4], 0.5, 1.5),
      m.const([4]),
      m.const([4]),
      m.const([4], 0.5, 2),
    ], {
      epsilon: { f: 0.001 },
      is_training: { b: false },
      data_format: str("NHWC"),
    });
    y = m.op("Relu6", [y]);
    y = m.op("DepthwiseConv2dNative", [y, m.const([3, 3, 4, 2])], {
      strides: ints([1, 1, 1, 1]),
      padding: str("VALID"),
      dilations: ints([1, 1, 1, 1]),
    });
    y = m.op("MaxPool", [y], {
      ksize: ints([1, 2, 2, 1]),
      strides: ints([1, 1, 1, 1]),
      padding: str("SAME"),
    });
    y = m.op("AvgPool", [y], {
      ksize: ints([1, 2, 2, 1]),
      strides: ints([1, 2, 2, 1]),
      padding: str("SAME"),
    });
    await check(m, [1, 9, 9, 3], m.op("Mean", [y, m.ints([1, 2])], { keep_dims: { b: false } }));
  },
});

Deno.test({
  name:
    `tfjs import vs tfjs: _FusedConv2D with bias and Relu, shape and elementwise operators${why}`,
  ignore: !!why,
  async fn() {
    const m = new Model();
    const x = m.input("x", [2, 6, 6, 2]);
    let y = m.op("_FusedConv2D", [x, m.const([2, 2, 2, 3]), m.const([3])], {
      fused_ops: strs(["BiasAdd", "Relu"]),
      num_args: { i: "1" },
      strides: ints([1, 1, 1, 1]),
      padding: str("VALID"),
      data_format: str("NHWC"),
      dilations: ints([1, 1, 1, 1]),
    });
    y = m.op("Reshape", [y, m.ints([2, -1])]);
    y = m.op("Transpose", [y, m.ints([1, 0])]);
    y = m.op("ConcatV2", [y, m.op("Square", [y]), m.ints([0])]);
    const s = m.op("Sigmoid", [y]);
    const t = m.op("Tanh", [m.op("Rsqrt", [m.op("AddV2", [s, m.const([2], 0.5, 1)])])]);
    y = m.op("RealDiv", [m.op("Sub", [m.op("Mul", [s, t]), y]), m.const([], 1, 2)]);
    y = m.op("ExpandDims", [m.op("Identity", [y]), m.ints([0])]);
    await check(m, [2, 6, 6, 2], m.op("Squeeze", [y], { squeeze_dims: ints([0]) }));
  },
});

Deno.test("tfjs import misuse: unknown operators, missing weights, layers models", () => {
  const err = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e) => e instanceof TesseraError && re.test(e.message), String(re));
  const m = new Model();
  const x = m.input("x", [1, 4]);
  m.op("Elu", [x]);
  err(
    () => tfjsGraph.importTfjs(m.json(), m.bytes()),
    /tfjs node "elu_0" \(Elu\): operator Elu is not supported/,
  );
  const m2 = new Model();
  m2.op("Relu", [m2.op("Add", [m2.input("x", [1, 4]), m2.const([4])])]);
  err(
    () => tfjsGraph.importTfjs(m2.json(), m2.bytes().slice(0, 8)),
    /a shard is missing or truncated/,
  );
  err(
    () => tfjsGraph.importTfjs({ modelTopology: {} } as ModelJson, new Uint8Array()),
    /no modelTopology\.node/,
  );
  err(() => tfjsGraph.importTfjs("{not json", new Uint8Array()), /not JSON/);
});
