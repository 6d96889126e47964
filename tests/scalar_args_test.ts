/**
 * Scalar arguments: a `te.var` used as a value (a bias, a scale, a count) and listed in the
 * arguments is passed as a JavaScript number at the call, on every target, and equals the
 * interpreter's result. Sizes bound from shapes stay sizes; a variable used but neither a
 * size nor listed is an error saying how to pass it; bad values are refused before any
 * native or GPU work.
 */
import assert from "node:assert/strict";
import { nd, te } from "../mod.ts";
import { useTestCache } from "./c_util.ts";
import { rejectsTessera, throwsTessera } from "./errors_util.ts";

useTestCache();

const TARGETS = ["interpreter", "c", "webgpu"] as const;

/** `C = A * scale + bias` with a float scale and bias and an int offset into A. */
function affine() {
  const n = te.var("n");
  const A = te.placeholder([n], "float32", "A");
  const scale = te.var("scale", "float32");
  const bias = te.var("bias", "float32");
  const C = te.compute([n], (i) => A(i).mul(scale).add(bias), "C");
  return { A, scale, bias, C };
}

Deno.test("float scalars are kernel arguments on every target, equal to the interpreter", async () => {
  const { A, scale, bias, C } = affine();
  const s = te.createSchedule(C);
  const [i] = s.stage(C).op.axis;
  const [, ii] = s.stage(C).split(i, { factor: 4 });
  const a = nd.array(Float32Array.from({ length: 10 }, (_, k) => k - 3.25), [10]);
  const want = Array.from(a.toArray(), (x) => Math.fround(Math.fround(x * Math.fround(0.1)) + 2));
  for (const target of TARGETS) {
    if (target === "webgpu") s.stage(C).bind(ii, "threadIdx.x");
    const f = await te.build(s, [A, scale, bias, C], { target });
    const c = nd.empty([10]);
    await f(a, 0.1, 2, c);
    assert.deepEqual(Array.from(c.toArray()), want, target);
    // A second call with other values uses them (nothing is baked into the kernel).
    await f(a, -1, 0.5, c);
    assert.deepEqual(Array.from(c.toArray()), Array.from(a.toArray(), (x) => -x + 0.5), target);
  }
});

Deno.test("NaN and infinities pass through float scalars", async () => {
  const { A, scale, bias, C } = affine();
  const s = te.createSchedule(C);
  const a = nd.array([1, -2], [2]);
  for (const target of TARGETS) {
    const f = await te.build(s, [A, scale, bias, C], { target });
    const c = nd.empty([2]);
    await f(a, Infinity, NaN, c);
    assert.ok(Array.from(c.toArray()).every(Number.isNaN), target);
    await f(a, Infinity, 0, c);
    assert.deepEqual(Array.from(c.toArray()), [Infinity, -Infinity], target);
  }
});

Deno.test("an int scalar as a value, beside a size bound from shapes and listed too", async () => {
  const n = te.var("n");
  const shift = te.var("shift"); // an int32 scalar: not a dimension of any argument
  const A = te.placeholder([n], "int32", "A");
  const k = te.reduceAxis([0, 3], "k");
  const C = te.compute([n], (i) => te.sum(A(i).mul(shift).add(k), [k]), "C");
  const s = te.createSchedule(C);
  const a = nd.array(Int32Array.from([1, 2, 3, -4]), [4], "int32");
  for (const target of TARGETS) {
    // `n` listed too: it is still bound from A's shape, and the number passed must agree.
    const f = await te.build(s, [A, shift, n, C], { target });
    const c = nd.empty([4], "int32");
    await f(a, 7, 4, c);
    assert.deepEqual(Array.from(c.toArray()), [24, 45, 66, -81], target);
    await rejectsTessera(() => f(a, 7, 5, c), /argument 3 'n' is 5 but the shapes give n = 4/);
  }
  const f = await te.build(s, [A, shift, n, C], { target: "c" });
  assert.match(f.source, /int32_t v_shift/);
});

Deno.test("scalar values are checked before anything runs", async () => {
  const n = te.var("n");
  const A = te.placeholder([n], "float32", "A");
  const m = te.var("m");
  const bias = te.var("bias", "float32");
  const C = te.compute([n], (i) => A(i).add(bias).add(te.cast("float32", m)), "C");
  const s = te.createSchedule(C);
  for (const target of TARGETS) {
    const f = await te.build(s, [A, bias, m, C], { target });
    const a = nd.array([1, 2], [2]), c = nd.empty([2]);
    await rejectsTessera(
      () => f(a, 1, 2.5, c),
      /argument 3 'm' is 2.5; an int32 scalar must be an integer/,
    );
    await rejectsTessera(() => f(a, 1, 2 ** 31, c), /int32 scalar must be an integer/);
    await rejectsTessera(
      () => f(a, "1" as unknown as number, 2, c),
      /argument 2 'bias' is a float32 scalar; pass a JavaScript number, got string/,
    );
    await rejectsTessera(() => f(a, a as unknown as number, 2, c), /got an NDArray/);
    await rejectsTessera(() => f(a, 1, c), /expected 4 arguments \(A, bias, m, C\) but got 3/);
    await f(a, 0.5, -3, c);
    assert.deepEqual(Array.from(c.toArray()), [-1.5, -0.5], target);
  }
});

Deno.test("a scalar used but not passed is an error that says how to pass it", () => {
  const { A, bias, C } = affine();
  const s = te.createSchedule(C);
  // A float is never called a "symbolic size".
  throwsTessera(
    () => te.lower(s, [A, bias, C]),
    /scalar 'scale' \(float32\) is used but not passed; list it in the arguments .*f\(a, 0\.5, c\)/,
  );
  const n = te.var("n");
  const off = te.var("off");
  const X = te.placeholder([n], "int32", "X");
  const Y = te.compute([n], (i) => X(i).add(off), "Y");
  throwsTessera(
    () => te.lower(te.createSchedule(Y), [X, Y]),
    /off are used but are neither a dimension of any argument nor listed in the arguments; .*list them in args/,
  );
  throwsTessera(() => te.lower(te.createSchedule(Y), [X, off, off, Y]), /te.var appears twice/);
  const h = te.var("h", "float16");
  const Z = te.compute([n], (i) => te.cast("float16", X(i)).add(h), "Z");
  throwsTessera(
    () => te.lower(te.createSchedule(Z), [X, h, Z]),
    /scalar arguments are int32 or float32/,
  );
});

Deno.test("the printed function lists scalars in call order", () => {
  const { A, scale, bias, C } = affine();
  const f = te.lower(te.createSchedule(C), [A, scale, bias, C]);
  assert.match(
    String(f),
    /def main\(A: T.Buffer\(\(n,\), "float32"\), scale: T.float32, bias: T.float32, C:/,
  );
  assert.deepEqual(f.scalars.map((v) => v.name), ["scale", "bias"]);
});
