/**
 * Values at the API boundary (issue 11, classes 1, 4, 5, 7 and parts of 10): bad input is a
 * TesseraError before anything runs, and the same rule holds on every target (interpreter,
 * C, WebGPU) — literals that do not fit int32, te.const of things that are not numbers, casts
 * to unknown dtypes, bool arrays holding other bytes than 0 and 1, typed arrays that lie
 * about their type or length, detached and resizable storage, outputs aliasing inputs,
 * frozen device shapes, and split factors that are not positive (at schedule time when
 * constant, at every call when symbolic).
 */
import assert from "node:assert/strict";
import { type Expr, nd, NDArray, te, type Tensor } from "../mod.ts";
import { DeviceArray } from "../lib/runtime/device_array.ts";
import { useTestCache } from "./c_util.ts";
import { rejectsTessera, throwsTessera } from "./errors_util.ts";

const TARGETS = ["interpreter", "c", "webgpu"] as const;

/** B = A + 1 (float32), built for `target`. */
async function plusOne(target: string, n: number | Expr = 4) {
  const A = te.placeholder([n], "float32", "A");
  const B = te.compute([n], (i) => A(i).add(1), "B");
  return await te.build(te.createSchedule(B), [A, B], { target });
}

Deno.test("literals: an integer that does not fit int32 is an error, not a wrapped value", () => {
  throwsTessera(() => te.const(2 ** 40, "int32"), /te\.const: 1099511627776 does not fit int32/);
  throwsTessera(() => te.const(2 ** 31, "int32"), /does not fit int32/);
  assert.equal((te.const(-(2 ** 31), "int32") as { value: number }).value, -(2 ** 31));
  const A = te.placeholder([4], "float32", "A");
  throwsTessera(() => A(2 ** 40), /A\(\.\.\.\): index 0: 1099511627776 does not fit int32/);
  throwsTessera(() => A(-(2 ** 33)), /index 0: .* does not fit int32/);
  const I = te.placeholder([4], "int32", "I");
  throwsTessera(() => te.compute([4], (i) => I(i).add(2 ** 40), "J"), /does not fit int32/);
  // No type hint at all: both sides plain numbers.
  throwsTessera(
    () => te.compute([4], (i) => te.select(i.lt(2), 2 ** 40, 1), "K"),
    /literal: 1099511627776 does not fit int32/,
  );
  // A float context takes the big number as a float.
  const F = te.compute([4], (i) => A(i).add(2 ** 40), "F");
  assert.equal(F.dtype, "float32");
});

Deno.test("te.const takes numbers and booleans only", () => {
  for (const bad of ["5", null, {}, [3], 1n, undefined, Symbol("s")]) {
    throwsTessera(
      () => te.const(bad as unknown as number),
      /te\.const: .* is not a number or a boolean/,
    );
    throwsTessera(() => te.const(bad as unknown as number, "int32"), /not a number or a boolean/);
  }
  throwsTessera(() => te.const(1.5, "int32"), /not an integer/);
  throwsTessera(() => te.const(NaN, "int32"), /not an integer/);
  assert.equal(te.const(true).dtype, "bool");
  assert.ok(Number.isNaN((te.const(NaN) as { value: number }).value));
});

Deno.test("te.cast to an unknown dtype is an error", () => {
  const A = te.placeholder([4], "float32", "A");
  throwsTessera(
    () => te.cast("complex64" as "float32", A(0)),
    /te\.cast: unknown dtype "complex64"; expected one of float32, float16, float64, int32, int8, uint8, int64, bool/,
  );
  throwsTessera(() => te.cast(undefined as unknown as "float32", 1), /te\.cast: unknown dtype/);
});

