/**
 * The WebGPU target end to end — a te program, a GPU schedule, `te.build(..., { target:
 * "webgpu" })`, a real dispatch on whatever adapter Deno finds (Mesa's llvmpipe in CI) — held
 * to the interpreter on the same inputs: the tiled matmul with shared-memory staging, a row
 * softmax whose reductions cross threads (rfactor, partials in shared memory, the final step
 * on thread 0), a padded conv2d whose input tile is filled cooperatively, elementwise numerics
 * of every op and dtype, several root stages as several dispatches, grid folding past 65535
 * workgroups, device-resident arrays, every error that must come before a dispatch, and the
 * timer. The random-schedule property (tests/wgsl_property_test.ts) covers breadth; these
 * are the named programs of the WGSL backend issue, at odd sizes where tiles do not divide.
 * llvmpipe does not run a workgroup's invocations in lockstep, so a missing barrier or a
 * buffer wrongly shared between threads shows up here as wrong numbers (checked: with the
 * planned barriers removed (lib/lower/gpu/threadSync.ts), every shared-memory test below fails).
 */
import assert from "node:assert/strict";
import { type DType, type Expr, nd, NDArray, type Schedule, te, type Tensor } from "../mod.ts";
import { DeviceArray } from "../lib/runtime/device_array.ts";
import { getDevice } from "../lib/codegen/wgsl/device.ts";
import { matmulGpu } from "../examples/matmul_gpu.ts";
import { rejectsTessera, throwsTessera } from "./errors_util.ts";

/** Deterministic inputs: floats in [-1, 1), int32 in [-8, 8], bool 0/1. */
function rand(shape: number[], dtype: DType = "float32", seed = 1): NDArray {
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from({ length: n }, () => {
    const r = next();
    if (dtype === "int32") return Math.floor(r * 17) - 8;
    if (dtype === "bool") return r < 0.5 ? 1 : 0;
    return Math.fround(r * 2 - 1);
  });
  return nd.array(vals, shape, dtype);
}

/** An output the kernel must overwrite entirely: NaN or 0x7eadbeef where it does not. */
function poisoned(shape: number[], dtype: DType): NDArray {
  const a = nd.empty(shape, dtype);
  if (dtype === "int32") a.data.fill(0x7eadbeef);
  else if (dtype !== "bool") a.data.fill(NaN);
  return a;
}

/** float32 within `tol` relative (absolute below 1), everything else exactly; NaN equals NaN. */
function assertClose(got: NDArray, want: NDArray, tol: number, what: string) {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  const exact = want.dtype !== "float32" && want.dtype !== "float16";
  for (let k = 0; k < want.size; k++) {
    const g = got.at(k), w = want.at(k);
    if (Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w))) continue;
    if (exact) assert.fail(`${what}: element ${k} is ${g}, the interpreter says ${w}`);
    assert.ok(
      Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)),
      `${what}: element ${k} is ${g}, the interpreter says ${w}`,
    );
  }
}

const shapeOf = (t: Tensor): number[] =>
  t.shape.map((d) => {
    assert.equal(d.kind, "const", "outputs of these programs have constant shapes");
    return (d as Expr & { kind: "const" }).value;
  });

/**
 * Builds `s` for WebGPU and for the interpreter, runs both on `inputs` (the WebGPU outputs
 * poisoned first), and holds every output to the interpreter's. Returns the WebGPU kernel.
 */
async function checkAgainstInterpreter(
  s: Schedule,
  args: Tensor[],
  inputs: NDArray[],
  what: string,
  outShapes?: number[][],
  tol = 1e-4,
) {
  const f = await te.build(s, args, { target: "webgpu" });
  const ref = await te.build(s, args);
  const outs = args.slice(inputs.length);
  const shapes = outShapes ?? outs.map(shapeOf);
  const got = outs.map((t, k) => poisoned(shapes[k], t.dtype));
  const want = outs.map((t, k) => nd.empty(shapes[k], t.dtype));
  await f(...inputs, ...got);
  await ref(...inputs, ...want);
  got.forEach((g, k) => assertClose(g, want[k], tol, `${what}, output ${outs[k].op.name}`));
  return f;
}

// --- 1. the tiled matmul with shared-memory staging -------------------------------------------

const MATMUL_SIZES = [[37, 50, 29], [1, 17, 3], [65, 64, 63]];

Deno.test({
  name: "matmulGpu (shared A/B tiles, local accumulator) equals the interpreter at ragged " +
    "sizes",
  fn: async () => {
    for (const [m, n, k] of MATMUL_SIZES) {
      for (
        const opts of [{}, { threads: 8, reg: 1, tk: 8 }, { threads: 4, reg: 4, shared: false }]
      ) {
        const { s, args } = matmulGpu(m, n, k, opts);
        await checkAgainstInterpreter(
          s,
          args,
          [rand([m, k], "float32", 1), rand([k, n], "float32", 2)],
          `matmul ${m}x${n}x${k} ${JSON.stringify(opts)}`,
        );
      }
    }
  },
});

Deno.test({
  name: "a per-thread 'local' cache beside a cooperative shared fill stays per thread ",
  fn: async () => {
    // B(i) = X(i) * sum_r A(r): thread i accumulates in B_local while all 8 threads fill
    // A_shared together. The cooperative fill re-binds threadIdx.x inside the thread loop of
    // B_local's allocation; since the fill never touches B_local, B_local stays per thread.
    const A = te.placeholder([8], "float32", "A");
    const X = te.placeholder([8], "float32", "X");
    const r = te.reduceAxis([0, 8], "r");
    const B = te.compute([8], (i) => te.sum(A(r).mul(X(i)), [r]), "B");
    const s = te.createSchedule(B);
    const BL = s.cacheWrite(B, "local");
    const AS = s.cacheRead(A, "shared", [s.stage(BL)]);
    s.stage(B).bind(s.stage(B).op.axis[0], "threadIdx.x");
    s.stage(BL).computeAt(s.stage(B), s.stage(B).op.axis[0]);
    s.stage(AS).computeAt(s.stage(BL), s.stage(BL).op.axis[0]);
    s.stage(AS).bind(s.stage(AS).op.axis[0], "threadIdx.x");
    const f = await checkAgainstInterpreter(
      s,
      [A, X, B],
      [rand([8], "float32", 1), rand([8], "float32", 2)],
      "local beside shared",
    );
    assert.doesNotMatch(f.source, /var<workgroup> b_B_local/);
  },
});

