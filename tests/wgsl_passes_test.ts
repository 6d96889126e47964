/**
 * The GPU decisions the WGSL printer used to make itself, each on small hand-written IR:
 * which thread loops are thread indices (threadDependence.ts), where an allocation lives and
 * which copy a thread uses (threadSlots.ts), where barriers go (threadSync.ts), and which
 * vectorized loops are vector operations with which loads proven aligned (vectorLoop.ts). The WGSL backend and property
 * tests hold the printed result to the interpreter; these hold each decision to what it
 * must be.
 */
import assert from "node:assert/strict";
import { Buffer, BufferLoad, Const, type Expr, intConst, Var } from "../lib/ir/expr.ts";
import {
  Allocate,
  Barrier,
  BufferStore,
  For,
  IfThenElse,
  LetStmt,
  seq,
  type Stmt,
} from "../lib/ir/stmt.ts";
import { walkStmt } from "../lib/ir/visit.ts";
import { planBarriers, planShader } from "../lib/lower/gpu/threadSync.ts";
import { vectorLoop, type VectorValue } from "../lib/lower/gpu/vectorLoop.ts";
import {
  cooperative,
  hasCooperative,
  rebindsAsThread,
  threadDependent,
} from "../lib/lower/gpu/threadDependence.ts";
import { allocationHome } from "../lib/lower/gpu/threadSlots.ts";

const A = new Buffer("A", "float32", [intConst(64)]);
const S = new Buffer("S", "float32", [intConst(8)], "shared");
const tx = new Var("tx", "int32"), ax = new Var("ax", "int32");
const thread = (v: Var, body: Stmt, n = 8) =>
  new For(v, intConst(0), intConst(n), "threadBinding", body, "threadIdx.x");

Deno.test("threadDependence: a re-bound thread loop is the same index unless it depends on the outer one", () => {
  // A fill every thread needs: S[ax] = A[ax], nothing of tx in it.
  const fill = thread(ax, new BufferStore(S, [ax], new BufferLoad(A, [ax])));
  const outer = thread(tx, fill);
  assert.ok(rebindsAsThread(outer, fill), "a cooperative fill");
  assert.ok(cooperative(fill, [outer, null, null]));
  assert.ok(cooperative(fill, [null, null, null]), "no enclosing index: it is the index");
  assert.ok(hasCooperative(outer, [null, null, null]));

  // The inner loop reads the outer index: each thread runs it whole.
  const byIndex = thread(ax, new BufferStore(S, [ax], new BufferLoad(A, [ax.add(tx)])));
  assert.ok(!rebindsAsThread(thread(tx, byIndex), byIndex), "mentions tx");

  // ... or a let derived from it.
  const t2 = new Var("t2", "int32");
  const byLet = thread(ax, new BufferStore(S, [ax], new BufferLoad(A, [t2])));
  const outerLet = thread(tx, new LetStmt(t2, tx.mul(2), byLet));
  assert.ok(!rebindsAsThread(outerLet, byLet), "reads a variable derived from tx");

  // ... or a buffer allocated inside the outer loop whose contents depend on it.
  const acc = new Buffer("acc", "float32", [intConst(1)], "local");
  const init = thread(ax, new BufferStore(acc, [intConst(0)], intConst(0)));
  const outerAcc = thread(
    tx,
    new Allocate(
      acc,
      seq([new BufferStore(acc, [intConst(0)], new BufferLoad(A, [tx])), init]),
    ),
  );
  assert.ok(!rebindsAsThread(outerAcc, init), "a per-thread accumulator");
  assert.ok(!hasCooperative(init, [outerAcc, null, null]));
});

Deno.test("threadDependence: a loop whose bounds depend on a thread index differs between threads", () => {
  const i = new Var("i", "int32");
  const loop = new For(i, intConst(0), tx.add(1), "serial", new BufferStore(S, [i], intConst(1)));
  assert.ok(threadDependent(loop, new Set([tx])));
  assert.ok(!threadDependent(loop, new Set([ax])));
});

