/**
 * A plain reference evaluation of graphs for the frontend tests: every operator of ops.ts
 * written out directly over float64 arrays (numpy's and ONNX's meaning), one node at a time.
 * It shares nothing with legalization or the loop IR, so a test that holds ONNX import and
 * the nn layers to onnxruntime through it checks the frontends alone. (The graph core's
 * interpreter, legalize + lib/ir/interpret.ts, is the oracle for everything below the graph.)
 */
import type { Dim, Graph, Node } from "../lib/graph/ir.ts";
import type { NormAttrs } from "../lib/graph/ops.ts";

export interface Arr {
  shape: number[];
  data: Float64Array;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
function strides(s: readonly number[]): number[] {
  const r = s.map(() => 1);
  for (let i = s.length - 2; i >= 0; i--) r[i] = r[i + 1] * s[i + 1];
  return r;
}
const unravel = (f: number, shape: readonly number[], st: readonly number[]) =>
  shape.map((d, k) => Math.floor(f / st[k]) % d);

/** Index of `idx` (of a broadcast output) into an operand of shape `s`. */
function bcastIndex(idx: number[], s: readonly number[], st: readonly number[]): number {
  const off = idx.length - s.length;
  let o = 0;
  for (let k = 0; k < s.length; k++) if (s[k] !== 1) o += idx[k + off] * st[k];
  return o;
}

function broadcast(a: Arr, b: Arr, f: (x: number, y: number) => number): Arr {
  const r = Math.max(a.shape.length, b.shape.length);
  const pad = (s: number[]) => [...Array(r - s.length).fill(1), ...s];
  const pa = pad(a.shape), pb = pad(b.shape);
  const shape = pa.map((d, i) => (d === 1 ? pb[i] : d));
  const so = strides(shape), sa = strides(pa), sb = strides(pb);
  const out = new Float64Array(size(shape));
  for (let f0 = 0; f0 < out.length; f0++) {
    const idx = unravel(f0, shape, so);
    out[f0] = f(a.data[bcastIndex(idx, pa, sa)], b.data[bcastIndex(idx, pb, sb)]);
  }
  return { shape, data: out };
}

const map = (a: Arr, f: (x: number) => number): Arr => ({ shape: a.shape, data: a.data.map(f) });

/** Abramowitz-Stegun 7.1.26 is too coarse; a series/continued fraction erf to ~1e-15. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = x, term = x;
    for (let n = 1; n < 100; n++) {
      term *= -x * x / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by continued fraction.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

function matmul(a: Arr, b: Arr): Arr {
  const a2 = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const b2 = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const m = a2[a2.length - 2], k = a2[a2.length - 1], n = b2[b2.length - 1];
  const ba = a2.slice(0, -2), bb = b2.slice(0, -2);
  const r = Math.max(ba.length, bb.length);
  const pa = [...Array(r - ba.length).fill(1), ...ba],
    pb = [...Array(r - bb.length).fill(1), ...bb];
  const batch = pa.map((d, i) => (d === 1 ? pb[i] : d));
  const sB = strides(batch), sa = strides(pa), sb = strides(pb);
  const out = new Float64Array(size(batch) * m * n);
  for (let t = 0; t < size(batch); t++) {
    const idx = unravel(t, batch, sB);
    const oa = bcastIndex(idx, pa, sa) * m * k, ob = bcastIndex(idx, pb, sb) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += a.data[oa + i * k + q] * b.data[ob + q * n + j];
        out[(t * m + i) * n + j] = s;
      }
    }
  }
  const shape = [...batch];
  if (a.shape.length > 1) shape.push(m);
  if (b.shape.length > 1) shape.push(n);
  return { shape, data: out };
}

/** Reduces `axes` with `f` over groups (keepdims shape). */
function reduceAxes(a: Arr, axes: number[], f: (vals: number[]) => number, keep: boolean): Arr {
  const kept = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const sk = strides(kept), sa = strides(a.shape);
  const groups: number[][] = Array.from({ length: size(kept) }, () => []);
  for (let f0 = 0; f0 < a.data.length; f0++) {
    const idx = unravel(f0, a.shape, sa);
    let o = 0;
    idx.forEach((v, k) => (o += axes.includes(k) ? 0 : v * sk[k]));
    groups[o].push(a.data[f0]);
  }
  return {
    shape: keep ? kept : a.shape.filter((_, i) => !axes.includes(i)),
    data: Float64Array.from(groups, f),
  };
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

function normalize(x: Arr, from: number, eps: number): Arr {
  const inner = size(x.shape.slice(from));
  const out = new Float64Array(x.data.length);
  for (let o = 0; o < x.data.length; o += inner) {
    const v = Array.from(x.data.subarray(o, o + inner));
    const mu = mean(v);
    const varc = mean(v.map((t) => (t - mu) ** 2));
    for (let i = 0; i < inner; i++) out[o + i] = (v[i] - mu) / Math.sqrt(varc + eps);
  }
  return { shape: x.shape, data: out };
}

function window(
  x: Arr,
  outShape: number[],
  kh: number,
  kw: number,
  st: number[],
  pads: number[],
  dil: number[],
  f: (vals: number[], count: number) => number,
): Arr {
  const [N, C, H, W] = x.shape, [, , OH, OW] = outShape;
  const out = new Float64Array(size(outShape));
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const vals: number[] = [];
          for (let i = 0; i < kh; i++) {
            for (let j = 0; j < kw; j++) {
              const h = oh * st[0] - pads[0] + i * dil[0], w = ow * st[1] - pads[1] + j * dil[1];
              if (h >= 0 && h < H && w >= 0 && w < W) {
                vals.push(x.data[((n * C + c) * H + h) * W + w]);
              }
            }
          }
          out[((n * C + c) * OH + oh) * OW + ow] = f(vals, kh * kw);
        }
      }
    }
  }
  return { shape: outShape, data: out };
}

