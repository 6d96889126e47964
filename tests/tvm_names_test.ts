/**
 * TVM's spellings keep working where TVM's do, and what confused a TVM user is said plainly:
 * `C.op.axis` after cacheWrite, the original reduce axis on a cache stage, an inlined or
 * attached intermediate passed to `te.lower`, `createSchedule(C.op)`, pragma keys, and a
 * Halide-style reorder that changes nothing. Each result is held to a plain TypeScript
 * reference and to the interpreter on C and WebGPU.
 */
import assert from "node:assert/strict";
import { nd, type NDArray, te, type Tensor, TesseraError, warnings } from "../mod.ts";
import type { Schedule } from "../lib/schedule/schedule.ts";
import { useTestCache } from "./c_util.ts";

useTestCache();

const fill = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, i) => ((i * 7 + seed * 13) % 17) / 8 - 1);

async function runAll(s: Schedule, args: Tensor[], inputs: NDArray[], shapes: number[][]) {
  const out: Record<string, Float32Array[]> = {};
  for (const target of ["interpreter", "c", "webgpu"] as const) {
    const f = await te.build(s, args, { target });
    const outs = shapes.map((sh) => {
      const a = nd.empty(sh);
      a.data.fill(NaN);
      return a;
    });
    await f(...inputs, ...outs);
    out[target] = outs.map((o) => o.toArray() as Float32Array);
  }
  for (const t of ["c", "webgpu"]) {
    out[t].forEach((o, k) =>
      o.forEach((v, x) =>
        assert.ok(Math.abs(v - out.interpreter[k][x]) <= 1e-4, `${t} output ${k}[${x}]`)
      )
    );
  }
  return out.interpreter;
}

function matmul(m: number, n: number, kk: number) {
  const A = te.placeholder([m, kk], "float32", "A");
  const B = te.placeholder([kk, n], "float32", "B");
  const k = te.reduceAxis(kk, "k");
  const C = te.compute([m, n], (ii, jj) => te.sum(A(ii, k).mul(B(k, jj)), [k]), "C");
  const a = fill(m * kk, 1), b = fill(kk * n, 2);
  const want = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      for (let r = 0; r < kk; r++) want[i * n + j] += a[i * kk + r] * b[r * n + j];
    }
  }
  return { A, B, C, k, inputs: [nd.array(a, [m, kk]), nd.array(b, [kk, n])], want };
}

Deno.test("after cacheWrite, C.op.axis schedules C and the original k splits the cache stage", async () => {
  const { A, B, C, k, inputs, want } = matmul(10, 12, 16);
  const s = te.createSchedule(C);
  const CL = s.cacheWrite(C, "local");
  // TVM's GEMM tutorial: the stage's loops are still C.op.axis; the cache reduces over k.
  assert.deepEqual(s.stage(C).op.axis, C.op.axis);
  assert.deepEqual(s.stage(CL).op.reduceAxis, [k]);
  const [xo, yo, xi, yi] = s.stage(C).tile(C.op.axis[0], C.op.axis[1], 4, 4);
  s.stage(CL).computeAt(s.stage(C), yo);
  const [ko, ki] = s.stage(CL).split(k, { factor: 4 });
  s.stage(CL).reorder(ko, ki, ...s.stage(CL).op.axis).unroll(ki);
  s.stage(C).vectorize(yi);
  void xo, xi;
  const [got] = await runAll(s, [A, B, C], inputs, [[10, 12]]);
  got.forEach((v, x) => assert.ok(Math.abs(v - want[x]) < 1e-4, `C[${x}]`));
  // k is the cache stage's now: the copy stage says where it went.
  assert.throws(
    () => s.stage(C).split(k, { factor: 2 }),
    /axis 'k'\): the axis belongs to stage 'C_local', not 'C'/,
  );
});

Deno.test("rfactor keeps the stage's data axes too", () => {
  const X = te.placeholder([4, 64], "float32", "X");
  const k = te.reduceAxis(64, "k");
  const S = te.compute([4], (i) => te.sum(X(i, k), [k]), "S");
  const s = te.createSchedule(S);
  const [, ki] = s.stage(S).split(k, { factor: 16 });
  s.rfactor(S, ki);
  assert.equal(s.stage(S).op.axis[0], S.op.axis[0]);
  s.stage(S).split(S.op.axis[0], { factor: 2 });
});

function chain(n: number) {
  const A = te.placeholder([n, n], "float32", "A");
  const B = te.compute([n, n], (i, j) => A(i, j).add(1), "B");
  const C = te.compute([n, n], (i, j) => B(i, j).mul(2), "C");
  const a = fill(n * n, 3);
  return { A, B, C, a, wantB: a.map((v) => v + 1), wantC: a.map((v) => (v + 1) * 2) };
}