Deno.test("threadSlots: private per thread, or workgroup memory with a copy per thread of the bound axes", () => {
  const wg = [8, 4, 1];
  const ty = new Var("ty", "int32");
  const at = (x: Var | null, y: Var | null, skeleton = true) => ({
    wg,
    threadVar: [x, y, null],
    threadLoop: [null, null, null],
    skeleton,
  });
  const local = new Buffer("L", "float32", [intConst(2)], "local");
  const shared = new Buffer("T", "float32", [intConst(2)], "shared");
  const use = (b: Buffer) => new Allocate(b, new BufferStore(b, [intConst(0)], intConst(1)));
  // Inside both thread axes: each thread its own, private.
  assert.deepEqual(allocationHome(use(local), at(tx, ty)), {
    private: true,
    slotAxes: [],
    copies: 1,
  });
  // Shared, inside both: workgroup memory, a copy per thread (x first, then y).
  assert.deepEqual(allocationHome(use(shared), at(tx, ty)), {
    private: false,
    slotAxes: [0, 1],
    copies: 32,
  });
  // Inside x only: threads of y read it too (it is computed on y's thread 0).
  assert.deepEqual(allocationHome(use(local), at(tx, null)), {
    private: false,
    slotAxes: [0],
    copies: 8,
  });
  // A cooperative loop re-binding x fills it: one copy along x.
  const fill = new Allocate(
    local,
    thread(ax, new BufferStore(local, [ax], intConst(1)), 2),
  );
  assert.deepEqual(allocationHome(fill, at(tx, ty)), {
    private: false,
    slotAxes: [1],
    copies: 4,
  });
  // One thread runs the code (a leaf): private whatever the scope.
  assert.equal(allocationHome(use(shared), at(null, null, false)).private, true);
});

// --- barrier planning -------------------------------------------------------------------------

const Out = new Buffer("Out", "float32", [intConst(64)]);
const isStorage = (b: Buffer) => b === A || b === Out;

/** The planned barriers of `s`, in order, as "storage", "workgroup" or both. */
function barriers(s: Stmt): string[] {
  const out: string[] = [];
  walkStmt(s, (x) => {
    if (x.kind !== "barrier") return;
    const m = x.memory;
    out.push(
      m ? [m.storage && "storage", m.workgroup && "workgroup"].filter(Boolean).join("+") : "asked",
    );
  });
  return out;
}

Deno.test("threadSync: a barrier between a tile's fill and its use, none where nothing is shared", () => {
  const t2 = new Var("t2", "int32");
  const fillAndUse = new Allocate(
    S,
    seq([
      thread(tx, new BufferStore(S, [tx], new BufferLoad(A, [tx]))),
      thread(t2, new BufferStore(Out, [t2], new BufferLoad(S, [intConst(7).sub(t2)]))),
    ]),
  );
  const planned = planBarriers(fillAndUse, [8, 1, 1], isStorage);
  assert.deepEqual(barriers(planned), ["workgroup"], "one, for the tile");
  // It sits in the second thread loop, right before the read.
  const use = ((planned as Allocate).body as Stmt & { kind: "seq" }).stmts[1] as For;
  assert.equal((use.body as Stmt & { kind: "seq" }).stmts[0].kind, "barrier");
  // What the walk decided, for the printer: both thread loops are thread indices, the two
  // stores are leaves, and the tile lives in workgroup memory (one copy).
  const plan = planShader(fillAndUse, [8, 1, 1], isStorage);
  assert.equal(plan.indices.size, 2);
  assert.deepEqual([...plan.leaves.keys()].map((x) => x.kind), ["store", "store"]);
  // Both thread loops cover the workgroup: no condition at their leaves.
  assert.deepEqual([...plan.leaves.values()].map((g) => g.conds.length), [0, 0]);
  assert.deepEqual([...plan.homes.values()], [{ private: false, slotAxes: [], copies: 1 }]);
  // One thread: nothing to order, no barrier; its thread loops are still its index.
  const one = planShader(fillAndUse, [1, 1, 1], isStorage);
  assert.deepEqual(barriers(one.body), []);
  assert.equal(one.indices.size, 2);
  assert.equal(one.leaves.size, 0);
  // A private buffer (each thread its own) needs none: the same fill into a local inside tx.
  const L = new Buffer("L", "float32", [intConst(1)], "local");
  const own = thread(
    tx,
    new Allocate(
      L,
      seq([
        new BufferStore(L, [intConst(0)], new BufferLoad(A, [tx])),
        new BufferStore(Out, [tx], new BufferLoad(L, [intConst(0)])),
      ]),
    ),
  );
  assert.deepEqual(barriers(planBarriers(own, [8, 1, 1], isStorage)), []);
});

Deno.test("threadSync: which threads run a leaf: sunk conditions, short thread loops, thread 0", () => {
  // if (n > 0) { thread loop of 5 threads of 8 (a cooperative loop inside); then a store
  // outside any thread loop, which thread 0 alone runs.
  const n = new Var("n", "int32");
  const t5 = new Var("t5", "int32");
  const positive = n.gt(0);
  const body = seq([
    new IfThenElse(positive, thread(t5, new BufferStore(S, [t5], intConst(1)), 5)),
    new BufferStore(Out, [intConst(0)], new BufferLoad(S, [intConst(0)])),
  ]);
  const plan = planShader(new Allocate(S, body), [8, 1, 1], isStorage);
  const guards = [...plan.leaves.values()];
  assert.equal(guards[0].conds[0], positive, "the sunk condition");
  const short = guards[0].conds[1] as Expr & { kind: "cmp" };
  assert.deepEqual([short.op, short.a, (short.b as Const).value], ["lt", t5, 5], "t5 < 5");
  assert.equal(guards[0].conds.length, 2);
  assert.equal(guards[1].conds.length, 0);
  assert.deepEqual(guards.map((g) => g.firstThread), [[], [0]]);
});

