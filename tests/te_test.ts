/**
 * The expression language: chaining, promotion, integer division semantics, reductions and
 * user-defined reducers, all checked by lowering and interpreting small programs.
 */
import assert from "node:assert/strict";
import { nd, te, type Tensor, TesseraError } from "../mod.ts";
import { evalDirect } from "../lib/te/evalDirect.ts";

/** Lowers the default schedule of `out` and runs it on `ins`. */
function run(ins: Array<[Tensor, number[], number[]]>, out: Tensor, outShape: number[]): number[] {
  const s = te.createSchedule(out);
  const f = te.lower(s, [...ins.map(([t]) => t), out]);
  const arrays = ins.map(([t, data, shape]) => nd.array(data, shape, t.dtype));
  const o = nd.empty(outShape, out.dtype);
  te.evaluate(f, [...arrays, o]);
  // The direct evaluator must agree on every program here too.
  const direct = evalDirect([out], ins.map(([t], i) => [t, arrays[i]]))[0];
  assert.deepEqual([...o.toArray()], [...direct.toArray()]);
  return [...o.toArray()];
}

Deno.test("integer div/mod truncate like C; floordiv/floormod round toward -inf", () => {
  const A = te.placeholder([4], "int32", "A");
  const B = te.placeholder([4], "int32", "B");
  const data: Array<[Tensor, number[], number[]]> = [[A, [7, -7, 7, -7], [4]], [B, [2, 2, -2, -2], [
    4,
  ]]];
  const op = (f: (a: ReturnType<Tensor>, b: ReturnType<Tensor>) => ReturnType<Tensor>) =>
    run(data, te.compute([4], (i) => f(A(i), B(i)), "C"), [4]);
  assert.deepEqual(op((a, b) => a.div(b)), [3, -3, -3, 3]);
  assert.deepEqual(op((a, b) => a.mod(b)), [1, -1, 1, -1]);
  assert.deepEqual(op((a, b) => a.floordiv(b)), [3, -4, -4, 3]);
  assert.deepEqual(op((a, b) => a.floormod(b)), [1, 1, -1, -1]);
});

Deno.test("plain numbers take the other operand's type; int meets float as float", () => {
  const A = te.placeholder([3], "int32", "A");
  const X = te.placeholder([3], "float32", "X");
  const half = te.compute([3], (i) => A(i).div(2), "half");
  assert.equal(half.dtype, "int32");
  const mixed = te.compute([3], (i) => A(i).add(X(i)), "mixed");
  assert.equal(mixed.dtype, "float32");
  assert.deepEqual(run([[A, [1, 2, 3], [3]], [X, [0.5, 0.5, 0.5], [3]]], mixed, [3]), [
    1.5,
    2.5,
    3.5,
  ]);
  const scaled = te.compute([3], (i) => X(i).mul(3), "scaled");
  assert.equal(scaled.dtype, "float32");
  assert.throws(() => te.compute([3], (i) => A(i).lt(1).add(1), "bad"), /cannot combine bool/);
});

Deno.test("index variables chain like expressions (padding with select)", () => {
  const X = te.placeholder([4], "float32", "X");
  const P = te.compute([6], (x) => te.select(x.ge(1).and(x.lt(5)), X(x.sub(1)), 0), "P");
  assert.deepEqual(run([[X, [1, 2, 3, 4], [4]]], P, [6]), [0, 1, 2, 3, 4, 0]);
  const S = te.compute([2], (y) => X(y.mul(2).add(1)), "S");
  assert.deepEqual(run([[X, [1, 2, 3, 4], [4]]], S, [2]), [2, 4]);
});