Deno.test("matmulGpu's WGSL stages A and B in var<workgroup> tiles between barriers", async () => {
  // 16x16 threads with 4x4 outputs each: 64x16 tiles of A and 16x64 of B per k step.
  const { s, args } = matmulGpu(37, 50, 29);
  const f = await te.build(s, args, { target: "webgpu" });
  assert.match(f.source, /var<workgroup> b_A_shared: array<f32, 1024>;/);
  assert.match(f.source, /var<workgroup> b_B_shared: array<f32, 1024>;/);
  assert.match(f.source, /var b_C_local: array<f32, 16>;/);
  assert.match(f.source, /@workgroup_size\(16, 16, 1\)/);
  assert.match(f.source, /workgroupBarrier\(\);/);
  // One kernel: the whole matmul is one root stage.
  assert.match(f.source, /dispatch 1 of 1/);
});

/** The same tiling as matmulGpu without the register accumulator (C accumulates in place). */
function matmulSharedOnly(m: number, n: number, k: number, tile: number) {
  const A = te.placeholder([m, k], "float32", "A");
  const B = te.placeholder([k, n], "float32", "B");
  const r = te.reduceAxis([0, k], "k");
  const C = te.compute([m, n], (i, j) => te.sum(A(i, r).mul(B(r, j)), [r]), "C");
  const s = te.createSchedule(C);
  const AS = s.cacheRead(A, "shared", [s.stage(C)]);
  const BS = s.cacheRead(B, "shared", [s.stage(C)]);
  const [i, j] = s.stage(C).op.axis;
  const [by, bx, ty, tx] = s.stage(C).tile(i, j, tile, tile);
  s.stage(C).bind(by, "blockIdx.y").bind(bx, "blockIdx.x");
  s.stage(C).bind(ty, "threadIdx.y").bind(tx, "threadIdx.x");
  const [ko] = s.stage(C).split(s.stage(C).op.reduceAxis[0], { factor: tile });
  for (const S of [AS, BS]) {
    s.stage(S).computeAt(s.stage(C), ko);
    const [a0, a1] = s.stage(S).op.axis;
    s.stage(S).bind(a0, "threadIdx.y").bind(a1, "threadIdx.x");
  }
  return { s, args: [A, B, C] };
}

Deno.test("tiled matmul with shared A/B tiles equals the interpreter at ragged sizes", async () => {
  for (const [m, n, k] of MATMUL_SIZES) {
    for (const tile of [16, 8]) {
      const { s, args } = matmulSharedOnly(m, n, k, tile);
      const f = await checkAgainstInterpreter(
        s,
        args,
        [rand([m, k], "float32", 3), rand([k, n], "float32", 4)],
        `shared-tile matmul ${m}x${n}x${k}, tile ${tile}`,
      );
      assert.match(f.source, /var<workgroup> b_A_shared/);
      assert.match(f.source, /workgroupBarrier\(\);/);
    }
  }
});

// --- 2. row softmax with cross-thread reductions ----------------------------------------------

/**
 * softmax over rows: max and sum each split by `threads`, rfactored on the inner part, whose
 * partials (one per thread, in shared memory) thread 0 then combines. `fused`: one kernel
 * per row (max and sum computed at Y's row, in shared memory); otherwise max, sum and Y are
 * three root stages, each with rows on blockIdx.x.
 */
function softmaxGpu(rows: number, cols: number, threads: number, fused: boolean) {
  const X = te.placeholder([rows, cols], "float32", "X");
  const k1 = te.reduceAxis([0, cols], "k1");
  const M = te.compute([rows], (i) => te.max(X(i, k1), [k1]), "M");
  const E = te.compute([rows, cols], (i, j) => te.exp(X(i, j).sub(M(i))), "E");
  const k2 = te.reduceAxis([0, cols], "k2");
  const S = te.compute([rows], (i) => te.sum(E(i, k2), [k2]), "S");
  const Y = te.compute([rows, cols], (i, j) => E(i, j).div(S(i)), "Y");
  const s = te.createSchedule(Y);
  s.stage(E).computeInline();
  const [yi, yj] = s.stage(Y).op.axis;
  const [, yji] = s.stage(Y).split(yj, { factor: threads });
  s.stage(Y).bind(yi, "blockIdx.x").bind(yji, "threadIdx.x");
  for (const T of [M, S]) {
    const st = s.stage(T);
    const [, ki] = st.split(st.op.reduceAxis[0], { factor: threads });
    const F = s.rfactor(T, ki, 1); // T_rf[row, thread]
    if (fused) st.computeAt(s.stage(Y), yi).setScope("shared");
    else st.bind(st.op.axis[0], "blockIdx.x");
    // The partials of one row, one per thread, in workgroup memory.
    s.stage(F).setScope("shared").computeAt(st, st.op.axis[0]);
    s.stage(F).bind(s.stage(F).op.axis[1], "threadIdx.x");
  }
  return { s, args: [X, Y] };
}

const SOFTMAX_SIZES = [[7, 100, 32], [3, 31, 32], [1, 1, 32], [5, 64, 16], [2, 129, 64]];

Deno.test("row softmax, rfactor across threads, three dispatches: equals the interpreter", async () => {
  for (const [rows, cols, threads] of SOFTMAX_SIZES) {
    const { s, args } = softmaxGpu(rows, cols, threads, false);
    const f = await checkAgainstInterpreter(
      s,
      args,
      [rand([rows, cols], "float32", rows + cols)],
      `softmax ${rows}x${cols} on ${threads} threads`,
    );
    assert.match(f.source, /dispatch 3 of 3/);
    // One partial per thread for one row, not the whole [rows, threads] tensor per workgroup.
    assert.match(f.source, new RegExp(`var<workgroup> b_M_rf: array<f32, ${threads}>;`));
    assert.match(f.source, new RegExp(`var<workgroup> b_S_rf: array<f32, ${threads}>;`));
    // The final reduction over the partials runs on one thread.
    assert.match(f.source, /if \(lid\.x == 0u\)/);
  }
});

Deno.test("row softmax fused into one kernel per row (max and sum in shared memory)", async () => {
  for (const [rows, cols, threads] of SOFTMAX_SIZES) {
    const { s, args } = softmaxGpu(rows, cols, threads, true);
    const f = await checkAgainstInterpreter(
      s,
      args,
      [rand([rows, cols], "float32", 7 * rows + cols)],
      `fused softmax ${rows}x${cols} on ${threads} threads`,
    );
    assert.match(f.source, /dispatch 1 of 1/);
    assert.match(f.source, /var<workgroup> b_M: array<f32, 1>;/);
    assert.match(f.source, /var<workgroup> b_S_rf: array<f32, \d+>;/);
  }
  // Rows that sum to very different scales: the max subtraction must use this row's max.
  const { s, args } = softmaxGpu(3, 45, 16, true);
  const x = rand([3, 45], "float32", 9);
  for (let j = 0; j < 45; j++) x.data[45 + j] += 80; // exp(80) overflows without it
  await checkAgainstInterpreter(s, args, [x], "fused softmax, shifted row");
});

