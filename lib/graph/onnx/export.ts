/**
 * ONNX export: a graph as a ModelProto (IR version 8, opset 17), so that models made with the
 * nn frontend (with seeded weights) can be run by onnxruntime and imported back. Each graph
 * operator becomes the ONNX operator of the same meaning; gelu, which opset 17 lacks, is
 * written as its Erf (or Tanh) formula; a reshape to a symbolic size copies that size from the
 * input (ONNX's 0) or infers it (-1). Params become initializers with raw little-endian data.
 */
import { TesseraError } from "../../error.ts";
import type { DType } from "../../ir/dtype.ts";
import type { Graph, Node, Shape, Value } from "../ir.ts";
import type { NormAttrs, OpName } from "../ops.ts";
import {
  ATTR,
  type AttributeProto,
  encodeModel,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from "./schema.ts";
import { dtypeToOnnx, writeTensor } from "./tensor.ts";

export interface ExportOnnxOptions {
  /** producer_name in the model (default "tessera"). */
  producer?: string;
}

const intA = (name: string, i: number): AttributeProto => ({ name, i, type: ATTR.INT });
const floatA = (name: string, f: number): AttributeProto => ({ name, f, type: ATTR.FLOAT });
const intsA = (name: string, ints: readonly number[]): AttributeProto => ({
  name,
  ints: [...ints],
  type: ATTR.INTS,
});

function valueInfo(v: { name: string; shape: Shape; dtype: DType }): ValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: dtypeToOnnx(v.dtype),
        shape: {
          dim: v.shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  };
}

class Writer {
  nodes: NodeProto[] = [];
  inits: TensorProto[] = [];
  #k = 0;
  #names: Set<string>;

  constructor(g: Graph) {
    this.#names = new Set([
      ...g.inputs.map((v) => v.name),
      ...g.params.keys(),
      ...g.nodes.flatMap((n) => n.outputs.map((v) => v.name)),
    ]);
  }

  fresh(base: string): string {
    let s: string;
    do s = `${base}__${this.#k++}`; while (this.#names.has(s));
    this.#names.add(s);
    return s;
  }

  node(op: string, inputs: string[], output: string, attrs: AttributeProto[] = []): string {
    this.nodes.push({
      opType: op,
      input: inputs,
      output: [output],
      name: output,
      attribute: attrs,
    });
    return output;
  }

  ints64(base: string, vals: readonly number[]): string {
    const name = this.fresh(base);
    this.inits.push(
      writeTensor(name, {
        shape: [vals.length],
        dtype: "int64",
        data: BigInt64Array.from(vals, (v) => BigInt(v)),
      }),
    );
    return name;
  }

  scalar(base: string, value: number, dtype: DType): string {
    const name = this.fresh(base);
    const data = dtype === "float64" ? new Float64Array([value]) : new Float32Array([value]);
    if (dtype !== "float64" && dtype !== "float32") {
      throw new TesseraError(`exportOnnx: ${base}: a ${dtype} constant is not supported`);
    }
    this.inits.push(writeTensor(name, { shape: [], dtype, data }));
    return name;
  }
}

/** ONNX reshape entries for a target shape with symbols: 0 copies x's dim, -1 infers one. */
function reshapeSpec(x: Value, shape: Shape, where: string): number[] {
  const symbolic = shape.filter((d) => typeof d === "string").length;
  let inferred = false;
  return shape.map((d, i) => {
    if (typeof d === "number") return d;
    if (x.shape[i] === d) return 0;
    if (!inferred && symbolic === 1) {
      inferred = true;
      return -1;
    }
    throw new TesseraError(
      `${where}: the reshape to (${shape.join(", ")}) has the symbolic size "${d}" where the ` +
        `input has ${x.shape[i] ?? "no dimension"}; ONNX cannot say it without a Shape chain`,
    );
  });
}

