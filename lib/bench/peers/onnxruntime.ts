/**
 * ONNX Runtime's CPU execution provider (MLAS kernels), through the `onnxruntime-node` N-API
 * addon: the inference runtime most deployed models actually run on. Each workload is a model of
 * one to five nodes, a few bytes of protobuf written here by hand, so no `onnx` package is
 * needed. The package's CPU library ships inside its npm tarball; its postinstall only fetches
 * CUDA binaries, and Deno skips it (lifecycle scripts need a node_modules directory and an
 * explicit allow), which is what we want.
 */
import { alignedCopy } from "../../runtime/aligned.ts";
import { inputShapes, outputShape, type Workload } from "../workload.ts";
import { checkPrepare, firstLine, type Peer } from "./peer.ts";

type Ort = typeof import("onnxruntime-node");

const utf8 = new TextEncoder();

/** A base-128 varint; int64 fields carry a negative as its 64-bit two's complement. */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  for (; v > 127n; v >>= 7n) out.push(Number(v & 127n) | 128);
  out.push(Number(v));
  return out;
}

/** One protobuf field: a number is a varint (wire type 0), anything else length-delimited (2). */
function field(no: number, value: number | string | Uint8Array): number[] {
  if (typeof value === "number") return [...varint(no << 3), ...varint(value)];
  const bytes = typeof value === "string" ? utf8.encode(value) : value;
  return [...varint((no << 3) | 2), ...varint(bytes.length), ...bytes];
}

const message = (...fields: number[][]) => new Uint8Array(fields.flat());

const float32Bytes = (x: number) => new Uint8Array(new Float32Array([x]).buffer);

// AttributeProto: name = 1, f = 2, i = 3, ints = 8, type = 20 (FLOAT = 1, INT = 2, INTS = 7).
const intAttr = (name: string, i: number) => message(field(1, name), field(3, i), field(20, 2));
const intsAttr = (name: string, ints: number[]) =>
  message(field(1, name), ...ints.map((i) => field(8, i)), field(20, 7));
const floatAttr = (name: string, f: number) =>
  // f is a protobuf `float`: wire type 5, four little-endian bytes.
  message(field(1, name), [...varint((2 << 3) | 5), ...float32Bytes(f)], field(20, 1));

/** NodeProto: input = 1, output = 2, op_type = 4, attribute = 5. */
function node(op: string, inputs: string[], output: string, ...attrs: Uint8Array[]): Uint8Array {
  return message(
    ...inputs.map((x) => field(1, x)),
    field(2, output),
    field(4, op),
    ...attrs.map((a) => field(5, a)),
  );
}

/** ValueInfoProto{name, type: TypeProto{tensor_type{elem_type: FLOAT, shape{dim{dim_value}}}}} */
function tensorInfo(name: string, dims: number[]): Uint8Array {
  const shape = message(...dims.map((d) => field(1, message(field(1, d)))));
  const tensorType = message(field(1, 1), field(2, shape));
  return message(field(1, name), field(2, message(field(1, tensorType))));
}

/** The graph's input names, in the order of inputShapes(w). */
function inputNames(w: Workload): string[] {
  switch (w.op) {
    case "matmul":
    case "batch_matmul":
      return ["A", "B"];
    case "conv2d":
      return ["X", "W"];
    case "softmax":
      return ["X"];
    case "layernorm":
      return ["X", "Scale", "B"];
    case "elementwise":
      return ["A", "B", "C"];
  }
}