Deno.test("a row sum of symbolic length: rfactor partials, input staged through shared memory", async () => {
  // The shared stage sits inside the partial reduction's loop, whose trip count comes from
  // the uniform: barriers inside a loop, a guarded last tile, and the final sum on thread 0.
  const rows = 3, threads = 32;
  const n = te.var("n");
  const X = te.placeholder([rows, n], "float32", "X");
  const k = te.reduceAxis([0, n], "k");
  const M = te.compute([rows], (i) => te.sum(X(i, k), [k]), "M");
  const s = te.createSchedule(M);
  const [, ki] = s.stage(M).split(k, { factor: threads });
  const MF = s.rfactor(M, ki, 1);
  const XS = s.cacheRead(X, "shared", [s.stage(MF)]);
  s.stage(M).bind(s.stage(M).op.axis[0], "blockIdx.x");
  s.stage(MF).setScope("shared").computeAt(s.stage(M), s.stage(M).op.axis[0]);
  s.stage(MF).bind(s.stage(MF).op.axis[1], "threadIdx.x");
  s.stage(XS).computeAt(s.stage(MF), s.stage(MF).op.reduceAxis[0]);
  s.stage(XS).bind(s.stage(XS).op.axis[1], "threadIdx.x");
  const f = await te.build(s, [X, M], { target: "webgpu" });
  assert.match(f.source, /var<workgroup> b_X_shared: array<f32, 32>;/);
  const ref = await te.build(s, [X, M]);
  for (const cols of [100, 5, 64, 0, 1]) {
    const x = rand([rows, cols], "float32", cols + 1);
    const got = poisoned([rows], "float32"), want = nd.empty([rows]);
    await f(x, got);
    await ref(x, want);
    assertClose(got, want, 1e-4, `row sum of ${cols}`);
  }
});

Deno.test("a cooperative fill wider than the compute threads sizes the workgroup by it", async () => {
  // A 3-point stencil: 8 outputs per workgroup need 10 inputs, filled by 10 threads; the
  // workgroup has 10 invocations and the compute loop is guarded to its 8.
  const len = 50;
  const A = te.placeholder([len + 2], "float32", "A");
  const B = te.compute([len], (i) => A(i).add(A(i.add(1)).mul(2)).sub(A(i.add(2))), "B");
  const s = te.createSchedule(B);
  const AS = s.cacheRead(A, "shared", [s.stage(B)]);
  const [o, i] = s.stage(B).split(B.op.axis[0], { factor: 8 });
  s.stage(B).bind(o, "blockIdx.x").bind(i, "threadIdx.x");
  s.stage(AS).computeAt(s.stage(B), o).bind(s.stage(AS).op.axis[0], "threadIdx.x");
  const f = await checkAgainstInterpreter(s, [A, B], [rand([len + 2])], "stencil with halo");
  assert.match(f.source, /@workgroup_size\(10, 1, 1\)/);
  assert.match(f.source, /var<workgroup> b_A_shared: array<f32, 10>;/);
});

Deno.test("an accumulator initialized by a loop re-binding its thread axis stays per thread", async () => {
  // From a failed property run: R(i) = sum_k X(i, k) with its accumulator R_local computed
  // at R's loop on threadIdx.y, and R_local's own (size-1) loop also bound to threadIdx.y.
  // The initializing loop does not mention R's index, but R_local is a fresh array for each
  // R index and the update that follows reads X at that index: re-binding the axis there is
  // no cooperative fill. Shared by the threads, R_local summed both rows into one cell.
  const X = te.placeholder([2, 5], "int32", "X");
  const k = te.reduceAxis([0, 5], "k");
  const R = te.compute([2], (i) => te.sum(X(i, k), [k]), "R");
  const D = te.compute([2], (i) => R(i).mul(2).add(1), "D");
  const s = te.createSchedule(D);
  const RL = s.cacheWrite(R, "local");
  const rl = s.stage(RL);
  rl.reorder(rl.op.reduceAxis[0], rl.op.axis[0]);
  const r = s.stage(R);
  const [ro, ri] = r.split(r.op.axis[0], { factor: 1 });
  r.computeAt(s.stage(D), D.op.axis[0]);
  rl.computeAt(r, ri).bind(rl.op.axis[0], "threadIdx.y");
  r.bind(ro, "threadIdx.y");
  s.stage(D).bind(D.op.axis[0], "blockIdx.x");
  const f = await checkAgainstInterpreter(s, [X, D], [rand([2, 5], "int32", 3)], "R_local");
  assert.doesNotMatch(f.source, /var<workgroup> b_R_local/);
});

// --- 3. conv2d with padding -------------------------------------------------------------------

/**
 * conv2d over [channels, height, width] with `pad` zeros around and stride `stride`: output
 * tiles of ty x tx on blockIdx (channel on z) and threadIdx; the padded input window a tile
 * needs is computed per workgroup into shared memory, its rows and columns split over the
 * same threads.
 */
function conv2dGpu(
  ci: number,
  h: number,
  w: number,
  co: number,
  kSize: number,
  pad: number,
  stride: number,
  ty = 4,
  tx = 8,
) {
  const X = te.placeholder([ci, h, w], "float32", "X");
  const W = te.placeholder([co, ci, kSize, kSize], "float32", "W");
  const Xp = te.compute(
    [ci, h + 2 * pad, w + 2 * pad],
    (c, y, x) =>
      te.select(
        y.ge(pad).and(y.lt(h + pad)).and(x.ge(pad)).and(x.lt(w + pad)),
        X(c, y.sub(pad), x.sub(pad)),
        0,
      ),
    "Xp",
  );
  const oh = Math.floor((h + 2 * pad - kSize) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - kSize) / stride) + 1;
  const rc = te.reduceAxis([0, ci], "rc");
  const ry = te.reduceAxis([0, kSize], "ry");
  const rx = te.reduceAxis([0, kSize], "rx");
  const O = te.compute(
    [co, oh, ow],
    (o, y, x) =>
      te.sum(
        Xp(rc, y.mul(stride).add(ry), x.mul(stride).add(rx)).mul(W(o, rc, ry, rx)),
        [rc, ry, rx],
      ),
    "O",
  );
  const s = te.createSchedule(O);
  const [oc, oy, ox] = s.stage(O).op.axis;
  const [oyo, oxo, oyi, oxi] = s.stage(O).tile(oy, ox, ty, tx);
  s.stage(O).bind(oc, "blockIdx.z").bind(oyo, "blockIdx.y").bind(oxo, "blockIdx.x");
  s.stage(O).bind(oyi, "threadIdx.y").bind(oxi, "threadIdx.x");
  const xs = s.stage(Xp).setScope("shared").computeAt(s.stage(O), oxo);
  const [c, y, x] = xs.op.axis;
  const [yo, yi] = xs.split(y, { factor: ty });
  const [xo, xi] = xs.split(x, { factor: tx });
  xs.reorder(c, yo, xo, yi, xi).bind(yi, "threadIdx.y").bind(xi, "threadIdx.x");
  return { s, args: [X, W, O], inShapes: [[ci, h, w], [co, ci, kSize, kSize]] };
}

