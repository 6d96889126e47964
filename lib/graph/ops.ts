/**
 * The graph's closed operator set: each operator's inputs, attributes (with defaults) and
 * output type, checked when a node is added. The semantics are ONNX's (opsets 13-17) unless
 * the table says otherwise; frontends map their operators onto these, and every later pass
 * (legalization to `te`, fusion, the interpreter) handles exactly these.
 *
 * | op                    | inputs                         | attributes (default)                                  | output                                     |
 * |-----------------------|--------------------------------|-------------------------------------------------------|--------------------------------------------|
 * | matmul                | a, b                           | weightBlock (absent: b as given; B: b a (K, N) param packed (N/B, K, B), set by packMatmulWeights) | numpy matmul (batch dims broadcast, 1-D promoted) |
 * | add sub mul div pow   | a, b (same dtype)              | -                                                     | numpy broadcast of a and b                 |
 * | maximum minimum       | a, b (same dtype)              | -                                                     | numpy broadcast of a and b                 |
 * | relu neg              | x (numeric)                    | -                                                     | x's type                                   |
 * | sigmoid tanh erf sqrt exp | x (float)                  | -                                                     | x's type                                   |
 * | gelu                  | x (float)                      | approximate ("none" \| "tanh")                        | x's type                                   |
 * | clip                  | x                              | min (-Infinity), max (Infinity)                       | x's type                                   |
 * | hardSigmoid           | x (float)                      | alpha (0.2), beta (0.5): max(0, min(1, alpha*x+beta)) | x's type                                   |
 * | hardSwish             | x (float)                      | -: x * hardSigmoid(x; 1/6, 0.5)                       | x's type                                   |
 * | softmax               | x (float)                      | axis (-1)                                             | x's type                                   |
 * | layerNorm             | x, gamma, beta? (float)        | axis (-1), epsilon (1e-5): normalizes over axis..end  | x's type; gamma, beta shaped x[axis:]      |
 * | batchNorm             | x, gamma, beta, mean, var      | epsilon (1e-5); inference form, channel axis 1        | x's type; the others shaped (C,)           |
 * | reduceMean reduceSum  | x                              | axes (all), keepdims (true)                           | x with axes removed or 1                   |
 * | conv2d                | x (N,C,H,W), w (M,C/g,kh,kw), bias? (M,) | strides ([1,1]), pads ([0,0,0,0] as top, left, bottom, right), dilations ([1,1]), groups (1), weightBlock (absent: w as ONNX has it; B: w packed (M/B,C,kh,kw,B), groups 1, set by packConvWeights), inBlock (absent: x is NCHW; B: x is (N,C/B,H,W,B)), outBlock (absent; = weightBlock: the output is (N,M/B,H',W',B)), both set by blockLayout | (N, M, H', W') |
 * | maxPool2d avgPool2d   | x (N,C,H,W)                    | kernel (required), strides ([1,1]), pads ([0,0,0,0]), countIncludePad (false, avg only), block (absent: NCHW; B: x and the output blocked, below) | (N, C, H', W') |
 * | globalAvgPool         | x (N,C,...)                    | block (absent; B: x is (N,C/B,H,W,B), the output (N,C/B,1,1,B))  | (N, C, 1, ...)                  |
 * | fromBlocks            | x (N,C/B,H,W,B)                | -                                                     | (N, C, H, W): the blocked layout undone     |
 * | reshape               | x                              | shape (required): numbers, symbols, one -1 (inferred), 0 (copied from x) | the shape                   |
 * | transpose             | x                              | perm (reversed axes)                                  | x's dims permuted                          |
 * | concat                | x0, x1, ... (same dtype, rank) | axis (required)                                       | dims summed along axis                     |
 * | slice                 | x                              | starts, ends (required), axes (0..), steps (1s); ONNX clamping | sliced; normalized to clamped starts/ends |
 * | gather                | data, indices (int32/int64)    | axis (0)                                              | data[:axis] + indices + data[axis+1:]      |
 * | cast                  | x                              | to (required dtype)                                   | x's shape, dtype `to`                      |
 * | argmax                | x                              | axis (0), keepdims (true), selectLastIndex (false)    | int64, axis removed or 1                   |
 *
 * Constants and weights are not nodes: they are the graph's params (`GraphBuilder.param`),
 * values of kind "param" whose data the graph holds.
 *
 * Attributes are normalized when a node is added: defaults filled, axes made non-negative,
 * reduce axes and transpose perms made explicit, slice bounds clamped (so passes and
 * legalization read one form). A normalized attribute set is accepted again unchanged.
 */
