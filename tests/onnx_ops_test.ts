/**
 * Every ONNX operator import supports, checked against onnxruntime-node: a one-to-few-node
 * model per case on small shapes with seeded inputs, imported, evaluated by the plain
 * reference (graph_ref_util.ts) and compared with onnxruntime's outputs at the issue's
 * tolerance; where the graph core's interpreter is present (graph.interpret) it is held to
 * onnxruntime too. Dynamic dimensions, Constant-node weights and folded Shape chains are cases.
 * Without onnxruntime-node the cases are ignored, and their names say so.
 */
import assert from "node:assert/strict";
import { graph, nd, type NDArray } from "../mod.ts";
import type { Graph } from "../lib/graph/ir.ts";
import { importOnnx } from "../lib/graph/onnx/import.ts";
import type { DType } from "../lib/ir/dtype.ts";
import { evalGraph } from "./graph_ref_util.ts";
import {
  compare,
  type InitSpec,
  loadOrt,
  modelBytes,
  type NodeSpec,
  randomData,
  runOrt,
} from "./onnx_util.ts";

const ort = await loadOrt();
const skip = typeof ort === "string";

/** The graph core's interpreter, when this branch has it (graph.interpret). */
const interpret = (graph as unknown as {
  interpret?: (g: Graph, inputs: Record<string, NDArray>) => NDArray[];
}).interpret;

interface Input {
  name: string;
  /** Declared shape (symbols allowed) and the concrete shape fed. */
  shape: (number | string)[];
  feed?: number[];
  dtype?: DType;
  lo?: number;
  hi?: number;
}

interface Case {
  name: string;
  inputs: Input[];
  nodes: NodeSpec[];
  inits?: InitSpec[];
  outputs?: { name: string; dtype?: DType }[];
  opset?: number;
  extraOpsets?: { domain: string; version: number }[];
  /** Graph operators the import must produce (in order, as a subsequence check). */
  ops?: string[];
}

const f32 = (shape: number[], seed: number, lo = -2, hi = 2): InitSpec & { name: "" } => ({
  name: "",
  shape,
  data: randomData(shape.reduce((a, b) => a * b, 1), seed, lo, hi),
});
const init = (name: string, shape: number[], seed: number, lo = -2, hi = 2): InitSpec => ({
  ...f32(shape, seed, lo, hi),
  name,
});
const i64 = (name: string, vals: number[]): InitSpec => ({
  name,
  shape: [vals.length],
  dtype: "int64",
  data: BigInt64Array.from(vals.map(BigInt)),
});
const one = (op: string, inputs: string[], attrs?: NodeSpec["attrs"]): NodeSpec => ({
  op,
  inputs,
  outputs: ["y"],
  attrs,
});
const X = (shape: (number | string)[], extra: Partial<Input> = {}): Input => ({
  name: "x",
  shape,
  ...extra,
});

const unaryCases: Case[] = ["Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Neg"].map((op) => ({
  name: op,
  inputs: [X([2, 3, 5])],
  nodes: [one(op, ["x"])],
}));