Deno.test("bool arrays hold 0 and 1 on every target", async () => {
  useTestCache();
  // nd.array copies, and normalizes any nonzero to 1.
  const m = nd.array(Uint8Array.of(0, 255, 1, 7));
  assert.deepEqual(Array.from(m.data), [0, 1, 1, 1]);
  // An NDArray over given storage does not copy: other bytes are refused.
  throwsTessera(
    () => new NDArray([4], "bool", Uint8Array.of(0, 255, 1, 0)),
    /bool element 1 is 255; bool arrays hold 0 or 1/,
  );
  const M = te.placeholder([4], "bool", "M");
  const X = te.placeholder([4], "int32", "X");
  const Y = te.compute([4], (i) => te.cast("int32", M(i)).mul(10).add(X(i)), "Y");
  for (const target of TARGETS) {
    const f = await te.build(te.createSchedule(Y), [M, X, Y], { target });
    const x = nd.array([1, 2, 3, 4], [4], "int32");
    const y = nd.zeros([4], "int32");
    await f(m, x, y);
    assert.deepEqual(Array.from(y.data), [1, 12, 13, 14], target);
    // Written after the check in the constructor: refused at the call, before anything runs.
    const bad = nd.array([0, 1, 1, 0], [4], "bool");
    bad.data[2] = 255;
    y.data.fill(-1);
    await rejectsTessera(() => f(bad, x, y), /argument 1 'M': bool element 2 is 255/);
    assert.deepEqual(Array.from(y.data), [-1, -1, -1, -1], target);
    if (target === "webgpu") {
      await rejectsTessera(() => bad.to("webgpu"), /the host array: bool element 2 is 255/);
    }
  }
});

/** An object that passes `instanceof NDArray` without going through its constructor. */
function forged(shape: number[], dtype: string, data: unknown): NDArray {
  return Object.assign(Object.create(NDArray.prototype), { shape, dtype, data });
}

Deno.test("typed arrays are checked by their real type and length", async () => {
  useTestCache();
  const liar = new Float32Array(1);
  Object.defineProperty(liar, "length", { value: 4 });
  throwsTessera(() => new NDArray([4], "float32", liar), /has 1 elements but 4 are needed/);
  const fake = { constructor: { name: "Float32Array" }, length: 4 };
  throwsTessera(
    () => new NDArray([4], "float32", fake as unknown as Float32Array),
    /must be a Float32Array for float32, but is a object/,
  );
  const retyped = new Int32Array(4);
  Object.setPrototypeOf(retyped, Float32Array.prototype);
  throwsTessera(
    () => new NDArray([4], "float32", retyped as unknown as Float32Array),
    /must be a Float32Array for float32, but is a Int32Array/,
  );
  for (const target of TARGETS) {
    const f = await plusOne(target);
    const out = nd.zeros([4]);
    await rejectsTessera(
      () => f(forged([4], "float32", liar), out),
      /argument 1 'A' has 1 elements but 4 are needed/,
    );
    await rejectsTessera(
      () => f(forged([4], "float32", fake), out),
      /argument 1 'A' must be a Float32Array/,
    );
  }
});

Deno.test("detached and resizable storage is refused before any native call", async () => {
  useTestCache();
  const resizable = new Float32Array(new ArrayBuffer(16, { maxByteLength: 64 }));
  throwsTessera(() => new NDArray([4], "float32", resizable), /ArrayBuffer is resizable/);
  const growable = new Float32Array(new SharedArrayBuffer(16, { maxByteLength: 64 }));
  throwsTessera(() => new NDArray([4], "float32", growable), /SharedArrayBuffer is growable/);
  for (const target of TARGETS) {
    for (const n of [0, 4]) {
      const f = await plusOne(target, te.var("n"));
      const a = nd.zeros([n]), b = nd.zeros([n]);
      (a.data.buffer as ArrayBuffer).transfer();
      await rejectsTessera(() => f(a, b), /argument 1 'A'.*detached/);
    }
    const f = await plusOne(target);
    await rejectsTessera(
      () => f(forged([4], "float32", resizable), nd.zeros([4])),
      /argument 1 'A'.*resizable/,
    );
  }
});

Deno.test("an output may not share memory with another argument, on every target", async () => {
  useTestCache();
  for (const target of TARGETS) {
    const f = await plusOne(target);
    const a = nd.array([1, 2, 3, 4]);
    await rejectsTessera(() => f(a, a), /output argument 2 'B' shares memory with argument 1/);
    const buf = new Float32Array(6);
    const x = new NDArray([4], "float32", buf.subarray(0, 4));
    const y = new NDArray([4], "float32", buf.subarray(2, 6));
    await rejectsTessera(() => f(x, y), /shares memory/);
    assert.deepEqual(Array.from(buf), [0, 0, 0, 0, 0, 0], target);
  }
});