function conv(
  x: Arr,
  w: Arr,
  bias: Arr | undefined,
  a: NormAttrs<"conv2d">,
  outShape: number[],
): Arr {
  const [N, C, H, W] = x.shape, [M, CG, KH, KW] = w.shape, [, , OH, OW] = outShape;
  const mg = M / a.groups;
  const out = new Float64Array(size(outShape));
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / mg);
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let s = bias ? bias.data[m] : 0;
          for (let c = 0; c < CG; c++) {
            for (let i = 0; i < KH; i++) {
              for (let j = 0; j < KW; j++) {
                const h = oh * a.strides[0] - a.pads[0] + i * a.dilations[0];
                const ww = ow * a.strides[1] - a.pads[1] + j * a.dilations[1];
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                s += x.data[((n * C + g * CG + c) * H + h) * W + ww] *
                  w.data[((m * CG + c) * KH + i) * KW + j];
              }
            }
          }
          out[((n * M + m) * OH + oh) * OW + ow] = s;
        }
      }
    }
  }
  return { shape: outShape, data: out };
}

function transpose(x: Arr, perm: number[]): Arr {
  const shape = perm.map((p) => x.shape[p]);
  const so = strides(shape), sx = strides(x.shape);
  const out = new Float64Array(x.data.length);
  for (let f = 0; f < out.length; f++) {
    const idx = unravel(f, shape, so);
    let o = 0;
    perm.forEach((p, k) => (o += idx[k] * sx[p]));
    out[f] = x.data[o];
  }
  return { shape, data: out };
}

