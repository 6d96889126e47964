/**
 * Folding at import: the ONNX operators that shape computations are made of (Shape, Gather,
 * Unsqueeze, Squeeze, Concat, Slice, Cast, Reshape, and integer arithmetic), evaluated on
 * constants whose entries may be symbolic sizes. PyTorch exports a reshape by a dynamic batch
 * as Shape -> Gather -> Unsqueeze -> Concat -> Reshape; folded, the Reshape gets the shape
 * ["n", 12, 64] directly. Anything these cannot fold stays an operator of the graph.
 */
import { TesseraError } from "../../error.ts";
import { type DType, isFloat } from "../../ir/dtype.ts";
import type { Dim } from "../ir.ts";
import { Const } from "./context.ts";

/** Row-major strides of a shape. */
function strides(shape: readonly number[]): number[] {
  const s = shape.map(() => 1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

export function gatherConst(data: Const, idx: Const, axis: number, where: string): Const {
  const vals = data.values(), ids = idx.values();
  const shape = [...data.shape.slice(0, axis), ...idx.shape, ...data.shape.slice(axis + 1)];
  const outer = data.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = data.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const dim = data.shape[axis];
  const out: Dim[] = [];
  for (let o = 0; o < outer; o++) {
    for (const raw of ids) {
      if (typeof raw !== "number") throw new TesseraError(`${where}: a symbolic index`);
      const i = raw < 0 ? raw + dim : raw;
      if (i < 0 || i >= dim) {
        throw new TesseraError(`${where}: index ${raw} is out of range for size ${dim}`);
      }
      for (let k = 0; k < inner; k++) out.push(vals[(o * dim + i) * inner + k]);
    }
  }
  return new Const(shape, data.dtype, { values: out });
}

export function sliceConst(
  data: Const,
  starts: number[],
  ends: number[],
  axes: number[],
  steps: number[],
  where: string,
): Const {
  const r = data.shape.length;
  const lo = data.shape.map(() => 0), step = data.shape.map(() => 1);
  const count = [...data.shape];
  axes.forEach((a0, i) => {
    const a = a0 < 0 ? a0 + r : a0;
    const d = data.shape[a];
    const st = steps[i] ?? 1;
    if (st === 0) throw new TesseraError(`${where}: step 0`);
    let s = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    if (st > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    lo[a] = s;
    step[a] = st;
    count[a] = Math.max(0, Math.ceil((e - s) / st));
  });
  const vals = data.values(), str = strides(data.shape);
  const out: Dim[] = [];
  const n = count.reduce((a, b) => a * b, 1);
  const cs = strides(count);
  for (let f = 0; f < n; f++) {
    let off = 0;
    for (let k = 0; k < r; k++) {
      const i = Math.floor(f / cs[k]) % count[k];
      off += (lo[k] + i * step[k]) * str[k];
    }
    out.push(vals[off]);
  }
  return new Const(count, data.dtype, { values: out });
}

export function concatConst(parts: Const[], axis: number): Const {
  const shape = [...parts[0].shape];
  shape[axis] = parts.reduce((a, p) => a + p.shape[axis], 0);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const out: Dim[] = [];
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const chunk = p.shape.slice(axis).reduce((a, b) => a * b, 1);
      out.push(...p.values().slice(o * chunk, (o + 1) * chunk));
    }
  }
  return new Const(shape, parts[0].dtype, { values: out });
}

/** A cast of a constant; symbolic entries survive integer casts only. */
export function castConst(c: Const, to: DType, where: string): Const {
  const vals = c.values().map((v) => {
    if (typeof v === "string") {
      if (isFloat(to) || to === "bool") {
        throw new TesseraError(`${where}: cannot cast the symbolic size "${v}" to ${to}`);
      }
      return v;
    }
    if (to === "bool") return v !== 0 ? 1 : 0;
    if (isFloat(to)) return to === "float32" ? Math.fround(v) : v;
    return Math.trunc(v);
  });
  return new Const(c.shape, to, { values: vals });
}

/** numpy broadcasting of two constants through `f` (which may see symbols). */
export function binaryConst(
  a: Const,
  b: Const,
  f: (x: Dim, y: Dim) => Dim | null,
  where: string,
): Const {
  const r = Math.max(a.shape.length, b.shape.length);
  const pa = [...Array(r - a.shape.length).fill(1), ...a.shape];
  const pb = [...Array(r - b.shape.length).fill(1), ...b.shape];
  const shape = pa.map((d, i) => {
    if (d !== pb[i] && d !== 1 && pb[i] !== 1) {
      throw new TesseraError(`${where}: shapes (${a.shape}) and (${b.shape}) do not broadcast`);
    }
    return Math.max(d, pb[i]);
  });
  const sa = strides(pa), sb = strides(pb), so = strides(shape);
  const va = a.values(), vb = b.values();
  const n = shape.reduce((x, y) => x * y, 1);
  const out: Dim[] = [];
  for (let f0 = 0; f0 < n; f0++) {
    let ia = 0, ib = 0;
    for (let k = 0; k < r; k++) {
      const i = Math.floor(f0 / so[k]) % shape[k];
      if (pa[k] !== 1) ia += i * sa[k];
      if (pb[k] !== 1) ib += i * sb[k];
    }
    const v = f(va[ia], vb[ib]);
    if (v === null) {
      throw new TesseraError(
        `${where}: cannot fold ${JSON.stringify(va[ia])} and ${JSON.stringify(vb[ib])} at ` +
          `import (a symbolic size in arithmetic); give the input fixed sizes`,
      );
    }
    out.push(v);
  }
  return new Const(shape, a.dtype, { values: out });
}

/** Integer/float arithmetic on numbers; with a symbol only the identities fold. */
export const ARITH: Record<string, (dtype: DType) => (x: Dim, y: Dim) => Dim | null> = {
  Add: () => (x, y) =>
    typeof x === "number" && typeof y === "number" ? x + y : y === 0 ? x : x === 0 ? y : null,
  Sub: () => (x, y) => typeof x === "number" && typeof y === "number" ? x - y : y === 0 ? x : null,
  Mul: () => (x, y) =>
    typeof x === "number" && typeof y === "number" ? x * y : y === 1 ? x : x === 1 ? y : null,
  Div: (dt) => (x, y) => {
    if (typeof x === "number" && typeof y === "number") {
      if (isFloat(dt)) return x / y;
      if (y === 0) return null;
      return Math.trunc(x / y);
    }
    return y === 1 ? x : null;
  },
};
