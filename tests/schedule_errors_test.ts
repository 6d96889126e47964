/**
 * Misuse of schedule primitives and of lowering: each gives a TesseraError naming the
 * primitive, the stage and axis, and what is allowed.
 */
import assert from "node:assert/strict";
import { nd, te, TesseraError } from "../mod.ts";

function matmul() {
  const A = te.placeholder([16, 16], "float32", "A");
  const B = te.placeholder([16, 16], "float32", "B");
  const k = te.reduceAxis(16, "k");
  const C = te.compute([16, 16], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");
  const D = te.compute([16, 16], (i, j) => C(i, j).add(1), "D");
  return { A, B, C, D, s: te.createSchedule(D) };
}

const fails = (f: () => unknown, re: RegExp) =>
  assert.throws(f, (e) => {
    assert.ok(e instanceof TesseraError, `expected a TesseraError, got ${e}`);
    assert.match((e as Error).message, re);
    return true;
  });

Deno.test("an axis of another stage", () => {
  const { C, D, s } = matmul();
  fails(
    () => s.stage(D).split(C.op.axis[0], { factor: 4 }),
    /split\(stage 'D', axis 'i'\): the axis belongs to stage 'C'/,
  );
});

Deno.test("a factor <= 0, or not an integer", () => {
  const { D, s } = matmul();
  const [i] = s.stage(D).op.axis;
  fails(
    () => s.stage(D).split(i, { factor: 0 }),
    /split\(stage 'D', axis 'i'\): expected \{ factor: n \} or \{ nparts: n \} with n a positive integer/,
  );
  fails(() => s.stage(D).split(i, { factor: 2.5 }), /positive integer/);
  fails(() => s.stage(D).tile(i, s.stage(D).op.axis[1], -1, 4), /positive integer/);
});

Deno.test("reordering across a fused axis, or fusing non-adjacent loops", () => {
  const { D, s } = matmul();
  const [i, j] = s.stage(D).op.axis;
  const f = s.stage(D).fuse(i, j);
  fails(
    () => s.stage(D).reorder(j, f),
    /reorder\(stage 'D', axis 'j'\): the axis was fused into 'i_j_fused' and is no longer a loop; use the new axes \(loops now: i_j_fused\)/,
  );
  const { C, s: s2 } = matmul();
  const [ci, cj] = s2.stage(C).op.axis;
  fails(() => s2.stage(C).fuse(ci, C.op.reduceAxis[0]), /fused axes must be adjacent loops/);
  fails(
    () => s2.stage(C).fuse(cj, C.op.reduceAxis[0]),
    /cannot fuse a reduction axis with a data axis/,
  );
  fails(() => s2.stage(C).fuse(cj, ci), /adjacent loops given outermost first/);
});

Deno.test("vectorizing or parallelizing a reduction axis", () => {
  const { C, s } = matmul();
  const k = s.stage(C).op.reduceAxis[0];
  fails(
    () => s.stage(C).vectorize(k),
    /vectorize\(stage 'C', axis 'k'\): a reduction axis cannot be vectorized/,
  );
  fails(
    () => s.stage(C).parallel(k),
    /parallel\(stage 'C', axis 'k'\): a reduction axis cannot run in parallel/,
  );
});

Deno.test("computeAt into a stage that does not read it, or into itself (a cycle)", () => {
  const { A, C, D, s } = matmul();
  const E = te.compute([16], (i) => A(i, 0), "E");
  const s2 = te.createSchedule([D, E]);
  fails(
    () => s2.stage(C).computeAt(s2.stage(E), E.op.axis[0]),
    /computeAt\(stage 'C', at 'E'.i\): 'E' does not read 'C'/,
  );
  fails(() => s.stage(C).computeAt(s.stage(C), C.op.axis[0]), /cannot be computed at its own loop/);
  fails(() => s.stage(D).computeAt(s.stage(C), C.op.axis[0]), /'D' is an output of the schedule/);
  fails(() => s.stage(A).computeAt(s.stage(C), C.op.axis[0]), /'A' is a placeholder \(an input\)/);
});

Deno.test("computeAt at a loop that no longer exists, or where another reader runs outside", () => {
  const { A, B, C, D, s } = matmul();
  const [i] = s.stage(D).op.axis;
  s.stage(C).computeAt(s.stage(D), i);
  s.stage(D).split(i, { factor: 4 });
  fails(
    () => te.lower(s, [A, B, D]),
    /'i' is no longer a loop of 'D' \(it was split or fused after computeAt\)/,
  );

  const X = te.placeholder([8], "float32", "X");
  const P = te.compute([8], (i) => X(i).mul(2), "P");
  const Q = te.compute([8], (i) => P(i).add(1), "Q");
  const R = te.compute([8], (i) => P(i).add(Q(i)), "R");
  const s2 = te.createSchedule(R);
  s2.stage(P).computeAt(s2.stage(Q), Q.op.axis[0]);
  fails(() => te.lower(s2, [X, R]), /stage 'R' also reads 'P' but runs outside that loop/);
});

Deno.test("inlining a reduction or an output; binding; storageAlign; pragma", () => {
  const { C, D, s } = matmul();
  fails(() => s.stage(C).computeInline(), /a reduction cannot be inlined/);
  fails(() => s.stage(D).computeInline(), /an output of the schedule cannot be inlined/);
  const [i, j] = s.stage(D).op.axis;
  fails(() => s.stage(D).bind(i, "warp.x" as "threadIdx.x"), /unknown thread tag "warp.x"/);
  s.stage(D).bind(i, "blockIdx.x");
  fails(() => s.stage(D).bind(j, "blockIdx.x"), /'blockIdx.x' is already bound to 'i'/);
  fails(() => s.stage(C).bind(C.op.reduceAxis[0], "blockIdx.y"), /workgroups cannot wait/);
  fails(() => s.stage(C).storageAlign(C.op.axis[0], 0, 0), /factor > 0 and 0 <= offset < factor/);
  fails(() => s.stage(C).pragma(C.op.axis[0], "x; evil()", 1), /must be an identifier/);
});

Deno.test("lowering checks its arguments", () => {
  const { A, D, s } = matmul();
  fails(() => te.lower(s, [A, D]), /input 'B' is read but not in args/);
  fails(() => te.lower(s, [A]), /output 'D' is missing from args/);
  fails(() => te.lower(s, [A, A, D]), /appears twice/);
  fails(() => te.lower(s, [A, D], { name: "bad name" }), /name "bad name" is not allowed/);
});

Deno.test("vectorizing a loop whose extent is not a constant", () => {
  const n = te.var("n");
  const X = te.placeholder([n], "float32", "X");
  const Y = te.compute([n], (i) => X(i).add(1), "Y");
  const s = te.createSchedule(Y);
  s.stage(Y).vectorize(Y.op.axis[0]);
  fails(
    () => te.lower(s, [X, Y]),
    /vectorize\(stage 'Y', axis 'i'\): the loop's extent n is not a constant/,
  );
});

Deno.test("symbolic sizes bind from the arguments; inconsistent bindings are errors", () => {
  const n = te.var("n");
  const A = te.placeholder([n, 4], "float32", "A");
  const B = te.placeholder([n], "float32", "B");
  const C = te.compute([n, 4], (i, j) => A(i, j).add(B(i)), "C");
  const s = te.createSchedule(C);
  const [io] = s.stage(C).split(C.op.axis[0], { factor: 3 });
  s.stage(C).parallel(io);
  const f = te.lower(s, [A, B, C]);
  for (const rows of [1, 7, 1000]) {
    const a = nd.array(Array.from({ length: rows * 4 }, (_, x) => x), [rows, 4]);
    const b = nd.array(Array.from({ length: rows }, (_, x) => -x), [rows]);
    const c = nd.empty([rows, 4]);
    te.evaluate(f, [a, b, c]);
    const got = c.toArray();
    for (let x = 0; x < rows * 4; x++) assert.equal(got[x], x - Math.floor(x / 4));
  }
  fails(
    () => te.evaluate(f, [nd.empty([3, 4]), nd.empty([2]), nd.empty([3, 4])]),
    /argument 2 'B' dimension 0 is 2 but n = 3 from argument 1 'A'/,
  );
  fails(() => te.evaluate(f, [nd.empty([3, 4]), nd.empty([3]), nd.empty([3, 5])]), /'C'/);
  fails(
    () => te.evaluate(f, [nd.empty([3, 4], "int32"), nd.empty([3]), nd.empty([3, 4])]),
    /dtype/,
  );
});
