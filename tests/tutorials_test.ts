/**
 * The computations of TVM's `te` tutorials (getting started, schedule primitives, reduction,
 * intrinsic math, the GEMM optimization steps, scan, tuple inputs, extern) and of Halide's lessons
 * 1–9, written as a
 * Tessera user would write them, one row per program and schedule. Every row runs on the
 * interpreter and on each target it fits (C, and WebGPU where it has a GPU schedule), and
 * every result is held both to the interpreter's and to a plain TypeScript reference
 * computed independently. Rows are data: a construct added later (scan, extern, tuple
 * reductions, new math) is one more row with its reference.
 */
import assert from "node:assert/strict";
import { nd, type NDArray, te, type Tensor } from "../mod.ts";
import type { DType } from "../lib/ir/dtype.ts";
import type { Expr } from "../lib/ir/expr.ts";
import type { Schedule } from "../lib/schedule/schedule.ts";
import { useTestCache } from "./c_util.ts";

useTestCache();

type Target = "c" | "webgpu";
type Data = ArrayLike<number>;

interface Program {
  ins: Tensor[];
  outs: Tensor[];
  s: Schedule;
  /** Input shapes where a size is symbolic (else the tensors' own shapes). */
  inShapes?: number[][];
  outShapes?: number[][];
}

interface Row {
  name: string;
  /** The program and its schedule, as the tutorial writes them. */
  make(): Program;
  /** Targets besides the interpreter, which runs every row. */
  targets: Target[];
  /** The outputs, from the inputs, in plain TypeScript. */
  ref(ins: Data[]): Data[];
  /** Input element `i` of input `k` (default: a spread of floats in [-1, 1]). */
  gen?(k: number, i: number): number;
  /** Relative tolerance for float32 (default 1e-5; WebGPU's math is looser, see README). */
  tol?: number;
}

const spread = (k: number, i: number) => (((i * 37 + k * 101) % 61) - 30) / 30;

const dims = (t: Tensor): number[] =>
  t.shape.map((d) => {
    assert.equal(d.kind, "const", `${t.name}: give inShapes/outShapes for symbolic sizes`);
    return (d as Expr & { kind: "const" }).value;
  });

function close(got: Data, want: Data, dtype: DType, tol: number, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let x = 0; x < want.length; x++) {
    const g = got[x], w = want[x];
    const ok = dtype === "float32" ? Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)) : g === w;
    if (!ok) assert.fail(`${what}: element ${x} is ${g}, expected ${w}`);
  }
}

async function runRow(row: Row) {
  const p = row.make();
  const args = [...p.ins, ...p.outs];
  const inShapes = p.inShapes ?? p.ins.map(dims);
  const outShapes = p.outShapes ?? p.outs.map(dims);
  const inputs = p.ins.map((t, k) => {
    const n = inShapes[k].reduce((a, b) => a * b, 1);
    const v = Array.from({ length: n }, (_, i) => (row.gen ?? spread)(k, i));
    return nd.array(t.dtype === "int32" ? Int32Array.from(v) : Float32Array.from(v), inShapes[k]);
  });
  const ref = row.ref(inputs.map((a) => a.toArray()));
  const run = async (target: "interpreter" | Target) => {
    const f = await te.build(p.s, args, { target });
    const outs: NDArray[] = p.outs.map((t, k) => {
      const a = nd.empty(outShapes[k], t.dtype);
      a.data.fill(t.dtype === "float32" ? NaN : 0x7eadbeef);
      return a;
    });
    await f(...inputs, ...outs);
    return outs.map((o) => o.toArray());
  };
  const interp = await run("interpreter");
  p.outs.forEach((t, k) =>
    close(interp[k], ref[k], t.dtype, 1e-5, `${row.name}: interpreter vs reference, ${t.name}`)
  );
  for (const target of row.targets) {
    const got = await run(target);
    const tol = row.tol ?? 1e-5;
    p.outs.forEach((t, k) => {
      close(got[k], interp[k], t.dtype, tol, `${row.name}: ${target} vs interpreter, ${t.name}`);
      close(got[k], ref[k], t.dtype, tol, `${row.name}: ${target} vs reference, ${t.name}`);
    });
  }
}

// --- plain TypeScript references --------------------------------------------------------------

const f32 = Math.fround;
const grid = (h: number, w: number, f: (y: number, x: number) => number) =>
  Float64Array.from({ length: h * w }, (_, i) => f(Math.floor(i / w), i % w));
const clampI = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

function gemmRef(a: Data, b: Data, m: number, n: number, k: number) {
  return grid(m, n, (i, j) => {
    let acc = 0;
    for (let r = 0; r < k; r++) acc += a[i * k + r] * b[r * n + j];
    return acc;
  });
}

// --- TVM: getting started -------------------------------------------------------------------

function vecAdd(n: number | ReturnType<typeof te.var>) {
  const A = te.placeholder([n], "float32", "A");
  const B = te.placeholder([n], "float32", "B");
  const C = te.compute([n], (i) => A(i).add(B(i)), "C");
  return { A, B, C, s: te.createSchedule(C.op) };
}
const vecAddRef = ([a, b]: Data[]) => [Float64Array.from(a, (v, i) => v + b[i])];

