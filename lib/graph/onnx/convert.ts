/**
 * One converter per supported ONNX operator (opsets 13-17), from the node's inputs and
 * attributes to graph operators (ops.ts) or to a folded constant (fold.ts). A converter reads
 * every attribute it understands; an attribute it does not read, or a value of one it cannot
 * honour (ceil_mode that changes a pool's size, a training-mode BatchNormalization), is a
 * TesseraError naming the node, never a silently different model.
 */
import { TesseraError } from "../../error.ts";
import { isFloat } from "../../ir/dtype.ts";
import type { Dim, Value } from "../ir.ts";
import type { OpAttrs, OpName } from "../ops.ts";
import { Attrs, Const, type Entry, type ImportContext } from "./context.ts";
import { ARITH, binaryConst, castConst, concatConst, gatherConst, sliceConst } from "./fold.ts";
import { dtypeFromOnnx } from "./tensor.ts";

/** One node being converted. */
export class NodeIn {
  constructor(
    readonly ctx: ImportContext,
    readonly inputs: readonly (Entry | null)[],
    readonly inputNames: readonly string[],
    readonly outputs: readonly string[],
    readonly attrs: Attrs,
    readonly where: string,
    readonly opType: string,
  ) {}

  get opset(): number {
    return this.ctx.opset;
  }

  /** Input i, or null when absent (missing or the empty name). */
  opt(i: number): Entry | null {
    return this.inputs[i] ?? null;
  }

  /** Input i as a graph value (a constant becomes a param). */
  val(i: number): Value {
    const e = this.opt(i);
    if (!e) throw new TesseraError(`${this.where}: input ${i} is required`);
    return this.ctx.value(e, this.inputNames[i], this.where);
  }

  /** Input i as a constant; `what` says why it must be one. */
  konst(i: number, what: string): Const {
    const e = this.opt(i);
    if (!(e instanceof Const)) {
      throw new TesseraError(
        `${this.where}: input ${i} (${what}) must be a constant at import (an initializer, a ` +
          `Constant or a foldable Shape chain); Tessera compiles static graphs`,
      );
    }
    return e;
  }

  /** Input i's entries as numbers (a constant, all known). */
  numbers(i: number, what: string): number[] {
    const c = this.konst(i, what);
    return c.values().map((v) => {
      if (typeof v !== "number") {
        throw new TesseraError(`${this.where}: ${what} holds the symbolic size "${v}"`);
      }
      return v;
    });
  }

  allConst(): boolean {
    return this.inputs.every((e) => e === null || e instanceof Const);
  }

  /** Adds a graph node whose output is ONNX output `k` (named after it). */
  call<K extends OpName>(op: K, ins: readonly Value[], attrs?: OpAttrs[K], k = 0): Value {
    return this.ctx.builder.call(op, ins, attrs, this.outputs[k] ?? undefined);
  }

  /** An intermediate node (named after output 0 with a suffix). */
  tmp<K extends OpName>(op: K, ins: readonly Value[], attrs?: OpAttrs[K]): Value {
    // A made-up name that no ONNX name can later collide with.
    return this.ctx.builder.call(op, ins, attrs, this.ctx.freshName(`${this.outputs[0]}_${op}`));
  }

  shapeOf(e: Entry): readonly Dim[] {
    return e.shape;
  }
}

type Converter = (n: NodeIn) => Entry | Entry[];

const norm = (a: number, r: number) => (a < 0 ? a + r : a);

function binary(op: "add" | "sub" | "mul" | "div" | "pow"): Converter {
  const onnx = { add: "Add", sub: "Sub", mul: "Mul", div: "Div", pow: "Pow" }[op];
  return (n) => {
    const [a, b] = [n.opt(0), n.opt(1)];
    if (a instanceof Const && b instanceof Const && onnx in ARITH && !isFloat(a.dtype)) {
      return binaryConst(a, b, ARITH[onnx](a.dtype), n.where);
    }
    const x = n.val(0);
    let y = n.val(1);
    if (op === "pow" && y.dtype !== x.dtype) y = n.tmp("cast", [y], { to: x.dtype });
    if (x.dtype !== y.dtype) {
      throw new TesseraError(`${n.where}: inputs are ${x.dtype} and ${y.dtype}; they must agree`);
    }
    return n.call(op, [x, y]);
  };
}