import { TesseraError } from "../error.ts";
import { type DType, DTYPES, isBool, isFloat } from "../ir/dtype.ts";
import { type Dim, type Shape, showShape, showType, type TensorType } from "./ir.ts";
import {
  broadcastShapes,
  divideProducts,
  normAxes,
  normAxis,
  productOf,
  sameProduct,
  showProduct,
} from "./shape.ts";

type NoAttrs = Record<never, never>;
interface ReduceAttrs {
  axes?: readonly number[];
  keepdims?: boolean;
}
interface PoolAttrs {
  kernel: readonly number[];
  strides?: readonly number[];
  pads?: readonly number[];
  countIncludePad?: boolean;
  /** Channels in blocks of `block` innermost (NCHW[x]c, passes/blockLayout.ts). */
  block?: number;
}

/** Each operator's attributes as a caller gives them (optional ones may be left out). */
export interface OpAttrs {
  matmul: { weightBlock?: number };
  add: NoAttrs;
  sub: NoAttrs;
  mul: NoAttrs;
  div: NoAttrs;
  pow: NoAttrs;
  maximum: NoAttrs;
  minimum: NoAttrs;
  relu: NoAttrs;
  neg: NoAttrs;
  sigmoid: NoAttrs;
  tanh: NoAttrs;
  erf: NoAttrs;
  sqrt: NoAttrs;
  exp: NoAttrs;
  gelu: { approximate?: "none" | "tanh" };
  clip: { min?: number; max?: number };
  hardSigmoid: { alpha?: number; beta?: number };
  hardSwish: NoAttrs;
  softmax: { axis?: number };
  layerNorm: { axis?: number; epsilon?: number };
  batchNorm: { epsilon?: number };
  reduceMean: ReduceAttrs;
  reduceSum: ReduceAttrs;
  conv2d: {
    strides?: readonly number[];
    pads?: readonly number[];
    dilations?: readonly number[];
    groups?: number;
    weightBlock?: number;
    inBlock?: number;
    outBlock?: number;
  };
  maxPool2d: PoolAttrs;
  avgPool2d: PoolAttrs;
  globalAvgPool: { block?: number };
  fromBlocks: NoAttrs;
  reshape: { shape: readonly Dim[] };
  transpose: { perm?: readonly number[] };
  concat: { axis: number };
  slice: {
    starts: readonly number[];
    ends: readonly number[];
    axes?: readonly number[];
    steps?: readonly number[];
  };
  gather: { axis?: number };
  cast: { to: DType };
  argmax: { axis?: number; keepdims?: boolean; selectLastIndex?: boolean };
}

export type OpName = keyof OpAttrs;
/** Attributes after normalization: every one present. */
export type NormAttrs<K extends OpName> = K extends "conv2d"
  ? Required<Omit<OpAttrs["conv2d"], "weightBlock" | "inBlock" | "outBlock">> & {
    weightBlock?: number;
    inBlock?: number;
    outBlock?: number;
  }
  : K extends "maxPool2d" | "avgPool2d" ? Required<Omit<PoolAttrs, "block">> & { block?: number }
  : K extends "matmul" | "globalAvgPool" ? OpAttrs[K]
  : Required<OpAttrs[K]>;

export const BINARY_OPS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"] as const;
export const UNARY_OPS = [
  "relu",
  "neg",
  "sigmoid",
  "tanh",
  "erf",
  "sqrt",
  "exp",
  "gelu",
  "clip",
  "hardSigmoid",
  "hardSwish",
] as const;

/** What an operator checks and computes when a node is added. */
interface OpSpec<K extends OpName> {
  /** The fewest and most inputs. */
  arity: [number, number];
  /** Normalized attributes and the output type; throws a TesseraError naming `where`. */
  infer(
    ins: readonly TensorType[],
    attrs: OpAttrs[K],
    where: string,
  ): { attrs: NormAttrs<K>; out: TensorType };
}

// ---- attribute checks -------------------------------------------------------------------

function num(v: unknown, def: number, where: string, name: string): number {
  if (v === undefined) return def;
  if (typeof v !== "number" || Number.isNaN(v)) {
    throw new TesseraError(`${where}: attribute ${name} must be a number, got ${String(v)}`);
  }
  return v;
}

