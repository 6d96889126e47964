/**
 * The reference interpreter defines what loop IR means, so these tests pin down the parts
 * other stages rely on: C-vs-Python integer division, lazy select, bounds checking, poison
 * in fresh allocations, size binding from argument shapes, and that it is fast enough to
 * check real schedules.
 */
import assert from "node:assert/strict";
import {
  Binary,
  type BinaryOp,
  Buffer,
  BufferLoad,
  Cmp,
  Const,
  type Expr,
  Logical,
  Reduce,
  Select,
  Var,
} from "../lib/ir/expr.ts";
import { BOOL_POISON, evaluate, INT32_POISON } from "../lib/ir/interpret.ts";
import { evalBinary } from "../lib/ir/scalar.ts";
import {
  Allocate,
  Barrier,
  BufferStore,
  For,
  IfThenElse,
  LetStmt,
  PrimFunc,
  Seq,
  type Stmt,
} from "../lib/ir/stmt.ts";
import { nd } from "../lib/runtime/ndarray.ts";
import { throwsTessera } from "./errors_util.ts";

const i32 = (v: number) => new Const(v, "int32");
const f32 = (v: number) => new Const(v, "float32");
const loop = (v: Var, extent: Expr | number, body: Stmt) =>
  new For(v, i32(0), typeof extent === "number" ? i32(extent) : extent, "serial", body);

Deno.test("int div/mod truncate and floordiv/floormod floor, on negative operands", () => {
  const pairs = [[7, 2], [-7, 2], [7, -2], [-7, -2], [6, 3], [-6, 3], [0, -5], [-1, 4]];
  const ops: BinaryOp[] = ["div", "mod", "floordiv", "floormod"];
  const A = new Buffer("A", "int32", [i32(pairs.length), i32(2)]);
  const Out = new Buffer("Out", "int32", [i32(pairs.length), i32(ops.length)]);
  const i = new Var("i");
  const a = new BufferLoad(A, [i, i32(0)]), b = new BufferLoad(A, [i, i32(1)]);
  const body = loop(
    i,
    pairs.length,
    new Seq(ops.map((op, k) => new BufferStore(Out, [i, i32(k)], new Binary(op, a, b, "int32")))),
  );
  const f = new PrimFunc("divmod", [A, Out], [], body, [Out]);
  const out = nd.zeros([pairs.length, ops.length], "int32");
  evaluate(f, [nd.array(pairs, undefined, "int32"), out]);
  const expected = [
    // div, mod (C), floordiv, floormod (Python)
    [3, 1, 3, 1],
    [-3, -1, -4, 1],
    [-3, 1, -4, -1],
    [3, -1, 3, -1],
    [2, 0, 2, 0],
    [-2, 0, -2, 0],
    [0, 0, 0, 0],
    [0, -1, -1, 3],
  ];
  assert.deepEqual(Array.from(out.toArray()), expected.flat());
  // The interpreter and the constant folder share one definition.
  pairs.forEach(([x, y], r) =>
    ops.forEach((op, k) =>
      assert.equal(out.data[r * ops.length + k], evalBinary(op, "int32", x, y))
    )
  );
});

Deno.test("integer division by zero is a TesseraError", () => {
  const A = new Buffer("A", "int32", [i32(1)]);
  const s = new BufferStore(
    A,
    [i32(0)],
    new Binary("div", i32(1), new BufferLoad(A, [i32(0)]), "int32"),
  );
  throwsTessera(
    () => evaluate(new PrimFunc("dz", [A], [], s, [A]), [nd.zeros([1], "int32")]),
    /by zero/,
  );
});

Deno.test("int32 arithmetic wraps and float32 rounds after every operation", () => {
  const O = new Buffer("O", "int32", [i32(2)]);
  const F = new Buffer("F", "float32", [i32(1)]);
  const body = new Seq([
    new BufferStore(O, [i32(0)], new Binary("add", i32(2147483647), i32(1), "int32")),
    new BufferStore(O, [i32(1)], new Binary("mul", i32(65536), i32(65537), "int32")),
    // 1 + 2^-24 is not a float32: it rounds to 1 before the subtraction.
    new BufferStore(
      F,
      [i32(0)],
      new Binary("sub", new Binary("add", f32(1), f32(2 ** -24), "float32"), f32(1), "float32"),
    ),
  ]);
  const o = nd.zeros([2], "int32"), fo = nd.zeros([1]);
  evaluate(new PrimFunc("wrap", [O, F], [], body, [O, F]), [o, fo]);
  assert.deepEqual(Array.from(o.data), [-2147483648, 65536]);
  assert.equal(fo.data[0], 0);
});