Deno.test("padded conv2d, shared input tile filled by the threads: equals the interpreter", async () => {
  for (
    const [ci, h, w, co, k, pad, stride] of [
      [3, 13, 11, 5, 3, 1, 1],
      [3, 13, 11, 5, 3, 1, 2],
      [2, 9, 10, 3, 5, 2, 2],
      [4, 17, 15, 2, 3, 0, 2],
      [1, 1, 1, 1, 3, 1, 1],
      [2, 6, 7, 3, 1, 0, 1],
    ]
  ) {
    const { s, args, inShapes } = conv2dGpu(ci, h, w, co, k, pad, stride);
    const f = await checkAgainstInterpreter(
      s,
      args,
      [rand(inShapes[0], "float32", h), rand(inShapes[1], "float32", w)],
      `conv2d ${ci}x${h}x${w} -> ${co}, ${k}x${k}, pad ${pad}, stride ${stride}`,
    );
    assert.match(f.source, /var<workgroup> b_Xp: array<f32, \d+>;/);
    assert.match(f.source, /@workgroup_size\(8, 4, 1\)/);
  }
});

// --- 4. elementwise numerics ------------------------------------------------------------------

/** `fn` elementwise over the inputs, 4 threads per workgroup; returns [webgpu, interpreter]. */
async function elementwise(
  inputs: NDArray[],
  fn: (...xs: Expr[]) => Expr,
): Promise<[NDArray, NDArray]> {
  const n = inputs[0].size;
  const ps = inputs.map((a, k) => te.placeholder([n], a.dtype, `X${k}`));
  const Y = te.compute([n], (i) => fn(...ps.map((p) => p(i))), "Y");
  const s = te.createSchedule(Y);
  const [o, i] = s.stage(Y).split(Y.op.axis[0], { factor: 4 });
  s.stage(Y).bind(o, "blockIdx.x").bind(i, "threadIdx.x");
  const f = await te.build(s, [...ps, Y], { target: "webgpu" });
  const ref = await te.build(s, [...ps, Y]);
  const got = poisoned([n], Y.dtype), want = nd.empty([n], Y.dtype);
  await f(...inputs, got);
  await ref(...inputs, want);
  return [got, want];
}

// NaN has a test of its own below (WGSL's builtins do not all propagate it; helpers do).
const SPECIALS = [0, -0, 0.5, 1.5, 2.5, -0.5, -2.5, 1e-3, 3.75, -7.25, 88, -100, 1e30, Infinity];

Deno.test("float32 intrinsics and operators match the interpreter", async () => {
  const withNaN = nd.array([...SPECIALS, NaN, -Infinity]);
  const x = nd.array(SPECIALS);
  const pos = nd.array([...SPECIALS.map((v) => Math.abs(v) + 0.25), 0, Infinity]);
  const y = nd.array(SPECIALS.map((_, k) => (k % 5) - 2.5));
  const wide = nd.array([...SPECIALS, NaN, -Infinity]);
  const wide2 = nd.array([...SPECIALS.map((_, k) => (k % 7) - 3), 2, -1]);
  const unary: Array<[string, NDArray, (a: Expr) => Expr]> = [
    ["exp", withNaN, (a) => te.exp(a)],
    ["tanh", x, (a) => te.tanh(a)],
    ["sigmoid", withNaN, (a) => te.sigmoid(a)],
    ["erf", withNaN, (a) => te.erf(a)],
    ["abs", withNaN, (a) => te.abs(a)],
    ["floor", withNaN, (a) => te.floor(a)],
    ["ceil", withNaN, (a) => te.ceil(a)],
    ["round", withNaN, (a) => te.round(a)],
    ["neg", withNaN, (a) => a.neg()],
    ["log", pos, (a) => te.log(a)],
    ["sqrt", pos, (a) => te.sqrt(a)],
    ["rsqrt", pos, (a) => te.rsqrt(a)],
  ];
  for (const [name, input, fn] of unary) {
    const [got, want] = await elementwise([input], fn);
    assertClose(got, want, 1e-4, name);
    if (name === "round") {
      // Half to even, as the interpreter (and WGSL) define it.
      assert.deepEqual(Array.from(got.toArray()).slice(2, 7), [0, 2, 2, -0, -2]);
    }
  }
  const binary: Array<[string, NDArray, NDArray, (a: Expr, b: Expr) => Expr]> = [
    ["max", wide, wide2, (a, b) => a.max(b)],
    ["min", wide, wide2, (a, b) => a.min(b)],
    ["add sub mul", wide, wide2, (a, b) => a.add(b).mul(a).sub(b)],
    ["div", wide, wide2, (a, b) => a.div(b)],
    ["floordiv", wide, wide2, (a, b) => a.floordiv(b)],
    ["floormod", wide, wide2, (a, b) => a.floormod(b)],
    ["pow", x, y, (a, b) => te.pow(a, b)],
    ["pow of a negative base", y, x, (a, b) => te.pow(a, te.floor(b))],
    ["select", wide, wide2, (a, b) => te.select(a.gt(b), a, b.mul(2))],
    [
      "comparisons",
      wide,
      wide2,
      (a, b) =>
        te.cast("float32", a.lt(b)).add(te.cast("float32", a.ge(b)).mul(2))
          .add(te.cast("float32", a.eq(b)).mul(4)).add(te.cast("float32", a.ne(b)).mul(8)),
    ],
  ];
  for (const [name, a, b, fn] of binary) {
    const [got, want] = await elementwise([a, b], fn);
    assertClose(got, want, 1e-4, name);
  }
});

Deno.test({
  name: "NaN through tanh and pow, and pow of -Infinity, match the interpreter ",
  fn: async () => {
    const [t, tw] = await elementwise([nd.array([NaN, 1])], (a) => te.tanh(a));
    assertClose(t, tw, 1e-4, "tanh");
    const a = nd.array([NaN, NaN, 0, -Infinity, -Infinity, -Infinity, -Infinity]);
    const b = nd.array([0.5, -2, NaN, 0.5, -0.5, 2.5, -2.5]);
    const [p, pw] = await elementwise([a, b], (x, y) => te.pow(x, y));
    assertClose(p, pw, 1e-4, "pow");
  },
});