/** The nodes computing output "Y", and the scalar 0.5 that elementwise reads as "half". */
function nodesOf(w: Workload): Uint8Array[] {
  switch (w.op) {
    case "matmul":
    case "batch_matmul":
      // MatMul broadcasts like numpy: [b, m, k]·[b, k, n] is the batched product.
      return [node("MatMul", ["A", "B"], "Y")];
    case "conv2d":
      return [node(
        "Conv",
        ["X", "W"],
        "Y",
        intsAttr("kernel_shape", [w.r, w.r]),
        intsAttr("strides", [w.stride, w.stride]),
        intsAttr("pads", [w.pad, w.pad, w.pad, w.pad]),
      )];
    case "softmax":
      return [node("Softmax", ["X"], "Y", intAttr("axis", -1))];
    case "layernorm":
      return [node(
        "LayerNormalization",
        ["X", "Scale", "B"],
        "Y",
        intAttr("axis", -1),
        floatAttr("epsilon", w.eps),
      )];
    case "elementwise":
      return [
        node("Mul", ["A", "B"], "ab"),
        node("Add", ["ab", "C"], "abc"),
        node("Relu", ["abc"], "r"),
        node("Mul", ["A", "half"], "ha"),
        node("Sub", ["r", "ha"], "Y"),
      ];
  }
}

/** ModelProto (IR version 8, opset 17 for LayerNormalization) whose graph computes `w`. */
function modelOf(w: Workload): Uint8Array {
  const shapes = inputShapes(w);
  // TensorProto{data_type = 2: FLOAT, name = 8, raw_data = 9}, no dims: a scalar.
  const half = message(field(2, 1), field(8, "half"), field(9, float32Bytes(0.5)));
  const graph = message(
    ...nodesOf(w).map((n) => field(1, n)),
    field(2, w.op),
    ...(w.op === "elementwise" ? [field(5, half)] : []),
    ...inputNames(w).map((name, i) => field(11, tensorInfo(name, shapes[i]))),
    field(12, tensorInfo("Y", outputShape(w))),
  );
  const opset = message(field(1, ""), field(2, 17));
  return message(field(1, 8), field(2, "tessera-bench"), field(7, graph), field(8, opset));
}

function sessionOptions() {
  return {
    executionProviders: ["cpu"],
    intraOpNumThreads: navigator.hardwareConcurrency,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all" as const,
  };
}

let loaded: Promise<Ort | string> | undefined;

/** Imports the addon and runs a 1x1x1 model once, so any load failure becomes a reason here. */
function load(): Promise<Ort | string> {
  loaded ??= (async () => {
    try {
      const ort = await import("onnxruntime-node");
      ort.env.logLevel = "error";
      const session = await ort.InferenceSession.create(
        modelOf({ op: "matmul", m: 1, n: 1, k: 1 }),
        sessionOptions(),
      );
      await session.release();
      return ort;
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) {
        return `onnxruntime-node's N-API addon needs more permissions: ${firstLine(e)}`;
      }
      return `onnxruntime-node could not load under Deno: ${firstLine(e)} ` +
        "(needs the npm package onnxruntime-node@1.30.0 and --allow-ffi --allow-read --allow-env)";
    }
  })();
  return loaded;
}

export const onnxruntimePeer: Peer = {
  name: "onnxruntime",
  device: "cpu",
  async available() {
    const ort = await load();
    return typeof ort === "string" ? ort : null;
  },
  supports: () => null,
  async prepare(w, inputs) {
    checkPrepare(onnxruntimePeer, w, inputs);
    const ort = await load();
    if (typeof ort === "string") throw new Error(`onnxruntime: ${ort}`);
    const session = await ort.InferenceSession.create(modelOf(w), sessionOptions());
    const shapes = inputShapes(w);
    const feeds = Object.fromEntries(
      inputNames(w).map((
        name,
        i,
      ) => [name, new ort.Tensor("float32", alignedCopy(inputs[i]), shapes[i])]),
    );
    let last: Float32Array | undefined;
    return {
      async run() {
        // The addon runs the graph on its own thread pool and resolves once Y is written.
        last = (await session.run(feeds)).Y.data as Float32Array;
      },
      result() {
        if (!last) return Promise.reject(new Error("onnxruntime: result() before run()"));
        return Promise.resolve(last.slice());
      },
      dispose() {
        // Nothing useful to do if freeing fails, and an unhandled rejection would end the run.
        session.release().catch(() => {});
      },
    };
  },
};