Deno.test("shapes are frozen: a kernel's check cannot be bypassed by mutating one", async () => {
  const h = nd.array([1, 2, 3, 4]);
  assert.throws(() => (h.shape as number[])[0] = 8, TypeError);
  assert.throws(() => (h.shape as number[]).push(1), TypeError);
  const d = await h.to("webgpu");
  assert.throws(() => (d.shape as number[])[0] = 8, TypeError);
  assert.throws(() => ((d as unknown as { shape: number[] }).shape = [8]), TypeError);
  assert.deepEqual(d.shape, [4]);
  assert.deepEqual(Array.from((await d.toHost()).data), [1, 2, 3, 4]);
  const f = await plusOne("webgpu");
  const out = await DeviceArray.empty([4]);
  await f(d, out);
  assert.deepEqual(Array.from((await out.toHost()).data), [2, 3, 4, 5]);
});

/** Y = X * 2 with the loop split by `factor` (and, on WebGPU, the outer loop bound). */
async function splitBy(target: string, factor: (n: Expr) => Expr | number) {
  const n = te.var("n");
  const X = te.placeholder([n], "float32", "X");
  const Y = te.compute([n], (i) => X(i).mul(2), "Y");
  const s = te.createSchedule(Y);
  s.stage(Y).split(Y.op.axis[0], { factor: factor(n) });
  return { f: await te.build(s, [X, Y], { target }), X, Y };
}

Deno.test("split: a constant factor or nparts below 1 is refused at schedule time", () => {
  const X = te.placeholder([8], "float32", "X");
  const Y = te.compute([8], (i) => X(i).mul(2), "Y");
  const st = te.createSchedule(Y).stage(Y);
  const i = Y.op.axis[0];
  throwsTessera(
    () => st.split(i, { factor: te.const(0, "int32") }),
    /split\(stage 'Y', axis 'i'\): factor is 0; it must be a positive integer/,
  );
  throwsTessera(() => st.split(i, { factor: te.const(-3, "int32") }), /factor is -3/);
  throwsTessera(() => st.split(i, { nparts: te.const(0, "int32") }), /nparts is 0/);
  throwsTessera(
    () => st.split(i, { factor: te.const(2, "int32").sub(2) }),
    /factor is 0; it must be a positive integer/,
  );
});

Deno.test("split: a symbolic factor below 1 is refused at the call on every target", async () => {
  useTestCache();
  for (const target of TARGETS) {
    const { f } = await splitBy(target, (n) => n.sub(8));
    const x = nd.array([1, 2, 3, 4, 5]), y = nd.array([9, 9, 9, 9, 9]);
    await rejectsTessera(
      () => f(x, y),
      /split\(stage 'Y', axis 'i'\) factor n - 8 is -3 for this call \(n = 5\); it must be at least 1/,
    );
    assert.deepEqual(Array.from(y.data), [9, 9, 9, 9, 9], target);
    const x12 = nd.array(Array.from({ length: 12 }, (_, k) => k)), y12 = nd.zeros([12]);
    await f(x12, y12);
    assert.deepEqual(Array.from(y12.data), Array.from({ length: 12 }, (_, k) => 2 * k), target);
    const { f: g } = await splitBy(target, (n) => n.floordiv(4));
    await rejectsTessera(() => g(nd.zeros([3]), nd.zeros([3])), /factor n \/\/ 4 is 0/);
  }
});

Deno.test("split: a factor that is not a function of the sizes is refused at lowering", () => {
  const n = te.var("n"), m = te.var("m");
  const X = te.placeholder([n], "float32", "X");
  const Y: Tensor = te.compute([n], (i) => X(i).mul(2), "Y");
  const s = te.createSchedule(Y);
  s.stage(Y).split(Y.op.axis[0], { factor: m });
  throwsTessera(
    () => te.lower(s, [X, Y]),
    /m are used but are neither a dimension of any argument nor listed in the arguments/,
  );
});