const CASES: Case[] = [
  ...unaryCases,
  { name: "Sqrt", inputs: [X([4, 6], { lo: 0.1, hi: 3 })], nodes: [one("Sqrt", ["x"])] },
  ...["Add", "Sub", "Mul", "Div"].map((op): Case => ({
    name: `${op} broadcasting (2,1,4) with (3,1)`,
    inputs: [X([2, 1, 4]), { name: "b", shape: [3, 1], lo: 0.5, hi: 2 }],
    nodes: [one(op, ["x", "b"])],
  })),
  {
    name: "Max of three and Min of two, broadcasting",
    inputs: [X([2, 3]), { name: "b", shape: [3] }, { name: "c", shape: [2, 1] }],
    nodes: [
      { op: "Max", inputs: ["x", "b", "c"], outputs: ["m"] },
      one("Min", ["m", "b"]),
    ],
  },
  {
    name: "Pow with a Constant exponent (decomposed LayerNorm style)",
    inputs: [X([3, 4])],
    nodes: [
      { op: "Constant", inputs: [], outputs: ["two"], attrs: { value_float: { f: 2 } } },
      one("Pow", ["x", "two"]),
    ],
  },
  {
    name: "Pow of two tensors",
    inputs: [X([3, 4], { lo: 0.2, hi: 2 }), { name: "e", shape: [4], lo: -1, hi: 2 }],
    nodes: [one("Pow", ["x", "e"])],
  },
  {
    name: "MatMul with batch broadcasting",
    inputs: [X([2, 3, 4]), { name: "b", shape: [4, 5] }],
    nodes: [one("MatMul", ["x", "b"])],
  },
  {
    name: "MatMul batched both sides",
    inputs: [X([2, 1, 3, 4]), { name: "b", shape: [3, 4, 2] }],
    nodes: [one("MatMul", ["x", "b"])],
  },
  {
    name: "Gemm transA transB alpha beta with C",
    inputs: [X([4, 3])],
    inits: [init("w", [5, 4], 1), init("c", [5], 2)],
    nodes: [one("Gemm", ["x", "w", "c"], { transA: 1, transB: 1, alpha: 0.5, beta: 2.5 })],
  },
  {
    name: "Gemm without C",
    inputs: [X(["n", 4], { feed: [3, 4] })],
    inits: [init("w", [4, 6], 1)],
    nodes: [one("Gemm", ["x", "w"])],
  },
  {
    name: "Gelu (com.microsoft)",
    inputs: [X([3, 7])],
    nodes: [{ ...one("Gelu", ["x"]), domain: "com.microsoft" }],
    extraOpsets: [{ domain: "com.microsoft", version: 1 }],
  },
  {
    name: "Clip with min and max inputs",
    inputs: [X([3, 5])],
    inits: [{ name: "lo", shape: [], data: new Float32Array([-0.5]) }, {
      name: "hi",
      shape: [],
      data: new Float32Array([1.25]),
    }],
    nodes: [one("Clip", ["x", "lo", "hi"])],
  },
  {
    name: "Clip with max only",
    inputs: [X([3, 5])],
    inits: [{ name: "hi", shape: [], data: new Float32Array([0.5]) }],
    nodes: [one("Clip", ["x", "", "hi"])],
  },
  {
    name: "HardSigmoid alpha beta",
    inputs: [X([3, 5], { lo: -6, hi: 6 })],
    nodes: [one("HardSigmoid", ["x"], { alpha: 0.3, beta: 0.4 })],
  },
  { name: "HardSwish", inputs: [X([4, 5], { lo: -5, hi: 5 })], nodes: [one("HardSwish", ["x"])] },
  { name: "Softmax axis 1", inputs: [X([2, 4, 3])], nodes: [one("Softmax", ["x"], { axis: 1 })] },
  { name: "Softmax default axis", inputs: [X([2, 4, 3])], nodes: [one("Softmax", ["x"])] },
  {
    name: "ReduceMean axes keepdims 0",
    inputs: [X([2, 3, 4])],
    nodes: [one("ReduceMean", ["x"], { axes: [0, -1], keepdims: 0 })],
  },
  {
    name: "ReduceSum axes input",
    inputs: [X([2, 3, 4])],
    inits: [i64("axes", [1])],
    nodes: [one("ReduceSum", ["x", "axes"])],
  },
  {
    name: "ReduceSum all axes",
    inputs: [X([2, 3, 4])],
    nodes: [one("ReduceSum", ["x"], { keepdims: 0 })],
  },
  {
    name: "LayerNormalization over the last two axes",
    inputs: [X([2, 3, 4])],
    inits: [init("g", [3, 4], 1), init("b", [3, 4], 2)],
    nodes: [one("LayerNormalization", ["x", "g", "b"], { axis: -2, epsilon: 1e-3 })],
  },
  {
    name: "BatchNormalization",
    inputs: [X(["n", 3, 4, 4], { feed: [2, 3, 4, 4] })],
    inits: [
      init("s", [3], 1),
      init("b", [3], 2),
      init("m", [3], 3),
      init("v", [3], 4, 0.5, 2),
    ],
    nodes: [one("BatchNormalization", ["x", "s", "b", "m", "v"], { epsilon: 1e-3 })],
  },
  {
    name: "Conv groups stride pads dilations bias",
    inputs: [X([1, 4, 9, 8])],
    inits: [init("w", [6, 2, 3, 3], 1), init("b", [6], 2)],
    nodes: [one("Conv", ["x", "w", "b"], {
      group: 2,
      strides: [2, 1],
      pads: [1, 0, 2, 1],
      dilations: [1, 2],
      kernel_shape: [3, 3],
    })],
  },
  {
    name: "Conv auto_pad SAME_UPPER depthwise",
    inputs: [X([2, 3, 7, 7])],
    inits: [init("w", [3, 1, 4, 4], 1)],
    nodes: [one("Conv", ["x", "w"], { group: 3, strides: [2, 2], auto_pad: "SAME_UPPER" })],
  },
  {
    name: "MaxPool with pads",
    inputs: [X([1, 2, 7, 7])],
    nodes: [one("MaxPool", ["x"], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] })],
  },
  {
    name: "AveragePool count_include_pad 0",
    inputs: [X([1, 2, 6, 6])],
    nodes: [one("AveragePool", ["x"], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] })],
  },
  {
    name: "AveragePool count_include_pad 1",
    inputs: [X([1, 2, 6, 6])],
    nodes: [one("AveragePool", ["x"], {
      kernel_shape: [3, 2],
      strides: [2, 2],
      pads: [1, 1, 1, 1],
      count_include_pad: 1,
    })],
  },
  {
    name: "GlobalAveragePool",
    inputs: [X(["n", 3, 5, 4], { feed: [2, 3, 5, 4] })],
    nodes: [one("GlobalAveragePool", ["x"])],
  },
  {
    name: "Flatten axis 1 with a symbolic batch",
    inputs: [X(["n", 3, 4, 2], { feed: [2, 3, 4, 2] })],
    nodes: [one("Flatten", ["x"], { axis: 1 })],
  },
  {
    name: "Flatten axis 2",
    inputs: [X([2, 3, 4, 2])],
    nodes: [one("Flatten", ["x"], { axis: 2 })],
  },
  {
    name: "Reshape with 0 and -1",
    inputs: [X([2, 3, 4])],
    inits: [i64("s", [0, -1, 2])],
    nodes: [one("Reshape", ["x", "s"])],
  },
  {
    name: "Transpose",
    inputs: [X([2, 3, 4])],
    nodes: [one("Transpose", ["x"], { perm: [2, 0, 1] })],
  },
  {
    name: "Concat with an initializer",
    inputs: [X([2, 3])],
    inits: [init("c", [2, 2], 5)],
    nodes: [one("Concat", ["x", "c", "x"], { axis: -1 })],
  },
  {
    name: "Slice with negative step and clamped ends",
    inputs: [X([5, 6])],
    inits: [i64("st", [-1, 1]), i64("en", [-100, 1000]), i64("ax", [0, 1]), i64("sp", [-2, 2])],
    nodes: [one("Slice", ["x", "st", "en", "ax", "sp"])],
  },
  {
    name: "Squeeze and Unsqueeze",
    inputs: [X([2, 1, 3])],
    inits: [i64("a1", [1]), i64("a2", [0, 3])],
    nodes: [
      { op: "Squeeze", inputs: ["x", "a1"], outputs: ["s"] },
      one("Unsqueeze", ["s", "a2"]),
    ],
  },
  {
    name: "Split with sizes, three outputs",
    inputs: [X([2, 7])],
    inits: [i64("sp", [2, 4, 1])],
    nodes: [
      { op: "Split", inputs: ["x", "sp"], outputs: ["a", "b", "c"], attrs: { axis: 1 } },
      { op: "Concat", inputs: ["c", "a", "b"], outputs: ["y"], attrs: { axis: -1 } },
    ],
  },
  {
    name: "Split in equal parts (a Q/K/V split)",
    inputs: [X(["n", 6, 2], { feed: [2, 6, 2] })],
    nodes: [
      { op: "Split", inputs: ["x"], outputs: ["q", "k", "v"], attrs: { axis: 1 } },
      { op: "Mul", inputs: ["q", "k"], outputs: ["qk"] },
      one("Sub", ["qk", "v"]),
    ],
  },
  {
    name: "Expand with a symbolic batch, ConstantOfShape and Range folded",
    inputs: [X(["n", 1, 3], { feed: [2, 1, 3] })],
    inits: [
      i64("shape", [1, 4, 1]),
      i64("cshape", [3]),
      { name: "r0", shape: [], dtype: "float32" as const, data: new Float32Array([0.5]) },
      { name: "r1", shape: [], dtype: "float32" as const, data: new Float32Array([2]) },
      { name: "r2", shape: [], dtype: "float32" as const, data: new Float32Array([0.5]) },
    ],
    nodes: [
      { op: "Expand", inputs: ["x", "shape"], outputs: ["e"] },
      { op: "ConstantOfShape", inputs: ["cshape"], outputs: ["z"] },
      { op: "Range", inputs: ["r0", "r1", "r2"], outputs: ["rg"] },
      { op: "Add", inputs: ["e", "z"], outputs: ["ez"] },
      one("Mul", ["ez", "rg"]),
    ],
  },
  {
    name: "Identity and Dropout",
    inputs: [X([2, 3])],
    nodes: [
      { op: "Identity", inputs: ["x"], outputs: ["i"] },
      { op: "Dropout", inputs: ["i"], outputs: ["d"] },
      one("Relu", ["d"]),
    ],
  },
  {
    name: "weights as Constant nodes",
    inputs: [X([2, 4])],
    nodes: [
      {
        op: "Constant",
        inputs: [],
        outputs: ["w"],
        attrs: {},
      },
      one("MatMul", ["x", "w"]),
    ],
  },
  {
    name: "Shape -> Gather -> Unsqueeze -> Concat -> Reshape with a dynamic batch folds",
    inputs: [X(["batch", 3, 4], { feed: [2, 3, 4] })],
    inits: [
      { name: "zero", shape: [], dtype: "int64", data: new BigInt64Array([0n]) },
      i64("ax0", [0]),
      i64("tail", [2, 6]),
    ],
    nodes: [
      { op: "Shape", inputs: ["x"], outputs: ["sh"] },
      { op: "Gather", inputs: ["sh", "zero"], outputs: ["b"], attrs: { axis: 0 } },
      { op: "Unsqueeze", inputs: ["b", "ax0"], outputs: ["b1"] },
      { op: "Concat", inputs: ["b1", "tail"], outputs: ["shape"], attrs: { axis: 0 } },
      one("Reshape", ["x", "shape"]),
    ],
    ops: ["reshape"],
  },
  {
    name: "PyTorch-style attention with batch and sequence both dynamic (Shape chains fold)",
    inputs: [X(["batch", "seq", 8], { feed: [2, 5, 8] })],
    inits: [
      { name: "zero", shape: [], dtype: "int64", data: new BigInt64Array([0n]) },
      { name: "one", shape: [], dtype: "int64", data: new BigInt64Array([1n]) },
      i64("ax0", [0]),
      i64("heads", [2, 4]),
      i64("hidden", [8]),
      init("wq", [8, 8], 1),
      init("wk", [8, 8], 2),
      { name: "scale", shape: [], data: new Float32Array([0.5]) },
    ],
    nodes: [
      { op: "Shape", inputs: ["x"], outputs: ["sh"] },
      { op: "Gather", inputs: ["sh", "zero"], outputs: ["b"], attrs: { axis: 0 } },
      { op: "Gather", inputs: ["sh", "one"], outputs: ["s"], attrs: { axis: 0 } },
      { op: "Unsqueeze", inputs: ["b", "ax0"], outputs: ["b1"] },
      { op: "Unsqueeze", inputs: ["s", "ax0"], outputs: ["s1"] },
      { op: "Concat", inputs: ["b1", "s1", "heads"], outputs: ["hs"], attrs: { axis: 0 } },
      { op: "Concat", inputs: ["b1", "s1", "hidden"], outputs: ["back"], attrs: { axis: 0 } },
      { op: "MatMul", inputs: ["x", "wq"], outputs: ["q0"] },
      { op: "MatMul", inputs: ["x", "wk"], outputs: ["k0"] },
      { op: "Reshape", inputs: ["q0", "hs"], outputs: ["q1"] },
      { op: "Reshape", inputs: ["k0", "hs"], outputs: ["k1"] },
      { op: "Transpose", inputs: ["q1"], outputs: ["q"], attrs: { perm: [0, 2, 1, 3] } },
      { op: "Transpose", inputs: ["k1"], outputs: ["kt"], attrs: { perm: [0, 2, 3, 1] } },
      { op: "MatMul", inputs: ["q", "kt"], outputs: ["sc0"] },
      { op: "Mul", inputs: ["sc0", "scale"], outputs: ["sc"] },
      { op: "Softmax", inputs: ["sc"], outputs: ["p"], attrs: { axis: -1 } },
      { op: "MatMul", inputs: ["p", "q"], outputs: ["o0"] },
      { op: "Transpose", inputs: ["o0"], outputs: ["o1"], attrs: { perm: [0, 2, 1, 3] } },
      one("Reshape", ["o1", "back"]),
    ],
    ops: [
      "matmul",
      "matmul",
      "reshape",
      "reshape",
      "transpose",
      "transpose",
      "matmul",
      "mul",
      "softmax",
      "matmul",
      "transpose",
      "reshape",
    ],
  },
  {
    name: "Shape with start/end, Cast and integer Div fold",
    inputs: [X([2, 12, 4])],
    inits: [i64("three", [3]), i64("two", [2]), i64("four", [4])],
    nodes: [
      { op: "Shape", inputs: ["x"], outputs: ["sh"], attrs: { start: 1, end: 2 } },
      { op: "Cast", inputs: ["sh"], outputs: ["shc"], attrs: { to: 7 } },
      { op: "Div", inputs: ["shc", "three"], outputs: ["q"] },
      {
        op: "Concat",
        inputs: ["two", "q", "three", "four"],
        outputs: ["shape"],
        attrs: { axis: 0 },
      },
      { op: "Reshape", inputs: ["x", "shape"], outputs: ["r"] },
      one("Sigmoid", ["r"]),
    ],
    ops: ["reshape", "sigmoid"],
  },
  {
    name: "Gather rows at int64 indices (an embedding)",
    inputs: [{ name: "ids", shape: [2, 3], dtype: "int64", lo: -4, hi: 10 }],
    inits: [init("table", [10, 4], 1)],
    nodes: [one("Gather", ["table", "ids"], { axis: 0 })],
  },
  {
    name: "Cast float to int32 and back",
    inputs: [X([3, 4], { lo: -5, hi: 5 })],
    nodes: [
      { op: "Cast", inputs: ["x"], outputs: ["i"], attrs: { to: 6 } },
      one("Cast", ["i"], { to: 1 }),
    ],
  },
  {
    name: "ArgMax axis 1 keepdims 0",
    inputs: [X([3, 5, 2])],
    nodes: [one("ArgMax", ["x"], { axis: 1, keepdims: 0 })],
    outputs: [{ name: "y", dtype: "int64" }],
  },
];

