/**
 * Legalization: each graph operator as a `te` definition, `te.compute`s over the tensors
 * standing for its inputs (placeholders for a single operator, a producer's tensor inside a
 * fused group). This is where the graph's operators get their meaning: the interpreter path,
 * pattern annotation (read from these index expressions), fusion (one `te` program per group)
 * and the backends all start here, so every path agrees by construction.
 *
 * Shapes must be known: symbolic sizes are bound first (passes/bindSizes.ts). Tensor names
 * are made here (`t<k>_<op>`), never taken from a user's value names, so nothing a user names
 * reaches generated code. Semantics are ONNX's, with two choices of ours: gather clamps an
 * index outside the axis (after wrapping negative ones), where ONNX leaves it undefined; and
 * float maximum/minimum propagate NaN (Math.max), as ONNX's Max does.
 */
import { TesseraError } from "../error.ts";
import { type DType, isFloat } from "../ir/dtype.ts";
import { constOf, type Expr } from "../ir/expr.ts";
import { te } from "../te/te.ts";
import type { IterVar, Tensor } from "../te/tensor.ts";
import { isOp, type Node, type Shape } from "./ir.ts";
import { BINARY_OPS, type NormAttrs, type OpName, UNARY_OPS } from "./ops.ts";

/** The known sizes of a shape; a symbol is a TesseraError (bind sizes before legalizing). */
export function knownShape(shape: Shape, where: string): number[] {
  return shape.map((d) => {
    if (typeof d !== "number") {
      throw new TesseraError(
        `${where}: the size "${d}" is symbolic; bind symbolic sizes first (graph.passes.bindSizes(g, ` +
          `{ ${d}: 1 }) or build(..., { sizes: { ${d}: 1 } }))`,
      );
    }
    return d;
  });
}

const k = (v: number, t: DType): Expr => constOf(v, t);

/** Indices into a tensor of shape `s` broadcast (numpy) to the output indices `idx`. */
function bcast(s: readonly number[], idx: readonly Expr[], outShape: readonly number[]): Expr[] {
  const off = idx.length - s.length;
  return s.map((d, i) => (d === 1 && outShape[off + i] !== 1 ? k(0, "int32") : idx[off + i]));
}

/** A stage's body as a function of its indices (one IterVar per dimension). */
type Body = (idx: IterVar[]) => Expr | Expr[];
let counter = 0;
function compute(shape: readonly number[], body: Body, op: string): Tensor {
  return te.compute([...shape], (...idx: IterVar[]) => body(idx) as Expr, `t${counter++}_${op}`);
}

function reduceAxes(extents: readonly number[], name: string): IterVar[] {
  return extents.map((e, i) => te.reduceAxis([0, e], `${name}${i}`));
}

const gelu = (x: Expr, tanh: boolean): Expr => {
  if (!tanh) return x.mul(0.5).mul(te.erf(x.mul(Math.SQRT1_2)).add(1));
  const inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
  return x.mul(0.5).mul(te.tanh(inner).add(1));
};

/** The elementwise body of a unary operator, or null when `op` is not one. */
function unaryBody(n: Node, x: Expr): Expr | null {
  const t = x.dtype;
  if (isOp(n, "relu")) return te.max(x, k(0, t));
  if (isOp(n, "neg")) return x.neg();
  if (isOp(n, "sigmoid")) return te.sigmoid(x);
  if (isOp(n, "tanh")) return te.tanh(x);
  if (isOp(n, "erf")) return te.erf(x);
  if (isOp(n, "sqrt")) return te.sqrt(x);
  if (isOp(n, "exp")) return te.exp(x);
  if (isOp(n, "gelu")) return gelu(x, n.attrs.approximate === "tanh");
  if (isOp(n, "hardSigmoid")) {
    return te.max(te.min(x.mul(n.attrs.alpha).add(n.attrs.beta), k(1, t)), k(0, t));
  }
  if (isOp(n, "hardSwish")) {
    return x.mul(te.max(te.min(x.mul(1 / 6).add(0.5), k(1, t)), k(0, t)));
  }
  if (isOp(n, "clip")) {
    let y = x;
    const { min, max } = n.attrs;
    if (min !== -Infinity) y = te.max(y, clipConst(min, t));
    if (max !== Infinity) y = te.min(y, clipConst(max, t));
    return y;
  }
  if (isOp(n, "cast")) return te.cast(n.attrs.to, x);
  return null;
}

