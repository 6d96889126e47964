/**
 * Several outputs from one compute, and tuple reducers. A compute whose function returns an
 * array makes one operation with one tensor per element, scheduled as one stage and lowered
 * to one loop nest that stores every output; `te.commReducer` over tuples makes argmax one
 * reduction whose accumulators are updated together. Each program runs on the interpreter, C
 * and WebGPU and is held to a JavaScript reference or the interpreter.
 */
import assert from "node:assert/strict";
import { nd, te, type Tensor, TesseraError } from "../mod.ts";
import { walkStmt } from "../lib/ir/visit.ts";
import { onAllTargets, rand } from "./targets_util.ts";

const n = 5, m = 7;
const isErr = (re: RegExp) => (e: unknown) =>
  e instanceof TesseraError && re.test((e as Error).message);

Deno.test("te.compute returning [a, b]: two tensors of one operation, one stage, one loop nest", async () => {
  const A0 = te.placeholder([n, m], "float32", "A0");
  const A1 = te.placeholder([n, m], "float32", "A1");
  // The computation of issue 13's message "expected an expression or a number, got ...".
  const [P, Q] = te.compute([n, m], (i, j) => [A0(i, j).add(2.0), A1(i, j).mul(3.0)], "P");
  assert.equal(P.op, Q.op);
  assert.deepEqual([P.valueIndex, Q.valueIndex], [0, 1]);
  assert.deepEqual([P.name, Q.name], ["P_v0", "P_v1"]);
  assert.deepEqual(P.op.kind === "compute" && P.op.outputs, [P, Q]);
  const s = te.createSchedule([P, Q]);
  assert.equal(s.stage(P), s.stage(Q));
  assert.equal(s.stages.length, 3);
  const f = te.lower(s, [A0, A1, P, Q]);
  let loops = 0;
  walkStmt(f.body, (x) => {
    if (x.kind === "for") loops++;
  });
  assert.equal(loops, 2, String(f));
  const a0 = rand([n, m], "float32", 1), a1 = rand([n, m], "float32", 2);
  const [p, q] = await onAllTargets(s, [A0, A1, P, Q], [a0, a1], "two outputs");
  for (let x = 0; x < n * m; x++) {
    assert.equal(p.at(x), Math.fround(a0.at(x) + 2));
    assert.equal(q.at(x), Math.fround(a1.at(x) * 3));
  }
});

Deno.test("multi-output: names, scheduling through either tensor, consumers, inline, computeAt", async () => {
  const A = te.placeholder([n, m], "float32", "A");
  const [lo, hi] = te.compute([n, m], (i, j) => [A(i, j).sub(1), A(i, j).add(1)], ["lo", "hi"]);
  assert.deepEqual([lo.name, hi.name, lo.op.name], ["lo", "hi", "lo_hi"]);
  const a = rand([n, m], "float32", 3);
  // Scheduling hi's stage schedules the one nest that writes lo too.
  const s = te.createSchedule([lo, hi]);
  const st = s.stage(hi);
  const [jo, ji] = st.split(st.op.axis[1], { factor: 4 });
  st.reorder(jo, st.op.axis[0], ji).parallel(jo).vectorize(ji);
  const [l, h] = await onAllTargets(s, [A, lo, hi], [a], "scheduled two outputs");
  for (let x = 0; x < n * m; x++) {
    assert.equal(l.at(x), Math.fround(a.at(x) - 1));
    assert.equal(h.at(x), Math.fround(a.at(x) + 1));
  }
  // A consumer of both outputs, with the two-output stage inlined or attached.
  for (const how of ["inline", "computeAt", "root"] as const) {
    const [u, v] = te.compute([n, m], (i, j) => [A(i, j).mul(2), A(i, j).mul(-1)], "UV");
    const W = te.compute([n, m], (i, j) => u(i, j).add(v(i, j)).mul(v(i, j)), "W");
    const s2 = te.createSchedule(W);
    if (how === "inline") s2.stage(u).computeInline();
    if (how === "computeAt") s2.stage(v).computeAt(s2.stage(W), s2.stage(W).op.axis[0]);
    const [w] = await onAllTargets(s2, [A, W], [a], `consumer, ${how}`);
    for (let x = 0; x < n * m; x++) {
      const uu = Math.fround(a.at(x) * 2), vv = Math.fround(-a.at(x));
      assert.equal(w.at(x), Math.fround(Math.fround(uu + vv) * vv), `${how} W[${x}]`);
    }
  }
});

