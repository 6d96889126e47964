/**
 * Sizes past int32. Dimensions and loop variables are int32, but element counts, strides and
 * flat offsets may pass 2^31: they must be computed exactly (int64 in C), and a size that
 * crosses a real limit must be a TesseraError, never a wrapped value. Buffers of billions of
 * elements are not allocated here: the generated C and the checks made before a call are
 * tested instead, and real runs use small sizes.
 */
import assert from "node:assert/strict";
import { nd, te } from "../mod.ts";
import { constBound } from "../lib/arith/interval.ts";
import { simplify } from "../lib/arith/simplify.ts";
import { intConst } from "../lib/ir/expr.ts";
import { flattenStorage } from "../lib/lower/flatten.ts";
import { printC } from "../lib/codegen/c/printer.ts";
import { getDevice } from "../lib/codegen/wgsl/device.ts";
import { rejectsTessera } from "./errors_util.ts";

Deno.test("dimensions and extents past int32 are refused, not wrapped", async () => {
  await rejectsTessera(
    () => te.placeholder([2 ** 32 + 2], "float32", "A"),
    /te\.placeholder\(A\): dimension 0 is 4294967298, more than the largest size 2147483647/,
  );
  await rejectsTessera(
    () => te.compute([4, 2 ** 31], () => 0, "C"),
    /te\.compute\(C\): dimension 1 is 2147483648/,
  );
  await rejectsTessera(
    () => te.reduceAxis(2 ** 32 + 3, "k"),
    /reduceAxis\(k\): extent is 4294967299/,
  );
  await rejectsTessera(
    () => te.reduceAxis([2 ** 31 - 10, 20], "k"),
    /reduceAxis\(k\): the axis runs from 2147483638 to 2147483657, past 2147483647/,
  );
  await rejectsTessera(
    () => te.placeholder([2 ** 30, 2 ** 30, 2 ** 30], "float32", "A"),
    /has 1237940039285380274899124224 elements|more than 9007199254740991/,
  );
  // Within the limits: a dimension of 2^31 - 1 and a product past 2^31 are fine.
  assert.equal(String(te.placeholder([2 ** 31 - 1, 4], "float32", "A").shape[0]), "2147483647");
});

Deno.test("the simplifier keeps a size product past int32 exact instead of folding it", () => {
  const size = simplify(intConst(46341).mul(46341));
  assert.notEqual(size.kind, "const");
  assert.equal(constBound(size, new Map()).max, 46341 * 46341);
  // ... while products that fit still fold.
  assert.equal(String(simplify(intConst(46340).mul(46340))), "2147395600");
});

/** The C source of `B = T + 1` with `T = 2*A` a temporary of `shape`. */
function tempKernel(shape: Array<number | ReturnType<typeof te.var>>) {
  const A = te.placeholder(shape, "float32", "A");
  const T = te.compute(shape, (...ix) => A(...ix).mul(2), "T");
  const B = te.compute(shape, (...ix) => T(...ix).add(1), "B");
  const s = te.createSchedule(B);
  return { s, A, B, source: printC(flattenStorage(te.lower(s, [A, B]))).source };
}