Deno.test("int32 arithmetic wraps and divides like the interpreter, negatives included", async () => {
  const a = nd.array(
    [7, -7, 7, -7, 2147483647, -2147483648, 5, 0, -1, 123456789, -2147483648, 13, -13, -1],
    undefined,
    "int32",
  );
  const b = nd.array([2, 2, -2, -2, 1, -1, 3, 4, 9, -7, 2, -1, 5, -2147483648], undefined, "int32");
  const ops: Array<[string, (x: Expr, y: Expr) => Expr]> = [
    ["div", (x, y) => x.div(y)],
    ["mod", (x, y) => x.mod(y)],
    ["floordiv", (x, y) => x.floordiv(y)],
    ["floormod", (x, y) => x.floormod(y)],
    ["mul add (wraps)", (x, y) => x.mul(y).add(x)],
    ["max - min", (x, y) => x.max(y).sub(x.min(y))],
    ["abs", (x) => te.abs(x)],
    ["neg", (x) => x.neg()],
    ["by constants", (x) => x.floordiv(3).add(x.floormod(4)).add(x.mod(-3)).add(x.div(-4))],
    ["select", (x, y) => te.select(x.lt(y), x, y)],
    ["comparisons", (x, y) =>
      te.cast("int32", x.le(y)).add(te.cast("int32", x.eq(y)).mul(2))
        .add(te.cast("int32", x.gt(y).and(y.ne(0))).mul(4))],
  ];
  for (const [name, fn] of ops) {
    const [got, want] = await elementwise([a, b], fn);
    assert.equal(got.dtype, "int32");
    assertClose(got, want, 0, `int32 ${name}`);
  }
  // Mesa's llvmpipe computes i32 `%` as unsigned; these would come out as huge positives.
  const [m] = await elementwise([a, b], (x, y) => x.mod(y));
  assert.deepEqual(Array.from(m.toArray()).slice(0, 4), [1, -1, 1, -1]);
  // pow of ints is float32 (interpreter's promotion), within the float tolerance.
  const [p, pw] = await elementwise([a, b], (x, y) => te.pow(x.floormod(9), y.floormod(4)));
  assertClose(p, pw, 1e-4, "int pow");
});

Deno.test("int32 division by zero on the GPU is a TesseraError, as in the interpreter", async () => {
  // The shader sets an error flag the runtime reads back (lib/codegen/wgsl/error_flags.ts);
  // tests/numerics_test.ts covers the outputs and the next call.
  for (
    const op of [
      (x: Expr, y: Expr) => x.div(y),
      (x: Expr, y: Expr) => x.mod(y),
      (x: Expr, y: Expr) => x.floordiv(y),
      (x: Expr, y: Expr) => x.floormod(y),
    ]
  ) {
    const A = te.placeholder([5], "int32", "A"), B = te.placeholder([5], "int32", "B");
    const C = te.compute([5], (i) => op(A(i), B(i)), "C");
    const f = await te.build(te.createSchedule(C), [A, B, C], { target: "webgpu" });
    await rejectsTessera(
      () =>
        f(
          nd.array([5, -5, 0, 2147483647, -2147483648], undefined, "int32"),
          nd.array([0, 0, 0, 0, 0], undefined, "int32"),
          poisoned([5], "int32"),
        ),
      /integer division or modulo by zero/,
    );
  }
});

Deno.test("casts between float32, int32 and bool follow the interpreter", async () => {
  const x = nd.array([
    1.9,
    -1.9,
    3e9,
    -3e9,
    NaN,
    Infinity,
    0.5,
    2 ** 31,
    1e20,
    -0,
    -Infinity,
    2 ** 32 + 512,
  ]);
  for (const to of ["int32", "bool"] as const) {
    const [got, want] = await elementwise([x], (a) => te.cast(to, a));
    assert.equal(got.dtype, to);
    assertClose(got, want, 0, `float32 -> ${to}`);
  }
  const n = nd.array([3, -4, 16777217, 0, -2147483648, 2147483647], undefined, "int32");
  for (const to of ["float32", "bool"] as const) {
    const [got, want] = await elementwise([n], (a) => te.cast(to, a));
    assertClose(got, want, 0, `int32 -> ${to}`);
  }
  const b = nd.array([1, 0, 1, 0], undefined, "bool");
  for (const to of ["float32", "int32"] as const) {
    const [got, want] = await elementwise([b], (a) => te.cast(to, a).mul(3));
    assertClose(got, want, 0, `bool -> ${to}`);
  }
});

Deno.test("bool tensors in and out (one u32 per element on the device)", async () => {
  const x = nd.array([1, 0, 1, 0, 1], undefined, "bool");
  const y = nd.array([1, 1, 0, 0, 1], undefined, "bool");
  const [got, want] = await elementwise([x, y], (a, b) => a.and(b.not()).or(a.eq(b)));
  assertClose(got, want, 0, "bool logic");
  assert.deepEqual(Array.from(got.toArray()), [1, 0, 1, 1, 1]);
  const [sel, selWant] = await elementwise(
    [x, nd.array([1, 2, 3, 4, 5], undefined, "int32")],
    (a, v) => te.select(a, v.mul(10), v.neg()),
  );
  assertClose(sel, selWant, 0, "select on a bool tensor");
});

Deno.test("symbolic sizes reach the shader through the uniform, empty and single sizes too", async () => {
  const n = te.var("n");
  const A = te.placeholder([n], "float32", "A");
  const B = te.compute([n], (i) => A(i).mul(A(i)).add(i), "B");
  const s = te.createSchedule(B);
  const [o, i] = s.stage(B).split(B.op.axis[0], { factor: 4 });
  s.stage(B).bind(o, "blockIdx.x").bind(i, "threadIdx.x");
  const f = await te.build(s, [A, B], { target: "webgpu" });
  assert.match(f.source, /var<uniform> tsr_sizes/);
  const ref = await te.build(s, [A, B]);
  // The same kernel, sizes changing between calls (the uniform is rewritten each call).
  for (const len of [1000, 0, 1, 5, 1000]) {
    const a = rand([len], "float32", len), got = poisoned([len], "float32");
    const want = nd.empty([len]);
    await f(a, got);
    await ref(a, want);
    assertClose(got, want, 1e-4, `n = ${len}`);
  }
  // Five size variables: the uniform outgrows one 16-byte row.
  const vs = ["a", "b", "c", "d", "e"].map((v) => te.var(v));
  const X = te.placeholder(vs, "int32", "X");
  const Y = te.compute(
    vs,
    (i, j, _k, _l, m) => X(i, j, _k, _l, m).mul(vs[4]).add(vs[0].mul(1000)).sub(i.mul(j)).add(m),
    "Y",
  );
  const s2 = te.createSchedule(Y);
  for (const shape of [[1, 2, 3, 2, 3], [2, 1, 1, 1, 7], [0, 2, 2, 2, 2], [1, 1, 1, 1, 1]]) {
    await checkAgainstInterpreter(s2, [X, Y], [rand(shape, "int32", 5)], `5-d ${shape}`, [shape]);
  }
});