Deno.test("multi-output misuse is a TesseraError saying what to pass", () => {
  const A = te.placeholder([n], "float32", "A");
  const [P, Q] = te.compute([n], (i) => [A(i), A(i).neg()], "P");
  const s = te.createSchedule([P, Q]);
  assert.throws(() => te.lower(s, [A, P]), isErr(/output 'P_v1' is missing from args/));
  assert.throws(
    () => te.compute([n], (i) => [A(i), A(i)], ["x", "y", "z"]),
    isErr(/3 names were given for 2 outputs/),
  );
  assert.throws(() => te.compute([n], () => [], "E"), isErr(/empty array/));
  assert.throws(
    () => te.compute([n], (i) => [A(i), "x" as unknown as number], "S"),
    isErr(/output 1/),
  );
});

/** The brief's argmax, a user-written tuple reducer (ties go to whichever comes first). */
const userArgmax = te.commReducer(
  (a: Tensor[] | ReturnType<typeof te.const>[], b) => {
    const [ai, av] = a as ReturnType<typeof te.const>[], [bi, bv] = b;
    return [te.select(av.ge(bv), ai, bi), te.select(av.ge(bv), av, bv)];
  },
  () => [te.const(-1, "int32"), te.const(-Infinity, "float32")],
  "argmax",
);

/** numpy's argmax of a row: the first NaN, else the first largest value; -1 when empty. */
function refArg(row: number[], max: boolean): [number, number] {
  let best = -1;
  row.forEach((v, j) => {
    if (best < 0) best = j;
    else if (Number.isNaN(row[best])) return;
    else if (Number.isNaN(v) || (max ? v > row[best] : v < row[best])) best = j;
  });
  return [best, best < 0 ? (max ? -Infinity : Infinity) : row[best]];
}

Deno.test("a tuple commReducer: argmax([k, A(i, k)], [k]) is one reduction with two outputs", async () => {
  const A = te.placeholder([n, m], "float32", "A");
  const k = te.reduceAxis(m, "k");
  const [idx, val] = te.compute([n], (i) => userArgmax([k, A(i, k)], [k]), "T");
  assert.equal(idx.dtype, "int32");
  assert.equal(val.dtype, "float32");
  assert.equal(te.innerReductions(idx).length, 0, "the whole body is the tuple reduction");
  const a = rand([n, m], "float32", 4); // distinct values, no ties
  const [gi, gv] = await onAllTargets(te.createSchedule(idx), [A, idx, val], [a], "user argmax");
  for (let i = 0; i < n; i++) {
    const want = refArg(Array.from({ length: m }, (_, j) => a.at(i * m + j)), true);
    assert.deepEqual([gi.at(i), gv.at(i)], want, `row ${i}`);
  }
});

/** Rows with ties, NaNs, infinities, and all-equal values. */
const TRICKY = [
  [3, 1, 3, 0, -2, 3, 1],
  [NaN, 5, NaN, 7, 7, -1, 0],
  [2, 2, 2, 2, 2, 2, 2],
  [-Infinity, -Infinity, -5, -5, Infinity, Infinity, 0],
  [0, -0, 1, NaN, 1, -1, -1],
];