function int(v: unknown, def: number | undefined, where: string, name: string): number {
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new TesseraError(`${where}: attribute ${name} must be an integer, got ${String(v)}`);
  }
  return v;
}

function bool(v: unknown, def: boolean, where: string, name: string): boolean {
  if (v === undefined) return def;
  if (typeof v !== "boolean") {
    throw new TesseraError(`${where}: attribute ${name} must be true or false, got ${String(v)}`);
  }
  return v;
}

function ints(
  v: unknown,
  def: readonly number[] | undefined,
  where: string,
  name: string,
  len?: number,
  min = -Infinity,
): number[] {
  if (v === undefined && def !== undefined) return [...def];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isInteger(x))) {
    throw new TesseraError(
      `${where}: attribute ${name} must be an array of integers, got ${JSON.stringify(v)}`,
    );
  }
  if (len !== undefined && v.length !== len) {
    throw new TesseraError(
      `${where}: attribute ${name} must have ${len} entries, got [${v.join(", ")}]`,
    );
  }
  if (v.some((x) => x < min)) {
    throw new TesseraError(
      `${where}: attribute ${name} = [${v.join(", ")}] has an entry below ${min}`,
    );
  }
  return [...v];
}

function needFloat(t: TensorType, where: string, what = "input"): void {
  if (!isFloat(t.dtype)) {
    throw new TesseraError(
      `${where}: ${what} is ${showType(t)}; this operator needs a float tensor (cast it first)`,
    );
  }
}

function needNumeric(t: TensorType, where: string): void {
  if (isBool(t.dtype)) {
    throw new TesseraError(
      `${where}: input is ${showType(t)}; this operator needs a numeric tensor (cast it first)`,
    );
  }
}

function needRank(t: TensorType, rank: number, where: string, what: string): void {
  if (t.shape.length !== rank) {
    throw new TesseraError(
      `${where}: ${what} has shape ${showShape(t.shape)} but must have rank ${rank}`,
    );
  }
}

/** A blocked input (N, C/B, H, W, B): rank 5 with `block` innermost. */
function needBlocks(t: TensorType, block: number, where: string, attr: string): void {
  needRank(t, 5, where, `input (${attr}=${block})`);
  if (block < 1 || t.shape[4] !== block) {
    throw new TesseraError(
      `${where}: ${attr}=${block} but the input is ${showShape(t.shape)}; a blocked input is ` +
        `(N, C/B, H, W, B) with B = ${attr} >= 1`,
    );
  }
}

function needSameDtype(ins: readonly TensorType[], where: string): DType {
  const d = ins[0].dtype;
  for (const t of ins) {
    if (t.dtype !== d) {
      throw new TesseraError(
        `${where}: inputs have dtypes ${ins.map((i) => i.dtype).join(" and ")}; they must ` +
          `agree (cast one of them)`,
      );
    }
  }
  return d;
}

function needShape(t: TensorType, want: Shape, where: string, what: string): void {
  if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
    throw new TesseraError(
      `${where}: ${what} has shape ${showShape(t.shape)} but must have shape ${showShape(want)}`,
    );
  }
}

function knownDim(d: Dim, where: string, what: string): number {
  if (typeof d !== "number") {
    throw new TesseraError(
      `${where}: ${what} is the symbolic size "${d}"; this operator needs it known`,
    );
  }
  return d;
}

// ---- operators --------------------------------------------------------------------------

const binary: OpSpec<"add"> = {
  arity: [2, 2],
  infer(ins, _attrs, where) {
    const dtype = needSameDtype(ins, where);
    return {
      attrs: {},
      out: { shape: broadcastShapes([ins[0].shape, ins[1].shape], where), dtype },
    };
  },
};

function unary<K extends OpName>(
  check: (t: TensorType, where: string) => void,
  attrs: (a: OpAttrs[K], where: string) => NormAttrs<K>,
): OpSpec<K> {
  return {
    arity: [1, 1],
    infer(ins, a, where) {
      check(ins[0], where);
      return { attrs: attrs(a ?? ({} as OpAttrs[K]), where), out: ins[0] };
    },
  };
}
const none = <K extends OpName>() => (() => ({})) as unknown as (a: OpAttrs[K]) => NormAttrs<K>;

