/**
 * Reductions written inside expressions (Halide's inline reductions): `te.compute` lifts each
 * into a stage of its own over the variables it uses, and the enclosing body reads it. These
 * tests hold the lifted programs to plain JavaScript references and to the direct evaluator,
 * then C and WebGPU to the interpreter, scheduled plainly and with the lifted stage split,
 * reordered, parallelized, vectorized and attached with computeAt.
 */
import assert from "node:assert/strict";
import { type NDArray, te, type Tensor, TesseraError } from "../mod.ts";
import { evalDirect } from "../lib/te/evalDirect.ts";
import type { IterVar } from "../lib/te/tensor.ts";
import { assertClose, onAllTargets, rand } from "./targets_util.ts";

const n = 6, m = 9, d = 5;

/** The value of row-major `a` at (i, j) of a [rows, cols] array. */
const at = (a: NDArray, cols: number, i: number, j: number) => a.at(i * cols + j);

function attention() {
  const Q = te.placeholder([n, d], "float32", "Q");
  const K = te.placeholder([m, d], "float32", "K");
  const r = te.reduceAxis(d, "r");
  const scale = 1 / Math.sqrt(d);
  const S = te.compute([n, m], (i, j) => te.sum(Q(i, r).mul(K(j, r)), [r]).mul(scale), "S");
  return { Q, K, S, scale };
}

Deno.test("attention scores sum(Q*K).mul(scale): lifted into S_sum0 over (i, j), equal on every target", async () => {
  const { Q, K, S, scale } = attention();
  const [sum] = te.innerReductions(S);
  assert.equal(sum.name, "S_sum0");
  assert.deepEqual(sum.op.axis.map((a) => a.name), ["i", "j"]);
  assert.deepEqual(sum.shape.map(String), [String(n), String(m)]);
  const s = te.createSchedule(S);
  assert.equal(s.stage(S).inner(0), s.stage(sum));
  assert.throws(
    () => s.stage(S).inner(1),
    (e) => e instanceof TesseraError && /1 inline/.test(e.message),
  );
  const q = rand([n, d], "float32", 1), k = rand([m, d], "float32", 2);
  const [got] = await onAllTargets(s, [Q, K, S], [q, k], "attention");
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let acc = 0;
      for (let x = 0; x < d; x++) acc += at(q, d, i, x) * at(k, d, j, x);
      assert.ok(Math.abs(at(got, m, i, j) - acc * scale) < 1e-5, `S[${i}, ${j}]`);
    }
  }
  const [direct] = evalDirect([S], [[Q, q], [K, k]]);
  assertClose(got, direct, 1e-6, "interpreter vs direct evaluation");
});

Deno.test("max - min over one shared reduce axis: two lifted stages, each with its own copy of k", async () => {
  const A = te.placeholder([n, m], "float32", "A");
  const k = te.reduceAxis(m, "k");
  const R = te.compute([n], (i) => te.max(A(i, k), [k]).sub(te.min(A(i, k), [k])), "R");
  const [mx, mn] = te.innerReductions(R);
  assert.deepEqual([mx.name, mn.name], ["R_max0", "R_min1"]);
  assert.notEqual(mx.op.reduceAxis[0], mn.op.reduceAxis[0]);
  const a = rand([n, m], "float32", 3);
  const [got] = await onAllTargets(te.createSchedule(R), [A, R], [a], "range");
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: m }, (_, j) => at(a, m, i, j));
    assert.equal(got.at(i), Math.fround(Math.max(...row) - Math.min(...row)), `R[${i}]`);
  }
});

function softmax() {
  const X = te.placeholder([n, m], "float32", "X");
  const k = te.reduceAxis(m, "k");
  const k2 = te.reduceAxis(m, "k2");
  // The denominator's own body holds a reduction: nested lifting.
  const Y = te.compute([n, m], (i, j) =>
    te.exp(X(i, j).sub(te.max(X(i, k), [k]))).div(
      te.sum(te.exp(X(i, k2).sub(te.max(X(i, k), [k]))), [k2]),
    ), "Y");
  return { X, Y };
}

Deno.test("softmax written with inline reductions (one nested) equals a reference on every target", async () => {
  const { X, Y } = softmax();
  const lifted = te.innerReductions(Y);
  assert.deepEqual(lifted.map((t) => t.name), ["Y_max0", "Y_sum1"]);
  assert.deepEqual(te.innerReductions(lifted[1]).map((t) => t.name), ["Y_sum1_max0"]);
  for (const t of [...lifted, ...te.innerReductions(lifted[1])]) {
    assert.deepEqual(t.op.axis.map((a) => a.name), ["i"], `${t.name} runs over i only`);
  }
  const x = rand([n, m], "float32", 4);
  const [got] = await onAllTargets(te.createSchedule(Y), [X, Y], [x], "softmax");
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: m }, (_, j) => at(x, m, i, j));
    const mx = Math.max(...row);
    const den = row.reduce((a, v) => a + Math.exp(v - mx), 0);
    row.forEach((v, j) => assert.ok(Math.abs(at(got, m, i, j) - Math.exp(v - mx) / den) < 1e-5));
  }
});