const tvmGettingStarted: Row[] = [
  {
    name: "tvm getting started: vector add, symbolic n, default schedule",
    targets: ["c"],
    make: () => {
      const { A, B, C, s } = vecAdd(te.var("n"));
      return { ins: [A, B], outs: [C], s, inShapes: [[1000], [1000]], outShapes: [[1000]] };
    },
    ref: vecAddRef,
  },
  {
    name: "tvm getting started: vector add, split 64, parallel outer, vectorize inner",
    targets: ["c"],
    make: () => {
      const { A, B, C, s } = vecAdd(1000);
      const [o, i] = s.stage(C).split(C.op.axis[0], { factor: 64 });
      s.stage(C).parallel(o).vectorize(i);
      return { ins: [A, B], outs: [C], s };
    },
    ref: vecAddRef,
  },
  {
    name: "tvm getting started: vector add on the GPU, split 64, blockIdx.x / threadIdx.x",
    targets: ["webgpu"],
    make: () => {
      const { A, B, C, s } = vecAdd(te.var("n"));
      const [bx, tx] = s.stage(C).split(C.op.axis[0], { factor: 64 });
      s.stage(C).bind(bx, "blockIdx.x").bind(tx, "threadIdx.x");
      return { ins: [A, B], outs: [C], s, inShapes: [[1000], [1000]], outShapes: [[1000]] };
    },
    ref: vecAddRef,
  },
];

// --- TVM: schedule primitives ---------------------------------------------------------------

function scaled(m: number, n: number) {
  const A = te.placeholder([m, n], "float32", "A");
  const B = te.compute([m, n], (i, j) => A(i, j).mul(2), "B");
  return { A, B, s: te.createSchedule(B) };
}
const scaledRef = ([a]: Data[]) => [Float64Array.from(a, (v) => v * 2)];

function twoStage() {
  const A = te.placeholder([13, 9], "float32", "A");
  const B = te.compute([13, 9], (i, j) => A(i, j).add(1), "B");
  const C = te.compute([13, 9], (i, j) => B(i, j).mul(2), "C");
  return { A, B, C, s: te.createSchedule(C) };
}
// TVM's tutorial lowers [A, B, C]: the intermediate is an argument, written in full.
const twoStageRef = ([a]: Data[]) => [
  Float64Array.from(a, (v) => f32(v + 1)),
  Float64Array.from(a, (v) => f32(v + 1) * 2),
];

const tvmSchedulePrimitives: Row[] = [
  {
    name: "tvm schedule primitives: split by factor (non-dividing)",
    targets: ["c"],
    make: () => {
      const { A, B, s } = scaled(1, 1000);
      s.stage(B).split(B.op.axis[1], { factor: 32 });
      return { ins: [A], outs: [B], s };
    },
    ref: scaledRef,
  },
  {
    name: "tvm schedule primitives: split by nparts",
    targets: ["c"],
    make: () => {
      const { A, B, s } = scaled(1, 1000);
      s.stage(B).split(B.op.axis[1], { nparts: 7 });
      return { ins: [A], outs: [B], s };
    },
    ref: scaledRef,
  },
  {
    name: "tvm schedule primitives: tile 10x5",
    targets: ["c"],
    make: () => {
      const { A, B, s } = scaled(30, 42);
      s.stage(B).tile(B.op.axis[0], B.op.axis[1], 10, 5);
      return { ins: [A], outs: [B], s };
    },
    ref: scaledRef,
  },
  {
    name: "tvm schedule primitives: tile, then fuse the inner pair",
    targets: ["c"],
    make: () => {
      const { A, B, s } = scaled(30, 42);
      const [, , xi, yi] = s.stage(B).tile(B.op.axis[0], B.op.axis[1], 10, 5);
      s.stage(B).fuse(xi, yi);
      return { ins: [A], outs: [B], s };
    },
    ref: scaledRef,
  },
  {
    name: "tvm schedule primitives: split both axes and reorder (xi, yo, xo, yi)",
    targets: ["c"],
    make: () => {
      const { A, B, s } = scaled(30, 42);
      const [xo, xi] = s.stage(B).split(B.op.axis[0], { factor: 32 });
      const [yo, yi] = s.stage(B).split(B.op.axis[1], { factor: 32 });
      s.stage(B).reorder(xi, yo, xo, yi);
      return { ins: [A], outs: [B], s };
    },
    ref: scaledRef,
  },
  {
    name: "tvm schedule primitives: bind to blockIdx.x / threadIdx.x",
    targets: ["webgpu"],
    make: () => {
      const { A, B, s } = scaled(1, 1000);
      const [bx, tx] = s.stage(B).split(B.op.axis[1], { factor: 64 });
      s.stage(B).bind(bx, "blockIdx.x").bind(tx, "threadIdx.x");
      return { ins: [A], outs: [B], s };
    },
    ref: scaledRef,
  },
  {
    name: "tvm schedule primitives: computeAt, lowered with [A, B, C]",
    targets: ["c", "webgpu"],
    make: () => {
      const { A, B, C, s } = twoStage();
      s.stage(B).computeAt(s.stage(C), C.op.axis[0]);
      return { ins: [A], outs: [B, C], s };
    },
    ref: twoStageRef,
  },
  {
    name: "tvm schedule primitives: computeInline, lowered with [A, B, C]",
    targets: ["c", "webgpu"],
    make: () => {
      const { A, B, C, s } = twoStage();
      s.stage(B).computeInline();
      return { ins: [A], outs: [B, C], s };
    },
    ref: twoStageRef,
  },
  {
    name: "tvm schedule primitives: computeAt then computeRoot",
    targets: ["c"],
    make: () => {
      const { A, B, C, s } = twoStage();
      s.stage(B).computeAt(s.stage(C), C.op.axis[0]);
      s.stage(B).computeRoot();
      return { ins: [A], outs: [B, C], s };
    },
    ref: twoStageRef,
  },
];