function matmulShape(a: Shape, b: Shape, where: string): Dim[] {
  if (a.length === 0 || b.length === 0) {
    throw new TesseraError(
      `${where}: matmul of ${showShape(a)} and ${showShape(b)}; both need rank 1 or more`,
    );
  }
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const k1 = a2[a2.length - 1], k2 = b2[b2.length - 2];
  if (k1 !== k2) {
    throw new TesseraError(
      `${where}: matmul of ${showShape(a)} and ${showShape(b)}: the contracted dimensions ` +
        `differ (${k1} vs ${k2}); a's last dimension must equal b's second-to-last`,
    );
  }
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)], where);
  const out: Dim[] = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]);
  if (b.length > 1) out.push(b2[b2.length - 1]);
  return out;
}

function reduceSpec(): OpSpec<"reduceSum"> {
  return {
    arity: [1, 1],
    infer([x], a, where) {
      needNumeric(x, where);
      const r = x.shape.length;
      const axes = a.axes === undefined
        ? [...Array(r).keys()]
        : normAxes(ints(a.axes, undefined, where, "axes"), r, where).sort((p, q) => p - q);
      const keepdims = bool(a.keepdims, true, where, "keepdims");
      const shape: Dim[] = [];
      x.shape.forEach((d, i) => {
        if (!axes.includes(i)) shape.push(d);
        else if (keepdims) shape.push(1);
      });
      return { attrs: { axes, keepdims }, out: { shape, dtype: x.dtype } };
    },
  };
}

/** Output size of a window along one spatial axis (ONNX's floor formula). */
function windowOut(
  size: number,
  kernel: number,
  stride: number,
  padBegin: number,
  padEnd: number,
  dilation: number,
  where: string,
  axis: string,
): number {
  const span = dilation * (kernel - 1) + 1;
  const out = Math.floor((size + padBegin + padEnd - span) / stride) + 1;
  if (out < 1) {
    throw new TesseraError(
      `${where}: along ${axis} the input is ${size} (padded ${padBegin}+${padEnd}) but the ` +
        `window spans ${span}; the output would be empty`,
    );
  }
  return out;
}

function poolSpec(avg: boolean): OpSpec<"avgPool2d"> {
  return {
    arity: [1, 1],
    infer([x], a, where) {
      const block = int(a.block, 0, where, "block");
      if (block !== 0) needBlocks(x, block, where, "block");
      else needRank(x, 4, where, "input");
      needNumeric(x, where);
      const kernel = ints(a.kernel, undefined, where, "kernel", 2, 1);
      const strides = ints(a.strides, [1, 1], where, "strides", 2, 1);
      const pads = ints(a.pads, [0, 0, 0, 0], where, "pads", 4, 0);
      const countIncludePad = bool(a.countIncludePad, false, where, "countIncludePad");
      if (!avg && countIncludePad) {
        throw new TesseraError(`${where}: countIncludePad is an avgPool2d attribute`);
      }
      for (let i = 0; i < 2; i++) {
        if (pads[i] >= kernel[i] || pads[i + 2] >= kernel[i]) {
          throw new TesseraError(
            `${where}: pads [${pads.join(", ")}] must be smaller than the kernel ` +
              `[${kernel.join(", ")}] on each side`,
          );
        }
      }
      const h = knownDim(x.shape[2], where, "the input height");
      const w = knownDim(x.shape[3], where, "the input width");
      const oh = windowOut(h, kernel[0], strides[0], pads[0], pads[2], 1, where, "height");
      const ow = windowOut(w, kernel[1], strides[1], pads[1], pads[3], 1, where, "width");
      return {
        attrs: { kernel, strides, pads, countIncludePad, ...(block ? { block } : {}) },
        out: { shape: [x.shape[0], x.shape[1], oh, ow, ...(block ? [block] : [])], dtype: x.dtype },
      };
    },
  };
}

