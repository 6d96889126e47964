/**
 * The GPU lowering steps of lib/lower/gpu, each on its own and end to end. The tree of a
 * cross-thread reduction on hand-written IR (thread counts that are and are not powers of
 * two, several reducers); TVM's reduction tutorial, the direct form and the rfactor form with
 * the factored axis bound, on the interpreter, C and WebGPU, each equal to the interpreter of
 * the unscheduled program; the store predicate; storage scope inferred from the attach point
 * (local, shared, explicit) and the note that says so; virtual threads, alone and in TVM's
 * GEMM schedule.
 */
import assert from "node:assert/strict";
import {
  type Expr,
  nd,
  type NDArray,
  type Schedule,
  te,
  type Tensor,
  TesseraError,
} from "../mod.ts";
import { Buffer, BufferLoad, type CommReducer, intConst, Var } from "../lib/ir/expr.ts";
import { evaluate } from "../lib/ir/interpret.ts";
import { Allocate, Barrier, BufferStore, For, PrimFunc, seq, type Stmt } from "../lib/ir/stmt.ts";
import { walkStmt } from "../lib/ir/visit.ts";
import { injectVirtualThreads } from "../lib/lower/gpu/injectVirtualThread.ts";
import { combineWith, treeReduce } from "../lib/lower/gpu/threadAllreduce.ts";

const TARGETS = ["interpreter", "c", "webgpu"] as const;

/** Small integers (exact in float32 whatever the association order). */
function ints(shape: number[], seed = 3): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return nd.array(Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 11) - 5), shape);
}

/** Runs `s` on every target and holds each output to the unscheduled program's. */
async function equalOnAllTargets(
  s: Schedule,
  args: Tensor[],
  inputs: NDArray[],
  what: string,
) {
  const outs = args.slice(inputs.length);
  const shape = (t: Tensor) => t.shape.map((d) => (d as Expr & { value: number }).value);
  const plain = te.createSchedule(outs);
  const want = outs.map((t) => nd.empty(shape(t), t.dtype));
  await (await te.build(plain, args))(...inputs, ...want);
  for (const target of TARGETS) {
    const f = await te.build(s, args, { target });
    const got = outs.map((t) => {
      const a = nd.empty(shape(t), t.dtype);
      a.data.fill(t.dtype === "int32" ? 0x7eadbeef : NaN);
      return a;
    });
    await f(...inputs, ...got);
    got.forEach((g, k) =>
      assert.deepEqual([...g.data], [...want[k].data], `${what} on ${target}, ${outs[k].name}`)
    );
  }
}

// --- the tree on hand-written IR -------------------------------------------------------------

const sumOf = (t: "int32" | "float32"): CommReducer => {
  const a = new Var("a", t), b = new Var("b", t);
  return { name: "sum", lhs: [a], rhs: [b], result: [a.add(b)], identity: [intConst(0)] };
};
const maxOf = (): CommReducer => {
  const a = new Var("a", "int32"), b = new Var("b", "int32");
  return { name: "max", lhs: [a], rhs: [b], result: [a.max(b)], identity: [intConst(-(2 ** 31))] };
};

Deno.test("treeReduce folds one partial per thread into slot 0, whatever the thread count", () => {
  for (const n of [1, 2, 5, 8, 12, 33]) {
    for (const c of [sumOf("int32"), maxOf()]) {
      const In = new Buffer("In", "int32", [intConst(n)]);
      const Out = new Buffer("Out", "int32", [intConst(1)]);
      const red = new Buffer("red", "int32", [intConst(n)], "shared");
      const tx = new Var("tx", "int32");
      const combine = combineWith(c);
      const thread = (body: Stmt) =>
        new For(tx, intConst(0), intConst(n), "threadBinding", body, "threadIdx.x");
      const tree = treeReduce([red], [{ v: tx, extent: n, tag: "threadIdx.x" }], combine);
      let barriers = 0;
      walkStmt(tree, (x) => void (x.kind === "barrier" && barriers++));
      assert.equal(barriers, Math.ceil(Math.log2(n)), `n = ${n}: one barrier per step`);
      const body = new Allocate(
        red,
        seq([
          thread(new BufferStore(red, [tx], new BufferLoad(In, [tx]))),
          new Barrier(),
          tree,
          new BufferStore(Out, [intConst(0)], new BufferLoad(red, [intConst(0)])),
        ]),
      );
      const vals = Array.from({ length: n }, (_, i) => ((i * 37) % 23) - 11);
      const out = nd.zeros([1], "int32");
      evaluate(new PrimFunc("tree", [In, Out], [], body, [Out]), [
        nd.array(vals, [n], "int32"),
        out,
      ]);
      const want = c.name === "sum" ? vals.reduce((a, b) => a + b) : Math.max(...vals);
      assert.equal(out.data[0], want, `${c.name} of ${n} partials`);
    }
  }
});

