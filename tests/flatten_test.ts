/**
 * Storage flattening: every access becomes one flat index (row-major, or the padded pitch of
 * storageAlign), parameters keep their logical shapes, and the flattened function computes
 * bit-for-bit what the unflattened one does.
 */
import assert from "node:assert/strict";
import { Buffer, nd, type NDArray, type PrimFunc, te, TesseraError, Var } from "../mod.ts";
import { flattenStorage } from "../lib/lower/flatten.ts";
import { BufferLoad, intConst } from "../lib/ir/expr.ts";
import { Allocate, BufferStore, For, PrimFunc as Func, seq } from "../lib/ir/stmt.ts";
import { walkExpr, walkStmt } from "../lib/ir/visit.ts";
import type { Expr } from "../lib/ir/expr.ts";

const rand = (n: number, seed = 1) => {
  let x = seed;
  return Float32Array.from(
    { length: n },
    () => ((x = (x * 16807) % 2147483647) / 2147483647) * 2 - 1,
  );
};

/** Every buffer access of the body: [buffer, number of indices]. */
function accesses(f: PrimFunc): Array<[Buffer, number]> {
  const out: Array<[Buffer, number]> = [];
  const ex = (e: Expr) =>
    walkExpr(e, (x) => {
      if (x.kind === "bufferLoad") out.push([x.buffer, x.indices.length]);
    });
  walkStmt(f.body, (s) => {
    switch (s.kind) {
      case "store":
        out.push([s.buffer, s.indices.length]);
        s.indices.forEach(ex);
        ex(s.value);
        break;
      case "for":
        ex(s.min);
        ex(s.extent);
        break;
      case "if":
        ex(s.cond);
        break;
      case "let":
        ex(s.value);
        break;
    }
  });
  return out;
}

/** Runs `f` and its flattened form on the same inputs (outputs poisoned) and compares bits. */
function agree(f: PrimFunc, shapes: number[][], nOut = 1): NDArray[] {
  const run = (g: PrimFunc) => {
    const ins = shapes.slice(0, shapes.length - nOut).map((sh, i) =>
      nd.array(rand(sh.reduce((a, b) => a * b, 1), i + 3), sh)
    );
    const outs = shapes.slice(shapes.length - nOut).map((sh) => {
      const a = nd.empty(sh);
      a.data.fill(NaN);
      return a;
    });
    te.evaluate(g, [...ins, ...outs]);
    return outs;
  };
  const want = run(f);
  const flat = flattenStorage(f);
  const got = run(flat);
  want.forEach((w, i) => {
    const a = new Uint32Array(new Float32Array(got[i].toArray()).buffer);
    const b = new Uint32Array(new Float32Array(w.toArray()).buffer);
    assert.deepEqual(a, b, `output ${i} differs after flattening`);
    assert.ok(w.toArray().every((x) => !Number.isNaN(x)), "every output element was written");
  });
  return got;
}