function reshapeShape(x: Shape, spec: readonly Dim[], where: string): Dim[] {
  if (!Array.isArray(spec)) {
    throw new TesseraError(`${where}: attribute shape must be an array, got ${String(spec)}`);
  }
  let minus = -1;
  const out: Dim[] = spec.map((d, i) => {
    if (typeof d === "string") {
      if (d.length === 0) throw new TesseraError(`${where}: shape[${i}] is an empty symbol`);
      return d;
    }
    if (typeof d !== "number" || !Number.isInteger(d) || d < -1) {
      throw new TesseraError(
        `${where}: shape[${i}] is ${String(d)}; entries are sizes, symbols, 0 (copy the ` +
          `input's) or one -1 (inferred)`,
      );
    }
    if (d === 0) {
      if (i >= x.length) {
        throw new TesseraError(`${where}: shape[${i}] is 0 but the input has rank ${x.length}`);
      }
      return x[i];
    }
    if (d === -1) {
      if (minus >= 0) throw new TesseraError(`${where}: shape has more than one -1`);
      minus = i;
    }
    return d;
  });
  const total = productOf(x);
  if (minus >= 0) {
    const rest = productOf(out.filter((_, i) => i !== minus));
    const d = divideProducts(total, rest);
    if (d === null) {
      throw new TesseraError(
        `${where}: cannot reshape ${showShape(x)} (${showProduct(total)} elements) to ` +
          `${showShape(spec)}: the -1 would be ${showProduct(total)} / ${showProduct(rest)}`,
      );
    }
    out[minus] = d;
  } else if (!sameProduct(total, productOf(out))) {
    throw new TesseraError(
      `${where}: cannot reshape ${showShape(x)} to ${showShape(out)}: the element counts ` +
        `${showProduct(total)} and ${showProduct(productOf(out))} differ`,
    );
  }
  return out;
}

function sliceSpec(): OpSpec<"slice"> {
  return {
    arity: [1, 1],
    infer([x], a, where) {
      const r = x.shape.length;
      const starts = ints(a.starts, undefined, where, "starts");
      const ends = ints(a.ends, undefined, where, "ends", starts.length);
      const axes = normAxes(
        ints(a.axes, [...starts.keys()], where, "axes", starts.length),
        r,
        where,
      );
      const steps = ints(a.steps, starts.map(() => 1), where, "steps", starts.length);
      const shape = [...x.shape];
      const ns: number[] = [], ne: number[] = [];
      axes.forEach((ax, i) => {
        const step = steps[i];
        if (step === 0) throw new TesseraError(`${where}: steps[${i}] is 0`);
        const d = x.shape[ax];
        if (typeof d === "string") {
          // A symbolic axis can only be kept whole.
          const whole = step === 1 && (starts[i] === 0 || starts[i] <= -(2 ** 31)) &&
            ends[i] >= 2 ** 31 - 1;
          if (!whole) {
            throw new TesseraError(
              `${where}: slicing the symbolic dimension "${d}" of ${showShape(x.shape)} ` +
                `(axis ${ax}) is only possible whole (start 0, end >= 2^31-1, step 1)`,
            );
          }
          ns.push(0);
          ne.push(2 ** 31 - 1);
          return;
        }
        let s = starts[i] < 0 ? starts[i] + d : starts[i];
        let e = ends[i] < 0 ? ends[i] + d : ends[i];
        if (step > 0) {
          s = Math.min(Math.max(s, 0), d);
          e = Math.min(Math.max(e, 0), d);
        } else {
          s = Math.min(Math.max(s, 0), d - 1);
          e = Math.min(Math.max(e, -1), d - 1);
        }
        shape[ax] = Math.max(0, Math.ceil((e - s) / step));
        ns.push(s);
        // A clamped end of -1 (backwards to the start) is stored as -d-1, which reads the
        // same when the normalized attributes are checked again.
        ne.push(e === -1 ? -d - 1 : e);
      });
      return {
        attrs: { starts: ns, ends: ne, axes, steps },
        out: { shape, dtype: x.dtype },
      };
    },
  };
}

