/**
 * The numeric cases where a backend once differed from the interpreter without saying so
 * (issue 11, class 8), each held to the interpreter exactly (bits, sign of zero, NaN) on the
 * C target and on WebGPU, or to exactly the tolerance the README's "Semantics worth knowing"
 * states; and the WebGPU guards that keep a kernel from returning wrong numbers or hanging:
 * integer division by zero reported through the error flags, the llvmpipe loop budget for
 * thread loops each thread runs serially (class 6), private arrays beyond the cap refused at
 * build, and the pipeline cache bounded (class 10). WebGPU runs on whatever adapter Deno
 * finds (llvmpipe in CI), as in tests/wgsl_backend_test.ts; the kernels are tiny.
 */
import assert from "node:assert/strict";
import { type DType, type Expr, nd, te, TesseraError } from "../mod.ts";
import { getDevice } from "../lib/codegen/wgsl/device.ts";
import {
  MAX_PRIVATE_BYTES,
  PIPELINE_CACHE_CAP,
  pipelineCacheSize,
} from "../lib/codegen/wgsl/runtime.ts";
import { useTestCache } from "./c_util.ts";

useTestCache();

const FLT_MAX = 3.4028234663852886e38;
const TARGETS = ["c", "webgpu"] as const;

/** `op` elementwise over xs (and ys) with `target` (undefined: the interpreter). */
async function run(
  target: string | undefined,
  op: (a: Expr, b: Expr) => Expr,
  xs: number[],
  ys: number[] = xs,
  dtype: DType = "float32",
  vectorize = false,
): Promise<number[]> {
  const n = xs.length;
  const A = te.placeholder([n], dtype, "A"), B = te.placeholder([n], dtype, "B");
  const C = te.compute([n], (i) => op(A(i), B(i)), "C");
  const s = te.createSchedule(C);
  if (vectorize) s.stage(C).vectorize(s.stage(C).split(C.op.axis[0], { factor: 4 })[1]);
  const f = await te.build(s, [A, B, C], target ? { target } : undefined);
  const c = nd.empty([n], C.dtype);
  await f(nd.array(xs, undefined, dtype), nd.array(ys, undefined, dtype), c);
  return Array.from(c.toArray());
}

const show = (v: number[]) => v.map((x) => (Object.is(x, -0) ? "-0" : String(x))).join(", ");

/** Bit-for-bit equal, -0 and +0 apart, any NaN equal to any NaN. */
function assertSame(got: number[], want: number[], what: string) {
  const same = got.length === want.length &&
    got.every((g, k) => Object.is(g, want[k]) || (Number.isNaN(g) && Number.isNaN(want[k])));
  assert.ok(same, `${what}: got [${show(got)}], the interpreter says [${show(want)}]`);
}

/** Each target's result of `op` equals the interpreter's exactly; returns the interpreter's. */
async function agree(
  what: string,
  op: (a: Expr, b: Expr) => Expr,
  xs: number[],
  ys: number[] = xs,
  dtype: DType = "float32",
): Promise<number[]> {
  const want = await run(undefined, op, xs, ys, dtype);
  for (const t of TARGETS) assertSame(await run(t, op, xs, ys, dtype), want, `${what} on ${t}`);
  return want;
}

Deno.test("division by a literal zero gives inf and NaN, not 0", async () => {
  const xs = [1, -1, 0, NaN, Infinity, -3.5];
  const want = await agree("x / 0.0", (a) => a.div(0), xs);
  assertSame(want, [Infinity, -Infinity, NaN, NaN, Infinity, -Infinity], "interpreter");
  await agree("floordiv(x, 0.0)", (a) => a.floordiv(0), xs);
  await agree("floormod(x, 0.0)", (a) => a.floormod(0), xs);
});