Deno.test("select only evaluates the taken branch; and/or short-circuit", () => {
  const n = 4;
  const A = new Buffer("A", "float32", [i32(n)]);
  const B = new Buffer("B", "float32", [i32(n)]);
  const C = new Buffer("C", "bool", [i32(n)]);
  const i = new Var("i");
  const im1 = new Binary("sub", i, i32(1), "int32");
  const prev = new BufferLoad(A, [im1]); // A[-1] when i == 0
  const body = loop(
    i,
    n,
    new Seq([
      new BufferStore(B, [i], new Select(new Cmp("ge", i, i32(1)), prev, f32(-1))),
      new BufferStore(
        C,
        [i],
        new Logical(
          "or",
          new Cmp("eq", i, i32(0)),
          new Cmp("gt", new BufferLoad(A, [im1]), f32(15)),
        ),
      ),
    ]),
  );
  const f = new PrimFunc("shift", [A, B, C], [], body, [B, C]);
  const b = nd.zeros([n]), c = nd.zeros([n], "bool");
  evaluate(f, [nd.array([10, 20, 30, 40]), b, c]);
  assert.deepEqual(Array.from(b.data), [-1, 10, 20, 30]);
  assert.deepEqual(Array.from(c.data), [1, 0, 1, 1]);

  // Without the guard the same read is out of bounds.
  const bad = loop(i, n, new BufferStore(B, [i], prev));
  throwsTessera(
    () => evaluate(new PrimFunc("shift", [A, B, C], [], bad, [B]), [nd.zeros([n]), b, c]),
    /out-of-bounds load A\[-1\] of buffer 'A' with shape \[4\]/,
  );
});

Deno.test("out-of-bounds stores and loads name the buffer, the indices and the shape", () => {
  const A = new Buffer("A", "float32", [i32(3), i32(4)]);
  const B = new Buffer("B", "float32", [i32(3), i32(4)]);
  const i = new Var("i"), j = new Var("j");
  // j runs to 4 inclusive: one column too far.
  const store = loop(i, 3, loop(j, 5, new BufferStore(B, [i, j], f32(1))));
  throwsTessera(
    () =>
      evaluate(new PrimFunc("st", [A, B], [], store, [B]), [nd.zeros([3, 4]), nd.zeros([3, 4])]),
    /evaluate\(st\): out-of-bounds store B\[0, 4\] of buffer 'B' with shape \[3, 4\]: index 1 is 4/,
  );
  // A row index past the end, on a load, in a 3-D buffer (the general path).
  const A3 = new Buffer("A3", "float32", [i32(2), i32(2), i32(2)]);
  const load = loop(
    i,
    3,
    new BufferStore(B, [i32(0), i32(0)], new BufferLoad(A3, [i, i32(0), i32(1)])),
  );
  throwsTessera(
    () =>
      evaluate(new PrimFunc("ld", [A3, B], [], load, [B]), [nd.zeros([2, 2, 2]), nd.zeros([3, 4])]),
    /out-of-bounds load A3\[2, 0, 1\] of buffer 'A3' with shape \[2, 2, 2\]/,
  );
  // Each index is checked on its own: [0, 5] of a 3x4 buffer is inside the allocation
  // (offset 5) but still wrong.
  const wrap = new BufferStore(B, [i32(0), i32(5)], f32(1));
  throwsTessera(
    () => evaluate(new PrimFunc("w", [A, B], [], wrap, [B]), [nd.zeros([3, 4]), nd.zeros([3, 4])]),
    /out-of-bounds store B\[0, 5\]/,
  );
});

Deno.test("strided buffers are checked against the allocation length", () => {
  const i = new Var("i");
  // Rows padded to 5: shape 2x4, strides (5, 1) need 9 elements.
  const L = new Buffer("L", "float32", [i32(2), i32(4)], "local", [i32(5), i32(1)]);
  const O = new Buffer("O", "float32", [i32(2)]);
  const ok = new Allocate(
    L,
    new Seq([
      loop(
        i,
        2,
        new BufferStore(
          L,
          [i, i32(3)],
          new Binary("add", new Const(1.5, "float32"), new Const(0, "float32"), "float32"),
        ),
      ),
      loop(i, 2, new BufferStore(O, [i], new BufferLoad(L, [i, i32(3)]))),
    ]),
  );
  const o = nd.zeros([2]);
  evaluate(new PrimFunc("pad", [O], [], ok, [O]), [o]);
  assert.deepEqual(Array.from(o.data), [1.5, 1.5]);
  // A stride too large for the parameter's data is caught before running.
  const P = new Buffer("P", "float32", [i32(2), i32(4)], "global", [i32(5), i32(1)]);
  throwsTessera(
    () => evaluate(new PrimFunc("p", [P], [], new Seq([]), []), [nd.zeros([2, 4])]),
    /argument 1 'P' has 8 elements but the parameter's strides \[5, 1\] reach element 8/,
  );
});

