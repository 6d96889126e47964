/**
 * The dtypes uint8, int8, int64 and float64 and the math functions of issue 13, held to the
 * interpreter (the definition) on C and WebGPU: arithmetic at each width, the promotion
 * rules, casts between every pair of types at edge values (NaN, infinities, out of range,
 * -0, 255/256, -129), the math functions at special values within the tolerances the README
 * states, WebGPU's refusal of 64-bit types before any GPU work, and nd.array's typed arrays.
 */
import assert from "node:assert/strict";
import { type DType, type Expr, nd, NDArray, te, TesseraError } from "../mod.ts";
import { DTYPES } from "../lib/ir/dtype.ts";
import { useTestCache } from "./c_util.ts";
import { throwsTessera } from "./errors_util.ts";

useTestCache();

type Target = "interp" | "c" | "webgpu";
const TARGETS: Target[] = ["interp", "c", "webgpu"];
const is64 = (t: DType) => t === "int64" || t === "float64";

/** Each of `fns` elementwise over `inputs`, as one kernel with several outputs, on `target`. */
async function run(
  target: Target,
  inputs: NDArray[],
  fns: Array<(...xs: Expr[]) => Expr>,
): Promise<NDArray[]> {
  const n = inputs[0].size;
  const ps = inputs.map((a, k) => te.placeholder([n], a.dtype, `X${k}`));
  const outs = fns.map((f, k) => te.compute([n], (i) => f(...ps.map((p) => p(i))), `Y${k}`));
  const s = te.createSchedule(outs);
  if (target === "webgpu") {
    for (const o of outs) {
      const [b, t] = s.stage(o).split(o.op.axis[0], { factor: 4 });
      s.stage(o).bind(b, "blockIdx.x").bind(t, "threadIdx.x");
    }
  }
  const f = await te.build(s, [...ps, ...outs], target === "interp" ? undefined : { target });
  const got = outs.map((o) => nd.empty([n], o.dtype));
  await f(...inputs, ...got);
  return got;
}

/** Exact equality, element by element (NaN equals NaN; -0 is not +0; int64 exactly). */
function same(got: NDArray, want: NDArray, what: string) {
  assert.equal(got.dtype, want.dtype, what);
  const g = got.dtype === "int64" ? Array.from(got.data64) : Array.from(got.toArray());
  const w = want.dtype === "int64" ? Array.from(want.data64) : Array.from(want.toArray());
  w.forEach((x, k) => assert.ok(Object.is(g[k], x), `${what} [${k}]: got ${g[k]}, want ${x}`));
}

/** Within `tol` of max(1, |want|); NaN and infinities exactly. */
function close(got: NDArray, want: NDArray, tol: number, what: string) {
  const g = got.toArray(), w = want.toArray();
  w.forEach((x, k) => {
    if (Number.isNaN(x) || !Number.isFinite(x)) {
      return assert.ok(Object.is(g[k], x), `${what} [${k}]: got ${g[k]}, want ${x}`);
    }
    assert.ok(
      Math.abs(g[k] - x) <= tol * Math.max(1, Math.abs(x)),
      `${what} [${k}]: got ${g[k]}, want ${x}`,
    );
  });
}

const FLOAT_EDGES = [
  0,
  -0,
  0.5,
  -0.5,
  1.9,
  -1.9,
  127,
  128,
  -128.5,
  -129,
  255,
  256,
  300.7,
  -300.7,
  65504,
  2 ** 31,
  -(2 ** 31) - 1024,
  2 ** 40 + 4096,
  1e20,
  -1e20,
  NaN,
  Infinity,
  -Infinity,
];
const I64 = [0n, -1n, 255n, 256n, -129n, 2n ** 31n, -(2n ** 31n) - 1n, 2n ** 53n + 1n];

function edges(t: DType): NDArray {
  switch (t) {
    case "int8":
      return nd.array(new Int8Array([-128, -1, 0, 1, 127, -129 & 0xff]));
    case "uint8":
      return nd.array(new Uint8Array([0, 1, 127, 128, 255, 200]), undefined, "uint8");
    case "int32":
      return nd.array(
        [0, -1, 1, 127, 128, -128, -129, 255, 256, 2 ** 31 - 1, -(2 ** 31)],
        undefined,
        t,
      );
    case "int64":
      return nd.array(new BigInt64Array([...I64, -(2n ** 63n), 2n ** 63n - 1n, 2n ** 40n + 3n]));
    case "bool":
      return nd.array([0, 1, 1, 0], undefined, "bool");
    default:
      return nd.array(FLOAT_EDGES, undefined, t);
  }
}