const SPECS: { [K in OpName]: OpSpec<K> } = {
  matmul: {
    arity: [2, 2],
    infer(ins, a, where) {
      const dtype = needSameDtype(ins, where);
      needNumeric(ins[0], where);
      const block = int(a.weightBlock, 0, where, "weightBlock");
      if (block === 0) {
        return { attrs: {}, out: { shape: matmulShape(ins[0].shape, ins[1].shape, where), dtype } };
      }
      const w = ins[1];
      const dims = w.shape.map((d) => typeof d === "number" ? d : -1);
      if (block < 0 || dims.length !== 3 || dims.some((d) => d < 1) || dims[2] !== block) {
        throw new TesseraError(
          `${where}: weightBlock=${block} with weight ${showShape(w.shape)}: a packed weight ` +
            "is (N/B, K, B) with known sizes and B = weightBlock > 0",
        );
      }
      const logical = [dims[1], dims[0] * block];
      return {
        attrs: { weightBlock: block },
        out: { shape: matmulShape(ins[0].shape, logical, where), dtype },
      };
    },
  },
  add: binary,
  sub: binary,
  mul: binary,
  div: binary,
  pow: binary,
  maximum: binary,
  minimum: binary,
  relu: unary(needNumeric, none()),
  neg: unary(needNumeric, none()),
  sigmoid: unary(needFloat, none()),
  tanh: unary(needFloat, none()),
  erf: unary(needFloat, none()),
  sqrt: unary(needFloat, none()),
  exp: unary(needFloat, none()),
  gelu: unary(needFloat, (a, where) => {
    const approximate = a.approximate ?? "none";
    if (approximate !== "none" && approximate !== "tanh") {
      throw new TesseraError(
        `${where}: attribute approximate is ${String(approximate)}; expected "none" or "tanh"`,
      );
    }
    return { approximate };
  }),
  clip: unary(needNumeric, (a, where) => {
    const min = num(a.min, -Infinity, where, "min"), max = num(a.max, Infinity, where, "max");
    return { min, max };
  }),
  hardSigmoid: unary(needFloat, (a, where) => ({
    alpha: num(a.alpha, 0.2, where, "alpha"),
    beta: num(a.beta, 0.5, where, "beta"),
  })),
  hardSwish: unary(needFloat, none()),
  softmax: {
    arity: [1, 1],
    infer([x], a, where) {
      needFloat(x, where);
      const axis = normAxis(int(a.axis, -1, where, "axis"), x.shape.length, where);
      return { attrs: { axis }, out: x };
    },
  },
  layerNorm: {
    arity: [2, 3],
    infer(ins, a, where) {
      const [x, gamma, beta] = ins;
      needFloat(x, where);
      needSameDtype(ins, where);
      const axis = normAxis(int(a.axis, -1, where, "axis"), x.shape.length, where);
      const epsilon = num(a.epsilon, 1e-5, where, "epsilon");
      needShape(gamma, x.shape.slice(axis), where, "gamma");
      if (beta) needShape(beta, x.shape.slice(axis), where, "beta");
      return { attrs: { axis, epsilon }, out: x };
    },
  },
  batchNorm: {
    arity: [5, 5],
    infer(ins, a, where) {
      const x = ins[0];
      needFloat(x, where);
      needSameDtype(ins, where);
      if (x.shape.length < 2) {
        throw new TesseraError(
          `${where}: input has shape ${showShape(x.shape)}; batchNorm needs (N, C, ...)`,
        );
      }
      const names = ["gamma", "beta", "mean", "var"];
      ins.slice(1).forEach((t, i) => needShape(t, [x.shape[1]], where, names[i]));
      return { attrs: { epsilon: num(a.epsilon, 1e-5, where, "epsilon") }, out: x };
    },
  },
  reduceMean: reduceSpec(),
  reduceSum: reduceSpec(),
  conv2d: {
    arity: [2, 3],
    infer(ins, a, where) {
      const [x, w, bias] = ins;
      const inBlock = int(a.inBlock, 0, where, "inBlock");
      const outBlock = int(a.outBlock, 0, where, "outBlock");
      if (inBlock !== 0) needBlocks(x, inBlock, where, "inBlock");
      else needRank(x, 4, where, "input");
      const block = int(a.weightBlock, 0, where, "weightBlock");
      needRank(w, block > 0 ? 5 : 4, where, "weight");
      needSameDtype(ins, where);
      needNumeric(x, where);
      const strides = ints(a.strides, [1, 1], where, "strides", 2, 1);
      const pads = ints(a.pads, [0, 0, 0, 0], where, "pads", 4, 0);
      const dilations = ints(a.dilations, [1, 1], where, "dilations", 2, 1);
      const groups = int(a.groups, 1, where, "groups");
      if (groups < 1) throw new TesseraError(`${where}: groups is ${groups}; it must be >= 1`);
      const c = knownDim(x.shape[1], where, "the input's channel count") * (inBlock || 1);
      if (outBlock !== 0 && outBlock !== block) {
        throw new TesseraError(
          `${where}: outBlock=${outBlock} with weightBlock=${block}: a blocked output takes the ` +
            "packed weight's block (outBlock = weightBlock)",
        );
      }
      const dims = w.shape.map((d, i) => knownDim(d, where, `the weight's dimension ${i}`));
      if (block < 0 || (block > 0 && (groups !== 1 || dims[4] !== block))) {
        throw new TesseraError(
          `${where}: weightBlock=${block} with groups=${groups} and weight ${
            showShape(w.shape)
          }: ` +
            "a packed weight is (M/B, C, kh, kw, B) with B = weightBlock > 0 and groups 1",
        );
      }
      const [m, cg, kh, kw] = block > 0 ? [dims[0] * block, ...dims.slice(1, 4)] : dims;
      if (c !== cg * groups || m % groups !== 0) {
        throw new TesseraError(
          `${where}: input ${showShape(x.shape)} and weight ${showShape(w.shape)} do not fit ` +
            `groups=${groups}: the weight must be (M, C/groups, kh, kw) = (M, ${
              c / groups
            }, kh, kw) with M divisible by ${groups}`,
        );
      }
      if (bias) needShape(bias, [m], where, "bias");
      const h = knownDim(x.shape[2], where, "the input height");
      const wd = knownDim(x.shape[3], where, "the input width");
      const oh = windowOut(h, kh, strides[0], pads[0], pads[2], dilations[0], where, "height");
      const ow = windowOut(wd, kw, strides[1], pads[1], pads[3], dilations[1], where, "width");
      return {
        attrs: {
          strides,
          pads,
          dilations,
          groups,
          ...(block > 0 ? { weightBlock: block } : {}),
          ...(inBlock > 0 ? { inBlock } : {}),
          ...(outBlock > 0 ? { outBlock } : {}),
        },
        out: {
          shape: outBlock > 0
            ? [x.shape[0], m / outBlock, oh, ow, outBlock]
            : [x.shape[0], m, oh, ow],
          dtype: x.dtype,
        },
      };
    },
  },
  maxPool2d: poolSpec(false) as unknown as OpSpec<"maxPool2d">,
  avgPool2d: poolSpec(true),
  globalAvgPool: {
    arity: [1, 1],
    infer([x], a, where) {
      needFloat(x, where);
      const block = int(a.block, 0, where, "block");
      if (block !== 0) {
        needBlocks(x, block, where, "block");
        x.shape.slice(2, 4).forEach((d, i) => knownDim(d, where, `spatial dimension ${i}`));
        return {
          attrs: { block },
          out: { shape: [x.shape[0], x.shape[1], 1, 1, block], dtype: x.dtype },
        };
      }
      if (x.shape.length < 3) {
        throw new TesseraError(
          `${where}: input has shape ${showShape(x.shape)}; globalAvgPool needs (N, C, ...)`,
        );
      }
      x.shape.slice(2).forEach((d, i) => knownDim(d, where, `spatial dimension ${i}`));
      return {
        attrs: {},
        out: { shape: [...x.shape.slice(0, 2), ...x.shape.slice(2).map(() => 1)], dtype: x.dtype },
      };
    },
  },
  fromBlocks: {
    arity: [1, 1],
    infer([x], _a, where) {
      needRank(x, 5, where, "input");
      const c = knownDim(x.shape[1], where, "the channel blocks");
      const b = knownDim(x.shape[4], where, "the block");
      return {
        attrs: {},
        out: { shape: [x.shape[0], c * b, x.shape[2], x.shape[3]], dtype: x.dtype },
      };
    },
  },
  reshape: {
    arity: [1, 1],
    infer([x], a, where) {
      const shape = reshapeShape(x.shape, a.shape, where);
      return { attrs: { shape }, out: { shape, dtype: x.dtype } };
    },
  },
  transpose: {
    arity: [1, 1],
    infer([x], a, where) {
      const r = x.shape.length;
      const perm = ints(a.perm, [...Array(r).keys()].reverse(), where, "perm", r);
      if ([...perm].sort((p, q) => p - q).some((p, i) => p !== i)) {
        throw new TesseraError(
          `${where}: perm [${perm.join(", ")}] is not a permutation of 0..${r - 1}`,
        );
      }
      return { attrs: { perm }, out: { shape: perm.map((p) => x.shape[p]), dtype: x.dtype } };
    },
  },
  concat: {
    arity: [1, Infinity],
    infer(ins, a, where) {
      const dtype = needSameDtype(ins, where);
      const x = ins[0];
      const axis = normAxis(int(a.axis, undefined, where, "axis"), x.shape.length, where);
      let total: Dim = 0;
      for (const t of ins) {
        const same = t.shape.length === x.shape.length &&
          t.shape.every((d, i) => i === axis || d === x.shape[i]);
        if (!same) {
          throw new TesseraError(
            `${where}: concat along axis ${axis} of ${showShape(x.shape)} and ` +
              `${showShape(t.shape)}: all other dimensions must agree`,
          );
        }
        const d = t.shape[axis];
        if (ins.length === 1) total = d;
        else total = (total as number) + knownDim(d, where, `a concatenated dimension`);
      }
      const shape = [...x.shape];
      shape[axis] = total;
      return { attrs: { axis }, out: { shape, dtype } };
    },
  },
  slice: sliceSpec(),
  gather: {
    arity: [2, 2],
    infer([data, idx], a, where) {
      if (idx.dtype !== "int32" && idx.dtype !== "int64") {
        throw new TesseraError(
          `${where}: indices are ${showType(idx)}; they must be int32 or int64`,
        );
      }
      const axis = normAxis(int(a.axis, 0, where, "axis"), data.shape.length, where);
      const shape = [...data.shape.slice(0, axis), ...idx.shape, ...data.shape.slice(axis + 1)];
      return { attrs: { axis }, out: { shape, dtype: data.dtype } };
    },
  },
  cast: {
    arity: [1, 1],
    infer([x], a, where) {
      if (!(DTYPES as readonly string[]).includes(a.to)) {
        throw new TesseraError(
          `${where}: attribute to is ${String(a.to)}; expected one of ${DTYPES.join(", ")}`,
        );
      }
      return { attrs: { to: a.to }, out: { shape: x.shape, dtype: a.to } };
    },
  },
  argmax: {
    arity: [1, 1],
    infer([x], a, where) {
      needNumeric(x, where);
      const axis = normAxis(int(a.axis, 0, where, "axis"), x.shape.length, where);
      const keepdims = bool(a.keepdims, true, where, "keepdims");
      const selectLastIndex = bool(a.selectLastIndex, false, where, "selectLastIndex");
      const shape = keepdims
        ? x.shape.map((d, i) => (i === axis ? 1 : d))
        : x.shape.filter((_, i) => i !== axis);
      return { attrs: { axis, keepdims, selectLastIndex }, out: { shape, dtype: "int64" } };
    },
  },
};