// --- TVM: reduction -------------------------------------------------------------------------

function rowSum(n: number, m: number) {
  const A = te.placeholder([n, m], "float32", "A");
  const k = te.reduceAxis([0, m], "k");
  const B = te.compute([n], (i) => te.sum(A(i, k), [k]), "B");
  return { A, B, k, s: te.createSchedule(B) };
}
const rowSumRef = (n: number, m: number) => ([a]: Data[]) => [
  Float64Array.from({ length: n }, (_, i) => {
    let acc = 0;
    for (let r = 0; r < m; r++) acc += a[i * m + r];
    return acc;
  }),
];

const tvmReduction: Row[] = [
  {
    name: "tvm reduction: row sum, split the reduce axis and the rows",
    targets: ["c"],
    make: () => {
      const { A, B, k, s } = rowSum(37, 53);
      s.stage(B).split(k, { factor: 16 });
      s.stage(B).split(B.op.axis[0], { factor: 32 });
      return { ins: [A], outs: [B], s };
    },
    ref: rowSumRef(37, 53),
  },
  {
    name: "tvm reduction: rfactor the inner part of k",
    targets: ["c"],
    make: () => {
      const { A, B, k, s } = rowSum(37, 53);
      const [, ki] = s.stage(B).split(k, { factor: 16 });
      const BF = s.rfactor(B, ki);
      s.stage(BF).computeAt(s.stage(B), B.op.axis[0]);
      return { ins: [A], outs: [B], s };
    },
    ref: rowSumRef(37, 53),
  },
  {
    name: "tvm reduction: row sum on the GPU, one row per thread",
    targets: ["webgpu"],
    make: () => {
      const { A, B, s } = rowSum(37, 53);
      const [bx, tx] = s.stage(B).split(B.op.axis[0], { factor: 16 });
      s.stage(B).bind(bx, "blockIdx.x").bind(tx, "threadIdx.x");
      return { ins: [A], outs: [B], s };
    },
    ref: rowSumRef(37, 53),
  },
];

// --- TVM: intrinsic math --------------------------------------------------------------------

const MATH: Array<[string, (x: Expr) => Expr, (x: number) => number]> = [
  ["exp", (x) => te.exp(x), Math.exp],
  ["log", (x) => te.log(te.abs(x).add(0.5)), (x) => Math.log(f32(Math.abs(x) + 0.5))],
  ["sigmoid", (x) => te.sigmoid(x), (x) => 1 / (1 + Math.exp(-x))],
  ["tanh", (x) => te.tanh(x), Math.tanh],
  ["sqrt", (x) => te.sqrt(te.abs(x)), (x) => Math.sqrt(Math.abs(x))],
  ["erf", (x) => te.erf(x), erfRef],
  ["pow", (x) => te.pow(te.abs(x), 1.5), (x) => Math.pow(Math.abs(x), 1.5)],
  ["floor", (x) => te.floor(x.mul(3)), (x) => Math.floor(f32(x * 3))],
  ["sin", (x) => te.sin(x.mul(3)), (x) => Math.sin(f32(x * 3))],
  ["cos", (x) => te.cos(x.mul(3)), (x) => Math.cos(f32(x * 3))],
  ["tan", (x) => te.tan(x), Math.tan],
  ["atan", (x) => te.atan(x.mul(4)), (x) => Math.atan(f32(x * 4))],
  ["atan2", (x) => te.atan2(x, x.mul(x).sub(0.5)), (x) => Math.atan2(x, f32(f32(x * x) - 0.5))],
  ["exp2", (x) => te.exp2(x.mul(4)), (x) => 2 ** f32(x * 4)],
  ["log2", (x) => te.log2(te.abs(x).add(0.5)), (x) => Math.log2(f32(Math.abs(x) + 0.5))],
  ["log1p", (x) => te.log1p(x.mul(1e-3)), (x) => Math.log1p(f32(x * 1e-3))],
  ["expm1", (x) => te.expm1(x.mul(1e-3)), (x) => Math.expm1(f32(x * 1e-3))],
  ["sinh", (x) => te.sinh(x), Math.sinh],
  ["cosh", (x) => te.cosh(x), Math.cosh],
  ["clamp", (x) => te.clamp(x, -0.25, 0.5), (x) => Math.min(Math.max(x, -0.25), 0.5)],
];