Deno.test("fresh allocations are poisoned so unwritten reads are visible", () => {
  const O = new Buffer("O", "float32", [i32(4)]);
  const OI = new Buffer("OI", "int32", [i32(4)]);
  const OB = new Buffer("OB", "bool", [i32(1)]);
  const T = new Buffer("T", "float32", [i32(4)], "local");
  const TI = new Buffer("TI", "int32", [i32(4)], "shared");
  const TB = new Buffer("TB", "bool", [i32(1)], "local");
  const i = new Var("i");
  // Only element 0 of each temporary is written.
  const body = new Allocate(
    T,
    new Allocate(
      TI,
      new Allocate(
        TB,
        new Seq([
          new BufferStore(T, [i32(0)], f32(2)),
          new BufferStore(TI, [i32(0)], i32(7)),
          loop(
            i,
            4,
            new Seq([
              new BufferStore(O, [i], new BufferLoad(T, [i])),
              new BufferStore(OI, [i], new BufferLoad(TI, [i])),
            ]),
          ),
          new BufferStore(OB, [i32(0)], new BufferLoad(TB, [i32(0)])),
        ]),
      ),
    ),
  );
  const o = nd.zeros([4]), oi = nd.zeros([4], "int32"), ob = nd.zeros([1], "bool");
  evaluate(new PrimFunc("poison", [O, OI, OB], [], body, [O, OI, OB]), [o, oi, ob]);
  assert.equal(o.data[0], 2);
  assert.ok([1, 2, 3].every((k) => Number.isNaN(o.data[k])));
  assert.deepEqual(Array.from(oi.data), [7, INT32_POISON, INT32_POISON, INT32_POISON]);
  assert.equal(ob.data[0], BOOL_POISON);
});

Deno.test("an allocation inside a loop is fresh on every iteration", () => {
  const O = new Buffer("O", "float32", [i32(3)]);
  const T = new Buffer("T", "float32", [i32(1)], "local");
  const i = new Var("i");
  // Iteration 0 writes T; later iterations must not see that value.
  const body = loop(
    i,
    3,
    new Allocate(
      T,
      new Seq([
        new IfThenElse(new Cmp("eq", i, i32(0)), new BufferStore(T, [i32(0)], f32(5))),
        new BufferStore(O, [i], new BufferLoad(T, [i32(0)])),
      ]),
    ),
  );
  const o = nd.zeros([3]);
  evaluate(new PrimFunc("fresh", [O], [], body, [O]), [o]);
  assert.equal(o.data[0], 5);
  assert.ok(Number.isNaN(o.data[1]) && Number.isNaN(o.data[2]));
});

Deno.test("size variables bind from argument shapes; mismatches name argument and dimension", () => {
  const n = new Var("n"), m = new Var("m");
  const A = new Buffer("A", "float32", [n, i32(64)]);
  const B = new Buffer("B", "float32", [n, m]);
  const i = new Var("i"), j = new Var("j");
  const body = loop(
    i,
    n,
    loop(
      j,
      m,
      new BufferStore(
        B,
        [i, j],
        new BufferLoad(A, [i, new Binary("floormod", j, i32(64), "int32")]),
      ),
    ),
  );
  const f = new PrimFunc("matmul", [A, B], [n, m], body, [B]);
  const a = nd.array(Float32Array.from({ length: 3 * 64 }, (_, k) => k), [3, 64]);
  const b = nd.zeros([3, 5]);
  evaluate(f, [a, b]);
  assert.deepEqual(Array.from(b.data.slice(5, 10)), [64, 65, 66, 67, 68]);

  throwsTessera(
    () => evaluate(f, [a, nd.zeros([2, 5])]),
    /^evaluate\(matmul\): argument 2 'B' dimension 0 is 2 but n = 3 from argument 1 'A'$/,
  );
  throwsTessera(
    () => evaluate(f, [nd.zeros([3, 63]), b]),
    /argument 1 'A' dimension 1 is 63 but the parameter requires 64/,
  );
  throwsTessera(() => evaluate(f, [a]), /expected 2 arguments \(A, B\) but got 1/);
  throwsTessera(
    () => evaluate(f, [a, nd.zeros([3, 5], "int32")]),
    /argument 2 'B' has dtype int32 but the parameter is float32/,
  );
  throwsTessera(() => evaluate(f, [a, nd.zeros([15])]), /argument 2 'B' has rank 1 .* rank 2/);

  const k = new Var("k");
  const g = new PrimFunc("g", [A, B], [n, m, k], body, [B]);
  throwsTessera(() => evaluate(g, [a, b]), /size variable 'k' does not appear/);
});