Deno.test("a zero numerator over a run-time zero gives NaN, not 0", async () => {
  // (x - x) / floor(y): llvmpipe folded a zero numerator's quotient to 0 (wgsl_property_test
  // seed 1392911812); x / y by a run-time zero likewise.
  const xs = [1, -1, 0.5, 2, Infinity, -3.5];
  const ys = [0.5, 0.25, -0.5, 0, 0.75, 0];
  const want = await agree("(x - x) / floor(y)", (a, b) => a.sub(a).div(te.floor(b)), xs, ys);
  assertSame(want, [NaN, NaN, -0, NaN, NaN, NaN], "interpreter");
  await agree("x / y", (a, b) => a.div(b), xs, ys);
});

Deno.test("int abs of a negation compiles and wraps as the interpreter", async () => {
  // WGSL printed select(-x, --x, ...), which does not parse (wgsl_property_test seed 101).
  const xs = [3, -4, 0, 2 ** 31 - 1, -(2 ** 31)];
  const want = await agree("abs(-x)", (a) => te.abs(a.neg()), xs, xs, "int32");
  assertSame(want, [3, 4, 0, 2 ** 31 - 1, -(2 ** 31)], "interpreter");
});

Deno.test("float floordiv and floormod: the float64 quotient, exactly", async () => {
  // Quotients just below an integer, where the float32 quotient rounds up to it.
  const xs: number[] = [1, -1, 1, 7, -7, 1e-3, 5e6, 3];
  const ys: number[] = [0.33333334, 0.33333334, -0.33333334, 0.1, 0.1, 1e-4, 3.3, 1.1];
  for (let k = 1; k < 40; k++) {
    const b = Math.fround(1 / (k + 0.5)), n = k * 37 + 1;
    for (const d of [-1, 0, 1]) {
      const a = Math.fround(n * b);
      xs.push(a + d * a * 2 ** -23, -a);
      ys.push(b, b);
    }
  }
  const fd = await agree("floordiv", (a, b) => a.floordiv(b), xs, ys);
  assert.equal(fd[0], 2, "floordiv(1, 0.33333334) is 2 (1 / 0.33333334 = 2.99999994)");
  await agree("floormod", (a, b) => a.floormod(b), xs, ys);
});

Deno.test("floormod(FLT_MAX, 0.333) in C is not fused into an FMA", async () => {
  const xs = [FLT_MAX, -FLT_MAX, 1e30, 3e38];
  const ys = [0.333, 0.333, 7.1, -1.7];
  const want = await run(undefined, (a, b) => a.floormod(b), xs, ys);
  assertSame(await run("c", (a, b) => a.floormod(b), xs, ys), want, "floormod on c");
  assert.equal(want[0], 0);
});

Deno.test("WebGPU floordiv beyond 2^24: within one float32 ulp of the interpreter's", async () => {
  // The README's stated tolerance: where |a / b| >= 2^24 (or |b| is outside
  // [2^-60, 2^100]) WebGPU floors the float32 quotient.
  const xs = [FLT_MAX, 1e30, -3e20, 1, 5];
  const ys = [0.333, 7.1, 3, 1e-30, 2e31];
  const want = await run(undefined, (a, b) => a.floordiv(b), xs, ys);
  const got = await run("webgpu", (a, b) => a.floordiv(b), xs, ys);
  got.forEach((g, k) => {
    const w = want[k];
    const ulp = Math.abs(Math.fround(w * (1 + 2 ** -23)) - w) || 2 ** -149;
    assert.ok(Object.is(g, w) || Math.abs(g - w) <= ulp, `element ${k}: ${g} vs ${w}`);
  });
});