/** erf by its Maclaurin series (|x| <= 1 here), independent of any library's erf. */
function erfRef(x: number): number {
  let sum = 0, term = x;
  for (let n = 0; n < 30; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const tvmIntrinMath: Row[] = [false, true].map((gpu): Row => ({
  name: `tvm intrin math: ${MATH.map(([n]) => n).join(", ")}${gpu ? " on the GPU" : ""}`,
  targets: gpu ? ["webgpu"] : ["c"],
  tol: gpu ? 1e-4 : 1e-5,
  make: () => {
    const A = te.placeholder([200], "float32", "A");
    const outs = MATH.map(([n, f]) => te.compute([200], (i) => f(A(i)), `B_${n}`));
    const s = te.createSchedule(outs);
    for (const B of outs) {
      const [o, i] = s.stage(B).split(B.op.axis[0], { factor: 32 });
      if (gpu) s.stage(B).bind(o, "blockIdx.x").bind(i, "threadIdx.x");
      else s.stage(B).vectorize(i);
    }
    return { ins: [A], outs, s };
  },
  ref: ([a]) => MATH.map(([, , r]) => Float64Array.from(a, r)),
}));

// --- TVM: how to optimize GEMM on CPU -------------------------------------------------------

const [GM, GN, GK, BN] = [64, 48, 40, 16];

function gemm() {
  const A = te.placeholder([GM, GK], "float32", "A");
  const B = te.placeholder([GK, GN], "float32", "B");
  const k = te.reduceAxis([0, GK], "k");
  const C = te.compute([GM, GN], (x, y) => te.sum(A(x, k).mul(B(k, y)), [k]), "C");
  return { A, B, C, k, s: te.createSchedule(C) };
}
const gemmRows = (a: Data[]) => [gemmRef(a[0], a[1], GM, GN, GK)];

type Gemm = ReturnType<typeof gemm>;
const gemmStep = (name: string, sched: (g: Gemm) => void, targets: Target[] = ["c"]): Row => ({
  name: `tvm gemm: ${name}`,
  targets,
  make: () => {
    const g = gemm();
    sched(g);
    return { ins: [g.A, g.B], outs: [g.C], s: g.s };
  },
  ref: gemmRows,
  tol: 1e-4,
});

/** Blocking: bn x bn tiles of C, k split by 4; `order` places the loops (names below). */
function blocked({ C, k, s }: Gemm, order: string) {
  const st = s.stage(C);
  const [xo, yo, xi, yi] = st.tile(C.op.axis[0], C.op.axis[1], BN, BN);
  const [ko, ki] = st.split(k, { factor: 4 });
  const byName: Record<string, typeof xo> = { xo, yo, xi, yi, ko, ki };
  st.reorder(...order.split(" ").map((n) => byName[n]));
  return { xo, yo, xi, yi, ko, ki };
}

const tvmGemm: Row[] = [
  gemmStep("default", () => {}),
  gemmStep("blocking", (g) => void blocked(g, "xo yo ko ki xi yi")),
  gemmStep("vectorize", (g) => {
    const { yi } = blocked(g, "xo yo ko ki xi yi");
    g.s.stage(g.C).vectorize(yi);
  }),
  gemmStep("loop permutation", (g) => {
    const { yi } = blocked(g, "xo yo ko xi ki yi");
    g.s.stage(g.C).vectorize(yi);
  }),
  {
    name: "tvm gemm: array packing",
    targets: ["c"],
    tol: 1e-4,
    make: () => {
      const A = te.placeholder([GM, GK], "float32", "A");
      const B = te.placeholder([GK, GN], "float32", "B");
      const k = te.reduceAxis([0, GK], "k");
      const packedB = te.compute(
        [GN / BN, GK, BN],
        (x, y, z) => B(y, x.mul(BN).add(z)),
        "packedB",
      );
      const C = te.compute(
        [GM, GN],
        (x, y) => te.sum(A(x, k).mul(packedB(y.floordiv(BN), k, y.floormod(BN))), [k]),
        "C",
      );
      const s = te.createSchedule(C);
      const [xo, yo, xi, yi] = s.stage(C).tile(C.op.axis[0], C.op.axis[1], BN, BN);
      const [ko, ki] = s.stage(C).split(k, { factor: 4 });
      s.stage(C).reorder(xo, yo, ko, xi, ki, yi).vectorize(yi);
      const [px, , pz] = s.stage(packedB).op.axis;
      s.stage(packedB).parallel(px).vectorize(pz);
      return { ins: [A, B], outs: [C], s };
    },
    ref: gemmRows,
  },
  gemmStep("cacheWrite with C.op.axis and the original k", ({ C, k, s }) => {
    const CC = s.cacheWrite(C, "local");
    const [xo, yo, xi, yi] = s.stage(C).tile(C.op.axis[0], C.op.axis[1], BN, BN);
    s.stage(CC).computeAt(s.stage(C), yo);
    const [xc, yc] = s.stage(CC).op.axis;
    const [ko, ki] = s.stage(CC).split(k, { factor: 4 });
    s.stage(CC).reorder(ko, xc, ki, yc).unroll(ki).vectorize(yc);
    void xo, xi, yi;
  }),
  gemmStep("parallel", ({ C, k, s }) => {
    const CC = s.cacheWrite(C, "local");
    const [xo, yo] = s.stage(C).tile(C.op.axis[0], C.op.axis[1], BN, BN);
    s.stage(CC).computeAt(s.stage(C), yo);
    const [xc, yc] = s.stage(CC).op.axis;
    const [ko, ki] = s.stage(CC).split(k, { factor: 4 });
    s.stage(CC).reorder(ko, xc, ki, yc).unroll(ki).vectorize(yc);
    s.stage(C).parallel(xo);
  }),
  gemmStep("GPU: 8x8 threads, a local accumulator, k from the original axis", ({ C, k, s }) => {
    const CL = s.cacheWrite(C, "local");
    const [by, bx, ty, tx] = s.stage(C).tile(C.op.axis[0], C.op.axis[1], 8, 8);
    s.stage(C).bind(by, "blockIdx.y").bind(bx, "blockIdx.x");
    s.stage(C).bind(ty, "threadIdx.y").bind(tx, "threadIdx.x");
    s.stage(CL).computeAt(s.stage(C), tx);
    s.stage(CL).split(k, { factor: 8 });
  }, ["webgpu"]),
];

// --- Halide lessons 1-9 ---------------------------------------------------------------------

const [H, W] = [6, 8];
function gradient(h = H, w = W, oy = 0, ox = 0) {
  const G = te.compute([h, w], (y, x) => x.add(ox).add(y.add(oy)), "gradient");
  return { G, s: te.createSchedule(G) };
}
const gradientRef = (h = H, w = W, oy = 0, ox = 0) => () => [grid(h, w, (y, x) => x + ox + y + oy)];
const halideSchedule = (name: string, sched: (g: ReturnType<typeof gradient>) => void): Row => ({
  name: `halide lesson 5: gradient, ${name}`,
  targets: ["c"],
  make: () => {
    const g = gradient(7, 9);
    sched(g);
    return { ins: [], outs: [g.G], s: g.s };
  },
  ref: gradientRef(7, 9),
});

function brighten(dtype: "float32" | "int32") {
  const I = te.placeholder([5, 7, 3], dtype, "input");
  const O = te.compute(
    [5, 7, 3],
    (y, x, c) => te.cast(dtype, te.cast("float32", I(y, x, c)).mul(1.5).min(255)),
    "brighter",
  );
  return { I, O, s: te.createSchedule(O) };
}

/** Halide's lesson 7 blur: clamped reads at the edges, a horizontal then a vertical pass. */
function blur(h: number, w: number) {
  const I = te.placeholder([h, w], "float32", "input");
  const cy = (v: Expr) => v.max(0).min(h - 1), cx = (v: Expr) => v.max(0).min(w - 1);
  const BX = te.compute(
    [h, w],
    (y, x) => I(y, cx(x.sub(1))).add(I(y, x)).add(I(y, cx(x.add(1)))).div(3),
    "blur_x",
  );
  const BY = te.compute(
    [h, w],
    (y, x) => BX(cy(y.sub(1)), x).add(BX(y, x)).add(BX(cy(y.add(1)), x)).div(3),
    "blur_y",
  );
  return { I, BX, BY, s: te.createSchedule(BY) };
}
function blurRef(h: number, w: number) {
  return ([a]: Data[]) => {
    const at = (y: number, x: number) => a[clampI(y, 0, h - 1) * w + clampI(x, 0, w - 1)];
    const bx = grid(h, w, (y, x) => f32(f32(f32(at(y, x - 1) + at(y, x)) + at(y, x + 1)) / 3));
    const bxAt = (y: number, x: number) => bx[clampI(y, 0, h - 1) * w + x];
    return [grid(h, w, (y, x) => (bxAt(y - 1, x) + bxAt(y, x) + bxAt(y + 1, x)) / 3)];
  };
}

/** Lesson 8: a producer read by a 2x2 window of its consumer. */
function producerConsumer() {
  const P = te.compute(
    [17, 21],
    (y, x) => te.sqrt(te.cast("float32", x.mul(y))),
    "producer",
  );
  const Q = te.compute(
    [16, 20],
    (y, x) => P(y, x).add(P(y.add(1), x)).add(P(y, x.add(1))).add(P(y.add(1), x.add(1))).div(4),
    "consumer",
  );
  return { P, Q, s: te.createSchedule(Q) };
}
const producerConsumerRef = () => {
  const p = (y: number, x: number) => Math.sqrt(x * y);
  return [grid(16, 20, (y, x) => (p(y, x) + p(y + 1, x) + p(y, x + 1) + p(y + 1, x + 1)) / 4)];
};
const lesson8 = (
  name: string,
  sched: (g: ReturnType<typeof producerConsumer>) => void,
  targets: Target[] = ["c"],
): Row => ({
  name: `halide lesson 8: ${name}`,
  targets,
  tol: targets.includes("webgpu") ? 1e-4 : 1e-5,
  make: () => {
    const g = producerConsumer();
    sched(g);
    return { ins: [], outs: [g.Q], s: g.s };
  },
  ref: producerConsumerRef,
});

const halide: Row[] = [
  {
    name: "halide lessons 1-2: gradient(x, y) = x + y",
    targets: ["c", "webgpu"],
    make: () => {
      const { G, s } = gradient();
      return { ins: [], outs: [G], s };
    },
    ref: gradientRef(),
  },
  ...(["float32", "int32"] as const).map((dtype): Row => ({
    name: `halide lesson 2: brighten an image by 1.5, capped at 255, in ${dtype}`,
    targets: ["c", "webgpu"],
    gen: (_, i) => (i * 53) % 256,
    make: () => {
      const { I, O, s } = brighten(dtype);
      return { ins: [I], outs: [O], s };
    },
    ref: ([a]) => [
      Float64Array.from(a, (v) => {
        const r = Math.min(f32(v * 1.5), 255);
        return dtype === "int32" ? Math.trunc(r) : r;
      }),
    ],
  })),
  halideSchedule("x outer (Halide's reorder(y, x) is reorder(x, y) here)", ({ G, s }) => {
    const [y, x] = G.op.axis;
    s.stage(G).reorder(x, y);
  }),
  halideSchedule("split x by 2", ({ G, s }) => {
    s.stage(G).split(G.op.axis[1], { factor: 2 });
  }),
  halideSchedule("fuse x and y", ({ G, s }) => {
    s.stage(G).fuse(G.op.axis[0], G.op.axis[1]);
  }),
  halideSchedule("tile 4x4", ({ G, s }) => {
    s.stage(G).tile(G.op.axis[0], G.op.axis[1], 4, 4);
  }),
  halideSchedule("vectorize x by 4", ({ G, s }) => {
    const [, xi] = s.stage(G).split(G.op.axis[1], { factor: 4 });
    s.stage(G).vectorize(xi);
  }),
  halideSchedule("unroll x by 2", ({ G, s }) => {
    const [, xi] = s.stage(G).split(G.op.axis[1], { factor: 2 });
    s.stage(G).unroll(xi);
  }),
  halideSchedule("split x by 3, not dividing 9 or 7", ({ G, s }) => {
    s.stage(G).split(G.op.axis[1], { factor: 3 });
    s.stage(G).split(G.op.axis[0], { factor: 3 });
  }),
  halideSchedule("tile, fuse the tile indices, parallel, vectorize", ({ G, s }) => {
    const [yo, xo, , xi] = s.stage(G).tile(G.op.axis[0], G.op.axis[1], 4, 4);
    const t = s.stage(G).fuse(yo, xo);
    s.stage(G).parallel(t).vectorize(xi);
  }),
  {
    name: "halide lesson 6: a gradient realized over a domain shifted to (y, x) = (50, 100)",
    targets: ["c", "webgpu"],
    make: () => {
      const { G, s } = gradient(7, 8, 50, 100);
      return { ins: [], outs: [G], s };
    },
    ref: gradientRef(7, 8, 50, 100),
  },
  {
    name: "halide lesson 7: two-pass blur with clamped edges",
    targets: ["c"],
    make: () => {
      const { I, BY, s } = blur(13, 17);
      return { ins: [I], outs: [BY], s };
    },
    ref: blurRef(13, 17),
  },
  {
    name: "halide lesson 7: blur over the interior only (bounded, no clamping)",
    targets: ["c", "webgpu"],
    make: () => {
      const I = te.placeholder([13, 17], "float32", "input");
      const BX = te.compute(
        [13, 15],
        (y, x) => I(y, x).add(I(y, x.add(1))).add(I(y, x.add(2))).div(3),
        "blur_x",
      );
      const BY = te.compute(
        [11, 15],
        (y, x) => BX(y, x).add(BX(y.add(1), x)).add(BX(y.add(2), x)).div(3),
        "blur_y",
      );
      const s = te.createSchedule(BY);
      const [bo, bi] = s.stage(BY).split(BY.op.axis[0], { factor: 4 });
      s.stage(BY).bind(bo, "blockIdx.x").bind(bi, "threadIdx.x");
      return { ins: [I], outs: [BY], s };
    },
    ref: ([a]) => {
      const bx = grid(
        13,
        15,
        (y, x) => f32(f32(f32(a[y * 17 + x] + a[y * 17 + x + 1]) + a[y * 17 + x + 2]) / 3),
      );
      return [
        grid(11, 15, (y, x) => (bx[y * 15 + x] + bx[(y + 1) * 15 + x] + bx[(y + 2) * 15 + x]) / 3),
      ];
    },
  },
  lesson8("the producer inlined", ({ P, s }) => void s.stage(P).computeInline()),
  lesson8("the producer at the root", ({ P, s }) => void s.stage(P).computeRoot()),
  lesson8("the producer per consumer row", ({ P, Q, s }) => {
    s.stage(P).computeAt(s.stage(Q), Q.op.axis[0]);
  }),
  lesson8("4x4 tiles, the producer per tile", ({ P, Q, s }) => {
    const [, xo] = s.stage(Q).tile(Q.op.axis[0], Q.op.axis[1], 4, 4);
    s.stage(P).computeAt(s.stage(Q), xo);
  }),
  lesson8("tiles in parallel, vectorized, the producer per tile", ({ P, Q, s }) => {
    const [yo, xo, , xi] = s.stage(Q).tile(Q.op.axis[0], Q.op.axis[1], 4, 4);
    s.stage(Q).parallel(yo).vectorize(xi);
    s.stage(P).computeAt(s.stage(Q), xo);
  }),
  lesson8("on the GPU, 4x4 threads a block, the producer inlined", ({ P, Q, s }) => {
    const [by, bx, ty, tx] = s.stage(Q).tile(Q.op.axis[0], Q.op.axis[1], 4, 4);
    s.stage(Q).bind(by, "blockIdx.y").bind(bx, "blockIdx.x");
    s.stage(Q).bind(ty, "threadIdx.y").bind(tx, "threadIdx.x");
    s.stage(P).computeInline();
  }, ["webgpu"]),
  {
    name: "halide lesson 9: a histogram as a conditional sum",
    targets: ["c", "webgpu"],
    gen: (_, i) => (i * 7 + (i >> 3)) % 10,
    make: () => {
      const I = te.placeholder([50], "int32", "input");
      const r = te.reduceAxis([0, 50], "r");
      const Hst = te.compute([10], (v) => te.sum(te.const(1, "int32"), [r], I(r).eq(v)), "hist");
      const s = te.createSchedule(Hst);
      s.stage(Hst).bind(Hst.op.axis[0], "threadIdx.x");
      return { ins: [I], outs: [Hst], s };
    },
    ref: ([a]) => {
      const h = new Float64Array(10);
      for (const v of Array.from(a)) h[v]++;
      return [h];
    },
  },
  {
    name: "halide lesson 9: an initial value plus an update over a reduction domain",
    targets: ["c", "webgpu"],
    make: () => {
      // Halide: f(x) = 10; f(x) += input(r, x) * r: the update is a reduction inside the
      // expression, lifted into a stage (f_sum0) that is computed per f(x).
      const I = te.placeholder([6, 9], "float32", "input");
      const r = te.reduceAxis([0, 6], "r");
      const F = te.compute(
        [9],
        (x) => te.sum(I(r, x).mul(te.cast("float32", r)), [r]).add(10),
        "f",
      );
      const s = te.createSchedule(F);
      s.stage(F).inner(0).computeAt(s.stage(F), F.op.axis[0]);
      s.stage(F).bind(F.op.axis[0], "threadIdx.x");
      return { ins: [I], outs: [F], s };
    },
    ref: ([a]) => [
      Float64Array.from({ length: 9 }, (_, x) => {
        let acc = 0;
        for (let r = 0; r < 6; r++) acc += a[r * 9 + x] * r;
        return acc + 10;
      }),
    ],
  },
  {
    name: "halide lesson 9: a running maximum over a 3-wide window, split and vectorized",
    targets: ["c"],
    make: () => {
      const I = te.placeholder([40], "float32", "input");
      const r = te.reduceAxis([0, 3], "r");
      const M = te.compute([38], (x) => te.max(I(x.add(r)), [r]), "window_max");
      const s = te.createSchedule(M);
      const [, xi] = s.stage(M).split(M.op.axis[0], { factor: 8 });
      s.stage(M).reorder(r, xi).vectorize(xi);
      return { ins: [I], outs: [M], s };
    },
    ref: ([a]) => [
      Float64Array.from({ length: 38 }, (_, x) => Math.max(a[x], a[x + 1], a[x + 2])),
    ],
  },
];

// --- TVM: scan and recurrent computation -----------------------------------------------------

function cumsumProgram(gpu: boolean) {
  const m = te.var("m"), n = te.var("n");
  const X = te.placeholder([m, n], "float32", "X");
  const S = te.placeholder([m, n], "float32", "s_state");
  const init = te.compute([1, n], (_, i) => X(0, i), "s_init");
  const update = te.compute([m, n], (t, i) => S(t.sub(1), i).add(X(t, i)), "s_update");
  const scan = te.scan(init, update, S, [X]);
  const s = te.createSchedule(scan);
  const [, xi] = s.stage(update).split(update.op.axis[1], { factor: 4 });
  if (gpu) s.stage(update).bind(xi, "threadIdx.x");
  else s.stage(update).vectorize(xi);
  return { ins: [X], outs: [scan], s, inShapes: [[7, 10]], outShapes: [[7, 10]] };
}

const cumsumRef = ([x]: Data[]) => {
  const out = Float64Array.from(x);
  for (let t = 1; t < 7; t++) {
    for (let i = 0; i < 10; i++) out[t * 10 + i] = f32(out[(t - 1) * 10 + i] + x[t * 10 + i]);
  }
  return [out];
};

const tvmScan: Row[] = [
  {
    name: "tvm scan: cumulative sum over rows, inner axis split and vectorized",
    targets: ["c"],
    make: () => cumsumProgram(false),
    ref: cumsumRef,
  },
  {
    name: "tvm scan: cumulative sum over rows, inner axis on threads",
    targets: ["webgpu"],
    make: () => cumsumProgram(true),
    ref: cumsumRef,
  },
  {
    name: "tvm scan: two states that update together",
    targets: ["c", "webgpu"],
    make: () => {
      const [m, n] = [6, 5];
      const X = te.placeholder([m, n], "float32", "X");
      const S1 = te.placeholder([m, n], "float32", "s1"),
        S2 = te.placeholder([m, n], "float32", "s2");
      const i1 = te.compute([1, n], (_, i) => X(0, i), "i1");
      const i2 = te.compute([1, n], (_, i) => X(0, i).mul(2), "i2");
      const u1 = te.compute([m, n], (t, i) => S2(t.sub(1), i).add(X(t, i)), "u1");
      const u2 = te.compute([m, n], (t, i) => S1(t.sub(1), i).mul(0.5), "u2");
      const [r1, r2] = te.scan([i1, i2], [u1, u2], [S1, S2], [X]);
      const s = te.createSchedule([r1, r2]);
      return { ins: [X], outs: [r1, r2], s };
    },
    ref: ([x]) => {
      const [m, n] = [6, 5];
      const a = new Float64Array(m * n), b = new Float64Array(m * n);
      for (let i = 0; i < n; i++) a[i] = x[i], b[i] = f32(x[i] * 2);
      for (let t = 1; t < m; t++) {
        for (let i = 0; i < n; i++) {
          a[t * n + i] = f32(b[(t - 1) * n + i] + x[t * n + i]);
          b[t * n + i] = f32(a[(t - 1) * n + i] * 0.5);
        }
      }
      return [a, b];
    },
  },
];

// --- TVM: reduction with tuple inputs ---------------------------------------------------------

const tvmTupleInputs: Row[] = [
  {
    name: "tvm tuple inputs: one compute, two outputs, one loop nest",
    targets: ["c", "webgpu"],
    make: () => {
      const A0 = te.placeholder([8, 6], "float32", "A0"),
        A1 = te.placeholder([8, 6], "float32", "A1");
      const [B0, B1] = te.compute([8, 6], (i, j) => [A0(i, j).add(2), A1(i, j).mul(3)], [
        "B0",
        "B1",
      ]);
      const s = te.createSchedule([B0, B1]);
      s.stage(B0).bind(B0.op.axis[0], "blockIdx.x").bind(B0.op.axis[1], "threadIdx.x");
      return { ins: [A0, A1], outs: [B0, B1], s };
    },
    ref: (
      [a0, a1],
    ) => [Float64Array.from(a0, (v) => f32(v + 2)), Float64Array.from(a1, (v) => f32(v * 3))],
  },
  {
    name: "tvm tuple inputs: argmax as a user commReducer over (index, value) pairs",
    targets: ["c", "webgpu"],
    gen: (k, i) => k === 0 ? i % 7 : spread(k, i),
    make: () => {
      const idx = te.placeholder([8, 12], "int32", "idx"),
        val = te.placeholder([8, 12], "float32", "val");
      const argmax = te.commReducer(
        (a, b) => {
          const keep = a[1].ge(b[1]);
          return [te.select(keep, a[0], b[0]), te.select(keep, a[1], b[1])];
        },
        () => [te.const(-1, "int32"), te.const(-Infinity, "float32")],
        "argmax",
      );
      const k = te.reduceAxis([0, 12], "k");
      const [T0, T1] = te.compute([8], (i) => argmax([idx(i, k), val(i, k)], [k]), ["T0", "T1"]);
      const s = te.createSchedule([T0, T1]);
      s.stage(T0).bind(T0.op.axis[0], "threadIdx.x");
      return { ins: [idx, val], outs: [T0, T1], s };
    },
    ref: ([ix, v]) => {
      const i0 = new Float64Array(8), v0 = new Float64Array(8);
      for (let i = 0; i < 8; i++) {
        let bi = -1, bv = -Infinity;
        for (let k = 0; k < 12; k++) {
          if (!(bv >= v[i * 12 + k])) bi = ix[i * 12 + k], bv = v[i * 12 + k];
        }
        i0[i] = bi, v0[i] = bv;
      }
      return [i0, v0];
    },
  },
];

// --- TVM: external tensor functions ---------------------------------------------------------

const tvmExtern: Row[] = [
  {
    name: "tvm extern: a C function from source between computed stages",
    targets: ["c"],
    make: () => {
      // TVM's tutorial calls a packed "add one"; here it is C source, then a bias is added.
      const A = te.placeholder([5, 7], "float32", "A");
      const bias = te.placeholder([7], "float32", "bias");
      const B = te.extern(
        [5, 7],
        [A],
        (ins, outs) => te.externCall("addone", ins[0], outs[0], 35),
        {
          name: "B",
          cSource:
            "void addone(const float* a, float* b, int n) { for (int i = 0; i < n; i++) b[i] = a[i] + 1.0f; }",
          interpret: (ins, outs) => {
            const [a, b] = [ins[0].data, outs[0].data] as Float32Array[];
            for (let i = 0; i < 35; i++) b[i] = a[i] + 1;
          },
        },
      ) as Tensor;
      const D = te.compute([5, 7], (i, j) => B(i, j).add(bias(j)), "D");
      const s = te.createSchedule(D);
      s.stage(D).parallel(D.op.axis[0]);
      return { ins: [A, bias], outs: [D], s };
    },
    ref: ([a, b]) => [Float64Array.from(a, (v, i) => f32(f32(v + 1) + b[i % 7]))],
  },
];

export const ROWS: Row[] = [
  ...tvmGettingStarted,
  ...tvmSchedulePrimitives,
  ...tvmReduction,
  ...tvmIntrinMath,
  ...tvmGemm,
  ...tvmScan,
  ...tvmTupleInputs,
  ...tvmExtern,
  ...halide,
];

for (const row of ROWS) {
  Deno.test(`${row.name} [interpreter${row.targets.map((t) => `, ${t}`).join("")}]`, () =>
    runRow(row));
}