export const OP_NAMES: readonly OpName[] = Object.keys(SPECS) as OpName[];

export const isOpName = (s: unknown): s is OpName =>
  typeof s === "string" && Object.hasOwn(SPECS, s);

/**
 * Checks a call of `op` on inputs of the given types: the arity, the attributes and the
 * shapes. Returns the normalized attributes and the output type. `where` names the node.
 */
export function inferOp<K extends OpName>(
  op: K,
  ins: readonly TensorType[],
  attrs: OpAttrs[K] | undefined,
  where: string,
): { attrs: NormAttrs<K>; out: TensorType } {
  if (!isOpName(op)) {
    throw new TesseraError(
      `${where}: unknown operator ${JSON.stringify(op)}; the graph's operators are ` +
        OP_NAMES.join(", "),
    );
  }
  const spec = SPECS[op] as OpSpec<K>;
  const [lo, hi] = spec.arity;
  if (ins.length < lo || ins.length > hi) {
    const want = lo === hi ? `${lo}` : hi === Infinity ? `${lo} or more` : `${lo} to ${hi}`;
    throw new TesseraError(`${where}: ${op} takes ${want} inputs, got ${ins.length}`);
  }
  if (attrs !== undefined && (typeof attrs !== "object" || attrs === null)) {
    throw new TesseraError(`${where}: attributes must be an object, got ${String(attrs)}`);
  }
  const r = spec.infer(ins, (attrs ?? {}) as OpAttrs[K], where);
  for (const key of Object.keys(attrs ?? {})) {
    if (!Object.hasOwn(r.attrs, key)) {
      const known = Object.keys(r.attrs);
      throw new TesseraError(
        `${where}: ${op} has no attribute ${JSON.stringify(key)}; its attributes are ` +
          (known.length ? known.join(", ") : "none"),
      );
    }
  }
  return r;
}