function emit(w: Writer, n: Node): void {
  const out = n.outputs[0].name;
  const ins = n.inputs.map((v) => v.name);
  const where = `exportOnnx: node ${out} (${n.op})`;
  const a = n.attrs as Record<string, unknown>;
  const simple: Partial<Record<OpName, string>> = {
    matmul: "MatMul",
    add: "Add",
    sub: "Sub",
    mul: "Mul",
    div: "Div",
    pow: "Pow",
    maximum: "Max",
    minimum: "Min",
    relu: "Relu",
    neg: "Neg",
    sigmoid: "Sigmoid",
    tanh: "Tanh",
    erf: "Erf",
    sqrt: "Sqrt",
    exp: "Exp",
    hardSwish: "HardSwish",
    globalAvgPool: "GlobalAveragePool",
  };
  if (a.block || a.inBlock || a.outBlock || n.op === "fromBlocks") {
    throw new TesseraError(
      `exportOnnx: ${n.name}: the channel-blocked layout (NCHW[x]c, set by graph.build's ` +
        "blockLayout pass) has no ONNX form; export the graph before graph.build's passes",
    );
  }
  if (n.op === "matmul" && a.weightBlock) {
    throw new TesseraError(
      `exportOnnx: ${n.name}: a matmul with packed weights (weightBlock=${a.weightBlock}) has ` +
        "no ONNX form; export the graph before graph.build's passes",
    );
  }
  const s = simple[n.op];
  if (s) {
    w.node(s, ins, out);
    return;
  }
  const dt = n.inputs[0].dtype;
  switch (n.op) {
    case "gelu": {
      const x = ins[0];
      const t = (k: string) => w.fresh(`${out}_${k}`);
      const half = w.scalar(`${out}_half`, 0.5, dt), one = w.scalar(`${out}_one`, 1, dt);
      let inner: string;
      if (a.approximate === "tanh") {
        const x3 = w.node("Mul", [x, w.node("Mul", [x, x], t("x2"))], t("x3"));
        const c = w.scalar(`${out}_c`, 0.044715, dt);
        const k = w.scalar(`${out}_k`, Math.sqrt(2 / Math.PI), dt);
        const sum = w.node("Add", [x, w.node("Mul", [x3, c], t("cx3"))], t("sum"));
        inner = w.node("Tanh", [w.node("Mul", [sum, k], t("ks"))], t("tanh"));
      } else {
        const r = w.scalar(`${out}_rsqrt2`, Math.SQRT1_2, dt);
        inner = w.node("Erf", [w.node("Mul", [x, r], t("xs"))], t("erf"));
      }
      const onePlus = w.node("Add", [inner, one], t("onep"));
      w.node("Mul", [w.node("Mul", [x, half], t("hx")), onePlus], out);
      return;
    }
    case "clip": {
      const bound = (
        v: number,
        k: string,
      ) => (Number.isFinite(v) ? w.scalar(`${out}_${k}`, v, dt) : "");
      const lo = bound(a.min as number, "min"), hi = bound(a.max as number, "max");
      w.node("Clip", hi ? [ins[0], lo, hi] : lo ? [ins[0], lo] : [ins[0]], out);
      return;
    }
    case "hardSigmoid":
      w.node("HardSigmoid", ins, out, [
        floatA("alpha", a.alpha as number),
        floatA("beta", a.beta as number),
      ]);
      return;
    case "softmax":
      w.node("Softmax", ins, out, [intA("axis", a.axis as number)]);
      return;
    case "layerNorm":
      w.node("LayerNormalization", ins, out, [
        intA("axis", a.axis as number),
        floatA("epsilon", a.epsilon as number),
      ]);
      return;
    case "batchNorm":
      w.node("BatchNormalization", ins, out, [floatA("epsilon", a.epsilon as number)]);
      return;
    case "reduceMean":
      w.node("ReduceMean", ins, out, [
        intsA("axes", a.axes as number[]),
        intA("keepdims", a.keepdims ? 1 : 0),
      ]);
      return;
    case "reduceSum":
      w.node("ReduceSum", [ins[0], w.ints64(`${out}_axes`, a.axes as number[])], out, [
        intA("keepdims", a.keepdims ? 1 : 0),
      ]);
      return;
    case "conv2d": {
      const at = n.attrs as NormAttrs<"conv2d">;
      if (at.weightBlock) {
        throw new TesseraError(
          `exportOnnx: ${n.name}: a conv2d with packed weights (weightBlock=${at.weightBlock}) has ` +
            "no ONNX form; export the graph before graph.build's passes",
        );
      }
      w.node("Conv", ins, out, [
        intsA("kernel_shape", n.inputs[1].shape.slice(2) as number[]),
        intsA("strides", at.strides),
        intsA("pads", at.pads),
        intsA("dilations", at.dilations),
        intA("group", at.groups),
      ]);
      return;
    }
    case "maxPool2d":
    case "avgPool2d": {
      const at = n.attrs as NormAttrs<"avgPool2d">;
      const attrs = [
        intsA("kernel_shape", at.kernel),
        intsA("strides", at.strides),
        intsA("pads", at.pads),
      ];
      if (n.op === "avgPool2d") attrs.push(intA("count_include_pad", at.countIncludePad ? 1 : 0));
      w.node(n.op === "maxPool2d" ? "MaxPool" : "AveragePool", ins, out, attrs);
      return;
    }
    case "reshape": {
      const spec = reshapeSpec(n.inputs[0], n.outputs[0].shape, where);
      w.node("Reshape", [ins[0], w.ints64(`${out}_shape`, spec)], out);
      return;
    }
    case "transpose":
      w.node("Transpose", ins, out, [intsA("perm", a.perm as number[])]);
      return;
    case "concat":
      w.node("Concat", ins, out, [intA("axis", a.axis as number)]);
      return;
    case "slice": {
      const at = n.attrs as NormAttrs<"slice">;
      w.node("Slice", [
        ins[0],
        w.ints64(`${out}_starts`, at.starts),
        w.ints64(`${out}_ends`, at.ends),
        w.ints64(`${out}_axes`, at.axes),
        w.ints64(`${out}_steps`, at.steps),
      ], out);
      return;
    }
    case "gather":
      w.node("Gather", ins, out, [intA("axis", a.axis as number)]);
      return;
    case "cast":
      w.node("Cast", ins, out, [intA("to", dtypeToOnnx(a.to as DType))]);
      return;
    case "argmax":
      w.node("ArgMax", ins, out, [
        intA("axis", a.axis as number),
        intA("keepdims", a.keepdims ? 1 : 0),
        intA("select_last_index", a.selectLastIndex ? 1 : 0),
      ]);
      return;
  }
  throw new TesseraError(`${where}: no ONNX form for operator ${n.op}`);
}

/** The graph as the bytes of an .onnx file (opset 17). */
export function exportOnnx(g: Graph, options: ExportOnnxOptions = {}): Uint8Array {
  const w = new Writer(g);
  for (const [name, p] of g.params) w.inits.push(writeTensor(name, p));
  for (const n of g.nodes) emit(w, n);
  // An output that is an input or a param directly needs a node to carry its name.
  const outputs = g.outputs.map((v) => {
    if (v.kind === "node") return valueInfo(v);
    const name = w.fresh(`${v.name}_out`);
    w.node("Identity", [v.name], name);
    return valueInfo({ name, shape: v.shape, dtype: v.dtype });
  });
  return encodeModel({
    irVersion: 8,
    producerName: options.producer ?? "tessera",
    opsetImport: [{ domain: "", version: 17 }],
    graph: {
      name: g.name,
      node: w.nodes,
      initializer: w.inits,
      input: g.inputs.map(valueInfo),
      output: outputs,
    },
  });
}
