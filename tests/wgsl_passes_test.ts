/**
 * The GPU decisions the WGSL printer used to make itself, each on small hand-written IR:
 * which thread loops are thread indices (threadDependence.ts), where an allocation lives and
 * which copy a thread uses (threadSlots.ts). The WGSL backend and property
 * tests hold the printed result to the interpreter; these hold each decision to what it
 * must be.
 */
import assert from "node:assert/strict";
import { Buffer, BufferLoad, intConst, Var } from "../lib/ir/expr.ts";
import { Allocate, BufferStore, For, LetStmt, seq, type Stmt } from "../lib/ir/stmt.ts";
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