Deno.test("promotion: numpy's rules with int32 meeting float32 as float32, literals take the other type", () => {
  const of = (t: DType) => te.placeholder([1], t, `P_${t}`)(0);
  const cases: Array<[DType, DType, DType]> = [
    ["uint8", "uint8", "uint8"],
    ["int8", "uint8", "int32"],
    ["int8", "int32", "int32"],
    ["uint8", "int64", "int64"],
    ["int32", "int64", "int64"],
    ["int32", "float32", "float32"],
    ["int64", "float32", "float64"],
    ["int64", "float16", "float64"],
    ["uint8", "float16", "float16"],
    ["float16", "float32", "float32"],
    ["float32", "float64", "float64"],
    ["int32", "float64", "float64"],
  ];
  for (const [a, b, want] of cases) {
    assert.equal(of(a).add(of(b)).dtype, want, `${a} + ${b}`);
    assert.equal(of(b).mul(of(a)).dtype, want, `${b} * ${a}`);
  }
  assert.equal(of("uint8").add(3).dtype, "uint8");
  assert.equal(of("int64").add(0.5).dtype, "float64");
  assert.equal(te.sin(of("int64")).dtype, "float64");
  assert.equal(te.sin(of("uint8")).dtype, "float32");
  assert.equal(te.isnan(of("float64")).dtype, "bool");
  assert.equal(te.abs(of("int8")).dtype, "int8");
  assert.equal(te.clamp(of("uint8"), 10, 20).dtype, "uint8");
  throwsTessera(() => of("uint8").add(300), /300 does not fit uint8 \(0 to 255\)/);
  throwsTessera(() => of("int8").sub(-129), /does not fit int8/);
  throwsTessera(() => of("uint8").add(of("bool")), /cannot combine uint8 with bool/);
  throwsTessera(() => te.const(2 ** 63, "int64"), /does not fit int64/);
});

Deno.test("integer arithmetic wraps at each width, equal on every target", async () => {
  const pairs: Array<[DType, number[] | bigint[], number[] | bigint[]]> = [
    ["uint8", [200, 255, 0, 7, 128, 3], [100, 2, 1, 255, 128, 5]],
    ["int8", [127, -128, -128, 100, -7, 5], [1, -1, 2, 100, 2, -3]],
    ["int64", [2n ** 62n, -(2n ** 63n), 2n ** 53n + 1n, -7n, 9n, 3n], [2n, -1n, 3n, 2n, -4n, 5n]],
    ["int32", [2 ** 31 - 1, -(2 ** 31), 46341, -7, 9, 3], [1, -1, 46341, 2, -4, 5]],
  ];
  const ops: Array<(a: Expr, b: Expr) => Expr> = [
    (a, b) => a.add(b),
    (a, b) => a.sub(b),
    (a, b) => a.mul(b),
    (a, b) => a.div(b),
    (a, b) => a.mod(b),
    (a, b) => a.floordiv(b),
    (a, b) => a.floormod(b),
    (a, b) => a.min(b).add(a.max(b)),
    (a) => a.neg(),
    (a) => te.abs(a),
    (a, b) => a.pow(te.abs(b).mod(5)),
    (a, b) => te.cast("int32", a.lt(b)).add(te.cast("int32", a.eq(b)).mul(2)),
  ];
  for (const [t, xs, ys] of pairs) {
    const mk = (v: number[] | bigint[]) =>
      t === "int64"
        ? nd.array(new BigInt64Array(v as bigint[]))
        : nd.array(v as number[], undefined, t);
    const inputs = [mk(xs), mk(ys)];
    const want = await run("interp", inputs, ops);
    for (const target of ["c", "webgpu"] as Target[]) {
      if (target === "webgpu" && is64(t)) continue;
      const got = await run(target, inputs, ops);
      got.forEach((g, k) => same(g, want[k], `${t} op ${k} on ${target}`));
    }
    if (t === "uint8") assert.deepEqual(Array.from(want[0].toArray()), [44, 1, 1, 6, 0, 8]);
    if (t === "int8") {
      assert.equal(want[0].at(0), -128); // 127 + 1
      assert.equal(want[3].at(1), -128); // -128 / -1
    }
    if (t === "int64") {
      assert.equal(want[2].data64[0], -(2n ** 63n)); // 2^62 * 2
      assert.equal(want[2].data64[2], 3n * (2n ** 53n + 1n)); // exact past 2^53
      assert.equal(want[0].data64[1], 2n ** 63n - 1n); // -2^63 + -1 wraps
    }
  }
});