/** A clip bound in the input's type (an integer tensor's bound rounded into its range). */
function clipConst(v: number, t: DType): Expr {
  if (isFloat(t)) return k(v, t);
  const r = t === "int8" ? [-128, 127] : t === "uint8" ? [0, 255] : [-(2 ** 31), 2 ** 31 - 1];
  return k(Math.min(Math.max(Math.round(v), r[0]), r[1]), t);
}

function binaryBody(op: OpName, a: Expr, b: Expr): Expr {
  switch (op) {
    case "add":
      return a.add(b);
    case "sub":
      return a.sub(b);
    case "mul":
      return a.mul(b);
    case "div":
      return a.div(b);
    case "pow":
      return a.pow(b);
    case "maximum":
      return te.max(a, b);
    case "minimum":
      return te.min(a, b);
  }
  throw new TesseraError(`internal: ${op} is not a binary operator`);
}

/** Output shapes of a node, as numbers. */
const outShapeOf = (n: Node) => knownShape(n.outputs[0].shape, `node ${n.name}`);

/**
 * The `te` definition of node `n` over `ins` (one tensor per input, shaped as the node's
 * inputs). Returns the output tensor; intermediate stages (softmax's max, conv's padding)
 * are reachable from it.
 */
export function legalizeNode(n: Node, ins: readonly Tensor[]): Tensor {
  const where = `legalize ${n.name} = ${n.op}`;
  const out = outShapeOf(n);
  const shapes = n.inputs.map((v) => knownShape(v.shape, where));
  const dt = n.outputs[0].dtype;
  const [X] = ins;

  if ((UNARY_OPS as readonly string[]).includes(n.op) || n.op === "cast") {
    return compute(out, (idx) => unaryBody(n, X(...idx))!, n.op);
  }
  if ((BINARY_OPS as readonly string[]).includes(n.op)) {
    const [A, B] = ins;
    return compute(
      out,
      (idx) => binaryBody(n.op, A(...bcast(shapes[0], idx, out)), B(...bcast(shapes[1], idx, out))),
      n.op,
    );
  }
  if (isOp(n, "matmul")) {
    return n.attrs.weightBlock ? packedMatmul(ins, shapes, out) : matmul(ins, shapes, out);
  }
  if (isOp(n, "softmax")) return softmax(X, shapes[0], n.attrs.axis);
  if (isOp(n, "layerNorm")) return layerNorm(ins, shapes[0], n.attrs);
  if (isOp(n, "batchNorm")) {
    const [, G, B, M, V] = ins;
    const eps = n.attrs.epsilon;
    // Per channel scale and shift first (a stage of C elements), then one multiply-add.
    const scale = compute([shapes[0][1]], ([c]) => G(c).div(te.sqrt(V(c).add(eps))), "bnscale");
    const shift = compute([shapes[0][1]], ([c]) => B(c).sub(M(c).mul(scale(c))), "bnshift");
    return compute(out, (idx) => X(...idx).mul(scale(idx[1])).add(shift(idx[1])), "batchNorm");
  }
  if (isOp(n, "reduceSum") || isOp(n, "reduceMean")) {
    const { axes, keepdims } = n.attrs;
    const s = shapes[0];
    const rk = reduceAxes(axes.map((a) => s[a]), "r");
    const count = axes.reduce((p, a) => p * s[a], 1);
    const sum = compute(out, (idx) => {
      const read: Expr[] = [];
      let o = 0;
      s.forEach((_, d) => {
        const j = axes.indexOf(d);
        if (j >= 0) {
          read.push(rk[j]);
          if (keepdims) o++;
        } else read.push(idx[o++]);
      });
      return te.sum(X(...read), rk);
    }, n.op === "reduceSum" ? "reduceSum" : "rsum");
    if (n.op === "reduceSum") return sum;
    return compute(out, (idx) => sum(...idx).div(count), "reduceMean");
  }
  if (isOp(n, "conv2d")) return conv2d(ins, shapes, out, n.attrs);
  if (isOp(n, "maxPool2d") || isOp(n, "avgPool2d")) {
    return pool(X, shapes[0], out, n.attrs as NormAttrs<"avgPool2d">, n.op === "maxPool2d");
  }
  if (isOp(n, "globalAvgPool") && n.attrs.block) {
    // Blocked (N, C/B, H, W, B): the block stays, the window is H x W.
    const s = shapes[0];
    const [ry, rx] = reduceAxes(s.slice(2, 4), "r");
    const sum = compute(
      [s[0], s[1], s[4]],
      ([b, c, l]) => te.sum(X(b, c, ry, rx, l), [ry, rx]),
      "gapsum",
    );
    return compute(out, ([b, c, , , l]) => sum(b, c, l).div(s[2] * s[3]), "globalAvgPool");
  }
  if (isOp(n, "fromBlocks")) {
    const B = shapes[0][4];
    return compute(
      out,
      ([b, c, y, x]) => X(b, c.floordiv(B), y, x, c.floormod(B)),
      "fromBlocks",
    );
  }
  if (isOp(n, "globalAvgPool")) {
    const s = shapes[0];
    const rk = reduceAxes(s.slice(2), "r");
    const count = s.slice(2).reduce((a, b) => a * b, 1);
    const sum = compute(s.slice(0, 2), ([b, c]) => te.sum(X(b, c, ...rk), rk), "gapsum");
    return compute(out, (idx) => sum(idx[0], idx[1]).div(count), "globalAvgPool");
  }
  if (isOp(n, "reshape")) {
    const s = shapes[0];
    return compute(out, (idx) => {
      // Flat row-major offset of the output index, then the input index of that offset.
      let flat: Expr = k(0, "int32");
      idx.forEach((v, d) => flat = flat.mul(out[d]).add(v));
      const read: Expr[] = [];
      let rest = flat;
      for (let d = s.length - 1; d >= 0; d--) {
        read.unshift(d === 0 ? rest : rest.floormod(s[d]));
        rest = rest.floordiv(s[d]);
      }
      return X(...read);
    }, "reshape");
  }
  if (isOp(n, "transpose")) {
    const { perm } = n.attrs;
    return compute(out, (idx) => {
      const read: Expr[] = new Array(perm.length);
      perm.forEach((p, d) => read[p] = idx[d]);
      return X(...read);
    }, "transpose");
  }
  if (isOp(n, "concat")) {
    const { axis } = n.attrs;
    return compute(out, (idx) => {
      // From the first input on: each select picks the later input where the axis index
      // reaches its offset; indices are clamped so that no branch reads outside its input.
      const offsets: number[] = [];
      let o = 0;
      for (const s of shapes) {
        offsets.push(o);
        o += s[axis];
      }
      let e: Expr | null = null;
      for (let j = 0; j < ins.length; j++) {
        const len = shapes[j][axis];
        if (len === 0) continue;
        const local = te.min(te.max(idx[axis].sub(offsets[j]), 0), len - 1);
        const read = ins[j](...idx.map((v, d) => (d === axis ? local : v)));
        e = e === null ? read : te.select(idx[axis].ge(offsets[j]), read, e);
      }
      return e!;
    }, "concat");
  }
  if (isOp(n, "slice")) {
    const { starts, axes, steps } = n.attrs;
    return compute(out, (idx) =>
      X(...idx.map((v, d) => {
        const j = axes.indexOf(d);
        return j < 0 ? v : v.mul(steps[j]).add(starts[j]);
      })), "slice");
  }
  if (isOp(n, "gather")) {
    const [D, I] = ins;
    const { axis } = n.attrs;
    const ir = shapes[1].length, dim = shapes[0][axis];
    return compute(out, (idx) => {
      let i = te.cast("int32", I(...idx.slice(axis, axis + ir)));
      i = te.select(i.lt(0), i.add(dim), i);
      i = te.min(te.max(i, 0), dim - 1);
      return D(...idx.slice(0, axis), i, ...idx.slice(axis + ir));
    }, "gather");
  }
  if (isOp(n, "argmax")) {
    const { axis, keepdims, selectLastIndex } = n.attrs;
    const s = shapes[0], len = s[axis];
    const [r] = reduceAxes([len], "r");
    const [index] = te.compute(
      [...out],
      (...idx: IterVar[]) => {
        const outer = keepdims ? idx.filter((_, d) => d !== axis) : idx;
        const read = [
          ...outer.slice(0, axis),
          selectLastIndex ? r.mul(-1).add(len - 1) : r,
          ...outer.slice(axis),
        ];
        return te.argmax(X(...read), [r]);
      },
      `t${counter++}_argmax`,
    );
    return compute(out, (idx) => {
      const i = selectLastIndex ? k(len - 1, "int32").sub(index(...idx)) : index(...idx);
      return te.cast(dt, i);
    }, "argmax");
  }
  throw new TesseraError(`${where}: no legalization for operator ${n.op}`);
}