Deno.test("math functions, casts and elementwise max/min", () => {
  const X = te.placeholder([4], "float32", "X");
  const data: Array<[Tensor, number[], number[]]> = [[X, [-1.5, -0.5, 0.5, 2.5], [4]]];
  const one = (f: (x: ReturnType<Tensor>) => ReturnType<Tensor>) =>
    run(data, te.compute([4], (i) => f(X(i)), "Y"), [4]);
  assert.deepEqual(one((x) => te.round(x)), [-2, -0, 0, 2]); // half to even
  assert.deepEqual(one((x) => te.floor(x)), [-2, -1, 0, 2]);
  assert.deepEqual(one((x) => te.ceil(x)), [-1, -0, 1, 3]);
  assert.deepEqual(one((x) => te.abs(x)), [1.5, 0.5, 0.5, 2.5]);
  assert.deepEqual(one((x) => te.max(x, 0)), [0, 0, 0.5, 2.5]);
  assert.deepEqual(one((x) => te.min(x, 0)), [-1.5, -0.5, 0, 0]);
  assert.deepEqual(one((x) => te.cast("float32", te.cast("int32", x))), [-1, 0, 0, 2]);
  const e = one((x) => te.erf(x));
  assert.ok(Math.abs(e[3] - 0.999593047982555) < 1e-6);
  assert.ok(Math.abs(e[0] + 0.966105146475311) < 1e-6);
  const t = one((x) => te.tanh(x).add(te.sigmoid(x)).add(te.exp(x)).add(te.sqrt(te.abs(x))));
  assert.ok(
    Math.abs(
      t[2] -
        Math.fround(Math.tanh(0.5) + 1 / (1 + Math.exp(-0.5)) + Math.exp(0.5) + Math.sqrt(0.5)),
    ) < 1e-6,
  );
  const p = one((x) => te.pow(te.abs(x), 2).add(te.rsqrt(te.abs(x))).add(te.log(te.abs(x))));
  assert.ok(Math.abs(p[3] - (6.25 + 1 / Math.sqrt(2.5) + Math.log(2.5))) < 1e-5);
});

Deno.test("reductions: sum with where, max, min, prod and a user-defined reducer", () => {
  const X = te.placeholder([2, 3], "float32", "X");
  const k = te.reduceAxis([0, 3], "k");
  const data: Array<[Tensor, number[], number[]]> = [[X, [1, -2, 3, 4, 5, -6], [2, 3]]];
  const red = (f: (i: ReturnType<Tensor>) => ReturnType<Tensor>) =>
    run(data, te.compute([2], (i) => f(i), "R"), [2]);
  assert.deepEqual(red((i) => te.sum(X(i, k), [k])), [2, 3]);
  assert.deepEqual(red((i) => te.sum(X(i, k), [k], k.lt(2))), [-1, 9]);
  assert.deepEqual(red((i) => te.max(X(i, k), [k])), [3, 5]);
  assert.deepEqual(red((i) => te.min(X(i, k), k)), [-2, -6]);
  assert.deepEqual(red((i) => te.prod(X(i, k), [k])), [-6, -120]);
  const absmax = te.commReducer((a, b) => te.max(te.abs(a), te.abs(b)), 0, "absmax");
  assert.deepEqual(red((i) => absmax(X(i, k), [k])), [3, 6]);
  const k1 = te.reduceAxis([1, 2], "k1"); // [min, extent]: k1 in {1, 2}
  assert.deepEqual(red((i) => te.sum(X(i, k1), [k1])), [1, -1]);
});

Deno.test("a reduce axis may be reused by another compute (each gets its own copy)", () => {
  const X = te.placeholder([2, 3], "float32", "X");
  const k = te.reduceAxis(3, "k");
  const S = te.compute([2], (i) => te.sum(X(i, k), [k]), "S");
  const M = te.compute([2], (i) => te.max(X(i, k), [k]), "M");
  const T = te.compute([2], (i) => M(i).add(S(i)), "T");
  assert.notEqual(M.op.reduceAxis[0], S.op.reduceAxis[0]);
  assert.deepEqual(run([[X, [1, 2, 3, 4, 5, 6], [2, 3]]], T, [2]), [9, 21]);
});

Deno.test("bad definitions are TesseraErrors that say what is wrong", () => {
  const A = te.placeholder([4, 4], "float32", "A");
  const k = te.reduceAxis(4, "k");
  assert.throws(
    () => A(1),
    (e) => e instanceof TesseraError && /2 dimension\(s\) but 1/.test(e.message),
  );
  assert.throws(
    () => te.compute([4], (i) => A(i, k), "B"),
    /reduce axis 'k' is used but not reduced/,
  );
  // A reduction inside an expression is lifted, not refused (tests/inline_reduction_test.ts).
  assert.equal(
    te.innerReductions(te.compute([4], (i) => te.sum(A(i, k), [k]).add(1), "B")).length,
    1,
  );
  assert.throws(() => te.placeholder([4, -1], "float32", "A"), /dimension 1 is -1/);
  assert.throws(
    () => te.placeholder([4], "complex64" as "float32", "A"),
    /unknown dtype "complex64"/,
  );
  assert.throws(
    () => te.placeholder([4], "float32", 'A"; system("touch pwned"); //'),
    (e) => e instanceof TesseraError && /is not allowed; use letters, digits/.test(e.message),
  );
  assert.throws(
    () => te.compute([4], (i, j) => A(i, j), "C"),
    /takes 2 indices but the shape has 1/,
  );
  assert.throws(() => te.sum(A(0, 0), []), /at least one reduce axis/);
  assert.throws(() => te.select(1.5, 1, 2), /condition must be bool/);
});