Deno.test("casts between every pair of types match the interpreter on C and WebGPU", async () => {
  const tos = DTYPES.filter((t) => t !== "float16");
  for (const from of DTYPES) {
    const input = edges(from);
    const fns = tos.map((to) => (x: Expr) => te.cast(to, x));
    const want = await run("interp", [input], fns);
    const c = await run("c", [input], fns);
    c.forEach((g, k) => same(g, want[k], `${from} -> ${tos[k]} on c`));
    if (is64(from) || from === "float16") continue;
    const gpuTos = tos.filter((t) => !is64(t));
    const gpu = await run("webgpu", [input], gpuTos.map((to) => (x: Expr) => te.cast(to, x)));
    gpu.forEach((g, k) =>
      same(g, want[tos.indexOf(gpuTos[k])], `${from} -> ${gpuTos[k]} on webgpu`)
    );
  }
});

Deno.test("float to int truncates and wraps modulo 2^width, NaN and infinities give 0", async () => {
  const x = nd.array(FLOAT_EDGES);
  const [u8, i8, i32, i64, b] = await run("interp", [x], [
    (a) => te.cast("uint8", a),
    (a) => te.cast("int8", a),
    (a) => te.cast("int32", a),
    (a) => te.cast("int64", a),
    (a) => te.cast("bool", a),
  ]);
  const at = (v: number) => FLOAT_EDGES.findIndex((y) => Object.is(y, v));
  assert.equal(u8.at(at(256)), 0);
  assert.equal(u8.at(at(255)), 255);
  assert.equal(u8.at(at(-1.9)), 255);
  assert.equal(u8.at(at(300.7)), 44);
  assert.equal(u8.at(at(NaN)), 0);
  assert.equal(i8.at(at(-129)), 127);
  assert.equal(i8.at(at(128)), -128);
  assert.equal(i8.at(at(-128.5)), -128);
  assert.equal(i32.at(at(2 ** 31)), -(2 ** 31));
  assert.equal(i32.at(at(Infinity)), 0);
  assert.ok(Object.is(i32.at(at(-0)), 0));
  assert.equal(i64.data64[at(1e20)], BigInt.asIntN(64, BigInt(Math.fround(1e20))));
  assert.equal(i64.data64[at(-Infinity)], 0n);
  assert.equal(b.at(at(NaN)), 1); // NaN != 0
  assert.equal(b.at(at(-0)), 0);
  // int64 to float32 rounds once: 2^53 + 1 lies between two float32s' midpoint and above.
  const big = nd.array(new BigInt64Array([2n ** 53n + 1n, (1n << 60n) + (1n << 36n) + 1n]));
  const [f] = await run("interp", [big], [(a) => te.cast("float32", a)]);
  assert.deepEqual(Array.from(f.toArray()), [2 ** 53, 2 ** 60 + 2 ** 37]);
});

const MATH: Array<[string, (a: Expr) => Expr, number]> = [
  ["sin", te.sin, 2e-5],
  ["cos", te.cos, 2e-5],
  ["tan", te.tan, 2e-5],
  ["atan", te.atan, 2e-5],
  ["atan2", (a) => te.atan2(a, a.sub(0.5)), 2e-5],
  ["exp2", te.exp2, 2e-6],
  ["log2", te.log2, 2e-6],
  ["log1p", te.log1p, 2e-6],
  ["expm1", te.expm1, 2e-6],
  ["sinh", te.sinh, 2e-6],
  ["cosh", te.cosh, 2e-6],
];
const MATH_X = [
  0,
  -0,
  1e-6,
  -1e-6,
  1e-3,
  0.1,
  -0.3,
  0.49,
  0.5,
  -0.999,
  1,
  -1,
  2.5,
  3.14159,
  -10,
  50,
];
const MATH_SPECIAL = [88, 89, -89, 1e4, -2e4, Infinity, -Infinity, NaN, -1, -2];