function evalNode(n: Node, ins: Arr[], outShape: number[]): Arr {
  const [x, y] = ins;
  // deno-lint-ignore no-explicit-any
  const a = n.attrs as any;
  switch (n.op) {
    case "add":
      return broadcast(x, y, (p, q) => p + q);
    case "sub":
      return broadcast(x, y, (p, q) => p - q);
    case "mul":
      return broadcast(x, y, (p, q) => p * q);
    case "div":
      return broadcast(
        x,
        y,
        (p, q) => n.inputs[0].dtype.startsWith("float") ? p / q : Math.trunc(p / q),
      );
    case "pow":
      return broadcast(x, y, (p, q) => p ** q);
    case "maximum":
      return broadcast(x, y, Math.max);
    case "minimum":
      return broadcast(x, y, Math.min);
    case "matmul":
      return matmul(x, y);
    case "relu":
      return map(x, (v) => Math.max(v, 0));
    case "neg":
      return map(x, (v) => -v);
    case "sigmoid":
      return map(x, (v) => 1 / (1 + Math.exp(-v)));
    case "tanh":
      return map(x, Math.tanh);
    case "erf":
      return map(x, erf);
    case "sqrt":
      return map(x, Math.sqrt);
    case "exp":
      return map(x, Math.exp);
    case "gelu":
      return map(
        x,
        a.approximate === "tanh"
          ? (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))
          : (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
      );
    case "clip":
      return map(x, (v) => Math.min(Math.max(v, a.min), a.max));
    case "hardSigmoid":
      return map(x, (v) => Math.max(0, Math.min(1, a.alpha * v + a.beta)));
    case "hardSwish":
      return map(x, (v) => v * Math.max(0, Math.min(1, v / 6 + 0.5)));
    case "softmax": {
      const t = transpose(x, [...x.shape.keys()].filter((k) => k !== a.axis).concat(a.axis));
      const d = x.shape[a.axis];
      for (let o = 0; o < t.data.length; o += d) {
        const v = t.data.subarray(o, o + d);
        const mx = Math.max(...v);
        let s = 0;
        for (let i = 0; i < d; i++) s += v[i] = Math.exp(v[i] - mx);
        for (let i = 0; i < d; i++) v[i] /= s;
      }
      const perm = [...x.shape.keys()].filter((k) => k !== a.axis).concat(a.axis);
      const inv = perm.map((_, i) => perm.indexOf(i));
      return transpose(t, inv);
    }
    case "layerNorm": {
      let r = broadcast(normalize(x, a.axis, a.epsilon), y, (p, q) => p * q);
      if (ins[2]) r = broadcast(r, ins[2], (p, q) => p + q);
      return r;
    }
    case "batchNorm": {
      const [, g, b, mu, v] = ins;
      const C = x.shape[1], inner = size(x.shape.slice(2));
      const out = new Float64Array(x.data.length);
      for (let f = 0; f < out.length; f++) {
        const c = Math.floor(f / inner) % C;
        out[f] = (x.data[f] - mu.data[c]) / Math.sqrt(v.data[c] + a.epsilon) * g.data[c] +
          b.data[c];
      }
      return { shape: x.shape, data: out };
    }
    case "reduceMean":
      return reduceAxes(x, a.axes, mean, a.keepdims);
    case "reduceSum":
      return reduceAxes(x, a.axes, (v) => v.reduce((p, q) => p + q, 0), a.keepdims);
    case "conv2d":
      return conv(x, y, ins[2], a, outShape);
    case "maxPool2d":
      return window(
        x,
        outShape,
        a.kernel[0],
        a.kernel[1],
        a.strides,
        a.pads,
        [1, 1],
        (v) => Math.max(...v),
      );
    case "avgPool2d":
      return window(
        x,
        outShape,
        a.kernel[0],
        a.kernel[1],
        a.strides,
        a.pads,
        [1, 1],
        (v, k) => v.reduce((p, q) => p + q, 0) / (a.countIncludePad ? k : v.length),
      );
    case "globalAvgPool":
      return reduceAxes(x, [...x.shape.keys()].slice(2), mean, true);
    case "reshape":
      return { shape: outShape, data: x.data };
    case "transpose":
      return transpose(x, a.perm);
    case "concat": {
      const outer = size(x.shape.slice(0, a.axis));
      const out: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (const t of ins) {
          const chunk = size(t.shape.slice(a.axis));
          out.push(...t.data.subarray(o * chunk, (o + 1) * chunk));
        }
      }
      return { shape: outShape, data: Float64Array.from(out) };
    }
    case "slice": {
      const so = strides(outShape), sx = strides(x.shape);
      const lo = x.shape.map(() => 0), st = x.shape.map(() => 1);
      a.axes.forEach((ax: number, i: number) => {
        lo[ax] = a.starts[i];
        st[ax] = a.steps[i];
      });
      const out = new Float64Array(size(outShape));
      for (let f = 0; f < out.length; f++) {
        const idx = unravel(f, outShape, so);
        let o = 0;
        idx.forEach((v, k) => (o += (lo[k] + v * st[k]) * sx[k]));
        out[f] = x.data[o];
      }
      return { shape: outShape, data: out };
    }
    case "gather": {
      const outer = size(x.shape.slice(0, a.axis)), inner = size(x.shape.slice(a.axis + 1));
      const d = x.shape[a.axis];
      const out: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (const raw of y.data) {
          const i = raw < 0 ? raw + d : raw;
          out.push(...x.data.subarray((o * d + i) * inner, (o * d + i + 1) * inner));
        }
      }
      return { shape: outShape, data: Float64Array.from(out) };
    }
    case "cast":
      return map(
        x,
        (v) =>
          a.to.startsWith("float")
            ? (a.to === "float32" ? Math.fround(v) : v)
            : a.to === "bool"
            ? (v !== 0 ? 1 : 0)
            : Math.trunc(v),
      );
    case "argmax": {
      const r = reduceAxes(
        transpose(x, [...x.shape.keys()].filter((k) => k !== a.axis).concat(a.axis)),
        [x.shape.length - 1],
        (v) => {
          let best = 0;
          for (let i = 1; i < v.length; i++) {
            if (a.selectLastIndex ? v[i] >= v[best] : v[i] > v[best]) best = i;
          }
          return best;
        },
        false,
      );
      return { shape: outShape, data: r.data };
    }
  }
  throw new Error(`graph_ref_util: no reference for ${n.op}`);
}

/** Evaluates `g` on inputs (flat data by input name); symbols bound from the input shapes. */
export function evalGraph(
  g: Graph,
  inputs: Record<string, { shape: number[]; data: ArrayLike<number | bigint> }>,
): Arr[] {
  const env = new Map<unknown, Arr>();
  const sym = new Map<string, number>();
  for (const v of g.inputs) {
    const x = inputs[v.name];
    v.shape.forEach((d, i) => typeof d === "string" && sym.set(d, x.shape[i]));
    env.set(v, { shape: x.shape, data: Float64Array.from(x.data as ArrayLike<number>, Number) });
  }
  for (const [name, p] of g.params) {
    const d = p.data as ArrayLike<number | bigint>;
    const data = p.dtype === "float16"
      ? Float64Array.from(new Float16Array((p.data as Uint16Array).buffer))
      : Float64Array.from(d as ArrayLike<number>, Number);
    env.set(g.paramValues.get(name), { shape: [...p.shape], data });
  }
  const bind = (s: readonly Dim[]) => s.map((d) => (typeof d === "string" ? sym.get(d)! : d));
  for (const n of g.nodes) {
    const out = evalNode(n, n.inputs.map((v) => env.get(v)!), bind(n.outputs[0].shape));
    env.set(n.outputs[0], out);
  }
  return g.outputs.map((v) => env.get(v)!);
}