function matmul(ins: readonly Tensor[], shapes: number[][], out: number[]): Tensor {
  const [A, B] = ins;
  const [sa, sb] = shapes;
  const kdim = sa[sa.length - 1];
  const [r] = reduceAxes([kdim], "k");
  const aBatch = sa.length > 2 ? sa.slice(0, -2) : [];
  const bBatch = sb.length > 2 ? sb.slice(0, -2) : [];
  const batchRank = out.length - (sa.length > 1 ? 1 : 0) - (sb.length > 1 ? 1 : 0);
  const batchShape = out.slice(0, batchRank);
  return compute(out, (idx) => {
    const batch = idx.slice(0, batchRank);
    let p = batchRank;
    const i = sa.length > 1 ? idx[p++] : null;
    const j = sb.length > 1 ? idx[p++] : null;
    const ai = [...bcast(aBatch, batch, batchShape), ...(i ? [i] : []), r];
    const bi = [...bcast(bBatch, batch, batchShape), r, ...(j ? [j] : [])];
    return te.sum(A(...ai).mul(B(...bi)), [r]);
  }, "matmul");
}

/**
 * A matmul whose weight was packed by packMatmulWeights, (K, N) as (N/B, K, B): the sums are
 * computed over [..., M, N/B, B], so a register tile's columns read B contiguous floats of
 * one panel at every step of k (the unpacked weight is a stride of N floats a step, which
 * streams the whole weight once per tile row: BERT's 768x3072 weight ran at half speed), and
 * read back as [..., M, N]. The same sums, in the same order, as the plain form.
 */
