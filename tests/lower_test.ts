/**
 * Lowering: the shape of the IR a TVM user expects (loop kinds, guards only where needed,
 * reduction init outside the reduction loops, allocations at the attach point), `te.build`
 * on the interpreter target, and schedules whose meaning depends on bound inference.
 */
import assert from "node:assert/strict";
import { nd, te, type Tensor } from "../mod.ts";
import { evalDirect } from "../lib/te/evalDirect.ts";

function matmul(n: number | ReturnType<typeof te.var> = 64) {
  const A = te.placeholder([n, 64], "float32", "A");
  const B = te.placeholder([64, 32], "float32", "B");
  const k = te.reduceAxis([0, 64], "k");
  const C = te.compute([n, 32], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");
  return { A, B, C, s: te.createSchedule(C) };
}

const rand = (n: number, seed = 1) => {
  let x = seed;
  return Float32Array.from(
    { length: n },
    () => ((x = (x * 16807) % 2147483647) / 2147483647) * 2 - 1,
  );
};

function agree(out: Tensor, inputs: Tensor[], shapes: number[][], f: ReturnType<typeof te.lower>) {
  const arrays = inputs.map((_t, i) =>
    nd.array(rand(shapes[i].reduce((a, b) => a * b, 1), i + 3), shapes[i])
  );
  const want = evalDirect([out], inputs.map((t, i) => [t, arrays[i]]))[0];
  const got = nd.empty(want.shape);
  got.data.fill(NaN);
  te.evaluate(f, [...arrays, got]);
  const g = got.toArray(), w = want.toArray();
  for (let i = 0; i < w.length; i++) {
    assert.ok(
      Math.abs(g[i] - w[i]) <= 1e-4 * Math.max(1, Math.abs(w[i])),
      `element ${i}: ${g[i]} vs ${w[i]}`,
    );
  }
}

Deno.test("a tiled matmul lowers to the loop nest a TVM user expects", () => {
  const { A, B, C, s } = matmul();
  const [i, j] = s.stage(C).op.axis;
  const [io, jo, ii, ji] = s.stage(C).tile(i, j, 8, 8);
  const [ko, ki] = s.stage(C).split(s.stage(C).op.reduceAxis[0], { factor: 4 });
  s.stage(C).reorder(io, jo, ko, ki, ii, ji).vectorize(ji).unroll(ki).parallel(io);
  const f = te.lower(s, [A, B, C], { name: "matmul" });
  const text = String(f);
  assert.match(
    text,
    /^@T\.prim_func\ndef matmul\(A: T\.Buffer\(\(64, 64\), "float32"\), B: T\.Buffer\(\(64, 32\), "float32"\), C: T\.Buffer\(\(64, 32\), "float32"\)\):/,
  );
  assert.match(text, /for i_outer in T\.parallel\(8\):\n {8}for j_outer in range\(4\):/);
  assert.match(text, /for k_inner in T\.unroll\(4\):/);
  assert.match(text, /for j_inner in T\.vectorized\(8\):/);
  // Dividing splits need no guards; init sits outside the reduction loops.
  assert.doesNotMatch(text, /if /);
  assert.match(
    text,
    /C\[i_outer \* 8 \+ i_inner, j_outer \* 8 \+ j_inner\] = 0\.0\n {12}for k_outer in range\(16\):/,
  );
  assert.match(
    text,
    /= C\[i_outer \* 8 \+ i_inner, j_outer \* 8 \+ j_inner\] \+ A\[i_outer \* 8 \+ i_inner, k_outer \* 4 \+ k_inner\] \* B\[k_outer \* 4 \+ k_inner, j_outer \* 8 \+ j_inner\]/,
  );
  agree(C, [A, B], [[64, 64], [64, 32]], f);
});

Deno.test("non-dividing splits are guarded once, at the loop that needs it", () => {
  const { A, B, C, s } = matmul(30);
  const [i] = s.stage(C).op.axis;
  s.stage(C).split(i, { factor: 8 });
  const f = te.lower(s, [A, B, C]);
  const text = String(f);
  // The guard `i_outer * 8 + i_inner < 30` sits at i_inner; loop partitioning then runs the
  // three full tiles without it and turns it into the bound of the last, 6-row tile.
  assert.match(
    text,
    /for i_outer in range\(3\):\n {8}for i_inner in range\(8\):\n {12}for j in range\(32\):/,
  );
  assert.match(
    text,
    /\n {4}for i_inner in range\(6\):\n {8}for j in range\(32\):\n {12}C\[i_inner \+ 24, j\] = 0\.0/,
  );
  assert.doesNotMatch(text, /if /);
  agree(C, [A, B], [[30, 64], [64, 32]], f);
});

Deno.test("te.build on the interpreter target: one lowered function serves every n", async () => {
  const n = te.var("n");
  const { A, B, C, s } = matmul(n);
  const [i, j] = s.stage(C).op.axis;
  const CL = s.cacheWrite(C, "local");
  const [io, jo] = s.stage(C).tile(s.stage(C).op.axis[0], s.stage(C).op.axis[1], 4, 8);
  s.stage(CL).computeAt(s.stage(C), jo);
  void i, j, io;
  const kernel = await te.build(s, [A, B, C], { name: "mm" });
  assert.equal(kernel.target, "interpreter");
  assert.match(kernel.source, /C_local = T\.alloc_buffer\(\(4, 8\), scope="local"\)/);
  for (const rows of [1, 5, 13, 64]) {
    const a = nd.array(rand(rows * 64, rows), [rows, 64]), b = nd.array(rand(64 * 32, 2), [64, 32]);
    const c = nd.empty([rows, 32]);
    await kernel(a, b, c);
    const want = evalDirect([C], [[A, a], [B, b]])[0].toArray();
    const got = c.toArray();
    for (let x = 0; x < want.length; x++) assert.ok(Math.abs(got[x] - want[x]) < 1e-4);
  }
  await assert.rejects(
    () => te.build(s, [A, B, C], { target: "cuda" }),
    /target 'cuda' is not available/,
  );
});

Deno.test("computeAt computes only the region a consumer's tile reads (conv with padding)", () => {
  const X = te.placeholder([10, 10], "float32", "X");
  const W = te.placeholder([3, 3], "float32", "W");
  const P = te.compute(
    [12, 12],
    (y, x) => te.select(y.ge(1).and(y.lt(11)).and(x.ge(1)).and(x.lt(11)), X(y.sub(1), x.sub(1)), 0),
    "P",
  );
  const ry = te.reduceAxis(3, "ry"), rx = te.reduceAxis(3, "rx");
  const Y = te.compute(
    [10, 10],
    (y, x) => te.sum(P(y.add(ry), x.add(rx)).mul(W(ry, rx)), [ry, rx]),
    "Y",
  );
  const s = te.createSchedule(Y);
  const [yo, xo] = s.stage(Y).tile(Y.op.axis[0], Y.op.axis[1], 4, 4);
  s.stage(P).computeAt(s.stage(Y), xo);
  const f = te.lower(s, [X, W, Y]);
  const text = String(f);
  // A 4x4 output tile of a 3x3 window reads a 6x6 input tile.
  assert.match(text, /P = T\.alloc_buffer\(\(6, 6\)\)/);
  assert.match(text, /for ax|for y in range\(6\)/);
  agree(Y, [X, W], [[10, 10], [3, 3]], f);
  void yo;
});

Deno.test("rfactor replaces the stage's operation; its reduce axis is the factored loop", () => {
  const X = te.placeholder([4, 64], "float32", "X");
  const k = te.reduceAxis(64, "k");
  const S = te.compute([4], (i) => te.sum(X(i, k), [k]), "S");
  const s = te.createSchedule(S);
  const [, ki] = s.stage(S).split(k, { factor: 16 });
  const SF = s.rfactor(S, ki);
  assert.equal(SF.shape.length, 2);
  assert.equal(String(SF.shape[0]), "16");
  const kNew = s.stage(S).op.reduceAxis[0];
  assert.notEqual(kNew, k);
  assert.equal(String(kNew.dom!.extent), "16");
  s.stage(S).split(kNew, { factor: 4 });
  agree(S, [X], [[4, 64]], te.lower(s, [X, S]));
});

Deno.test("thread bindings lower to thread-bound loops; a shared cache covers the block", () => {
  const { A, B, C, s } = matmul();
  const AS = s.cacheRead(A, "shared", [s.stage(C)]);
  const [i, j] = s.stage(C).op.axis;
  const [bi, ti] = s.stage(C).split(i, { factor: 8 });
  const [bj, tj] = s.stage(C).split(j, { factor: 8 });
  s.stage(C).reorder(bi, bj, ti, tj);
  s.stage(C).bind(bi, "blockIdx.y").bind(bj, "blockIdx.x").bind(ti, "threadIdx.y").bind(
    tj,
    "threadIdx.x",
  );
  s.stage(AS).computeAt(s.stage(C), tj);
  const f = te.lower(s, [A, B, C]);
  const text = String(f);
  assert.match(text, /for i_outer in T\.thread_binding\(8, thread="blockIdx\.y"\):/);
  assert.match(text, /for j_inner in T\.thread_binding\(8, thread="threadIdx\.x"\):/);
  // Shared memory is per block: its region spans all threads of the block (8 rows of A).
  assert.match(text, /A_shared = T\.alloc_buffer\(\(8, 64\), scope="shared"\)/);
  agree(C, [A, B], [[64, 64], [64, 32]], f);
});

Deno.test("storageAlign pads the row pitch of a cached tile", () => {
  const { A, B, C, s } = matmul();
  const BS = s.cacheRead(B, "shared", [s.stage(C)]);
  const [io, jo] = s.stage(C).tile(C.op.axis[0], C.op.axis[1], 8, 8);
  s.stage(BS).computeAt(s.stage(C), jo);
  s.stage(BS).storageAlign(BS.op.axis[0], 16, 1);
  const f = te.lower(s, [A, B, C]);
  let strides: string | null = null;
  const visit = (x: unknown): void => {
    const st = x as {
      kind: string;
      buffer?: { name: string; strides: unknown[] | null };
      body?: unknown;
      stmts?: unknown[];
      then?: unknown;
    };
    if (st.kind === "allocate" && st.buffer!.name === "B_shared") {
      strides = String(st.buffer!.strides);
    }
    if (st.body) visit(st.body);
    if (st.stmts) st.stmts.forEach(visit);
    if (st.then) visit(st.then);
  };
  visit(f.body);
  assert.equal(strides, "17,1");
  agree(C, [A, B], [[64, 64], [64, 32]], f);
  void io;
});