Deno.test("pow's special cases follow Math.pow on every target", async () => {
  const xs = [-8, -8, -FLT_MAX, -FLT_MAX, 1, -1, 1, -0, -0, 0, -Infinity, -Infinity, -Infinity];
  const ys = [Infinity, -Infinity, 0.5, -0.5, NaN, Infinity, -Infinity, -3, 3, -2, 3, 0.5, -3];
  xs.push(0.5, 0.5, NaN, 2, -2, Infinity, -0, 4);
  ys.push(Infinity, -Infinity, 0, -Infinity, 3, -0.5, 0.5, 0.5);
  const want = await agree("pow", (a, b) => a.pow(b), xs, ys);
  assertSame(want.slice(0, 4), [Infinity, 0, NaN, NaN], "interpreter");
});

Deno.test("int32 pow is the exact power wrapped to int32, on every target", async () => {
  const xs = [3, 7, 2, -3, 0, -1, 1, 5, 2, -2, 0, 10];
  const ys = [40, 30, 31, 35, -1, -3, -7, -2, 32, 31, 0, 9];
  const want = await agree("int32 pow", (a, b) => a.pow(b), xs, ys, "int32");
  const exact = xs.map((x, k) =>
    ys[k] < 0
      ? (x === 1 ? 1 : x === -1 ? (ys[k] % 2 ? -1 : 1) : 0)
      : Number(BigInt.asIntN(32, BigInt(x) ** BigInt(ys[k])))
  );
  assert.deepEqual(want, exact);
});

Deno.test("the sign of zero in min, max, tanh and erf", async () => {
  const xs = [0, -0, 0, -0, 1, -1];
  const ys = [-0, 0, 0, -0, -0, 0];
  assertSame(await agree("min", (a, b) => a.min(b), xs, ys), [-0, -0, 0, -0, -0, -1], "min");
  assertSame(await agree("max", (a, b) => a.max(b), xs, ys), [0, 0, 0, -0, 1, 0], "max");
  assertSame(await agree("tanh", (a) => te.tanh(a), [-0, 0]), [-0, 0], "tanh");
  assertSame(await agree("erf", (a) => te.erf(a), [-0, 0]), [-0, 0], "erf");
  // The vector (vecN) min and max of the WebGPU printer keep it too.
  for (const op of [(a: Expr, b: Expr) => a.min(b), (a: Expr, b: Expr) => a.max(b)]) {
    const v = [0, -0, 0, -0, 0, -0, 0, -0], w = [-0, 0, 0, -0, 0, 0, -0, -0];
    assertSame(
      await run("webgpu", op, v, w, "float32", true),
      await run(undefined, op, v, w),
      "vectorized",
    );
  }
});

Deno.test("min and max of every pair of special values, scalar and vectorized, in C", async () => {
  // The C helpers are branch-free (selects and bit operations) so that they vectorize; every
  // pair of zeros, infinities, NaNs, equal and unequal values must still give Math's answer.
  const sp = [0, -0, 1, -1, 2.5, Infinity, -Infinity, NaN, 1e-40, -1e-40];
  const xs = sp.flatMap((a) => sp.map(() => a)), ys = sp.flatMap(() => sp);
  for (const dtype of ["float32", "float64"] as const) {
    for (const [name, op] of [["min", Math.min], ["max", Math.max]] as const) {
      const want = xs.map((a, k) => {
        const r = op(a, ys[k]);
        return dtype === "float32" ? Math.fround(r) : r;
      });
      const f = (a: Expr, b: Expr) => name === "min" ? a.min(b) : a.max(b);
      for (const vectorize of [false, true]) {
        assertSame(
          await run("c", f, xs, ys, dtype, vectorize),
          want,
          `${name} ${dtype}${vectorize ? " vectorized" : ""}`,
        );
      }
    }
  }
});