Deno.test("a temporary past 2^31 elements is a heap block of its exact size, indexed in int64", () => {
  for (const [rows, cols] of [[46341, 46341], [65536, 32768], [65537, 65536]]) {
    const { source } = tempKernel([rows, cols]);
    assert.match(
      source,
      new RegExp(
        `float\\* restrict b_T = \\(float\\*\\)tsr_alloc\\(\\(int64_t\\)${rows} \\* ${cols} \\* 4\\);`,
      ),
    );
    assert.doesNotMatch(source, /float T\[/, "no stack array");
    assert.match(
      source,
      new RegExp(`b_T\\[\\(int64_t\\)\\w+ \\* ${cols} \\+ \\(int64_t\\)\\w+\\]`),
    );
  }
  // Small constant temporaries stay on the stack, sized exactly.
  assert.match(tempKernel([8, 8]).source, /float b_T\[64\] __attribute__/);
});

/** `C[i] = sum_k T[i, k]` with the temporary `T[i, j] = A[i] * A[j]` of n*n elements. */
function outerSum() {
  const n = te.var("n");
  const A = te.placeholder([n], "float32", "A");
  const T = te.compute([n, n], (i, j) => A(i).mul(A(j)), "T");
  const k = te.reduceAxis([0, n], "k");
  const C = te.compute([n], (i) => te.sum(T(i, k), [k]), "C");
  return { s: te.createSchedule(C), A, T, C };
}

Deno.test("a symbolic n*n temporary is sized in int64 and refused past this machine's memory", async () => {
  const { s, A, C } = outerSum();
  const f = await te.build(s, [A, C], { target: "c" });
  assert.match(f.source, /tsr_alloc\(\(int64_t\)v_n \* \(int64_t\)v_n \* 4\)/);
  const c = nd.empty([3]);
  await f(nd.array([1, 2, 3], [3]), c);
  assert.deepEqual([...c.data], [6, 12, 18]);
  // 100000^2 floats are 40 GB: more than the machine, said before anything runs. (Wrapped,
  // the count was 1410065408 and the kernel wrote far past its block.)
  const re = /temporary 'T' of shape \[100000, 100000\] needs 40000000000 bytes, more than/;
  await rejectsTessera(() => f(nd.empty([100000]), nd.empty([100000])), re);
  await rejectsTessera(
    () => te.evaluate(te.lower(s, [A, C]), [nd.empty([100000]), nd.empty([100000])]),
    re,
  );
});

Deno.test("a dimension n*65536 is checked exactly: n = 65537 needs 4295032832 elements", async () => {
  const n = te.var("n");
  const A = te.placeholder([n], "float32", "A");
  const B = te.compute([n.mul(65536)], (i) => A(i.floordiv(65536)), "B");
  const s = te.createSchedule(B);
  const re = /argument 2 'B' dimension 0 is 65536 but the parameter requires 4295032832/;
  await rejectsTessera(
    () => te.evaluate(te.lower(s, [A, B]), [nd.empty([65537]), nd.empty([65536])]),
    re,
  );
  const f = await te.build(s, [A, B], { target: "c" });
  await rejectsTessera(() => f(nd.empty([65537]), nd.empty([65536])), re);
  const a = nd.array([1, 2], [2]), b = nd.empty([2 * 65536]);
  await f(a, b);
  assert.equal(b.data[65535], 1);
  assert.equal(b.data[65536], 2);
});

Deno.test("a size variable that appears only inside a linear dimension is solved from it", async () => {
  const n = te.var("n");
  const A = te.placeholder([n.mul(2).add(1)], "float32", "A");
  const B = te.compute([n], (i) => A(i.mul(2).add(1)), "B");
  // A is the only parameter with n in a dimension.
  const C = te.compute([3], (i) => A(i), "C");
  const s = te.createSchedule(C);
  const f = te.lower(s, [A, C]);
  const c = nd.empty([3]);
  te.evaluate(f, [nd.array([5, 6, 7, 8, 9], [5]), c]);
  assert.deepEqual([...c.data], [5, 6, 7]);
  const fc = await te.build(s, [A, C], { target: "c" });
  await fc(nd.array([5, 6, 7, 8, 9, 10, 11], [7]), c);
  assert.deepEqual([...c.data], [5, 6, 7]);
  await rejectsTessera(
    () => te.evaluate(f, [nd.empty([6]), c]),
    /argument 1 'A' dimension 0 is 6, but the parameter requires n \* 2 \+ 1, and no size n/,
  );
  // Not linear: the message says why it cannot be bound.
  const Q = te.placeholder([n.mul(n)], "float32", "Q");
  const R = te.compute([2], (i) => Q(i), "R");
  await rejectsTessera(
    () => te.evaluate(te.lower(te.createSchedule(R), [Q, R]), [nd.empty([9]), nd.empty([2])]),
    /size variable 'n' cannot be bound .*argument 1 'Q' dimension 0 \(n \* n\) is not linear in n/,
  );
  // B itself (dimension n) still binds directly and checks A.
  const fb = te.lower(te.createSchedule(B), [A, B]);
  const b = nd.empty([2]);
  te.evaluate(fb, [nd.array([0, 1, 2, 3, 4], [5]), b]);
  assert.deepEqual([...b.data], [1, 3]);
});

Deno.test("a loop whose variable would pass int32 (a fused loop) is refused before it runs", async () => {
  const n = te.var("n"), m = te.var("m");
  const X = te.placeholder([n], "float32", "X"), Y = te.placeholder([m], "float32", "Y");
  const k = te.reduceAxis([0, n], "k"), l = te.reduceAxis([0, m], "l");
  const Z = te.compute([1], () => te.sum(X(k).mul(Y(l)), [k, l]), "Z");
  const s = te.createSchedule(Z);
  s.stage(Z).fuse(k, l);
  const re = /loop 'k_l_fused' would run from 0 to 4294967295 \(extent n \* m\), past int32/;
  const f = await te.build(s, [X, Y, Z], { target: "c" });
  await rejectsTessera(() => f(nd.empty([65536]), nd.empty([65536]), nd.empty([1])), re);
  await rejectsTessera(
    () =>
      te.evaluate(te.lower(s, [X, Y, Z]), [nd.empty([65536]), nd.empty([65536]), nd.empty([1])]),
    re,
  );
  // At a size that fits, the fused loop is right.
  const z = nd.empty([1]);
  await f(nd.array([1, 2], [2]), nd.array([3, 4, 5], [3]), z);
  assert.equal(z.data[0], 36);
});

Deno.test("an array too large for JavaScript is a TesseraError, not a RangeError", async () => {
  await rejectsTessera(() => nd.empty([2 ** 40]), /cannot allocate 1099511627776 float32 elements/);
  await rejectsTessera(() => nd.empty([2 ** 53]), /cannot allocate 9007199254740992/);
});

const device = await getDevice().catch(() => null);

Deno.test({
  name: "a WebGPU buffer past the adapter's limit is refused with its exact size",
  ignore: device === null,
  fn: async () => {
    const { s, A, T, C } = outerSum();
    // One thread per element, so that no invocation loops past llvmpipe's budget.
    const [ti, tj] = s.stage(T).op.axis;
    const [, tji] = s.stage(T).split(tj, { factor: 64 });
    s.stage(T).bind(ti, "blockIdx.x").bind(tji, "threadIdx.x");
    const [co, ci] = s.stage(C).split(C.op.axis[0], { factor: 64 });
    s.stage(C).bind(co, "blockIdx.x").bind(ci, "threadIdx.x");
    const f = await te.build(s, [A, C], { target: "webgpu" });
    await rejectsTessera(
      () => f(nd.empty([46341]), nd.empty([46341])),
      /temporary buffer 'T'.* needs 2147488281 float32 elements = 8589953124 bytes, more than the adapter's max(StorageBufferBindingSize|BufferSize)/,
    );
  },
});

Deno.test("an interpreter temporary of 2^31 elements is a TesseraError naming the limit", async () => {
  // T's region at the split's outer loop is the whole factor: 2^31 - 1 elements (8 GiB), which
  // the interpreter would have poisoned element by element.
  const A = te.placeholder([4], "float32", "A");
  const T = te.compute([4], (i) => A(i).mul(2), "T");
  const B = te.compute([4], (i) => T(i).add(1), "B");
  const s = te.createSchedule(B);
  const [o] = s.stage(B).split(B.op.axis[0], { factor: 2 ** 31 - 1 });
  s.stage(T).computeAt(s.stage(B), o);
  const func = te.lower(s, [A, B]);
  assert.match(String(func), /T = T\.alloc_buffer\(\(2147483647,\)\)/);
  await rejectsTessera(
    () => te.evaluate(func, [nd.array([1, 2, 3, 4], [4]), nd.empty([4])]),
    /allocation of 'T' \(shape \[2147483647\]\) needs 2147483647 elements, more than the interpreter's limit of 1073741824/,
  );
});

Deno.test("a loop bound whose int32 computation wraps is refused, not run wrong", async () => {
  // The split's outer extent is (n + 2147483644) // 2147483645: 1 for n = 5, but the kernel's
  // int32 sum wraps to a negative extent and the loop would not run at all.
  const n = te.var("n");
  const X = te.placeholder([n], "int32", "X");
  const Y = te.compute([n], (i) => X(i).add(1), "Y");
  const s = te.createSchedule(Y);
  s.stage(Y).split(Y.op.axis[0], { factor: 2 ** 31 - 3 });
  const re = /the extent of loop 'i_outer', .* = 1, overflows int32 on the way/;
  const x = nd.array([1, 2, 3, 4, 5], [5], "int32"), y = nd.empty([5], "int32");
  await rejectsTessera(() => te.evaluate(te.lower(s, [X, Y]), [x, y]), re);
  const f = await te.build(s, [X, Y], { target: "c" });
  await rejectsTessera(() => f(x, y), re);
});