/** Max and Min take one or more inputs (broadcasting): a chain of binary nodes. */
const variadic = (op: "maximum" | "minimum"): Converter => (n) => {
  const ins = n.inputs.map((_, i) => n.val(i));
  if (ins.length === 1) return ins[0];
  let y = ins[0];
  for (let i = 1; i < ins.length; i++) {
    y = i === ins.length - 1 ? n.call(op, [y, ins[i]]) : n.tmp(op, [y, ins[i]]);
  }
  return y;
};

const unary =
  (op: "relu" | "sigmoid" | "tanh" | "erf" | "sqrt" | "exp" | "neg"): Converter => (n) =>
    n.call(op, [n.val(0)]);

/** The pads of a window op: explicit, or from auto_pad (SAME_UPPER/LOWER need known sizes). */
function windowPads(
  n: NodeIn,
  x: Value,
  kernel: number[],
  strides: number[],
  dilations: number[],
): number[] {
  const autoPad = n.attrs.string("auto_pad", "NOTSET");
  const pads = n.attrs.ints("pads");
  if (autoPad === "NOTSET") return pads ?? [0, 0, 0, 0];
  if (autoPad === "VALID") return [0, 0, 0, 0];
  if (autoPad !== "SAME_UPPER" && autoPad !== "SAME_LOWER") {
    throw new TesseraError(`${n.where}: auto_pad ${autoPad} is not an ONNX value`);
  }
  const begin: number[] = [], end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const size = x.shape[2 + i];
    if (typeof size !== "number") {
      throw new TesseraError(`${n.where}: auto_pad ${autoPad} needs the spatial sizes known`);
    }
    const out = Math.ceil(size / strides[i]);
    const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size);
    const small = Math.floor(total / 2);
    begin.push(autoPad === "SAME_UPPER" ? small : total - small);
    end.push(autoPad === "SAME_UPPER" ? total - small : small);
  }
  return [...begin, ...end];
}

function need2d(n: NodeIn, x: Value): void {
  if (x.shape.length !== 4) {
    throw new TesseraError(
      `${n.where}: input has shape (${x.shape.join(", ")}); only 2-D ${n.opType} over ` +
        `(N, C, H, W) is supported`,
    );
  }
}

function pool(avg: boolean): Converter {
  return (n) => {
    const x = n.val(0);
    need2d(n, x);
    const kernel = n.attrs.ints("kernel_shape");
    if (!kernel) throw new TesseraError(`${n.where}: kernel_shape is required`);
    const strides = n.attrs.ints("strides") ?? [1, 1];
    const dil = n.attrs.ints("dilations") ?? [1, 1];
    if (dil.some((d) => d !== 1)) {
      throw new TesseraError(`${n.where}: dilated pooling (dilations ${dil}) is not supported`);
    }
    if (!avg && n.attrs.int("storage_order", 0) !== 0) {
      throw new TesseraError(`${n.where}: storage_order 1 is not supported`);
    }
    const pads = windowPads(n, x, kernel, strides, [1, 1]);
    const attrs = {
      kernel,
      strides,
      pads,
      ...(avg ? { countIncludePad: n.attrs.int("count_include_pad", 0) === 1 } : {}),
    };
    if (n.attrs.int("ceil_mode", 0) === 1) {
      // Allowed when ceil and floor give the same size.
      for (let i = 0; i < 2; i++) {
        const size = x.shape[2 + i];
        const span = size as number + pads[i] + pads[i + 2] - kernel[i];
        if (typeof size !== "number" || span % strides[i] !== 0) {
          throw new TesseraError(
            `${n.where}: ceil_mode 1 changes the output size here; only floor is supported`,
          );
        }
      }
    }
    if (n.outputs.length > 1 && n.outputs[1]) {
      throw new TesseraError(`${n.where}: MaxPool's Indices output is not supported`);
    }
    return n.call(avg ? "avgPool2d" : "maxPool2d", [x], attrs);
  };
}