Deno.test("a vectorized row max and min keep NaN and the sign of zero wherever they fall", async () => {
  // The reductions' accumulators run through tsr_max_f32 / tsr_min_f32 in vector lanes (the
  // default schedule splits a long row into partial lanes): a NaN in any lane, or a +0 among
  // -0s, must reach the row's result as the interpreter's Math.max / Math.min give it.
  const cols = 70, rows: number[][] = [];
  for (let r = 0; r < 12; r++) rows.push(Array.from({ length: cols }, (_, k) => -50 - k - r));
  rows[1][0] = NaN;
  rows[2][cols - 1] = NaN;
  rows[3][33] = NaN;
  rows[4].fill(-0);
  rows[5].fill(-0)[41] = 0;
  rows[6].fill(-0)[cols - 1] = 0;
  rows[7].fill(0)[17] = -0;
  rows[8][20] = Infinity;
  rows[9].fill(-Infinity);
  rows[10][0] = 0;
  rows[10][cols - 1] = -0;
  const x = rows.flat();
  for (const name of ["max", "min"] as const) {
    const X = te.placeholder([rows.length, cols], "float32", "X");
    const k = te.reduceAxis([0, cols], "k");
    const M = te.compute([rows.length], (i) => te[name](X(i, k), [k]), "M");
    const result = async (opts: Parameters<typeof te.build>[2]) => {
      const f = await te.build(M, [X, M], opts);
      const m = nd.empty([rows.length]);
      await f(nd.array(x, [rows.length, cols]), m);
      return Array.from(m.toArray());
    };
    const want = await result({ schedule: "auto", target: "interpreter" });
    assertSame(want, rows.map((r) => Math.fround(Math[name](...r))), `${name}: interpreter`);
    assertSame(await result({ schedule: "auto", target: "c" }), want, `${name}: C`);
  }
});

Deno.test("integer division by zero on WebGPU is a TesseraError; the outputs stay as they were", async () => {
  const ops: Array<[string, (a: Expr, b: Expr) => Expr]> = [
    ["div", (a, b) => a.div(b)],
    ["mod", (a, b) => a.mod(b)],
    ["floordiv", (a, b) => a.floordiv(b)],
    ["floormod", (a, b) => a.floormod(b)],
  ];
  for (const [name, op] of ops) {
    const A = te.placeholder([4], "int32", "A"), B = te.placeholder([4], "int32", "B");
    const C = te.compute([4], (i) => op(A(i), B(i)), "C");
    const f = await te.build(te.createSchedule(C), [A, B, C], { target: "webgpu" });
    const a = nd.array([5, -5, 7, 9], undefined, "int32");
    const c = nd.array([11, 12, 13, 14], undefined, "int32");
    await assert.rejects(
      async () => await f(a, nd.array([1, 2, 0, 3], undefined, "int32"), c),
      (e) => e instanceof TesseraError && /integer division or modulo by zero/.test(e.message),
      name,
    );
    assert.deepEqual(Array.from(c.toArray()), [11, 12, 13, 14], `${name}: outputs untouched`);
    // The flags are cleared for the next call.
    await f(a, nd.array([1, 2, 3, 3], undefined, "int32"), c);
    assert.deepEqual(
      Array.from(c.toArray()),
      await run(undefined, op, [5, -5, 7, 9], [1, 2, 3, 3], "int32"),
      name,
    );
  }
});

Deno.test("llvmpipe's loop budget counts a re-bound thread loop each thread runs serially", async () => {
  // R_local is computed at R's threadIdx.x loop, and its own loop (extent 2) is bound to
  // threadIdx.x again; it depends on R's index, so each thread runs it as a serial loop:
  // 2 x 40000 iterations per invocation, which llvmpipe silently cut short (51066, not 80000).
  const n = 40000;
  const X = te.placeholder([4, n], "int32", "X");
  const k = te.reduceAxis([0, n], "k");
  const R = te.compute([4], (i) => te.sum(X(i, k), [k]), "R");
  const D = te.compute([4], (i) => R(i).mul(2), "D");
  const s = te.createSchedule(D);
  const RL = s.cacheWrite(R, "local");
  const r = s.stage(R);
  const [ro] = r.split(r.op.axis[0], { factor: 2 });
  // Global, as written before scope inference: inferred, R is one shared element per block
  // and the loop is no longer re-bound.
  r.computeAt(s.stage(D), D.op.axis[0]).setScope("global");
  s.stage(RL).computeAt(r, ro).bind(s.stage(RL).op.axis[0], "threadIdx.x");
  r.bind(ro, "threadIdx.x");
  s.stage(D).bind(D.op.axis[0], "blockIdx.x");
  const f = await te.build(s, [X, D], { target: "webgpu" });
  const d = nd.empty([4], "int32");
  const call = () => f(nd.array(new Int32Array(4 * n).fill(1), [4, n], "int32"), d);
  if ((await getDevice()).description.includes("llvmpipe")) {
    await assert.rejects(
      async () => await call(),
      (e) => e instanceof TesseraError && /80004 loop iterations/.test(e.message),
    );
  } else {
    await call();
    assert.deepEqual(Array.from(d.toArray()), [80000, 80000, 80000, 80000]);
  }
});