Deno.test("a lifted stage runs over the variables its reduction uses, in the compute's order", () => {
  const A = te.placeholder([n, m], "float32", "A");
  const B = te.placeholder([m, d], "float32", "B");
  const k = te.reduceAxis(m, "k");
  const C = te.compute([d, n], (j, i) => A(i, 0).sub(te.sum(A(i, k), [k])).add(j), "C");
  const [sum] = te.innerReductions(C);
  assert.deepEqual(sum.op.axis.map((a) => a.name), ["i"]);
  // A reduction inside a reduction that uses the outer reduce axis: that axis becomes a data
  // axis of the lifted stage (over its extent), read back at k - min.
  const kk = te.reduceAxis([2, m - 2], "kk");
  const r = te.reduceAxis(d, "r");
  const T = te.compute([n], (i) => te.sum(A(i, kk).mul(te.max(B(kk, r), [r])), [kk]), "T");
  const [inner] = te.innerReductions(T);
  assert.deepEqual(inner.op.axis.map((a) => a.name), ["kk"]);
  assert.deepEqual(inner.shape.map(String), [String(m - 2)]);
  // One reduction object used twice is lifted once.
  const mx = te.max(A(0, k), [k]);
  const U = te.compute([n], (i) => A(i, 0).sub(mx).div(mx), "U");
  assert.equal(te.innerReductions(U).length, 1);
});

Deno.test("nested inline reduction over an outer reduce axis (min != 0) equals the direct evaluator on every target", async () => {
  const A = te.placeholder([n, m], "float32", "A");
  const B = te.placeholder([m, d], "float32", "B");
  const kk = te.reduceAxis([2, m - 3], "kk");
  const r = te.reduceAxis(d, "r");
  const T = te.compute([n], (i) => te.sum(A(i, kk).mul(te.max(B(kk, r), [r])), [kk]).add(1), "T");
  const a = rand([n, m], "float32", 5), b = rand([m, d], "float32", 6);
  const [got] = await onAllTargets(te.createSchedule(T), [A, B, T], [a, b], "nested");
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let x = 2; x < m - 1; x++) {
      acc += at(a, m, i, x) * Math.max(...Array.from({ length: d }, (_, y) => at(b, d, x, y)));
    }
    assert.ok(Math.abs(got.at(i) - (acc + 1)) < 1e-5, `T[${i}]`);
  }
});

Deno.test("the lifted stage schedules like any stage: split, reorder, parallel, vectorize, computeAt", async () => {
  const q = rand([n, d], "float32", 7), k = rand([m, d], "float32", 8);
  const plain = attention();
  const [want] = await onAllTargets(
    te.createSchedule(plain.S),
    [plain.Q, plain.K, plain.S],
    [q, k],
    "plain",
  );
  const variants: Array<[string, (s: ReturnType<typeof te.createSchedule>, S: Tensor) => void]> = [
    ["split + reorder + parallel on the lifted stage", (s, S) => {
      const st = s.stage(S).inner(0);
      const [i, j] = st.op.axis;
      const [jo, ji] = st.split(j, { factor: 4 });
      st.reorder(jo, i, ji).parallel(jo);
    }],
    ["vectorize the outer stage, split the lifted reduction", (s, S) => {
      const st = s.stage(S);
      const [, ji] = st.split(st.op.axis[1], { factor: 4 });
      st.vectorize(ji);
      const inner = st.inner(0);
      inner.split(inner.op.reduceAxis[0], { factor: 2 });
    }],
    ["computeAt the lifted stage at the consumer's row loop", (s, S) => {
      const st = s.stage(S);
      st.inner(0).computeAt(st, st.op.axis[0]);
    }],
    ["computeAt at the innermost loop, the consumer tiled", (s, S) => {
      const st = s.stage(S);
      const [, , , ji] = st.tile(st.op.axis[0], st.op.axis[1], 2, 4);
      st.inner(0).computeAt(st, ji);
    }],
  ];
  for (const [what, sched] of variants) {
    const { Q, K, S } = attention();
    const s = te.createSchedule(S);
    sched(s, S);
    const [got] = await onAllTargets(s, [Q, K, S], [q, k], what);
    assertClose(got, want, 1e-5, what);
  }
});

Deno.test("an inline reduction is computed for every point of its variables, even under a select", () => {
  // Halide's rule: the lifted stage does not see the guard around its use, so a read the
  // guard protected is now a read outside A's shape, and lowering says so.
  const A = te.placeholder([n, m], "float32", "A");
  const k = te.reduceAxis(m, "k");
  const C = te.compute([n], (i) => te.select(i.ge(1), te.sum(A(i.sub(1), k), [k]), 0), "C");
  assert.throws(
    () => te.lower(te.createSchedule(C), [A, C]),
    (e) => e instanceof TesseraError && /'C_sum0' reads A\[/.test(e.message),
  );
  // Written as a reduction over a shifted domain, it is fine.
  const C2 = te.compute([n], (i) => te.select(i.ge(1), te.sum(A(i, k), [k]), 0), "C2");
  te.lower(te.createSchedule(C2), [A, C2]);
});

Deno.test("misuse around lifted stages is a TesseraError that names it", () => {
  const { S } = attention();
  const s = te.createSchedule(S);
  assert.throws(
    () => s.stage(S).inner(0).computeInline(),
    (e) =>
      e instanceof TesseraError && /S_sum0/.test(e.message) &&
      /reduction cannot be inlined/.test(e.message),
  );
  assert.throws(() => te.innerReductions(3 as unknown as Tensor), TesseraError);
  const A = te.placeholder([n], "float32", "A");
  assert.deepEqual(te.innerReductions(A), []);
  const other = te.compute([n], (i) => A(i), "other");
  const i0 = other.op.axis[0] as IterVar;
  const k = te.reduceAxis(n, "k");
  assert.throws(
    () => te.compute([n], (i) => A(i).add(te.sum(A(k).add(i0), [k])), "bad"),
    (e) => e instanceof TesseraError && /axis 'i' belongs to another compute/.test(e.message),
  );
});