function packedMatmul(ins: readonly Tensor[], shapes: number[][], out: number[]): Tensor {
  const [A, W] = ins;
  const [, [nb, kdim, B]] = shapes;
  const [r] = reduceAxes([kdim], "k");
  const lead = out.slice(0, -1);
  const blocked = compute([...lead, nb, B], (idx) => {
    // The leading indices are a's batch dimensions and its row (none when a is a vector).
    const [jo, jl] = idx.slice(lead.length);
    return te.sum(A(...idx.slice(0, lead.length), r).mul(W(jo, r, jl)), [r]);
  }, "matmul");
  return compute(out, (idx) => {
    const j = idx[idx.length - 1];
    return blocked(...idx.slice(0, -1), j.floordiv(B), j.floormod(B));
  }, "unblock");
}

function softmax(X: Tensor, s: number[], axis: number): Tensor {
  const rowShape = s.filter((_, d) => d !== axis);
  const at = (idx: readonly Expr[], v: Expr) => [...idx.slice(0, axis), v, ...idx.slice(axis)];
  const [r1] = reduceAxes([s[axis]], "k");
  const M = compute(rowShape, (idx) => te.max(X(...at(idx, r1)), [r1]), "smax");
  const E = compute(s, (idx) => {
    const row = idx.filter((_, d) => d !== axis);
    return te.exp(X(...idx).sub(M(...row)));
  }, "sexp");
  const [r2] = reduceAxes([s[axis]], "k");
  const S = compute(rowShape, (idx) => te.sum(E(...at(idx, r2)), [r2]), "ssum");
  return compute(s, (idx) => E(...idx).div(S(...idx.filter((_, d) => d !== axis))), "softmax");
}

function layerNorm(ins: readonly Tensor[], s: number[], a: NormAttrs<"layerNorm">): Tensor {
  const [X, G, B] = ins;
  const { axis, epsilon } = a;
  const inner = s.slice(axis), outer = s.slice(0, axis);
  const count = inner.reduce((p, q) => p * q, 1);
  const r1 = reduceAxes(inner, "k");
  const mean = compute(outer, (idx) => te.sum(X(...idx, ...r1), r1).div(count), "lnmean");
  const r2 = reduceAxes(inner, "k");
  const rstd = compute(outer, (idx) => {
    const d = X(...idx, ...r2).sub(mean(...idx));
    return te.sum(d.mul(d), r2).div(count).add(epsilon);
  }, "lnvar");
  const inv = compute(outer, (idx) => te.rsqrt(rstd(...idx)), "lnrstd");
  return compute(s, (idx) => {
    const o = idx.slice(0, axis), i = idx.slice(axis);
    const y = X(...idx).sub(mean(...o)).mul(inv(...o)).mul(G(...i));
    return B ? y.add(B(...i)) : y;
  }, "layerNorm");
}