Deno.test("private arrays beyond the per-invocation cap are refused at build, naming them", async () => {
  // Softmax stages at the row's thread loop with no scope set: inferred local, every thread
  // would hold its row of E privately. It used to build, and its first call never returned.
  const n = 4096;
  const A = te.placeholder([2, n], "float32", "A");
  const k = te.reduceAxis([0, n], "k");
  const M = te.compute([2], (i) => te.max(A(i, k), [k]), "M");
  const E = te.compute([2, n], (i, j) => te.exp(A(i, j).sub(M(i))), "E");
  const k2 = te.reduceAxis([0, n], "k2");
  const S = te.compute([2], (i) => te.sum(E(i, k2), [k2]), "S");
  const O = te.compute([2, n], (i, j) => E(i, j).div(S(i)), "O");
  const s = te.createSchedule(O);
  const o = s.stage(O);
  o.bind(o.op.axis[0], "threadIdx.x");
  for (const t of [M, E, S]) s.stage(t).computeAt(o, o.op.axis[0]);
  await assert.rejects(
    () => te.build(s, [A, O], { target: "webgpu" }),
    (e) =>
      e instanceof TesseraError && /'E' \(16384 bytes\)/.test(e.message) &&
      e.message.includes(`${MAX_PRIVATE_BYTES} bytes per invocation`) &&
      /"shared"/.test(e.message),
  );
  // Shared memory beyond the adapter's limit is refused at build as well.
  const gpu = await getDevice();
  const big = gpu.limits.maxComputeWorkgroupStorageSize / 4 + 64;
  const X = te.placeholder([big], "float32", "X");
  const Y = te.compute([big], (i) => X(i).mul(2), "Y");
  const s2 = te.createSchedule(Y);
  const XS = s2.cacheRead(X, "shared", [s2.stage(Y)]);
  const y = s2.stage(Y);
  const [yo, yi] = y.split(Y.op.axis[0], { nparts: 1 });
  y.bind(yo, "blockIdx.x").bind(y.split(yi, { factor: 64 })[1], "threadIdx.x");
  const xs = s2.stage(XS).computeAt(y, yo);
  xs.bind(xs.split(xs.op.axis[0], { factor: 64 })[1], "threadIdx.x");
  await assert.rejects(
    () => te.build(s2, [X, Y], { target: "webgpu" }),
    (e) => e instanceof TesseraError && /maxComputeWorkgroupStorageSize/.test(e.message),
  );
});

Deno.test("the WebGPU pipeline cache holds at most PIPELINE_CACHE_CAP pipelines", async () => {
  const A = te.placeholder([4], "float32", "A");
  for (let k = 0; k < PIPELINE_CACHE_CAP + 4; k++) {
    const C = te.compute([4], (i) => A(i).add(k + 0.5), "C");
    await te.build(te.createSchedule(C), [A, C], { target: "webgpu" });
  }
  assert.equal(pipelineCacheSize(), PIPELINE_CACHE_CAP);
});