Deno.test("threadSync: storage reads after storage writes, loop back edges, and barriers lowering asked for", () => {
  // Out written by each thread, then read at another thread's element: a storage barrier.
  const t2 = new Var("t2", "int32");
  const rw = seq([
    thread(tx, new BufferStore(Out, [tx], intConst(1))),
    thread(t2, new BufferStore(S, [t2], new BufferLoad(Out, [intConst(7).sub(t2)]))),
  ]);
  assert.deepEqual(barriers(planBarriers(new Allocate(S, rw), [8, 1, 1], isStorage)), [
    "storage",
  ]);
  // Steps of a cooperative copy: S[i * 8 + tx] writes a new element each step (no barrier
  // between steps); T[i + tx] writes, in step 1, what thread tx + 1 wrote in step 0, so the
  // next step waits for this one.
  const i = new Var("i", "int32");
  const T = new Buffer("T", "float32", [intConst(16)], "shared");
  const steps = (index: Expr) =>
    new Allocate(
      T,
      new For(
        i,
        intConst(0),
        intConst(2),
        "serial",
        thread(tx, new BufferStore(T, [index], new BufferLoad(A, [i.mul(8).add(tx)]))),
      ),
    );
  assert.deepEqual(barriers(planBarriers(steps(i.mul(8).add(tx)), [8, 1, 1], isStorage)), []);
  const again = planBarriers(steps(i.add(tx)), [8, 1, 1], isStorage);
  assert.deepEqual(barriers(again), ["workgroup"]);
  const loop = (again as Allocate).body as For;
  assert.equal((loop.body as Stmt & { kind: "seq" }).stmts.at(-1)!.kind, "barrier", "at the end");
  // A barrier lowering asked for orders what is pending, and is left unplanned where nothing is.
  const asked = seq([
    new Barrier(),
    thread(tx, new BufferStore(S, [tx], intConst(1))),
    new Barrier(),
  ]);
  assert.deepEqual(barriers(planBarriers(new Allocate(S, asked), [8, 1, 1], isStorage)), [
    "asked",
    "workgroup",
  ]);
});

// --- vector loops -----------------------------------------------------------------------------

Deno.test("vectorLoop: consecutive float32 lanes as one vector value; aligned loads proven", () => {
  const i = new Var("i", "int32"), v = new Var("v", "int32");
  const X = new Buffer("X", "float32", [intConst(64)]);
  const vec = (n: number, value: Expr, index: Expr = i.mul(4).add(v), dtype = Out) =>
    vectorLoop(
      new For(v, intConst(0), intConst(n), "vectorized", new BufferStore(dtype, [index], value)),
    );
  // A[4i + v] starts at a multiple of 4: one aligned load, word i; X[v + 1] does not.
  const plan = vec(
    4,
    new BufferLoad(A, [i.mul(4).add(v)]).mul(2).add(new BufferLoad(X, [v.add(1)])),
  );
  assert.ok(plan);
  assert.equal(plan.lanes, 4);
  assert.equal(plan.indices.length, 4);
  const value = plan.value as VectorValue & { kind: "binary" };
  assert.equal(value.op, "+");
  const product = value.a as VectorValue & { kind: "binary" };
  assert.equal(product.op, "*");
  assert.equal(product.a.kind, "aligned");
  assert.equal((product.a as VectorValue & { kind: "aligned" }).word, i, "word i");
  assert.equal(product.b.kind, "splat", "2 in every lane");
  assert.equal(value.b.kind, "lanes", "not provably aligned: lane by lane");
  // Three lanes never read through a view (there is no vec3 view).
  const three = vec(3, new BufferLoad(A, [i.mul(4).add(v)]));
  assert.equal(three?.value.kind, "lanes");
  // Scalar code: a strided load, five lanes, a lane reading another lane's element of the
  // stored buffer, a constant divisor, an integer store.
  assert.equal(vec(4, new BufferLoad(A, [v.mul(2)])), null);
  assert.equal(vec(5, new BufferLoad(A, [v])), null);
  assert.equal(vec(4, new BufferLoad(Out, [i.mul(4).add(v).add(1)])), null);
  assert.equal(vec(4, new BufferLoad(A, [v]).div(new Const(0, "float32"))), null);
  const I = new Buffer("I", "int32", [intConst(64)]);
  assert.equal(vec(4, new BufferLoad(I, [v]), v, I), null);
});
