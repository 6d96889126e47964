/**
 * The printed form is what lowering tests compare and what users read, so it is pinned by
 * golden strings: every loop kind, if/else, allocate, let, barrier, pragmas, precedence,
 * constants that round-trip, and names made unique when distinct objects share one.
 */
import assert from "node:assert/strict";
import {
  Binary,
  Buffer,
  BufferLoad,
  Call,
  Cast,
  Cmp,
  Const,
  type Expr,
  Logical,
  Neg,
  Not,
  Select,
  Var,
} from "../lib/ir/expr.ts";
import { printExpr, printFunc, printStmt } from "../lib/ir/printer.ts";
import {
  Allocate,
  Barrier,
  BufferStore,
  For,
  IfThenElse,
  LetStmt,
  PrimFunc,
  Seq,
} from "../lib/ir/stmt.ts";

const i32 = (v: number) => new Const(v, "int32");
const f32 = (v: number) => new Const(v, "float32");
const bin = (op: Binary["op"], a: Expr, b: Expr) => new Binary(op, a, b, a.dtype);

Deno.test("a small nest with every loop kind, if/else, allocate, let and barrier", () => {
  const n = new Var("n");
  const A = new Buffer("A", "float32", [n, i32(64)]);
  const B = new Buffer("B", "float32", [i32(64), i32(32)]);
  const C = new Buffer("C", "float32", [n, i32(32)]);
  const L = new Buffer("C_local", "float32", [i32(8), i32(8)], "local");
  const io = new Var("i_outer"), ii = new Var("i_inner"), j = new Var("j"), k = new Var("k");
  const tx = new Var("tx"), x = new Var("x");
  const i = bin("add", bin("mul", io, i32(8)), ii);
  const update = new BufferStore(
    C,
    [i, j],
    bin(
      "add",
      new BufferLoad(C, [i, j]),
      bin("mul", new BufferLoad(A, [i, k]), new BufferLoad(B, [k, j])),
    ),
  );
  const body = new For(
    io,
    i32(0),
    bin("floordiv", bin("add", n, i32(7)), i32(8)),
    "parallel",
    new For(
      tx,
      i32(0),
      i32(32),
      "threadBinding",
      new Allocate(
        L,
        new Seq([
          new For(
            ii,
            i32(0),
            i32(8),
            "serial",
            new LetStmt(
              x,
              bin("add", bin("mul", io, i32(8)), ii),
              new IfThenElse(
                new Cmp("lt", x, n),
                new For(
                  j,
                  i32(0),
                  i32(32),
                  "vectorized",
                  new For(k, i32(4), i32(60), "unrolled", update, null, [["unroll_explicit", 1]]),
                ),
                new BufferStore(L, [i32(0), i32(0)], f32(0)),
              ),
            ),
            null,
            [["auto_unroll_max_step", 16]],
          ),
          new Barrier(),
        ]),
      ),
      "threadIdx.x",
    ),
  );
  const f = new PrimFunc("matmul", [A, B, C], [n], body, [C]);
  const expected = `@T.prim_func
def matmul(A: T.Buffer((n, 64), "float32"), B: T.Buffer((64, 32), "float32"), C: T.Buffer((n, 32), "float32")):
    n = T.int32()
    for i_outer in T.parallel((n + 7) // 8):
        for tx in T.thread_binding(32, thread="threadIdx.x"):
            C_local = T.alloc_buffer((8, 8), scope="local")
            for i_inner in range(8):  # pragma auto_unroll_max_step=16
                x: T.int32 = i_outer * 8 + i_inner
                if x < n:
                    for j in T.vectorized(32):
                        for k in T.unroll(4, 64):  # pragma unroll_explicit=1
                            C[i_outer * 8 + i_inner, j] = C[i_outer * 8 + i_inner, j] + A[i_outer * 8 + i_inner, k] * B[k, j]
                else:
                    C_local[0, 0] = 0.0
            T.tvm_storage_sync("shared")`;
  assert.equal(printFunc(f), expected);
  // Importing the printer installs it as PrimFunc's toString.
  assert.equal(String(f), expected);
});

Deno.test("loop bounds with a symbolic min print as range(min, min + extent)", () => {
  const i = new Var("i"), lo = new Var("lo");
  const O = new Buffer("O", "int32", [i32(10)]);
  const s = new For(i, lo, i32(4), "serial", new BufferStore(O, [i], i));
  assert.equal(printStmt(s), "for i in range(lo, lo + 4):\n    O[i] = i");
  assert.equal(printStmt(s, 2), "        for i in range(lo, lo + 4):\n            O[i] = i");
  const z = new Buffer("Z", "float16", [], "shared", null);
  assert.equal(
    printStmt(new Allocate(z, new BufferStore(z, [], new Const(0.5, "float16")))),
    'Z = T.alloc_buffer((), "float16", scope="shared")\nZ[()] = T.float16(0.5)',
  );
  assert.equal(printStmt(new Seq([])), "pass");
});