/** A reshape of a graph value to `dims`, or of a constant (folded). */
function reshapeTo(n: NodeIn, dims: Dim[]): Entry {
  const e = n.opt(0)!;
  if (e instanceof Const) {
    const shape = dims as number[];
    if (shape.some((d) => typeof d !== "number")) {
      throw new TesseraError(`${n.where}: a constant's new shape must be known`);
    }
    return new Const(shape, e.dtype, { values: e.values() });
  }
  return n.call("reshape", [e], { shape: dims });
}

/** Reshape's shape spec with ONNX's 0 (copy) and -1 resolved against a constant input. */
function constShape(x: Const, spec: Dim[], where: string): number[] {
  const out = spec.map((d, i) => (d === 0 ? x.shape[i] : d));
  const minus = out.indexOf(-1);
  if (out.some((d) => typeof d !== "number")) throw new TesseraError(`${where}: symbolic shape`);
  if (minus >= 0) {
    const rest = (out as number[]).reduce((a, b, i) => (i === minus ? a : a * b), 1);
    out[minus] = x.size / rest;
  }
  return out as number[];
}

function squeezeAxes(n: NodeIn): number[] | undefined {
  return n.opt(1) ? n.numbers(1, "axes") : undefined;
}

function reduce(op: "reduceMean" | "reduceSum"): Converter {
  return (n) => {
    const x = n.val(0);
    let axes: number[] | undefined;
    if (op === "reduceSum") axes = n.opt(1) ? n.numbers(1, "axes") : undefined;
    else axes = n.attrs.ints("axes");
    const keepdims = n.attrs.int("keepdims", 1) === 1;
    if (axes === undefined || axes.length === 0) {
      if (n.attrs.int("noop_with_empty_axes", 0) === 1) return x;
      axes = undefined;
    }
    return n.call(op, [x], { ...(axes ? { axes } : {}), keepdims });
  };
}