/**
 * Zero (or -inf) padding as a stage of its own, TVM's `pad`; the tensor itself when none.
 * A blocked tensor (N, C/B, H, W, B) keeps its block axis innermost.
 */
function pad(X: Tensor, s: number[], pads: readonly number[], fill: number): Tensor {
  if (pads.every((p) => p === 0)) return X;
  const [t, l, b, r] = pads;
  const shape = [s[0], s[1], s[2] + t + b, s[3] + l + r, ...s.slice(4)];
  return compute(shape, ([n, c, y, x, ...blk]) => {
    const inside = y.ge(t).and(y.lt(s[2] + t)).and(x.ge(l)).and(x.lt(s[3] + l));
    return te.select(inside, X(n, c, y.sub(t), x.sub(l), ...blk), k(fill, X.dtype));
  }, "pad");
}

/**
 * Reads channel `c` of `P` at (n, y, x): P is NCHW, or blocked (N, C/B, H, W, B) when
 * `inBlock` = B > 0.
 */
function channelReader(P: Tensor, inBlock: number) {
  return (n: Expr, c: Expr, y: Expr, x: Expr): Expr =>
    inBlock > 0 ? P(n, c.floordiv(inBlock), y, x, c.floormod(inBlock)) : P(n, c, y, x);
}

function conv2d(
  ins: readonly Tensor[],
  shapes: number[][],
  out: number[],
  a: NormAttrs<"conv2d">,
): Tensor {
  const [X, W, Bias] = ins;
  const P = pad(X, shapes[0], a.pads, 0);
  const read = channelReader(P, a.inBlock ?? 0);
  const [sh, sw] = a.strides, [dh, dw] = a.dilations;
  if (a.weightBlock) { // packed by packConvWeights: (M/B, C, kh, kw, B)
    const B = a.weightBlock;
    const conv = blockedConv(read, W, out, shapes[1], [sh, sw], [dh, dw], !!a.outBlock);
    if (!Bias) return conv;
    return a.outBlock
      ? compute(out, ([n, o, y, x, l]) => conv(n, o, y, x, l).add(Bias(o.mul(B).add(l))), "bias")
      : compute(out, ([n, f, y, x]) => conv(n, f, y, x).add(Bias(f)), "bias");
  }
  const [, , kh, kw] = shapes[1];
  const cg = shapes[1][1], m = shapes[1][0];
  const perGroup = m / a.groups;
  const [rc, ry, rx] = [
    te.reduceAxis([0, cg], "rc"),
    te.reduceAxis([0, kh], "ry"),
    te.reduceAxis([0, kw], "rx"),
  ];
  const block = a.groups === 1 && X.dtype === "float32" ? weightBlock(m) : 0;
  const packed = block > 0 ? packWeights(W, shapes[1], block) : null;
  const conv = packed
    ? blockedConv(read, packed, out, packedShape(shapes[1], block), [sh, sw], [dh, dw], false)
    : compute(out, ([n, f, y, x]) => {
      const c = a.groups === 1 ? rc : f.floordiv(perGroup).mul(cg).add(rc);
      const iy = y.mul(sh).add(ry.mul(dh)), ix = x.mul(sw).add(rx.mul(dw));
      return te.sum(read(n, c, iy, ix).mul(W(f, rc, ry, rx)), [rc, ry, rx]);
    }, "conv2d");
  if (!Bias) return conv;
  return compute(out, ([n, f, y, x]) => conv(n, f, y, x).add(Bias(f)), "bias");
}

/**
 * The block a packed weight's output channels (a convolution's) or columns (a matmul's) are
 * grouped by: the widest of 32, 16 and 8 that is at most `widest` and divides `extent`, else 0
 * (not packed). graph.build asks for two vector registers' worth (weightBlockFor): the CPU
 * register tile then covers the block with two vectors of columns per row. A block wider
 * than the tile is not: 32-channel blocks with AVX2's 16-column tile took ResNet-18 from 48 to
 * 66 ms (Zen 3, 2 cores); with AVX-512, 16-channel blocks left the tile load-bound (16-17 ms
 * against 13.3 with 32, Zen 5).
 */
export function weightBlock(extent: number, widest = 32): number {
  return [32, 16, 8].find((b) => b <= widest && extent % b === 0) ?? 0;
}