Deno.test("te.lower(s, [A, B, C]) with B inlined or attached writes B in full, as TVM accepts", async () => {
  for (const how of ["inline", "at row", "at tile"] as const) {
    const { A, B, C, a, wantB, wantC } = chain(10);
    const s = te.createSchedule(C);
    if (how === "inline") s.stage(B).computeInline();
    if (how === "at row") s.stage(B).computeAt(s.stage(C), C.op.axis[0]);
    if (how === "at tile") {
      // Ragged 4x4 tiles: the attached region runs past the tensor at the edges.
      const [, xo] = s.stage(C).tile(C.op.axis[0], C.op.axis[1], 4, 4);
      s.stage(B).computeAt(s.stage(C), xo);
    }
    const text = String(te.lower(s, [A, B, C]));
    assert.doesNotMatch(text, /alloc_buffer/, how);
    if (how === "inline") assert.match(text, /C\[i_1, j_1\] = \(A\[i_1, j_1\] \+ 1\.0\) \* 2\.0/);
    const [gotB, gotC] = await runAll(s, [A, B, C], [nd.array(a, [10, 10])], [[10, 10], [10, 10]]);
    assert.deepEqual([...gotB], [...wantB].map(Math.fround), how);
    assert.deepEqual([...gotC], [...wantC].map(Math.fround), how);
  }
});

Deno.test("an inlined argument that reads an attached stage is a clear error", () => {
  const A = te.placeholder([8], "float32", "A");
  const P = te.compute([8], (i) => A(i).mul(3), "P");
  const B = te.compute([8], (i) => P(i).add(1), "B");
  const C = te.compute([8], (i) => B(i).mul(2), "C");
  const s = te.createSchedule(C);
  s.stage(B).computeInline();
  s.stage(P).computeAt(s.stage(C), C.op.axis[0]);
  assert.throws(
    () => te.lower(s, [A, B, C]),
    /'B' is inlined and passed as an argument, .* reads 'P', which is attached at a loop of 'C'; computeRoot 'P'/,
  );
});

Deno.test("createSchedule takes C.op as TVM does, and says what to pass otherwise", () => {
  const { A, C } = chain(4);
  assert.equal(te.createSchedule(C.op).stage(C).name, "C");
  assert.equal(te.createSchedule([C.op]).outputs[0], C.op);
  assert.throws(
    () => te.createSchedule(A.op),
    /output tensor\(s\) to compute .* got the placeholder operation 'A'/,
  );
  assert.throws(() => te.createSchedule([] as Tensor[]), /got an empty array/);
  assert.throws(() => te.createSchedule(3 as unknown as Tensor), TesseraError);
});

Deno.test("pragma: unknown keys are refused with the known ones; auto_unroll_max_step unrolls", async () => {
  const { A, B, C, k, inputs, want } = matmul(8, 8, 8);
  const s = te.createSchedule(C);
  const [io, jo, ii, ji] = s.stage(C).tile(C.op.axis[0], C.op.axis[1], 4, 2);
  assert.throws(
    () => s.stage(C).pragma(io, "unroll_explicit", 1),
    /unknown pragma key "unroll_explicit"; known keys: auto_unroll_max_step \(/,
  );
  assert.throws(() => s.stage(C).pragma(io, "auto_unroll_max_step", "x"), /takes an integer >= 0/);
  // Unrolled steps: k 8, jj_inner 2*8 = 16, ii_inner 4*16 = 64; jj_outer (256) stays a loop.
  s.stage(C).pragma(jo, "auto_unroll_max_step", 64);
  const text = String(te.lower(s, [A, B, C]));
  assert.match(text, /for ii_inner in T\.unroll\(4\)/);
  assert.match(text, /for jj_inner in T\.unroll\(2\)/);
  assert.match(text, /for k in T\.unroll\(8\)/);
  assert.match(text, /for jj_outer in range\(4\)/);
  void ii, ji, k;
  const [got] = await runAll(s, [A, B, C], inputs, [[8, 8]]);
  got.forEach((v, x) => assert.ok(Math.abs(v - want[x]) < 1e-4));
});

Deno.test("a reorder that changes nothing warns that loops are listed outermost first", () => {
  const { C } = chain(4);
  const said: string[] = [];
  const sink = warnings.sink;
  warnings.sink = (m) => said.push(m);
  try {
    const s = te.createSchedule(C);
    const [y, x] = C.op.axis;
    s.stage(C).reorder(y, x); // Halide's spelling of "x outer"
    assert.equal(said.length, 1);
    assert.match(
      said[0],
      /reorder\(stage 'C'\): i, j is already the loop order, so this reorder changes nothing; .* outermost first .* is reorder\(j, i\) here/,
    );
    s.stage(C).reorder(x, y);
    assert.equal(said.length, 1, "a reorder that changes the order says nothing");
    assert.deepEqual(s.stage(C).leafIterVars, [x, y]);
  } finally {
    warnings.sink = sink;
  }
});