Deno.test("loops with a nonzero min, let bindings, if/else and barriers", () => {
  const O = new Buffer("O", "int32", [i32(10)]);
  const i = new Var("i"), x = new Var("x");
  const body = new For(
    i,
    i32(2),
    i32(5),
    "threadBinding",
    new LetStmt(
      x,
      new Binary("mul", i, i, "int32"),
      new Seq([
        new Barrier(),
        new IfThenElse(
          new Cmp("lt", x, i32(20)),
          new BufferStore(O, [i], x),
          new BufferStore(O, [i], new Binary("sub", i32(0), x, "int32")),
        ),
      ]),
    ),
    "threadIdx.x",
  );
  const o = nd.zeros([10], "int32");
  evaluate(new PrimFunc("misc", [O], [], body, [O]), [o]);
  assert.deepEqual(Array.from(o.data), [0, 0, 4, 9, 16, -25, -36, 0, 0, 0]);
});

Deno.test("unlowered nodes and out-of-scope variables are rejected", () => {
  const O = new Buffer("O", "float32", [i32(1)]);
  const k = new Var("k");
  const lhs = new Var("x", "float32"), rhs = new Var("y", "float32");
  const red = new Reduce(
    {
      name: "sum",
      lhs: [lhs],
      rhs: [rhs],
      result: [new Binary("add", lhs, rhs, "float32")],
      identity: [f32(0)],
    },
    f32(1),
    [k],
    new Const(1, "bool"),
  );
  throwsTessera(
    () =>
      evaluate(new PrimFunc("r", [O], [], new BufferStore(O, [i32(0)], red), [O]), [nd.zeros([1])]),
    /not lowered/,
  );
  const free = new BufferStore(O, [k], f32(0));
  throwsTessera(
    () => evaluate(new PrimFunc("v", [O], [], free, [O]), [nd.zeros([1])]),
    /variable 'k' is used outside/,
  );
  const T = new Buffer("T", "float32", [i32(1)]);
  throwsTessera(
    () =>
      evaluate(new PrimFunc("b", [O], [], new BufferStore(T, [i32(0)], f32(0)), [O]), [
        nd.zeros([1]),
      ]),
    /buffer 'T', which is neither a parameter nor inside its Allocate/,
  );
});

Deno.test("a 64x64x64 matmul matches a plain triple loop bit for bit, in well under a second", () => {
  const N = 64;
  const A = new Buffer("A", "float32", [i32(N), i32(N)]);
  const B = new Buffer("B", "float32", [i32(N), i32(N)]);
  const C = new Buffer("C", "float32", [i32(N), i32(N)]);
  const i = new Var("i"), j = new Var("j"), k = new Var("k");
  const body = loop(
    i,
    N,
    loop(
      j,
      N,
      new Seq([
        new BufferStore(C, [i, j], f32(0)),
        loop(
          k,
          N,
          new BufferStore(
            C,
            [i, j],
            new Binary(
              "add",
              new BufferLoad(C, [i, j]),
              new Binary("mul", new BufferLoad(A, [i, k]), new BufferLoad(B, [k, j]), "float32"),
              "float32",
            ),
          ),
        ),
      ]),
    ),
  );
  const f = new PrimFunc("matmul", [A, B, C], [], body, [C]);
  // Deterministic pseudo-random inputs with non-trivial rounding.
  let seed = 12345;
  const rnd = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    return ((seed >>> 8) / 2 ** 24) * 2 - 1;
  };
  const a = nd.array(Float32Array.from({ length: N * N }, rnd), [N, N]);
  const b = nd.array(Float32Array.from({ length: N * N }, rnd), [N, N]);
  const c = nd.zeros([N, N]);
  evaluate(f, [a, b, c]);

  const expected = new Float32Array(N * N);
  for (let ii = 0; ii < N; ii++) {
    for (let jj = 0; jj < N; jj++) {
      let acc = 0;
      for (let kk = 0; kk < N; kk++) {
        acc = Math.fround(acc + Math.fround(a.data[ii * N + kk] * b.data[kk * N + jj]));
      }
      expected[ii * N + jj] = acc;
    }
  }
  assert.deepEqual(c.data, expected);
});