/** The shape of a convolution weight (M, C, kh, kw) packed by blocks of B output channels. */
export function packedShape([m, c, kh, kw]: readonly number[], B: number): number[] {
  return [m / B, c, kh, kw, B];
}

/**
 * A weight (M, C, kh, kw) packed as (M/B, C, kh, kw, B), as a stage computed with the
 * convolution; the default rules keep it at the root (a layout change read by a reduction).
 * graph.build packs weights that are params once, at compile time (passes/packConvWeights.ts).
 */
function packWeights(W: Tensor, wShape: readonly number[], B: number): Tensor {
  return compute(
    packedShape(wShape, B),
    ([o, c, y, x, l]) => W(o.mul(B).add(l), c, y, x),
    "wpack",
  );
}

/**
 * A convolution in TVM's channel-blocked form (NCHW[x]c), as bench/schedules/conv2d.ts
 * writes it by hand: the packed weights [M/B, C, KH, KW, B], the sums computed over
 * [N, M/B, H, W, B], whose innermost axis is a block of output channels, so that the CPU
 * rules' register tile vectorizes over channels (every lane busy at widths such as 7 and 14
 * that a vector does not divide), then read back as [N, M, H, W], or returned as it is when
 * the graph keeps activations blocked (`outBlocked`, passes/blockLayout.ts). The same sums,
 * in the same order, as the plain form.
 */
function blockedConv(
  read: (n: Expr, c: Expr, y: Expr, x: Expr) => Expr,
  packed: Tensor,
  out: number[],
  [, cg, kh, kw, B]: readonly number[],
  [sh, sw]: readonly number[],
  [dh, dw]: readonly number[],
  outBlocked: boolean,
): Tensor {
  const [rc, ry, rx] = [
    te.reduceAxis([0, cg], "rc"),
    te.reduceAxis([0, kh], "ry"),
    te.reduceAxis([0, kw], "rx"),
  ];
  const [n0, m0, h0, w0] = out;
  const m = outBlocked ? m0 * B : m0;
  const blocked = compute([n0, m / B, h0, w0, B], ([n, o, y, x, l]) => {
    const iy = y.mul(sh).add(ry.mul(dh)), ix = x.mul(sw).add(rx.mul(dw));
    return te.sum(read(n, rc, iy, ix).mul(packed(o, rc, ry, rx, l)), [rc, ry, rx]);
  }, "conv2d");
  if (outBlocked) return blocked;
  return compute(out, ([n, f, y, x]) => blocked(n, f.floordiv(B), y, x, f.floormod(B)), "unblock");
}

function pool(
  X: Tensor,
  s: number[],
  out: number[],
  a: NormAttrs<"avgPool2d">,
  isMax: boolean,
): Tensor {
  const [kh, kw] = a.kernel, [sh, sw] = a.strides;
  const [t, l] = a.pads;
  const lowest = isFloat(X.dtype)
    ? -Infinity
    : X.dtype === "uint8"
    ? 0
    : X.dtype === "int8"
    ? -128
    : -(2 ** 31);
  const P = pad(X, s, a.pads, isMax ? lowest : 0);
  const ry = te.reduceAxis([0, kh], "ry"), rx = te.reduceAxis([0, kw], "rx");
  // A blocked input (N, C/B, H, W, B) carries its block index through (`blk`).
  const read = (n: Expr, c: Expr, y: Expr, x: Expr, blk: Expr[]) =>
    P(n, c, y.mul(sh).add(ry), x.mul(sw).add(rx), ...blk);
  if (isMax) {
    return compute(
      out,
      ([n, c, y, x, ...blk]) => te.max(read(n, c, y, x, blk), [ry, rx]),
      "maxPool2d",
    );
  }
  const sum = compute(
    out,
    ([n, c, y, x, ...blk]) => te.sum(read(n, c, y, x, blk), [ry, rx]),
    "psum",
  );
  return compute(out, ([n, c, y, x, ...blk]) => {
    if (a.countIncludePad) return sum(n, c, y, x, ...blk).div(kh * kw);
    // The window's part inside the unpadded input.
    const y0 = y.mul(sh).sub(t), x0 = x.mul(sw).sub(l);
    const hy = te.min(y0.add(kh), s[2]).sub(te.max(y0, 0));
    const wx = te.min(x0.add(kw), s[3]).sub(te.max(x0, 0));
    return sum(n, c, y, x, ...blk).div(te.cast(X.dtype, hy.mul(wx)));
  }, "avgPool2d");
}