Deno.test("math functions match the interpreter: C within 1 ulp, WebGPU within the stated tolerance", async () => {
  const x32 = nd.array([...MATH_X, ...MATH_SPECIAL]);
  const fns = MATH.map(([, f]) => f);
  const want = await run("interp", [x32], fns);
  const c = await run("c", [x32], fns);
  const gpu = await run("webgpu", [x32], fns);
  MATH.forEach(([name, , tol], k) => {
    close(c[k], want[k], 2 ** -23, `${name} float32 on c`);
    close(gpu[k], want[k], tol, `${name} float32 on webgpu`);
  });
  // A few values that say the definition is the math function itself.
  const w = (name: string) => want[MATH.findIndex(([n]) => n === name)].toArray();
  assert.equal(w("log1p")[2], Math.fround(Math.log1p(1e-6 as number)));
  assert.ok(Object.is(w("sin")[1], -0));
  assert.ok(Number.isNaN(w("sin")[MATH_X.length + 5])); // sin(inf)
  assert.equal(w("log1p")[MATH_X.length + 8], -Infinity); // log1p(-1)
  assert.ok(Number.isNaN(w("log2")[MATH_X.length + 9])); // log2(-2)
  // float64 on the interpreter and C: computed in double, the C library within a few ulps.
  const x64 = nd.array([...MATH_X, ...MATH_SPECIAL], undefined, "float64");
  const w64 = await run("interp", [x64], fns);
  const c64 = await run("c", [x64], fns);
  MATH.forEach(([name], k) => close(c64[k], w64[k], 4e-16, `${name} float64 on c`));
  assert.equal(w64[MATH.findIndex(([n]) => n === "expm1")].toArray()[2], Math.expm1(1e-6));
});

Deno.test("isnan, isinf and clamp are exact on every target", async () => {
  const x = nd.array([0, -0, 1, -5, 7, NaN, Infinity, -Infinity, 3e38]);
  const fns = [
    (a: Expr) => te.isnan(a),
    (a: Expr) => te.isinf(a),
    (a: Expr) => te.clamp(a, -1, 2),
    (a: Expr) => te.clamp(te.cast("uint8", te.abs(a).min(200)), 3, 100),
  ];
  const [want, ...others] = await Promise.all(TARGETS.map((t) => run(t, [x], fns)));
  others.forEach((got, k) =>
    got.forEach((g, j) => same(g, want[j], `fn ${j} on ${TARGETS[k + 1]}`))
  );
  assert.deepEqual(Array.from(want[0].toArray()), [0, 0, 0, 0, 0, 1, 0, 0, 0]);
  assert.deepEqual(Array.from(want[1].toArray()), [0, 0, 0, 0, 0, 0, 1, 1, 0]);
  assert.ok(Number.isNaN(want[2].at(5)));
  assert.deepEqual(Array.from(want[2].toArray()).slice(2, 5), [1, -1, 2]);
});

Deno.test("WebGPU refuses int64 and float64 before any GPU work, naming the tensor", async () => {
  for (const t of ["int64", "float64"] as DType[]) {
    const A = te.placeholder([8], t, "A");
    const B = te.compute([8], (i) => A(i).add(1), "B");
    await assert.rejects(
      () => te.build(te.createSchedule(B), [A, B], { target: "webgpu" }),
      (e) => e instanceof TesseraError && /tensor 'A' is .*64: WGSL has no 64-bit/.test(e.message),
    );
  }
  // Inside an otherwise float32 program.
  const A = te.placeholder([8], "float32", "A");
  const B = te.compute([8], (i) => te.cast("float32", te.cast("float64", A(i)).mul(2)), "B");
  await assert.rejects(
    () => te.build(te.createSchedule(B), [A, B], { target: "webgpu" }),
    (e) => e instanceof TesseraError && /is float64: WGSL has no 64-bit/.test(e.message),
  );
});

Deno.test("nd.array takes the new typed arrays; mismatches are TesseraErrors", () => {
  assert.equal(nd.array(new Int8Array([1, -2])).dtype, "int8");
  assert.equal(nd.array(new Float64Array([0.1])).dtype, "float64");
  assert.equal(nd.array(new Float64Array([0.1])).at(0), 0.1);
  assert.equal(nd.array(new BigInt64Array([2n ** 60n + 1n])).data64[0], 2n ** 60n + 1n);
  assert.equal(nd.array(new Uint8Array([2])).dtype, "bool"); // Uint8Array alone means bool
  assert.equal(nd.array(new Uint8Array([200]), [1], "uint8").at(0), 200);
  assert.equal(nd.empty([2], "int64").data64.length, 2);
  assert.equal(String(nd.array(new BigInt64Array([2n ** 62n + 1n]))), "[4611686018427387905]");
  throwsTessera(() => new NDArray([2], "int8", new Uint8Array(2)), /must be a Int8Array for int8/);
  throwsTessera(() => new NDArray([1], "int64", new Float64Array(1)), /BigInt64Array for int64/);
  throwsTessera(() => nd.array([256], [1], "uint8"), /element 0 is 256, which is not an uint8/);
  throwsTessera(() => nd.array([2 ** 53 + 0.5, 1.5], [2], "int64"), /element 1 is 1.5/);
  throwsTessera(() => nd.array([1]).data64, /is float32, not int64/);
});