Deno.test("zero-size and size-1 tensors, constant shapes", async () => {
  for (const shape of [[0], [1], [1, 1], [3, 0], [0, 5]]) {
    const A = te.placeholder(shape, "float32", "A");
    const last = shape[shape.length - 1];
    const k = te.reduceAxis([0, last], "k");
    const outShape = shape.length === 1 ? [1] : shape.slice(0, -1);
    const B = te.compute(
      outShape,
      (i) => te.sum(shape.length === 1 ? A(k) : A(i, k), [k]),
      "B",
    );
    const s = te.createSchedule(B);
    // An empty reduction still writes its identity: the output must not stay poisoned.
    await checkAgainstInterpreter(s, [A, B], [rand(shape)], `shape [${shape}]`);
  }
});

// --- 5. several root stages, several dispatches -----------------------------------------------

Deno.test("unscheduled softmax: four root stages run as four dispatches, in order", async () => {
  const rows = 5, cols = 37;
  const X = te.placeholder([rows, cols], "float32", "X");
  const k1 = te.reduceAxis([0, cols], "k1");
  const M = te.compute([rows], (i) => te.max(X(i, k1), [k1]), "M");
  const E = te.compute([rows, cols], (i, j) => te.exp(X(i, j).sub(M(i))), "E");
  const k2 = te.reduceAxis([0, cols], "k2");
  const S = te.compute([rows], (i) => te.sum(E(i, k2), [k2]), "S");
  const Y = te.compute([rows, cols], (i, j) => E(i, j).div(S(i)), "Y");
  const s = te.createSchedule(Y);
  const f = await te.build(s, [X, Y], { target: "webgpu" });
  assert.match(f.source, /dispatch 4 of 4/);
  assert.doesNotMatch(f.source, /dispatch 5 of/);
  // Each dispatch reads what the one before it wrote, in this order.
  const order = [...f.source.matchAll(/var<storage, read_write> (\w+)/g)].map((m) => m[1]);
  assert.deepEqual(order, ["b_M", "b_E", "b_S", "b_Y"]);
  const ref = await te.build(s, [X, Y]);
  // Twice, with different inputs: the temporaries keep the first call's values between
  // calls, so a dispatch that ran too early would read stale data the second time.
  for (const seed of [1, 2]) {
    const x = rand([rows, cols], "float32", seed);
    if (seed === 2) { for (let k = 0; k < x.size; k++) x.data[k] = x.data[k] * 30 - 5; }
    const got = poisoned([rows, cols], "float32"), want = nd.empty([rows, cols]);
    await f(x, got);
    await ref(x, want);
    assertClose(got, want, 1e-4, `softmax, call ${seed}`);
  }
});

// --- 6. grid folding --------------------------------------------------------------------------

Deno.test("more than 65535 workgroups on blockIdx.x fold into y and cover every element", async () => {
  for (const [len, threads] of [[70000, 1], [300000, 4]]) {
    const n = te.var("n");
    const A = te.placeholder([n], "int32", "A");
    const B = te.compute([n], (i) => A(i).mul(3).add(i), "B");
    const s = te.createSchedule(B);
    if (threads === 1) s.stage(B).bind(B.op.axis[0], "blockIdx.x");
    else {
      const [o, i] = s.stage(B).split(B.op.axis[0], { factor: threads });
      s.stage(B).bind(o, "blockIdx.x").bind(i, "threadIdx.x");
    }
    const f = await te.build(s, [A, B], { target: "webgpu" });
    const a = nd.array(
      Int32Array.from({ length: len }, (_, k) => (k % 1000) - 500),
      [len],
      "int32",
    );
    const b = poisoned([len], "int32");
    await f(a, b);
    for (let k = 0; k < len; k++) {
      if (b.at(k) !== a.at(k) * 3 + k) {
        assert.fail(`${len} elements on ${threads} threads: element ${k} is ${b.at(k)}`);
      }
    }
  }
});

// --- 7. device arrays -------------------------------------------------------------------------

Deno.test("device arrays in and out of a built kernel give what host arrays give", async () => {
  const { s, args } = softmaxGpu(6, 40, 16, true);
  const f = await te.build(s, args, { target: "webgpu" });
  const x = rand([6, 40], "float32", 11);
  const host = poisoned([6, 40], "float32");
  await f(x, host);
  const dx = await x.to("webgpu");
  assert.ok(dx instanceof DeviceArray);
  const dy = await DeviceArray.empty([6, 40]);
  await f(dx, dy);
  const back = await dy.toHost();
  assert.ok(back instanceof NDArray);
  assert.deepEqual(Array.from(back.toArray()), Array.from(host.toArray()));
  // Mixed: a device input and a host output, then a host input and a device output.
  const mixed = poisoned([6, 40], "float32");
  await f(dx, mixed);
  assert.deepEqual(Array.from(mixed.toArray()), Array.from(host.toArray()));
  const dy2 = await DeviceArray.empty([6, 40]);
  await f(x, dy2);
  assert.deepEqual(Array.from(await dy2.toArray()), Array.from(host.toArray()));
  // The input on the device is untouched by the kernel.
  assert.deepEqual(Array.from(await dx.toArray()), Array.from(x.toArray()));

  // A chain that keeps its intermediate on the device: int32 and bool kernels.
  const n = 50;
  const A = te.placeholder([n], "int32", "A");
  const B = te.compute([n], (i) => A(i).mul(A(i)).sub(7), "B");
  const P = te.placeholder([n], "int32", "P");
  const Q = te.compute([n], (i) => P(i).floormod(3).eq(1), "Q");
  const square = await te.build(te.createSchedule(B), [A, B], { target: "webgpu" });
  const test = await te.build(te.createSchedule(Q), [P, Q], { target: "webgpu" });
  const a = rand([n], "int32", 3);
  const db = await DeviceArray.empty([n], "int32");
  const dq = await DeviceArray.empty([n], "bool");
  await square(await a.to("webgpu"), db);
  await test(db, dq);
  const q = await dq.toHost();
  assert.equal(q.dtype, "bool");
  assert.deepEqual(
    Array.from(q.toArray()),
    Array.from(a.toArray(), (v) => (((v * v - 7) % 3) + 3) % 3 === 1 ? 1 : 0),
  );
});

// --- 8. errors before any dispatch ------------------------------------------------------------

