/**
 * One converter per supported TensorFlow operator of tfjs graph models (the ops the tfjs
 * converter writes for MLPs and CNNs), to graph operators. TensorFlow's NHWC layout is kept at
 * the model's edges: a convolution or pool transposes to NCHW and back, which the graph's
 * layout pass cancels between neighbours. What a converter cannot honour is a TesseraError
 * naming the node and the operator.
 */
import { TesseraError } from "../../error.ts";
import type { Dim, Value } from "../ir.ts";
import type { OpAttrs, OpName } from "../ops.ts";
import { Const, type Entry, type ImportContext } from "../onnx/context.ts";
import { binaryConst } from "../onnx/fold.ts";
import { TF_DTYPES, type TfAttrs } from "./model.ts";

export class TfIn {
  constructor(
    readonly ctx: ImportContext,
    readonly inputs: readonly Entry[],
    readonly inputNames: readonly string[],
    readonly name: string,
    readonly attrs: TfAttrs,
    readonly where: string,
  ) {}

  val(i: number): Value {
    const e = this.inputs[i];
    if (!e) throw new TesseraError(`${this.where}: input ${i} is missing`);
    return this.ctx.value(e, this.inputNames[i], this.where);
  }

  numbers(i: number, what: string): number[] {
    const e = this.inputs[i];
    if (!(e instanceof Const)) {
      throw new TesseraError(`${this.where}: input ${i} (${what}) must be a constant`);
    }
    return e.values().map((v) => {
      if (typeof v !== "number") throw new TesseraError(`${this.where}: ${what} is symbolic`);
      return v;
    });
  }

  call<K extends OpName>(op: K, ins: readonly Value[], attrs?: OpAttrs[K]): Value {
    return this.ctx.builder.call(op, ins, attrs, this.name);
  }

  tmp<K extends OpName>(op: K, ins: readonly Value[], attrs?: OpAttrs[K]): Value {
    return this.ctx.builder.call(op, ins, attrs, this.ctx.freshName(`${this.name}_${op}`));
  }
}

type Converter = (n: TfIn) => Entry;

const NCHW = [0, 3, 1, 2], NHWC = [0, 2, 3, 1];

function layout(n: TfIn): "NHWC" | "NCHW" {
  const f = n.attrs.string("data_format", "NHWC");
  if (f !== "NHWC" && f !== "NCHW") {
    throw new TesseraError(`${n.where}: data_format ${f} is not supported (NHWC or NCHW)`);
  }
  return f;
}

/** TF's 4-entry strides/ksize/dilations in the layout, as [h, w]. */
function hw(v: number[] | undefined, f: "NHWC" | "NCHW", def: number): number[] {
  if (!v || v.length === 0) return [def, def];
  return f === "NHWC" ? [v[1], v[2]] : [v[2], v[3]];
}

/** Pads [top, left, bottom, right] for TF's SAME/VALID/EXPLICIT padding of an NCHW value. */
function pads(n: TfIn, x: Value, kernel: number[], strides: number[], dil: number[], f: string) {
  const p = n.attrs.string("padding", "VALID");
  if (p === "VALID") return [0, 0, 0, 0];
  if (p === "EXPLICIT") {
    const e = n.attrs.ints("explicit_paddings") ?? [];
    const [t, b, l, r] = f === "NHWC" ? [e[2], e[3], e[4], e[5]] : [e[4], e[5], e[6], e[7]];
    return [t, l, b, r];
  }
  if (p !== "SAME") throw new TesseraError(`${n.where}: padding ${p} is not supported`);
  const begin: number[] = [], end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const size = x.shape[2 + i];
    if (typeof size !== "number") {
      throw new TesseraError(`${n.where}: SAME padding needs the spatial sizes known`);
    }
    const out = Math.ceil(size / strides[i]);
    const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - size);
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
  }
  return [...begin, ...end];
}

const toNCHW = (n: TfIn, x: Value, f: string) =>
  f === "NHWC" ? n.tmp("transpose", [x], { perm: NCHW }) : x;

/** The fused epilogue of _FusedConv2D / _FusedMatMul after the bias. */
function epilogue(n: TfIn, y: Value, ops: string[], bias: Value | null, last: boolean): Value {
  const steps: ((v: Value, final: boolean) => Value)[] = [];
  for (const op of ops) {
    if (op === "BiasAdd") {
      if (!bias) throw new TesseraError(`${n.where}: BiasAdd fused without a bias input`);
      steps.push((v, fin) => (fin ? n.call : n.tmp).call(n, "add", [v, bias]));
    } else if (op === "Relu") steps.push((v, fin) => (fin ? n.call : n.tmp).call(n, "relu", [v]));
    else if (op === "Relu6") {
      steps.push((v, fin) => (fin ? n.call : n.tmp).call(n, "clip", [v], { min: 0, max: 6 }));
    } else if (op === "Sigmoid") {
      steps.push((v, fin) => (fin ? n.call : n.tmp).call(n, "sigmoid", [v]));
    } else if (op === "Tanh") steps.push((v, fin) => (fin ? n.call : n.tmp).call(n, "tanh", [v]));
    else throw new TesseraError(`${n.where}: fused operation ${op} is not supported`);
  }
  steps.forEach((s, i) => (y = s(y, last && i === steps.length - 1)));
  return y;
}