Deno.test("te.argmax / te.argmin: lowest index on ties, NaN wins (numpy), on every target and schedule", async () => {
  const a = nd.array(TRICKY.flat(), [n, m], "float32");
  for (const max of [true, false]) {
    const schedules: Array<
      [string, (s: ReturnType<typeof te.createSchedule>, t: Tensor) => Tensor[]]
    > = [
      ["plain", () => []],
      ["split k, reorder", (s, t) => {
        const st = s.stage(t);
        const [ko, ki] = st.split(st.op.reduceAxis[0], { factor: 3 });
        st.reorder(ki, ko);
        return [];
      }],
      ["rfactor", (s, t) => {
        const st = s.stage(t);
        const [, ki] = st.split(st.op.reduceAxis[0], { factor: 2 });
        s.rfactor(t, ki);
        return [];
      }],
      ["cacheWrite local, parallel rows", (s, t) => {
        s.cacheWrite(t, "local");
        s.stage(t).parallel(s.stage(t).op.axis[0]);
        return [];
      }],
    ];
    for (const [what, sched] of schedules) {
      const A = te.placeholder([n, m], "float32", "A");
      const k = te.reduceAxis(m, "k");
      const [idx, val] = te.compute([n], (i) => (max ? te.argmax : te.argmin)(A(i, k), [k]), "T");
      const s = te.createSchedule([idx, val]);
      sched(s, val);
      const tag = `${max ? "argmax" : "argmin"} ${what}`;
      const [gi, gv] = await onAllTargets(s, [A, idx, val], [a], tag);
      TRICKY.forEach((row, i) => {
        const [wi, wv] = refArg(row.map(Math.fround), max);
        assert.equal(gi.at(i), wi, `${tag}: index of row ${i}`);
        assert.ok(
          Object.is(gv.at(i), wv) || (wv === 0 && gv.at(i) === 0),
          `${tag}: value of row ${i}`,
        );
      });
    }
  }
});

Deno.test("argmax over an empty axis is index -1; a where clause filters; used inside an expression it is lifted", async () => {
  const A = te.placeholder([n, m], "float32", "A");
  const a = rand([n, m], "float32", 5);
  const k = te.reduceAxis(m, "k");
  // Only even columns take part.
  const [idx, ival] = te.compute([n], (i) => te.argmax(A(i, k), [k], k.floormod(2).eq(0)), "E");
  const [gi] = await onAllTargets(
    te.createSchedule(idx),
    [A, idx, ival],
    [a],
    "where",
  );
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: m }, (_, j) => (j % 2 === 0 ? a.at(i * m + j) : -Infinity));
    assert.equal(gi.at(i), refArg(row, true)[0]);
  }
  const k0 = te.reduceAxis(0, "k0");
  const [z, zval] = te.compute([n], (i) => te.argmax(A(i, k0), [k0]), "Z");
  const [zi, zv] = await onAllTargets(te.createSchedule(z), [A, z, zval], [a], "empty");
  assert.deepEqual([zi.at(0), zv.at(0)], [-1, -Infinity]);
  // The index of the largest element, doubled: the tuple reduction becomes a lifted stage.
  const k2 = te.reduceAxis(m, "k2");
  const D = te.compute([n], (i) => te.argmax(A(i, k2), [k2])[0].mul(2), "D");
  assert.deepEqual(te.innerReductions(D).map((t) => t.name), ["D_argmax0_v0", "D_argmax0_v1"]);
  const [d] = await onAllTargets(te.createSchedule(D), [A, D], [a], "lifted argmax");
  for (let i = 0; i < n; i++) {
    assert.equal(
      d.at(i),
      2 * refArg(Array.from({ length: m }, (_, j) => a.at(i * m + j)), true)[0],
    );
  }
});

Deno.test("tuple reducer misuse is a TesseraError", () => {
  const A = te.placeholder([n, m], "float32", "A");
  const k = te.reduceAxis(m, "k");
  const k2 = te.reduceAxis(m, "k2");
  assert.throws(() => te.argmax(A(0, k).add(A(0, k2)), [k, k2]), isErr(/exactly one reduce axis/));
  const bad = te.commReducer(
    (a: ReturnType<typeof te.const>[], b: ReturnType<typeof te.const>[]) => [a[0].add(b[0])],
    [0, 0],
    "bad",
  );
  assert.throws(
    () => bad([A(0, k), A(1, k)], [k]),
    isErr(/combine's result must be an array of 2/),
  );
  const scalar = te.commReducer((a, b) => a.add(b), 0, "plain");
  assert.throws(
    () => scalar([A(0, k), A(1, k)] as unknown as number, [k]),
    isErr(/identity must be an array of 2/),
  );
});