Deno.test("wrong arguments are refused before any dispatch", async () => {
  const A = te.placeholder([4, 3], "float32", "A");
  const B = te.compute([4, 3], (i, j) => A(i, j).mul(2), "B");
  const f = await te.build(te.createSchedule(B), [A, B], { target: "webgpu", name: "twice" });
  const a = rand([4, 3]);
  // A device output holding a sentinel shows whether anything was dispatched.
  const sentinel = nd.array(new Array(12).fill(-42), [4, 3]);
  const out = await sentinel.to("webgpu");
  await rejectsTessera(
    () => f(a),
    /kernel twice \(webgpu\): expected 2 arguments \(A, B\) but got 1/,
  );
  await rejectsTessera(
    () => f(nd.empty([4, 3], "int32"), out),
    /argument 1 'A' has dtype int32 but the parameter is float32/,
  );
  await rejectsTessera(() => f(nd.empty([4, 2]), out), /argument 1 'A' dimension 1 is 2/);
  await rejectsTessera(() => f(nd.empty([12]), out), /argument 1 'A' has rank 1/);
  await rejectsTessera(
    async () => f(await nd.empty([4, 3], "int32").to("webgpu"), out),
    /argument 1 'A' has dtype int32/,
  );
  await rejectsTessera(() => f(a, [1, 2] as unknown as NDArray), /argument 2 'B'/);
  await rejectsTessera(() => f(a, a), /output argument 2 'B' shares memory with argument 1 'A'/);
  await rejectsTessera(() => f(out, out), /output argument 2 'B' shares memory/);
  assert.deepEqual(Array.from(await out.toArray()), new Array(12).fill(-42));
  await f(a, out); // and the same arrays work once they are right
  assert.deepEqual(Array.from(await out.toArray()), Array.from(a.toArray(), (v) => v * 2));
});

Deno.test("adapter limits and bad bindings are TesseraErrors at build or bind", async () => {
  // 32 x 64 threads: 2048 invocations, over llvmpipe's (and WebGPU's default) limits.
  {
    const A = te.placeholder([64, 64], "float32", "A");
    const B = te.compute([64, 64], (i, j) => A(i, j).add(1), "B");
    const s = te.createSchedule(B);
    const [i, j] = B.op.axis;
    const [io, ii] = s.stage(B).split(i, { factor: 64 });
    const [jo, ji] = s.stage(B).split(j, { factor: 32 });
    s.stage(B).reorder(io, jo, ii, ji).bind(ii, "threadIdx.y").bind(ji, "threadIdx.x");
    await rejectsTessera(
      () => te.build(s, [A, B], { target: "webgpu" }),
      /workgroup of 32x64 = 2048 invocations exceeds the adapter's maxComputeInvocationsPerWorkgroup/,
    );
  }
  // A 128 x 128 float32 shared tile: 64 KiB of workgroup memory.
  {
    const A = te.placeholder([128, 128], "float32", "A");
    const B = te.compute([128, 128], (i, j) => A(i, j).add(1), "B");
    const s = te.createSchedule(B);
    const AS = s.cacheRead(A, "shared", [s.stage(B)]);
    const [io] = s.stage(B).split(B.op.axis[0], { factor: 128 });
    s.stage(B).bind(io, "blockIdx.x").bind(B.op.axis[1], "threadIdx.x");
    s.stage(AS).computeAt(s.stage(B), io).bind(s.stage(AS).op.axis[1], "threadIdx.x");
    await rejectsTessera(
      () => te.build(s, [A, B], { target: "webgpu" }),
      /workgroup memory of 65536 bytes .* exceeds the adapter's maxComputeWorkgroupStorageSize/,
    );
  }
  // threadIdx on a loop of symbolic extent: the workgroup size must be a constant.
  {
    const n = te.var("n");
    const A = te.placeholder([n], "float32", "A");
    const B = te.compute([n], (i) => A(i).add(1), "B");
    const s = te.createSchedule(B);
    s.stage(B).bind(B.op.axis[0], "threadIdx.x");
    await rejectsTessera(
      () => te.build(s, [A, B], { target: "webgpu" }),
      /loop 'i' bound to threadIdx\.x has extent n; the workgroup size must be a constant/,
    );
  }
  // blockIdx on an inner loop: workgroups cannot sit inside a loop.
  {
    const A = te.placeholder([8, 8], "float32", "A");
    const B = te.compute([8, 8], (i, j) => A(i, j).add(1), "B");
    const s = te.createSchedule(B);
    s.stage(B).bind(B.op.axis[1], "blockIdx.x");
    await rejectsTessera(
      () => te.build(s, [A, B], { target: "webgpu" }),
      /loop 'j' is bound to blockIdx\.x inside another loop/,
    );
  }
  // Two axes of one stage on one thread index, and a reduction on workgroups: refused at bind.
  {
    const A = te.placeholder([8, 8], "float32", "A");
    const k = te.reduceAxis([0, 8], "k");
    const B = te.compute([8, 8], (i, j) => A(i, j).add(1), "B");
    const C = te.compute([8], (i) => te.sum(A(i, k), [k]), "C");
    const s = te.createSchedule([B, C]);
    s.stage(B).bind(B.op.axis[0], "threadIdx.x");
    throwsTessera(
      () => s.stage(B).bind(B.op.axis[1], "threadIdx.x"),
      /bind\(stage 'B', axis 'j'\): 'threadIdx\.x' is already bound to 'i'/,
    );
    throwsTessera(
      () => s.stage(C).bind(k, "blockIdx.x"),
      /bind\(stage 'C', axis 'k'\): a reduction axis can be bound to threadIdx.* not to blockIdx\.x/,
    );
    // A different index for the second axis is fine.
    s.stage(B).bind(B.op.axis[1], "threadIdx.y");
  }
});

Deno.test("float16 needs the adapter's shader-f16: a clear error where it is missing", async () => {
  const A = te.placeholder([5], "float16", "A");
  const B = te.compute([5], (i) => A(i).mul(2).add(1), "B");
  const s = te.createSchedule(B);
  const gpu = await getDevice();
  if (!gpu.features.has("shader-f16")) {
    await rejectsTessera(
      () => te.build(s, [A, B], { target: "webgpu" }),
      /computes in float16, but the adapter .* lacks the WebGPU feature 'shader-f16'/,
    );
    return;
  }
  const a = nd.array([0.1, -3.3, 1000.5, 65504, 1e-5], undefined, "float16");
  await checkAgainstInterpreter(s, [A, B], [a], "float16 on an adapter with shader-f16", [[5]], 0);
});

Deno.test({
  name: "tensors named like WGSL builtins and generated declarations compile ",
  fn: async () => {
    for (const name of ["sign", "TsrSizes"]) {
      const n = te.var("n");
      const A = te.placeholder([n], "float32", name);
      const B = te.compute([n], (i) => te.erf(A(i)), "B");
      await checkAgainstInterpreter(
        te.createSchedule(B),
        [A, B],
        [nd.array([0.5, -1, 2])],
        `input named ${name}`,
        [[3]],
      );
    }
  },
});