function conv(depthwise: boolean, fused: boolean): Converter {
  return (n) => {
    const f = layout(n);
    const x = toNCHW(n, n.val(0), f);
    // TF filters are HWIO (depthwise: H, W, in, multiplier); the graph's are OIHW.
    let w = n.val(1);
    const [kh, kw, ci, co] = w.shape as number[];
    if (depthwise) w = n.tmp("reshape", [w], { shape: [kh, kw, 1, ci * co] });
    w = n.tmp("transpose", [w], { perm: [3, 2, 0, 1] });
    const strides = hw(n.attrs.ints("strides"), f, 1);
    const dilations = hw(n.attrs.ints("dilations"), f, 1);
    const p = pads(n, x, [kh, kw], strides, dilations, f);
    const ops = fused ? n.attrs.strings("fused_ops") : [];
    const attrs = { strides, pads: p, dilations, groups: depthwise ? ci : 1 };
    const plain = f === "NCHW" && ops.length === 0;
    let y = plain ? n.call("conv2d", [x, w], attrs) : n.tmp("conv2d", [x, w], attrs);
    if (ops.length) {
      // The bias is (C,): in NCHW it broadcasts as (C, 1, 1).
      const b = n.tmp("reshape", [n.val(2)], { shape: [-1, 1, 1] });
      y = epilogue(n, y, ops, b, f === "NCHW");
    }
    return f === "NHWC" ? n.call("transpose", [y], { perm: NHWC }) : y;
  };
}

function pool(avg: boolean): Converter {
  return (n) => {
    const f = layout(n);
    const x = toNCHW(n, n.val(0), f);
    const kernel = hw(n.attrs.ints("ksize"), f, 1);
    const strides = hw(n.attrs.ints("strides"), f, 1);
    const attrs = {
      kernel,
      strides,
      pads: pads(n, x, kernel, strides, [1, 1], f),
      ...(avg ? { countIncludePad: false } : {}),
    };
    const op = avg ? "avgPool2d" : "maxPool2d";
    if (f === "NCHW") return n.call(op, [x], attrs);
    return n.call("transpose", [n.tmp(op, [x], attrs)], { perm: NHWC });
  };
}

const binary =
  (op: "add" | "sub" | "mul" | "div" | "maximum" | "minimum" | "pow"): Converter => (n) =>
    n.call(op, [n.val(0), n.val(1)]);
const unary =
  (op: "relu" | "sigmoid" | "tanh" | "erf" | "sqrt" | "exp" | "neg"): Converter => (n) =>
    n.call(op, [n.val(0)]);

function reduce(op: "reduceMean" | "reduceSum"): Converter {
  return (n) => {
    const x = n.val(0);
    const axes = n.numbers(1, "reduction_indices").map((a) => (a < 0 ? a + x.shape.length : a));
    return n.call(op, [x], { axes, keepdims: n.attrs.bool("keep_dims", false) });
  };
}

function matmul(fused: boolean): Converter {
  return (n) => {
    let a = n.val(0), b = n.val(1);
    const ta = n.attrs.bool("transpose_a", false) || n.attrs.bool("adj_x", false);
    const tb = n.attrs.bool("transpose_b", false) || n.attrs.bool("adj_y", false);
    const swap = (v: Value) => {
      const perm = [...v.shape.keys()];
      [perm[perm.length - 2], perm[perm.length - 1]] = [
        perm[perm.length - 1],
        perm[perm.length - 2],
      ];
      return n.tmp("transpose", [v], { perm });
    };
    if (ta) a = swap(a);
    if (tb) b = swap(b);
    const ops = fused ? n.attrs.strings("fused_ops") : [];
    if (!ops.length) return n.call("matmul", [a, b]);
    return epilogue(n, n.tmp("matmul", [a, b]), ops, n.val(2), true);
  };
}