// The Constant-weights case needs its tensor attribute, which attr() does not make.
{
  const c = CASES.find((c) => c.name === "weights as Constant nodes")!;
  c.nodes[0].attrs = undefined;
}

function bytesOf(c: Case): Uint8Array {
  const bytes = modelBytes({
    inputs: c.inputs.map((i) => ({ name: i.name, shape: i.shape, dtype: i.dtype })),
    outputs: c.outputs ?? [{ name: "y" }],
    nodes: c.nodes,
    inits: c.inits,
    opset: c.opset,
    extraOpsets: c.extraOpsets,
  });
  return bytes;
}

/** Adds a Constant node's tensor attribute, which the generic helper does not write. */
async function withConstantTensor(c: Case): Promise<Uint8Array> {
  const { decodeModel, encodeModel } = await import("../lib/graph/onnx/schema.ts");
  const { writeTensor } = await import("../lib/graph/onnx/tensor.ts");
  const m = decodeModel(bytesOf(c));
  m.graph!.node![0].attribute = [{
    name: "value",
    type: 4,
    t: writeTensor("w", { shape: [4, 3], dtype: "float32", data: randomData(12, 9) }),
  }];
  return encodeModel(m);
}

for (const c of CASES) {
  Deno.test({
    name: `onnx import vs onnxruntime: ${c.name}${
      skip ? " (ignored: onnxruntime-node did not load)" : ""
    }`,
    ignore: skip,
    async fn() {
      if (typeof ort === "string") return;
      const bytes = c.name === "weights as Constant nodes"
        ? await withConstantTensor(c)
        : bytesOf(c);
      const feeds: Record<
        string,
        { shape: number[]; data: ReturnType<typeof randomData>; dtype?: DType }
      > = {};
      c.inputs.forEach((inp, k) => {
        const shape = inp.feed ?? (inp.shape as number[]);
        const n = shape.reduce((a, b) => a * b, 1);
        feeds[inp.name] = {
          shape,
          dtype: inp.dtype,
          data: randomData(n, 100 + k, inp.lo ?? -2, inp.hi ?? 2, inp.dtype ?? "float32"),
        };
      });
      const want = await runOrt(ort, bytes, feeds);
      const g = importOnnx(bytes);
      if (c.ops) {
        assert.deepEqual(g.nodes.map((n) => n.op), c.ops);
      }
      // Symbolic declared dims stay symbolic in the graph.
      c.inputs.forEach((inp, k) => assert.deepEqual([...g.inputs[k].shape], inp.shape));
      const got = evalGraph(g, feeds);
      got.forEach((arr, i) => {
        assert.deepEqual(arr.shape, want[i].dims, `output ${i} shape`);
        const r = compare(arr.data, want[i].data);
        assert.ok(r.ok, `output ${i}: max abs ${r.maxAbs}, max rel ${r.maxRel}`);
      });
      // Where the graph core's interpreter (legalization to te, lib/ir/interpret.ts) is present,
      // it is held to onnxruntime on the same imported graph.
      if (interpret) {
        const arrays = Object.fromEntries(
          Object.entries(feeds).map(([k, v]) => [k, nd.array(v.data, v.shape, v.dtype)]),
        );
        interpret(g, arrays).forEach((arr, i) => {
          assert.deepEqual(arr.shape, want[i].dims, `interpreter output ${i} shape`);
          const r = compare(Float64Array.from(arr.toArray(), Number), want[i].data);
          assert.ok(r.ok, `interpreter output ${i}: max abs ${r.maxAbs}, max rel ${r.maxRel}`);
        });
      }
    },
  });
}