// --- cross-thread reduction end to end -------------------------------------------------------

function rowSum(n: number, m: number, reducer = te.sum) {
  const A = te.placeholder([n, m], "float32", "A");
  const k = te.reduceAxis([0, m], "k");
  const B = te.compute([n], (i) => reducer(A(i, k), [k]), "B");
  return { A, B };
}

Deno.test("TVM's reduction tutorial, cross-thread: the reduce axis bound to threadIdx.x", async () => {
  const { A, B } = rowSum(37, 70);
  const s = te.createSchedule(B);
  const st = s.stage(B);
  const [, ki] = st.split(st.op.reduceAxis[0], { factor: 16 });
  const [xo, xi] = st.split(st.op.axis[0], { factor: 4 });
  st.bind(xo, "blockIdx.x").bind(xi, "threadIdx.y").bind(ki, "threadIdx.x");
  const ir = String(te.lower(s, [A, B]));
  assert.match(ir, /B_red = T\.alloc_buffer\(\(16,\), scope="shared"\)/);
  assert.match(ir, /if k_inner == 0:\n\s+B\[/, "one thread stores");
  await equalOnAllTargets(s, [A, B], [ints([37, 70])], "direct");
});

Deno.test("TVM's reduction tutorial, rfactor: the factored axis bound, the partial inside it", async () => {
  const { A, B } = rowSum(37, 70);
  const s = te.createSchedule(B);
  const [, ki] = s.stage(B).split(s.stage(B).op.reduceAxis[0], { factor: 16 });
  const BF = s.rfactor(B, ki);
  const st = s.stage(B);
  const [xo, xi] = st.split(st.op.axis[0], { factor: 32 });
  st.bind(xo, "blockIdx.x").bind(xi, "threadIdx.y");
  const tx = st.op.reduceAxis[0];
  st.bind(tx, "threadIdx.x");
  s.stage(BF).computeAt(st, tx);
  st.setStorePredicate(tx.eq(0));
  const ir = String(te.lower(s, [A, B]));
  // The partial is inferred local: one element per thread, not the whole tensor.
  assert.match(ir, /B_rf = T\.alloc_buffer\(\(1, 1\), scope="local"\) {2}# no setScope, inside/);
  await equalOnAllTargets(s, [A, B], [ints([37, 70])], "rfactor");
});

Deno.test("any commReducer crosses threads, with thread counts that are not powers of two", async () => {
  const absMax = te.commReducer((a, b) => te.max(te.abs(a), te.abs(b)) as Expr, 0, "absmax");
  const reducers = [te.sum, te.max, te.min, te.prod, absMax];
  for (const [r, threads] of reducers.map((r, i) => [r, [12, 7, 16, 5, 3][i]] as const)) {
    const { A, B } = rowSum(9, 20, r);
    const s = te.createSchedule(B);
    const st = s.stage(B);
    const [, ki] = st.split(st.op.reduceAxis[0], { factor: threads });
    st.bind(st.op.axis[0], "blockIdx.x").bind(ki, "threadIdx.x");
    // prod of 20 values in [-5, 5] stays exact in float32 only if small: use 0/±1-ish data.
    const a = r === te.prod
      ? nd.array(Array.from({ length: 180 }, (_, i) => [1, -1, 2, 1][i % 4]), [9, 20])
      : ints([9, 20], threads);
    await equalOnAllTargets(s, [A, B], [a], `reducer ${threads} threads`);
  }
});

Deno.test("a tuple reducer crosses threads: argmax and argmin with ties and NaN", async () => {
  const n = 6, m = 29;
  const vals = Array.from({ length: n * m }, (_, i) => [(i * 7) % 5, 3, -2, 3][i % 4]);
  vals[2 * m + 11] = NaN; // row 2: NaN wins, at its index
  for (const max of [true, false]) {
    for (const threads of [8, 5]) {
      const A = te.placeholder([n, m], "float32", "A");
      const k = te.reduceAxis([0, m], "k");
      const [idx, val] = te.compute([n], (i) => (max ? te.argmax : te.argmin)(A(i, k), [k]), "T");
      const s = te.createSchedule([idx, val]);
      const st = s.stage(idx);
      const [, ki] = st.split(st.op.reduceAxis[0], { factor: threads });
      st.bind(st.op.axis[0], "blockIdx.x").bind(ki, "threadIdx.x");
      const ir = String(te.lower(s, [A, idx, val]));
      assert.match(
        ir,
        /T\.v0_red = T\.alloc_buffer|_red = T\.alloc_buffer/,
        "partials in shared memory",
      );
      await equalOnAllTargets(
        s,
        [A, idx, val],
        [nd.array(vals, [n, m])],
        `${max ? "argmax" : "argmin"} over ${threads} threads`,
      );
    }
  }
});

Deno.test("cross-thread reductions: what cannot be lowered is said before anything runs", () => {
  const { A, B } = rowSum(8, 32);
  const s = te.createSchedule(B);
  const st = s.stage(B);
  assert.throws(
    () => st.bind(st.op.reduceAxis[0], "blockIdx.x"),
    (e) => e instanceof TesseraError && /workgroups cannot wait/.test(e.message),
  );
  const [, ki] = st.split(st.op.reduceAxis[0], { factor: 8 });
  st.bind(ki, "threadIdx.x").reorder(ki, st.op.axis[0]);
  assert.throws(
    () => te.lower(s, [A, B]),
    (e) => e instanceof TesseraError && /data loop 'i' is inside a reduce loop/.test(e.message),
  );
  const n = te.var("n");
  const A2 = te.placeholder([4, n], "float32", "A");
  const k = te.reduceAxis([0, n], "k");
  const B2 = te.compute([4], (i) => te.sum(A2(i, k), [k]), "B");
  const s2 = te.createSchedule(B2);
  s2.stage(B2).bind(s2.stage(B2).op.reduceAxis[0], "threadIdx.x");
  assert.throws(
    () => te.lower(s2, [A2, B2]),
    (e) => e instanceof TesseraError && /needs a constant thread count/.test(e.message),
  );
});

Deno.test("setStorePredicate: only iterations where it holds store", async () => {
  const A = te.placeholder([10], "float32", "A");
  const B = te.compute([10], (i) => A(i).mul(2), "B");
  const s = te.createSchedule(B);
  s.stage(B).setStorePredicate(s.stage(B).op.axis[0].lt(4));
  const b = nd.array(Array(10).fill(-1), [10]);
  await (await te.build(s, [A, B]))(ints([10]), b);
  const a = ints([10]);
  assert.deepEqual([...b.data], [...a.data].map((x, i) => (i < 4 ? 2 * x : -1)));
  assert.throws(
    () => s.stage(B).setStorePredicate(s.stage(B).op.axis[0] as unknown as Expr),
    (e) => e instanceof TesseraError && /expected a bool expression/.test(e.message),
  );
});

// --- storage scope from the attach point -----------------------------------------------------

function producerConsumer() {
  const A = te.placeholder([64], "float32", "A");
  const P = te.compute([64], (i) => A(i).add(1), "P");
  const C = te.compute([64], (i) => P(i).mul(P(i)), "C");
  const s = te.createSchedule(C);
  const [bx, tx] = s.stage(C).split(s.stage(C).op.axis[0], { factor: 16 });
  s.stage(C).bind(bx, "blockIdx.x").bind(tx, "threadIdx.x");
  return { A, P, C, s, bx, tx };
}

const allocOf = (s: Schedule, args: Tensor[], name: string): Buffer => {
  let found: Buffer | null = null;
  walkStmt(te.lower(s, args).body, (x) => {
    if (x.kind === "allocate" && x.buffer.name === name) found = x.buffer;
  });
  return found ?? assert.fail(`no allocation of ${name}`);
};

Deno.test("scope inference: inside a threadIdx loop local, under blockIdx only shared, explicit wins", async () => {
  {
    const { A, P, C, s, tx } = producerConsumer();
    s.stage(P).computeAt(s.stage(C), tx);
    const b = allocOf(s, [A, C], "P");
    assert.equal(b.scope, "local");
    assert.deepEqual(b.shape.map(String), ["1"], "one element per thread");
    assert.match(String(te.lower(s, [A, C])), /# no setScope, inside threadIdx\.x loop/);
    await equalOnAllTargets(s, [A, C], [ints([64])], "local");
  }
  {
    const { A, P, C, s, bx } = producerConsumer();
    s.stage(P).computeAt(s.stage(C), bx);
    const b = allocOf(s, [A, C], "P");
    assert.equal(b.scope, "shared");
    assert.deepEqual(b.shape.map(String), ["16"], "the workgroup's tile");
    assert.match(String(te.lower(s, [A, C])), /# no setScope, under blockIdx\.x loop/);
    await equalOnAllTargets(s, [A, C], [ints([64])], "shared");
  }
  {
    const { A, P, C, s, tx } = producerConsumer();
    s.stage(P).computeAt(s.stage(C), tx).setScope("shared");
    const b = allocOf(s, [A, C], "P");
    assert.equal(b.scope, "shared");
    assert.doesNotMatch(String(te.lower(s, [A, C])), /no setScope/);
    await equalOnAllTargets(s, [A, C], [ints([64])], "explicit");
  }
  {
    // No thread loops (a CPU schedule): global, as before, and no note.
    const A = te.placeholder([64], "float32", "A");
    const P = te.compute([64], (i) => A(i).add(1), "P");
    const C = te.compute([64], (i) => P(i).mul(2), "C");
    const s = te.createSchedule(C);
    const [o] = s.stage(C).split(s.stage(C).op.axis[0], { factor: 8 });
    s.stage(P).computeAt(s.stage(C), o);
    assert.equal(allocOf(s, [A, C], "P").scope, "global");
  }
});

// --- virtual threads -------------------------------------------------------------------------

Deno.test("injectVirtualThreads: a vthread loop becomes an unrolled loop (serial if symbolic)", () => {
  const v = new Var("v", "int32"), w = new Var("w", "int32"), n = new Var("n", "int32");
  const O = new Buffer("O", "int32", [intConst(8)]);
  const body = new BufferStore(O, [v], v);
  const loops = injectVirtualThreads(
    new For(
      v,
      intConst(0),
      intConst(2),
      "serial",
      new For(w, intConst(0), n, "serial", body, "vthread"),
      "vthread",
    ),
  ) as For;
  assert.equal(loops.forKind, "unrolled");
  assert.equal(loops.threadTag, null);
  assert.equal((loops.body as For).forKind, "serial");
  assert.equal((loops.body as For).threadTag, null);
});

Deno.test("vthread: TVM's GEMM schedule with virtual threads and shared tiles on every target", async () => {
  const n = 64;
  const A = te.placeholder([n, n], "float32", "A");
  const B = te.placeholder([n, n], "float32", "B");
  const k = te.reduceAxis([0, n], "k");
  const C = te.compute([n, n], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");
  const s = te.createSchedule(C);
  const AS = s.cacheRead(A, "shared", [s.stage(C)]);
  const BS = s.cacheRead(B, "shared", [s.stage(C)]);
  const CL = s.cacheWrite(C, "local");
  const c = s.stage(C);
  const [i, j] = c.op.axis;
  const [by, yi0] = c.split(i, { factor: 32 });
  const [bx, xi0] = c.split(j, { factor: 32 });
  const [tyz, yi1] = c.split(yi0, { nparts: 2 });
  const [ty, yi] = c.split(yi1, { nparts: 8 });
  const [txz, xi1] = c.split(xi0, { nparts: 2 });
  const [tx, xi] = c.split(xi1, { nparts: 8 });
  c.reorder(by, bx, tyz, txz, ty, tx, yi, xi);
  c.bind(by, "blockIdx.y").bind(bx, "blockIdx.x").bind(tyz, "vthread").bind(txz, "vthread");
  c.bind(ty, "threadIdx.y").bind(tx, "threadIdx.x");
  const cl = s.stage(CL).computeAt(c, tx);
  const [ko, ki] = cl.split(cl.op.reduceAxis[0], { factor: 8 });
  cl.reorder(ko, ki, ...cl.op.axis);
  for (const S of [AS, BS]) {
    const st = s.stage(S).computeAt(cl, ko);
    const [t0] = st.split(st.op.axis[0], { nparts: 8 });
    const [t1] = st.split(st.op.axis[1], { nparts: 8 });
    st.bind(t0, "threadIdx.y").bind(t1, "threadIdx.x");
  }
  const ir = String(te.lower(s, [A, B, C]));
  assert.match(ir, /for i_inner_outer in T\.unroll\(2\):\n\s+for j_inner_outer in T\.unroll\(2\):/);
  await equalOnAllTargets(s, [A, B, C], [ints([n, n], 1), ints([n, n], 2)], "vthread gemm");
  const st = s.stage(C);
  assert.throws(
    () => st.bind(st.op.axis[0], "vthread"),
    (e) => e instanceof TesseraError && /no longer a loop/.test(e.message),
  );
  const { A: A2, B: B2 } = rowSum(4, 4);
  const s2 = te.createSchedule(B2);
  void A2;
  assert.throws(
    () => s2.stage(B2).bind(s2.stage(B2).op.reduceAxis[0], "vthread"),
    (e) => e instanceof TesseraError && /cannot be a virtual thread/.test(e.message),
  );
});

Deno.test("a stage attached at a thread reduce loop inside a serial one keeps the loop order", async () => {
  const A = te.placeholder([6, 40], "float32", "A");
  const P = te.compute([6, 40], (i, j) => A(i, j).mul(2), "P");
  const k = te.reduceAxis([0, 40], "k");
  const B = te.compute([6], (i) => te.sum(P(i, k), [k]), "B");
  const s = te.createSchedule(B);
  const st = s.stage(B);
  const [, ki] = st.split(st.op.reduceAxis[0], { factor: 8 });
  st.bind(st.op.axis[0], "blockIdx.x").bind(ki, "threadIdx.x");
  s.stage(P).computeAt(st, ki);
  assert.match(String(te.lower(s, [A, B])), /B_red\[k_inner\] = B_red\[k_inner\] \+ P/);
  await equalOnAllTargets(s, [A, B], [ints([6, 40])], "attached in order");
});