function matmul(n: number | ReturnType<typeof te.var> = 64) {
  const A = te.placeholder([n, 64], "float32", "A");
  const B = te.placeholder([64, 32], "float32", "B");
  const k = te.reduceAxis([0, 64], "k");
  const C = te.compute([n, 32], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");
  return { A, B, C, s: te.createSchedule(C) };
}

Deno.test("a tiled matmul with a local cache flattens to one index per access", () => {
  const { A, B, C, s } = matmul();
  const CL = s.cacheWrite(C, "local");
  const [, jo] = s.stage(C).tile(s.stage(C).op.axis[0], s.stage(C).op.axis[1], 8, 8);
  s.stage(CL).computeAt(s.stage(C), jo);
  s.stage(CL).split(s.stage(CL).op.reduceAxis[0], { factor: 4 });
  const f = te.lower(s, [A, B, C], { name: "mm" });
  const flat = flattenStorage(f);

  assert.equal(flat.name, f.name);
  assert.equal(flat.params, f.params);
  assert.equal(flat.sizeVars, f.sizeVars);
  assert.equal(flat.outputs, f.outputs);
  assert.deepEqual(flat.params.map((p) => p.shape.map(String)), [
    ["64", "64"],
    ["64", "32"],
    ["64", "32"],
  ]);
  const acc = accesses(flat);
  assert.ok(acc.length > 0);
  for (const [b, n] of acc) {
    assert.equal(n, 1, `access to ${b.name} has ${n} indices`);
    assert.equal(b.shape.length, 1);
    if (b.name !== "C_local") assert.ok(f.params.includes(b.aliasOf!), `${b.name} is a view`);
  }
  const text = String(flat);
  assert.match(text, /C_local = T\.alloc_buffer\(\(64,\), scope="local"\)/);
  assert.match(text, /C_local\[i \* 8 \+ j\] = 0\.0/);
  assert.match(
    text,
    /C\[i_outer \* 256 \+ i_inner \* 32 \+ j_outer \* 8 \+ j_inner\] = C_local\[i_inner \* 8 \+ j_inner\]/,
  );
  assert.match(text, /B\[k_outer \* 128 \+ k_inner \* 32 \+ j_outer \* 8 \+ j\]/);
  assert.match(text, /^def mm\(A: T\.Buffer\(\(64, 64\), "float32"\)/m);
  assert.doesNotMatch(text, /A_1|B_1|C_1/, "views print with their parameter's name");
  agree(f, [[64, 64], [64, 32], [64, 32]]);
  // Flattening a flat function changes nothing it computes.
  agree(flat, [[64, 64], [64, 32], [64, 32]]);
});

Deno.test("storageAlign: the flat allocation uses the padded pitch", () => {
  const { A, B, C, s } = matmul();
  const BS = s.cacheRead(B, "shared", [s.stage(C)]);
  const [, jo] = s.stage(C).tile(C.op.axis[0], C.op.axis[1], 8, 8);
  s.stage(BS).computeAt(s.stage(C), jo);
  s.stage(BS).storageAlign(BS.op.axis[0], 16, 1);
  const f = te.lower(s, [A, B, C]);
  const flat = flattenStorage(f);
  const text = String(flat);
  // B_shared is 64 x 8 with a row pitch of 17: 64 * 17 elements, row index times 17.
  assert.match(text, /B_shared = T\.alloc_buffer\(\(1088,\), scope="shared"\)/);
  assert.match(text, /B_shared\[ax0 \* 17 \+ ax1\] = B\[/);
  assert.match(text, /B_shared\[k \* 17 \+ j_inner\]/);
  for (const [b, n] of accesses(flat)) {
    assert.equal(n, 1, `access to ${b.name} has ${n} indices`);
    assert.equal(b.strides, null);
  }
  agree(f, [[64, 64], [64, 32], [64, 32]]);
});

Deno.test("symbolic sizes: one flattened function agrees for n = 1, 7 and 33", () => {
  const n = te.var("n");
  const { A, B, C, s } = matmul(n);
  const CL = s.cacheWrite(C, "local");
  const [, jo] = s.stage(C).tile(s.stage(C).op.axis[0], s.stage(C).op.axis[1], 4, 8);
  s.stage(CL).computeAt(s.stage(C), jo);
  const f = te.lower(s, [A, B, C]);
  const flat = flattenStorage(f);
  assert.deepEqual(flat.params.map((p) => p.shape.map(String)), [["n", "64"], ["64", "32"], [
    "n",
    "32",
  ]]);
  assert.match(String(flat), /A\[[^\]]*\* 64[^\]]*\]/);
  for (const [, k] of accesses(flat)) assert.equal(k, 1);
  for (const rows of [1, 7, 33]) agree(f, [[rows, 64], [64, 32], [rows, 32]]);
});

Deno.test("rank-0 buffers flatten to one element at index 0", () => {
  const X = te.placeholder([5], "float32", "X");
  const k = te.reduceAxis(5, "k");
  const S = te.compute([], () => te.sum(X(k), [k]), "S");
  const s = te.createSchedule(S);
  const f = te.lower(s, [X, S]);
  const flat = flattenStorage(f);
  assert.match(String(flat), /S\[0\]/);
  const run = (g: PrimFunc) => {
    const out = nd.empty([]);
    te.evaluate(g, [nd.array(rand(5), [5]), out]);
    return out.toArray();
  };
  assert.deepEqual(run(flat), run(f));
});

Deno.test("the interpreter bounds-checks a view against its own shape and its storage", () => {
  const P = new Buffer("P", "float32", [intConst(2), intConst(3)]);
  const view = (n: number) => new Buffer("P", "float32", [intConst(n)], "global", null, P);
  const store = (n: number, at: number) =>
    new Func(
      "f",
      [P],
      [],
      new BufferStore(view(n), [intConst(at)], new BufferLoad(view(6), [intConst(0)])),
      [P],
    );
  const a = nd.array([1, 2, 3, 4, 5, 6], [2, 3]);
  te.evaluate(store(6, 5), [a]);
  assert.deepEqual([...a.toArray()], [1, 2, 3, 4, 5, 1]);
  assert.match(String(store(6, 5)), /P\[5\] = P\[0\]/);
  assert.throws(() => te.evaluate(store(6, 6), [a]), TesseraError);
  assert.throws(() => te.evaluate(store(8, 7), [a]), /out-of-bounds store P\[7\]/);
});

Deno.test("a view of an allocation shares the allocation's storage while it is in scope", () => {
  const P = new Buffer("P", "float32", [intConst(6)]);
  const T = new Buffer("T", "float32", [intConst(2), intConst(3)], "local");
  const TV = new Buffer("T", "float32", [intConst(6)], "local", null, T);
  const i = new Var("i");
  // T[i // 3, i % 3] = P[i] through the 2-D buffer; P[i] = T_view[5 - i] * 2 through the view.
  const body = new Allocate(
    T,
    seq([
      new For(
        i,
        intConst(0),
        intConst(6),
        "serial",
        new BufferStore(T, [i.floordiv(3), i.floormod(3)], new BufferLoad(P, [i])),
      ),
      new For(
        i,
        intConst(0),
        intConst(6),
        "serial",
        new BufferStore(P, [i], new BufferLoad(TV, [intConst(5).sub(i)]).mul(2)),
      ),
    ]),
  );
  const a = nd.array([1, 2, 3, 4, 5, 6], [6]);
  te.evaluate(new Func("f", [P], [], body, [P]), [a]);
  assert.deepEqual([...a.toArray()], [12, 10, 8, 6, 4, 2]);
  // Outside its Allocate the view has no storage; a view of another dtype is refused.
  const outside = new Func(
    "g",
    [P],
    [],
    new BufferStore(P, [intConst(0)], new BufferLoad(TV, [intConst(0)])),
    [P],
  );
  assert.throws(() => te.evaluate(outside, [a]), /a view of 'T', which is neither a parameter/);
  const IV = new Buffer("P", "int32", [intConst(6)], "global", null, P);
  const cast = new Func("h", [P], [], new BufferStore(IV, [intConst(0)], intConst(1)), [P]);
  assert.throws(() => te.evaluate(cast, [a]), /int32 view of float32 buffer 'P'/);
});