// --- 9. timing --------------------------------------------------------------------------------

Deno.test("timeEvaluator times a WebGPU kernel: positive times, one per repeat", async () => {
  const { s, args } = softmaxGpu(4, 64, 32, true);
  const f = await te.build(s, args, { target: "webgpu" });
  const x = rand([4, 64]), y = poisoned([4, 64], "float32");
  const t = await f.timeEvaluator({ repeat: 3, flops: 4 * 64 * 5 })(x, y);
  assert.equal(t.results.length, 3);
  assert.equal(t.repeat, 3);
  for (const r of t.results) assert.ok(r > 0 && Number.isFinite(r), `time ${r}`);
  assert.ok(t.min > 0 && t.min <= t.median && t.median <= Math.max(...t.results));
  assert.ok(t.gflops !== undefined && t.gflops.median > 0);
  assert.equal(f.lastTiming, t);
  throwsTessera(() => f.timeEvaluator({ repeat: 0 }), /timeEvaluator: bad options .*'repeat'/);
});

// --- vectorize: vec2/3/4<f32> where legal, scalar code otherwise ------------------------------

Deno.test("vectorize by 2, 3 and 4 computes float32 lanes as one vecN<f32>", async () => {
  for (const lanes of [2, 3, 4]) {
    const A = te.placeholder([5, 12], "float32", "A");
    const B = te.placeholder([12], "float32", "B");
    const C = te.compute(
      [5, 12],
      (i, j) => te.max(A(i, j).mul(B(j)).add(A(i, 0)), 0).sub(te.exp(A(i, j))),
      "C",
    );
    const s = te.createSchedule(C);
    const [i, j] = s.stage(C).op.axis;
    const [jo, ji] = s.stage(C).split(j, { factor: lanes });
    s.stage(C).bind(i, "blockIdx.x").bind(jo, "threadIdx.x").vectorize(ji);
    const f = await te.build(s, [A, B, C], { target: "webgpu" });
    assert.match(f.source, new RegExp(`let tsr_vec: vec${lanes}<f32>`));
    // A's row stride 12 and B's start are multiples of 2 and 4: real vector loads there.
    const view = new RegExp(`var<storage, read> b_A_v${lanes}: array<vec${lanes}<f32>>`);
    if (lanes === 3) assert.doesNotMatch(f.source, /_v3/);
    else assert.match(f.source, view);
    await checkAgainstInterpreter(
      s,
      [A, B, C],
      [rand([5, 12], "float32", 3), rand([12])],
      `${lanes} lanes`,
    );
  }
});

Deno.test("vectorize falls back to scalar code for strided loads, and stays correct for neighbour reads", async () => {
  // A stride-2 load under a non-dividing split, and lanes reading a neighbouring element.
  const A = te.placeholder([10], "float32", "A");
  const T = te.compute([5], (i) => A(i.mul(2)).add(1), "T");
  const s1 = te.createSchedule(T);
  const [, t1] = s1.stage(T).split(s1.stage(T).op.axis[0], { factor: 3 });
  s1.stage(T).vectorize(t1);
  const f1 = await te.build(s1, [A, T], { target: "webgpu" });
  assert.doesNotMatch(f1.source, /tsr_vec/);
  await checkAgainstInterpreter(s1, [A, T], [rand([10])], "guarded tail");
  const U = te.compute([10], (i) => A(i).mul(2), "U");
  const V = te.compute([10], (i) => U(i).add(U(te.min(i.add(1), 9))), "V");
  const s2 = te.createSchedule(V);
  const [, v1] = s2.stage(V).split(s2.stage(V).op.axis[0], { factor: 2 });
  s2.stage(V).vectorize(v1);
  await checkAgainstInterpreter(s2, [A, V], [rand([10])], "reads of another stage");
});

Deno.test("vector loads only where the first lane is provably aligned; views stay within 8 bindings", async () => {
  // Shifted by one column, or with a symbolic row stride, the start is not a multiple of 4:
  // the lanes are loaded one by one (and still computed as a vec4).
  const n = te.var("n");
  for (const [cols, shift] of [[13, 1], [n, 0]] as const) {
    const A = te.placeholder([6, cols], "float32", "A");
    const C = te.compute([6, 8], (i, j) => A(i, j.add(shift)).mul(2), "C");
    const s = te.createSchedule(C);
    const [i, j] = s.stage(C).op.axis;
    const [jo, ji] = s.stage(C).split(j, { factor: 4 });
    s.stage(C).bind(i, "blockIdx.x").bind(jo, "threadIdx.x").vectorize(ji);
    const f = await te.build(s, [A, C], { target: "webgpu" });
    assert.match(f.source, /let tsr_vec: vec4<f32>/);
    assert.doesNotMatch(f.source, /array<vec4<f32>>/, `cols ${cols}, shift ${shift}`);
    await checkAgainstInterpreter(s, [A, C], [rand([6, 13], "float32", 4)], `shift ${shift}`);
  }
  // Six aligned inputs and the output take 7 bindings: one vector view fits in the 8.
  const ins = Array.from({ length: 6 }, (_, k) => te.placeholder([16], "float32", `X${k}`));
  const Y = te.compute([16], (i) => ins.reduce((acc: Expr, x) => acc.add(x(i)), te.const(0)), "Y");
  const s = te.createSchedule(Y);
  const [o, v] = s.stage(Y).split(Y.op.axis[0], { factor: 4 });
  s.stage(Y).bind(o, "threadIdx.x").vectorize(v);
  const f = await checkAgainstInterpreter(
    s,
    [...ins, Y],
    ins.map((_, k) => rand([16], "float32", 10 + k)),
    "six inputs",
  );
  assert.equal(f.source.match(/array<vec4<f32>>/g)?.length, 1);
});

Deno.test("storageAlign pads the rows of a shared tile", async () => {
  // The tile of A is 16 x 16; storageAlign(factor 16, offset 1) makes its row stride 17
  // (the usual cure for bank conflicts), so the workgroup array holds 16 x 17 floats.
  const { s, args } = matmulGpu(40, 32, 24, { threads: 16, reg: 1, tk: 16 });
  const AS = s.stages.find((st) => st.name === "A_shared")!;
  AS.storageAlign(AS.op.axis[0], 16, 1);
  const f = await checkAgainstInterpreter(
    s,
    args,
    [rand([40, 24], "float32", 1), rand([24, 32], "float32", 2)],
    "padded shared tile",
  );
  assert.match(f.source, /var<workgroup> b_A_shared: array<f32, 272>;/);
});