Deno.test("expressions get only the parentheses Python precedence needs", () => {
  const a = new Var("a"), b = new Var("b"), c = new Var("c");
  const x = new Var("x", "float32"), y = new Var("y", "float32");
  const cases: Array<[Expr, string]> = [
    [bin("add", bin("add", a, b), c), "a + b + c"],
    [bin("add", a, bin("add", b, c)), "a + (b + c)"],
    [bin("sub", a, bin("sub", b, c)), "a - (b - c)"],
    [bin("mul", bin("add", a, b), c), "(a + b) * c"],
    [bin("add", a, bin("mul", b, c)), "a + b * c"],
    [bin("floordiv", bin("mul", a, b), c), "a * b // c"],
    [bin("mul", a, bin("floormod", b, c)), "a * (b % c)"],
    [bin("div", a, b), "T.truncdiv(a, b)"],
    [bin("mod", a, b), "T.truncmod(a, b)"],
    [bin("div", x, y), "x / y"],
    [bin("min", a, bin("max", b, c)), "T.min(a, T.max(b, c))"],
    [bin("pow", x, f32(2)), "T.pow(x, 2.0)"],
    [new Neg(bin("add", a, b)), "-(a + b)"],
    [bin("add", a, new Neg(b)), "a + -b"],
    [bin("sub", a, i32(-3)), "a - -3"],
    [
      new Logical("and", new Cmp("lt", a, b), new Cmp("ge", bin("add", a, i32(1)), c)),
      "a < b and a + 1 >= c",
    ],
    [
      new Logical(
        "and",
        new Logical("or", new Cmp("eq", a, b), new Cmp("ne", a, c)),
        new Not(new Cmp("gt", b, c)),
      ),
      "(a == b or a != c) and not b > c",
    ],
    [
      new Not(new Logical("and", new Cmp("le", a, b), new Cmp("le", b, c))),
      "not (a <= b and b <= c)",
    ],
    [new Cmp("eq", new Cmp("lt", a, b), new Const(1, "bool")), "(a < b) == True"],
    [new Select(new Cmp("lt", a, b), x, f32(0.5)), "T.if_then_else(a < b, x, 0.5)"],
    [new Call("exp", [new Cast("float32", a)], "float32"), 'T.exp(T.Cast("float32", a))'],
  ];
  for (const [e, s] of cases) assert.equal(printExpr(e), s);
});

Deno.test("constants look like their type and round-trip", () => {
  const cases: Array<[Const, string]> = [
    [f32(1), "1.0"],
    [f32(0.5), "0.5"],
    [f32(Math.fround(0.1)), "0.1"],
    [f32(0.1), "0.1"],
    [f32(-2.25), "-2.25"],
    [f32(1e-10), "1e-10"],
    [f32(3e38), "3e+38"],
    [f32(-0), "-0.0"],
    [f32(-Infinity), "T.float32(-inf)"],
    [f32(Infinity), "T.float32(inf)"],
    [f32(NaN), "T.float32(nan)"],
    [new Const(1, "bool"), "True"],
    [new Const(0, "bool"), "False"],
    [i32(42), "42"],
    [i32(-7), "-7"],
  ];
  for (const [c, s] of cases) assert.equal(printExpr(c), s);
  // Every finite float32 prints as a decimal that reads back as the same float32.
  for (const v of [1 / 3, Math.PI, 16777217, 1.17549435e-38, 3.4028234e38, 7e-45]) {
    const s = printExpr(f32(v));
    assert.equal(Math.fround(Number(s)), Math.fround(v), s);
    assert.match(s, /[.e]/);
  }
});

Deno.test("distinct variables and buffers that share a name are suffixed", () => {
  const i1 = new Var("i"), i2 = new Var("i"), i3 = new Var("i");
  const A = new Buffer("A", "float32", [i32(4)]);
  const A2 = new Buffer("A", "float32", [i32(4)], "local");
  const s = new Seq([
    new For(i1, i32(0), i32(4), "serial", new BufferStore(A, [i1], f32(1))),
    new For(
      i2,
      i32(0),
      i32(4),
      "serial",
      new Allocate(
        A2,
        new For(i3, i32(0), i32(4), "serial", new BufferStore(A2, [i3], new BufferLoad(A, [i2]))),
      ),
    ),
    // The first i again: it keeps its name.
    new For(i1, i32(0), i32(2), "serial", new BufferStore(A, [i1], f32(2))),
  ]);
  assert.equal(
    printStmt(s),
    [
      "for i in range(4):",
      "    A[i] = 1.0",
      "for i_1 in range(4):",
      '    A_1 = T.alloc_buffer((4,), scope="local")',
      "    for i_2 in range(4):",
      "        A_1[i_2] = A[i_1]",
      "for i in range(2):",
      "    A[i] = 2.0",
    ].join("\n"),
  );
  // Parameters and size variables claim their names first; a clash with a given "_1" name
  // is skipped over.
  const n = new Var("n"), n2 = new Var("n"), n1 = new Var("n_1");
  const P = new Buffer("P", "int32", [n]);
  const f = new PrimFunc(
    "f",
    [P],
    [n],
    new LetStmt(n1, i32(1), new LetStmt(n2, n, new BufferStore(P, [n1], n2))),
    [P],
  );
  assert.equal(
    printFunc(f),
    [
      "@T.prim_func",
      'def f(P: T.Buffer((n,), "int32")):',
      "    n = T.int32()",
      "    n_1: T.int32 = 1",
      "    n_2: T.int32 = n",
      "    P[n_1] = n_2",
    ].join("\n"),
  );
});

Deno.test("strided and scoped parameter buffers show their layout", () => {
  const P = new Buffer("P", "float32", [i32(4), i32(4)], "global", [i32(5), i32(1)]);
  const f = new PrimFunc("g", [P], [], new IfThenElse(new Const(1, "bool"), new Seq([])), []);
  assert.equal(
    printFunc(f),
    '@T.prim_func\ndef g(P: T.Buffer((4, 4), "float32", strides=(5, 1))):\n    if True:\n        pass',
  );
});