export const TF_CONVERTERS: Record<string, Converter> = {
  Identity: (n) => n.inputs[0],
  StopGradient: (n) => n.inputs[0],
  Snapshot: (n) => n.inputs[0],
  MatMul: matmul(false),
  BatchMatMul: matmul(false),
  BatchMatMulV2: matmul(false),
  _FusedMatMul: matmul(true),
  BiasAdd: (n) => {
    const x = n.val(0), b = n.val(1);
    if (layout(n) === "NCHW" && x.shape.length === 4) {
      return n.call("add", [x, n.tmp("reshape", [b], { shape: [-1, 1, 1] })]);
    }
    return n.call("add", [x, b]);
  },
  Add: binary("add"),
  AddV2: binary("add"),
  Sub: binary("sub"),
  Mul: binary("mul"),
  RealDiv: binary("div"),
  Div: binary("div"),
  Maximum: binary("maximum"),
  Minimum: binary("minimum"),
  Pow: binary("pow"),
  Relu: unary("relu"),
  Sigmoid: unary("sigmoid"),
  Tanh: unary("tanh"),
  Erf: unary("erf"),
  Sqrt: unary("sqrt"),
  Exp: unary("exp"),
  Neg: unary("neg"),
  Relu6: (n) => n.call("clip", [n.val(0)], { min: 0, max: 6 }),
  Rsqrt: (n) => {
    const x = n.val(0);
    return n.call("div", [n.ctx.scalar(1, x.dtype, `${n.name}_one`), n.tmp("sqrt", [x])]);
  },
  Square: (n) => {
    const x = n.val(0);
    return n.call("mul", [x, x]);
  },
  Softmax: (n) => n.call("softmax", [n.val(0)], { axis: -1 }),
  Mean: reduce("reduceMean"),
  Sum: reduce("reduceSum"),
  Reshape: (n) => n.call("reshape", [n.val(0)], { shape: n.numbers(1, "shape") }),
  Transpose: (n) => n.call("transpose", [n.val(0)], { perm: n.numbers(1, "perm") }),
  ConcatV2: (n) => {
    const k = n.inputs.length - 1;
    const [axis] = n.numbers(k, "axis");
    return n.call("concat", n.inputs.slice(0, k).map((_, i) => n.val(i)), { axis });
  },
  Squeeze: (n) => {
    const x = n.val(0);
    const r = x.shape.length;
    const dims = (n.attrs.ints("squeeze_dims") ?? n.attrs.ints("axis") ?? []).map((a) =>
      a < 0 ? a + r : a
    );
    const drop = dims.length ? dims : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    return n.call("reshape", [x], { shape: x.shape.filter((_, i) => !drop.includes(i)) });
  },
  ExpandDims: (n) => {
    const x = n.val(0);
    let [d] = n.numbers(1, "dim");
    if (d < 0) d += x.shape.length + 1;
    const shape: Dim[] = [...x.shape];
    shape.splice(d, 0, 1);
    return n.call("reshape", [x], { shape });
  },
  Cast: (n) => {
    const to = n.attrs.dtype("DstT");
    if (!to) throw new TesseraError(`${n.where}: DstT is required`);
    return n.call("cast", [n.val(0)], { to });
  },
  Conv2D: conv(false, false),
  _FusedConv2D: conv(false, true),
  DepthwiseConv2dNative: conv(true, false),
  FusedDepthwiseConv2dNative: conv(true, true),
  MaxPool: pool(false),
  AvgPool: pool(true),
  FusedBatchNorm: batchNorm,
  FusedBatchNormV3: batchNorm,
};

/** Inference batch norm: with constant statistics, one multiply and one add per channel. */
function batchNorm(n: TfIn): Entry {
  if (n.attrs.bool("is_training", false)) {
    throw new TesseraError(`${n.where}: is_training true is not supported (inference only)`);
  }
  const eps = n.attrs.float("epsilon", 1e-3);
  const f = layout(n);
  const [scale, offset, mean, variance] = [1, 2, 3, 4].map((i) => n.inputs[i]);
  if (f === "NCHW") {
    return n.call("batchNorm", [0, 1, 2, 3, 4].map((i) => n.val(i)), { epsilon: eps });
  }
  if (![scale, offset, mean, variance].every((e) => e instanceof Const)) {
    throw new TesseraError(`${n.where}: NHWC batch norm needs constant statistics`);
  }
  const [s, o, m, v] = [scale, offset, mean, variance] as Const[];
  const mul = binaryConst(
    s,
    v,
    (g, va) => Math.fround((g as number) / Math.sqrt((va as number) + eps)),
    n.where,
  );
  const add = binaryConst(
    o,
    binaryConst(m, mul, (a, b) => (a as number) * (b as number), n.where),
    (a, b) => (a as number) - (b as number),
    n.where,
  );
  const x = n.val(0);
  const a = n.ctx.value(mul, n.ctx.freshName(`${n.name}_scale`), n.where);
  const b = n.ctx.value(add, n.ctx.freshName(`${n.name}_shift`), n.where);
  return n.call("add", [n.tmp("mul", [x, a]), b]);
}

export const TF_SUPPORTED_OPS: readonly string[] = [
  ...Object.keys(TF_CONVERTERS),
  "Const",
  "Placeholder",
  "NoOp",
].sort();

export { TF_DTYPES };