export const CONVERTERS: Record<string, Converter> = {
  Identity: (n) => n.opt(0)!,
  Dropout: (n) => {
    if (n.opt(2) instanceof Const && n.konst(2, "training_mode").values()[0]) {
      throw new TesseraError(`${n.where}: training_mode true is not supported (inference only)`);
    }
    n.attrs.int("seed");
    if (n.outputs[1]) throw new TesseraError(`${n.where}: the mask output is not supported`);
    return n.opt(0)!;
  },
  Constant: (n) => {
    const t = n.attrs.tensor("value");
    if (t) return Const.of(t);
    const f = n.attrs.has("value_float") ? n.attrs.float("value_float", 0) : undefined;
    if (f !== undefined) return new Const([], "float32", { values: [f] });
    const fs = n.attrs.floats("value_floats");
    if (fs) return new Const([fs.length], "float32", { values: fs });
    const i = n.attrs.int("value_int");
    if (i !== undefined) return new Const([], "int64", { values: [i] });
    const is = n.attrs.ints("value_ints");
    if (is) return new Const([is.length], "int64", { values: is });
    throw new TesseraError(
      `${n.where}: a Constant needs value, value_float(s) or value_int(s) (sparse and string ` +
        `constants are not supported)`,
    );
  },
  Shape: (n) => {
    const e = n.opt(0)!;
    const dims = [...e.shape];
    const r = dims.length;
    const start = n.attrs.int("start", 0), end = n.attrs.int("end", r);
    const s = Math.min(Math.max(norm(start, r), 0), r), t = Math.min(Math.max(norm(end, r), 0), r);
    const vals = dims.slice(s, Math.max(s, t));
    return new Const([vals.length], "int64", { values: vals });
  },
  Gather: (n) => {
    const data = n.opt(0)!, idx = n.opt(1)!;
    const axis = norm(n.attrs.int("axis", 0), data.shape.length);
    if (data instanceof Const && idx instanceof Const) {
      return gatherConst(data, idx, axis, n.where);
    }
    return n.call("gather", [n.val(0), n.val(1)], { axis });
  },
  Cast: (n) => {
    const to = dtypeFromOnnx(n.attrs.int("to"), `${n.where}: attribute to`);
    n.attrs.int("saturate");
    const x = n.opt(0)!;
    if (x instanceof Const) return castConst(x, to, n.where);
    if (x.dtype === to) return x;
    return n.call("cast", [x], { to });
  },
  Unsqueeze: (n) => {
    const x = n.opt(0)!;
    const axes = n.numbers(1, "axes");
    const r = x.shape.length + axes.length;
    const ax = axes.map((a) => norm(a, r));
    const dims: Dim[] = [];
    let k = 0;
    for (let i = 0; i < r; i++) dims.push(ax.includes(i) ? 1 : x.shape[k++]);
    return reshapeTo(n, dims);
  },
  Split: (n) => {
    const x = n.val(0);
    const r = x.shape.length;
    const axis = norm(n.attrs.int("axis", 0), r);
    const d = x.shape[axis];
    if (typeof d !== "number") {
      throw new TesseraError(
        `${n.where}: splitting the symbolic dimension "${d}" is not supported`,
      );
    }
    const k = n.outputs.length;
    const sizes = n.opt(1)
      ? n.numbers(1, "split")
      : Array.from({ length: k }, (_, i) => Math.floor(d / k) + (i < d % k ? 1 : 0));
    if (sizes.length !== k || sizes.reduce((a, b) => a + b, 0) !== d) {
      throw new TesseraError(
        `${n.where}: split sizes [${sizes}] do not cut dimension ${axis} (${d}) into ${k} outputs`,
      );
    }
    let start = 0;
    return sizes.map((size, i) => {
      const v = n.call("slice", [x], { starts: [start], ends: [start + size], axes: [axis] }, i);
      start += size;
      return v;
    });
  },
  ConstantOfShape: (n) => {
    const shape = n.numbers(0, "shape");
    const t = n.attrs.tensor("value");
    const fill = t ? Const.of(t) : new Const([1], "float32", { values: [0] });
    if (fill.size !== 1) throw new TesseraError(`${n.where}: value must hold one element`);
    const count = shape.reduce((a, b) => a * b, 1);
    return new Const(shape, fill.dtype, { values: Array(count).fill(fill.values()[0]) });
  },
  Range: (n) => {
    const [start] = n.numbers(0, "start"), [limit] = n.numbers(1, "limit");
    const [delta] = n.numbers(2, "delta");
    const count = Math.max(Math.ceil((limit - start) / delta), 0);
    const vals = Array.from({ length: count }, (_, i) => start + i * delta);
    return new Const([count], n.konst(0, "start").dtype, { values: vals });
  },
  Expand: (n) => {
    const x = n.opt(0)!;
    const spec = n.konst(1, "shape").values();
    // Broadcasting against ones of the target shape is Expand's (bidirectional) meaning; a
    // symbolic target entry must be x's own size there, so its ones entry is 1.
    const off = spec.length - x.shape.length;
    const ones = spec.map((d, i) => {
      if (typeof d === "number") return d;
      if (x.shape[i - off] === d) return 1;
      throw new TesseraError(
        `${n.where}: expanding to the symbolic size "${d}" where the input has ` +
          `${x.shape[i - off] ?? "no dimension"} is not supported`,
      );
    });
    const count = ones.reduce((a, b) => a * b, 1);
    const onesConst = new Const(ones, x.dtype, { values: Array(count).fill(1) });
    if (x instanceof Const) return binaryConst(x, onesConst, (a) => a, n.where);
    const v = n.ctx.value(onesConst, n.ctx.freshName(`${n.outputs[0]}_ones`), n.where);
    return n.call("mul", [x, v]);
  },
  Squeeze: (n) => {
    const x = n.opt(0)!;
    const r = x.shape.length;
    const axes = squeezeAxes(n)?.map((a) => norm(a, r)) ??
      x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    for (const a of axes) {
      if (x.shape[a] !== 1) {
        throw new TesseraError(
          `${n.where}: axis ${a} of (${x.shape.join(", ")}) is not 1 and cannot be squeezed`,
        );
      }
    }
    return reshapeTo(n, x.shape.filter((_, i) => !axes.includes(i)));
  },
  Concat: (n) => {
    const axis = n.attrs.int("axis");
    if (axis === undefined) throw new TesseraError(`${n.where}: axis is required`);
    const ins = n.inputs.filter((e): e is Entry => e !== null);
    const a = norm(axis, ins[0].shape.length);
    if (ins.every((e) => e instanceof Const)) return concatConst(ins as Const[], a);
    return n.call("concat", ins.map((_, i) => n.val(i)), { axis: a });
  },
  Slice: (n) => {
    const x = n.opt(0)!;
    const starts = n.numbers(1, "starts"), ends = n.numbers(2, "ends");
    const axes = n.opt(3) ? n.numbers(3, "axes") : starts.map((_, i) => i);
    const steps = n.opt(4) ? n.numbers(4, "steps") : starts.map(() => 1);
    if (x instanceof Const) return sliceConst(x, starts, ends, axes, steps, n.where);
    const big = (v: number) => Math.max(Math.min(v, 2 ** 31 - 1), -(2 ** 31));
    return n.call("slice", [x], {
      starts: starts.map(big),
      ends: ends.map(big),
      axes: axes.map((a) => norm(a, x.shape.length)),
      steps,
    });
  },
  Reshape: (n) => {
    const spec = n.konst(1, "shape").values();
    const x = n.opt(0)!;
    if (n.attrs.int("allowzero", 0) === 1 && spec.includes(0)) {
      throw new TesseraError(`${n.where}: allowzero 1 with a 0 in the shape is not supported`);
    }
    if (x instanceof Const) return reshapeTo(n, constShape(x, spec, n.where));
    return n.call("reshape", [x], { shape: spec });
  },
  Flatten: (n) => {
    const x = n.opt(0)!;
    const r = x.shape.length;
    const axis = norm(n.attrs.int("axis", 1), r);
    const prod = (ds: readonly Dim[]) =>
      ds.every((d) => typeof d === "number") ? (ds as number[]).reduce((a, b) => a * b, 1) : null;
    const head = x.shape.slice(0, axis), tail = x.shape.slice(axis);
    const p = prod(head), q = prod(tail);
    const sym = (ds: readonly Dim[]) => ds.length === 1 ? ds[0] : null;
    const a: Dim | null = p ?? (q !== null ? -1 : sym(head));
    const b: Dim | null = q ?? (p !== null ? -1 : sym(tail));
    if (a === null || b === null) {
      throw new TesseraError(`${n.where}: cannot flatten (${x.shape.join(", ")}) at axis ${axis}`);
    }
    if (x instanceof Const) return reshapeTo(n, [p!, q!]);
    return n.call("reshape", [x], { shape: [a, b] });
  },
  Transpose: (n) => {
    const perm = n.attrs.ints("perm");
    return n.call("transpose", [n.val(0)], perm ? { perm } : {});
  },
  MatMul: (n) => n.call("matmul", [n.val(0), n.val(1)]),
  Gemm: (n) => {
    const alpha = n.attrs.float("alpha", 1), beta = n.attrs.float("beta", 1);
    let a = n.val(0), b = n.val(1);
    if (a.shape.length !== 2 || b.shape.length !== 2) {
      throw new TesseraError(`${n.where}: Gemm's A and B must be 2-D`);
    }
    if (n.attrs.int("transA", 0)) a = n.tmp("transpose", [a], { perm: [1, 0] });
    if (n.attrs.int("transB", 0)) b = n.tmp("transpose", [b], { perm: [1, 0] });
    const c = n.opt(2);
    let y = c || alpha !== 1 ? n.tmp("matmul", [a, b]) : n.call("matmul", [a, b]);
    if (alpha !== 1) {
      const s = n.ctx.scalar(alpha, y.dtype, `${n.outputs[0]}_alpha`);
      y = c ? n.tmp("mul", [y, s]) : n.call("mul", [y, s]);
    }
    if (c) {
      let cv = n.val(2);
      if (beta !== 1) cv = n.tmp("mul", [cv, n.ctx.scalar(beta, cv.dtype, `${n.outputs[0]}_beta`)]);
      y = n.call("add", [y, cv]);
    }
    return y;
  },
  Add: binary("add"),
  Sub: binary("sub"),
  Mul: binary("mul"),
  Div: binary("div"),
  Pow: binary("pow"),
  Max: variadic("maximum"),
  Min: variadic("minimum"),
  Relu: unary("relu"),
  Sigmoid: unary("sigmoid"),
  Tanh: unary("tanh"),
  Erf: unary("erf"),
  Sqrt: unary("sqrt"),
  Exp: unary("exp"),
  Neg: unary("neg"),
  Gelu: (n) => {
    const approximate = n.attrs.string("approximate", "none");
    if (approximate !== "none" && approximate !== "tanh") {
      throw new TesseraError(`${n.where}: approximate ${approximate} is not "none" or "tanh"`);
    }
    return n.call("gelu", [n.val(0)], { approximate });
  },
  Clip: (n) => {
    const bound = (i: number, what: string) => {
      if (!n.opt(i)) return undefined;
      const v = n.numbers(i, what);
      if (v.length !== 1) throw new TesseraError(`${n.where}: ${what} must be a scalar`);
      return v[0];
    };
    const min = bound(1, "min"), max = bound(2, "max");
    return n.call("clip", [n.val(0)], {
      ...(min !== undefined ? { min } : {}),
      ...(max !== undefined ? { max } : {}),
    });
  },
  HardSigmoid: (n) =>
    n.call("hardSigmoid", [n.val(0)], {
      alpha: n.attrs.float("alpha", 0.2),
      beta: n.attrs.float("beta", 0.5),
    }),
  HardSwish: (n) => n.call("hardSwish", [n.val(0)]),
  Softmax: (n) => n.call("softmax", [n.val(0)], { axis: n.attrs.int("axis", -1) }),
  ReduceMean: reduce("reduceMean"),
  ReduceSum: reduce("reduceSum"),
  LayerNormalization: (n) => {
    if (n.outputs.slice(1).some((o) => o)) {
      throw new TesseraError(`${n.where}: the Mean and InvStdDev outputs are not supported`);
    }
    n.attrs.int("stash_type");
    const ins = [n.val(0), n.val(1)];
    if (n.opt(2)) ins.push(n.val(2));
    return n.call("layerNorm", ins, {
      axis: n.attrs.int("axis", -1),
      epsilon: n.attrs.float("epsilon", 1e-5),
    });
  },
  BatchNormalization: (n) => {
    if (n.attrs.int("training_mode", 0) !== 0 || n.outputs.slice(1).some((o) => o)) {
      throw new TesseraError(`${n.where}: training mode is not supported (inference only)`);
    }
    n.attrs.float("momentum", 0.9);
    return n.call("batchNorm", [0, 1, 2, 3, 4].map((i) => n.val(i)), {
      epsilon: n.attrs.float("epsilon", 1e-5),
    });
  },
  Conv: (n) => {
    const x = n.val(0), w = n.val(1);
    need2d(n, x);
    const kernel = n.attrs.ints("kernel_shape") ??
      w.shape.slice(2).map((d) => d as number);
    if (kernel.join() !== w.shape.slice(2).join()) {
      throw new TesseraError(
        `${n.where}: kernel_shape [${kernel}] disagrees with the weight (${w.shape.join(", ")})`,
      );
    }
    const strides = n.attrs.ints("strides") ?? [1, 1];
    const dilations = n.attrs.ints("dilations") ?? [1, 1];
    const pads = windowPads(n, x, kernel, strides, dilations);
    const ins = [x, w];
    if (n.opt(2)) ins.push(n.val(2));
    return n.call("conv2d", ins, {
      strides,
      pads,
      dilations,
      groups: n.attrs.int("group", 1),
    });
  },
  MaxPool: pool(false),
  AveragePool: pool(true),
  GlobalAveragePool: (n) => n.call("globalAvgPool", [n.val(0)]),
  ArgMax: (n) =>
    n.call("argmax", [n.val(0)], {
      axis: n.attrs.int("axis", 0),
      keepdims: n.attrs.int("keepdims", 1) === 1,
      selectLastIndex: n.attrs.int("select_last_index", 0) === 1,
    }),
};

/** ONNX op types import understands (in the default domain; Gelu also from com.microsoft). */
export const SUPPORTED_OPS: readonly string[] = Object.keys(CONVERTERS).sort();
