import assert from "node:assert/strict";
import fc from "fast-check";
import {
  Binary,
  Buffer,
  BufferLoad,
  Call,
  Cast,
  Cmp,
  type CommReducer,
  Const,
  type Expr,
  intConst,
  Logical,
  Neg,
  Not,
  Reduce,
  Select,
  TensorRead,
  type TensorRef,
  Var,
} from "../lib/ir/expr.ts";
import { BufferStore, For, IfThenElse, LetStmt, Seq, type Stmt } from "../lib/ir/stmt.ts";
import { evalBinary } from "../lib/ir/scalar.ts";
import { canProveEqual, proveTrue, simplify, simplifyStmt } from "../lib/arith/simplify.ts";
import { exprKey } from "../lib/arith/structural.ts";
import { evaluate, exprArb, Overflow, show } from "./arith_util.ts";

const i = new Var("i"), j = new Var("j"), k = new Var("k"), n = new Var("n");
const io = new Var("io"), ii = new Var("ii"), x = new Var("x"), y = new Var("y");
const f = new Var("f", "float32"), g = new Var("g", "float32"), h = new Var("h", "float16");
const b = new Var("b", "bool");
const c = intConst;
const fc32 = (v: number) => new Const(Math.fround(v), "float32");
const R = (min: number | Expr, extent: number | Expr) => ({
  min: typeof min === "number" ? c(min) : min,
  extent: typeof extent === "number" ? c(extent) : extent,
});
type Ranges = Map<Var, { min: Expr; extent: Expr }>;
const split: Ranges = new Map([[io, R(0, 4)], [ii, R(0, 8)]]);

function check(e: Expr, expected: string, ranges?: Ranges) {
  const r = simplify(e, ranges);
  assert.equal(show(r), expected);
  assert.equal(r.dtype, e.dtype, "dtype preserved");
}

Deno.test("constant folding matches scalar.ts for every dtype", () => {
  check(c(3).add(c(4).mul(2)), "11");
  // Past int32 a sum is kept, not wrapped: it evaluates to the wrapped value all the same, and
  // to the exact one where an index is computed in int64 (sizes_test.ts).
  check(c(2147483647).add(1), "2147483647 + 1");
  check(c(46341).mul(46341).sub(c(46341).mul(46341)), "0");
  check(c(-7).div(2), "-3");
  check(c(-7).mod(2), "-1");
  check(c(-7).floordiv(2), "-4");
  check(c(-7).floormod(2), "1");
  check(c(3).min(-2).max(1), "1");
  const sum = simplify(fc32(0.1).add(fc32(0.2)));
  assert.ok(sum instanceof Const);
  assert.ok(Object.is(sum.value, evalBinary("add", "float32", Math.fround(0.1), Math.fround(0.2))));
  const half = simplify(
    new Binary("mul", new Const(0.1, "float16"), new Const(3, "float16"), "float16"),
  );
  assert.ok(half instanceof Const && half.dtype === "float16");
  assert.equal(half.value, evalBinary("mul", "float16", 0.1, 3));
  check(new Cmp("lt", fc32(1), fc32(2)), "true");
  check(new Cmp("eq", fc32(NaN), fc32(NaN)), "false");
  check(new Call("sqrt", [fc32(4)], "float32"), "2f");
  check(new Cast("int32", fc32(-2.7)), "-2");
  check(new Cast("float32", c(3)), "3f");
});

Deno.test("integer division by zero is never folded", () => {
  check(c(5).div(0), "5/0");
  check(c(5).mod(0), "5%0");
  check(c(5).floordiv(0), "floordiv(5, 0)");
  check(x.floormod(0), "floormod(x, 0)");
  check(x.sub(x).floordiv(0), "floordiv(0, 0)");
});

Deno.test("integer identities", () => {
  check(x.mul(1), "x");
  check(c(1).mul(x), "x");
  check(x.add(0), "x");
  check(x.sub(0), "x");
  check(c(0).mul(x), "0");
  check(x.sub(x), "0");
  check(x.floordiv(1), "x");
  check(x.floormod(1), "0");
  check(x.neg().neg(), "x");
});

Deno.test("float identities are only the exact ones", () => {
  check(f.mul(1), "f");
  check(f.div(1), "f");
  check(f.sub(0), "f");
  check(f.add(0), "f + 0f"); // -0 + 0 is +0
  check(f.mul(0), "f*0f"); // NaN*0 is NaN
  check(f.sub(f), "f - f"); // inf - inf is NaN
  check(f.min(f), "f");
  check(new Neg(new Neg(f)), "f");
  check(new Not(f.lt(g)), "!(f < g)"); // NaN: !(f < g) is not f >= g
  check(new Not(f.eq(g)), "f != g");
});

Deno.test("linear normalization", () => {
  check(io.mul(8).add(ii).sub(io.mul(8)), "ii");
  check(i.mul(4).add(j).mul(2), "i*8 + j*2");
  check(c(1).add(i), "i + 1");
  check(i.neg().add(n), "n - i");
  check(c(5).sub(i), "5 - i");
  check(i.mul(3).sub(i.mul(3)).add(2), "2");
  check(i.add(1).sub(3), "i - 2");
  check(i.sub(j).add(k).sub(i), "k - j");
  check(i.mul(-3), "i*-3");
  check(i.neg(), "-i");
  check(i.add(j).mul(i.add(j)).sub(j.add(i).mul(i.add(j))), "(i + j)*(i + j) - (j + i)*(i + j)");
  check(i.mul(j).mul(2).sub(i.mul(j)), "i*j");
});

Deno.test("floordiv and floormod of sums", () => {
  check(i.mul(8).floordiv(8), "i");
  check(i.mul(8).floordiv(4), "i*2");
  check(i.mul(8).add(j).floordiv(8), "i + floordiv(j, 8)");
  check(i.mul(8).add(j).floormod(8), "floormod(j, 8)");
  check(i.mul(4).add(5).floordiv(4), "i + 1");
  check(i.add(9).floormod(4), "floormod(i + 1, 4)");
  check(io.mul(8).add(ii).floordiv(8), "io", split);
  check(io.mul(8).add(ii).floormod(8), "ii", split);
  check(io.mul(8).add(ii).add(3).floordiv(8), "io + floordiv(ii + 3, 8)", split);
  check(i.floordiv(4), "0", new Map([[i, R(0, 4)]]));
  check(i.floormod(4), "i", new Map([[i, R(0, 4)]]));
  check(i.floordiv(4), "floordiv(i, 4)", new Map([[i, R(0, 5)]]));
  check(i.floormod(4), "i - 4", new Map([[i, R(4, 4)]]));
});

Deno.test("floordiv/floormod: nested divisions and common factors", () => {
  check(x.floordiv(2).floordiv(3), "floordiv(x, 6)");
  check(x.floormod(8).floormod(4), "floormod(x, 4)");
  check(x.floormod(6).floormod(4), "floormod(floormod(x, 6), 4)");
  check(i.mul(4).add(2).floordiv(8), "floordiv(i*2 + 1, 4)");
  check(i.mul(4).floormod(8), "floormod(i, 2)*4");
});

Deno.test("a quotient and its remainder recombine: (x // c)*c + x % c = x", () => {
  const fused = io.mul(6).add(ii);
  check(x.floordiv(6).mul(6).add(x.floormod(6)), "x");
  check(x.floormod(6).add(x.floordiv(6).mul(6)).add(1), "x + 1");
  check(x.floordiv(6).mul(12).add(x.floormod(6).mul(2)).add(y), "x*2 + y");
  check(x.div(5).mul(5).add(x.mod(5)), "x");
  check(fused.floordiv(7).mul(7).add(fused.floormod(7)).sub(ii), "io*6");
  // A mismatched pair is left alone.
  check(x.floordiv(6).mul(5).add(x.floormod(6)), "floordiv(x, 6)*5 + floormod(x, 6)");
  check(x.floordiv(6).mul(6).add(x.mod(6)), "floordiv(x, 6)*6 + x%6");
});

Deno.test("truncating div/mod need a non-negative dividend", () => {
  check(i.mul(8).add(j).div(8), "(i*8 + j)/8"); // i, j may be negative
  const nonneg: Ranges = new Map([[i, R(0, 10)], [j, R(0, 8)]]);
  check(i.mul(8).add(j).div(8), "i", nonneg);
  check(i.mul(8).add(j).mod(8), "j", nonneg);
  check(j.div(8), "0", nonneg);
  check(j.mod(8), "j", nonneg);
  check(i.mul(8).add(j).add(16).mod(8), "j", nonneg);
  check(j.mod(8), "j%8", new Map([[j, R(-1, 8)]]));
  check(j.div(-2), "j/-2", nonneg);
});

Deno.test("min and max decided by ranges", () => {
  check(x.min(x.add(1)), "x");
  check(x.max(x.add(1)), "x + 1");
  check(x.min(x), "x");
  check(i.min(10), "i", new Map([[i, R(0, 8)]]));
  check(i.max(10), "10", new Map([[i, R(0, 8)]]));
  check(i.min(5), "min(i, 5)", new Map([[i, R(0, 8)]]));
  check(c(5).min(x), "min(x, 5)");
  check(x.min(3).min(5), "min(x, 3)");
  check(x.max(3).max(5), "max(x, 5)");
  check(i.min(n), "i", new Map([[i, R(0, n)]]));
  check(io.mul(8).add(ii).min(31), "io*8 + ii", split);
});

Deno.test("comparisons decided by ranges, normalized otherwise", () => {
  check(i.lt(8), "true", new Map([[i, R(0, 8)]]));
  check(i.ge(8), "false", new Map([[i, R(0, 8)]]));
  check(i.lt(7), "i < 7", new Map([[i, R(0, 8)]]));
  check(i.lt(n), "true", new Map([[i, R(0, n)]]));
  check(i.add(1).le(n), "true", new Map([[i, R(0, n)]]));
  check(i.ge(n), "false", new Map([[i, R(0, n)]]));
  check(io.mul(8).add(ii).lt(32), "true", split);
  check(io.mul(8).add(ii).lt(30), "io*8 + ii < 30", split);
  check(x.add(3).lt(10), "x < 7");
  check(c(5).lt(x), "x > 5");
  check(x.eq(x), "true");
  check(x.add(1).ne(x), "true");
  check(x.le(y), "x <= y");
});

Deno.test("select, logical and not", () => {
  check(new Select(new Const(1, "bool"), x, y), "x");
  check(new Select(new Const(0, "bool"), x, y), "y");
  check(new Select(b, x.add(1), c(1).add(x)), "x + 1");
  check(new Select(i.lt(8), x, y), "x", new Map([[i, R(0, 8)]]));
  check(new Select(b, new Const(1, "bool"), new Const(0, "bool")), "b");
  check(new Select(x.lt(3), new Const(0, "bool"), new Const(1, "bool")), "x >= 3");
  check(x.lt(3).and(true), "x < 3");
  check(x.lt(3).and(false), "false");
  check(new Const(0, "bool").or(b), "b");
  check(b.or(true), "true");
  check(b.and(b), "b");
  check(b.not().not(), "b");
  check(x.lt(3).not(), "x >= 3");
  check(x.eq(3).not(), "x != 3");
  check(new Logical("and", i.lt(8), x.lt(y)), "x < y", new Map([[i, R(0, 8)]]));
});

Deno.test("casts: same-type and exact double casts are removed", () => {
  check(new Cast("int32", x), "x");
  check(new Cast("int32", new Cast("float32", b)), "int32(b)");
  check(new Cast("float32", new Cast("float16", b)), "float32(b)");
  check(new Cast("int32", new Cast("float32", h)), "int32(h)"); // f16 -> f32 is exact
  check(new Cast("int32", new Cast("float32", new Cast("float16", h))), "int32(h)");
  check(new Cast("int32", new Cast("float32", x)), "int32(float32(x))"); // int32 -> f32 rounds
  check(new Cast("float16", new Cast("float32", h)), "h");
  check(new Cast("float16", new Cast("float32", x)), "float16(float32(x))"); // double rounding
});

Deno.test("loads, tensor reads and reductions keep their shape, indices are simplified", () => {
  const buf = new Buffer("A", "float32", [c(32)]);
  const load = new BufferLoad(buf, [io.mul(8).add(ii).sub(io.mul(8))]);
  const r = simplify(load);
  assert.ok(r instanceof BufferLoad && r.buffer === buf);
  assert.equal(show(r), "A[ii]");

  const tensor: TensorRef = {
    name: "T",
    dtype: "float32",
    shape: [c(8)],
    op: { name: "T" },
    valueIndex: 0,
  };
  const read = simplify(new TensorRead(tensor, [c(1).add(i)]));
  assert.ok(read instanceof TensorRead && read.tensor === tensor);
  assert.equal(show(read), "T(i + 1)");

  const lhs = new Var("lhs", "float32"), rhs = new Var("rhs", "float32");
  const sum: CommReducer = {
    name: "sum",
    lhs: [lhs],
    rhs: [rhs],
    result: [lhs.add(rhs)],
    identity: [fc32(0)],
  };
  const red = new Reduce(sum, new TensorRead(tensor, [k.add(0)]), [k], i.lt(n).and(true));
  const rr = simplify(red);
  assert.ok(rr instanceof Reduce && rr.combiner === sum && rr.axis[0] === k);
  assert.equal(show(rr), "reduce(T(k), i < n)");
});

Deno.test("proveTrue and canProveEqual are conservative", () => {
  assert.equal(proveTrue(i.lt(n), new Map([[i, R(0, n)]])), true);
  assert.equal(proveTrue(i.lt(n)), false);
  assert.equal(proveTrue(i.lt(n).or(i.ge(n))), false); // true, but not provable by ranges
  assert.equal(proveTrue(io.mul(8).add(ii).le(31), split), true);
  assert.equal(canProveEqual(i.mul(4).add(j).mul(2), j.mul(2).add(i.mul(8))), true);
  assert.equal(canProveEqual(i.floordiv(4), c(0), new Map([[i, R(0, 4)]])), true);
  assert.equal(canProveEqual(i, j), false);
  assert.equal(canProveEqual(f.mul(1), f), true);
  assert.equal(canProveEqual(f.add(g), g.add(f)), false);
});

Deno.test("simplify is deterministic and keeps the result when run again", () => {
  const e = i.mul(8).add(j).floordiv(8).add(c(3).min(x)).sub(x.mul(2).add(1).mul(3));
  const once = simplify(e);
  assert.equal(show(once), "i + floordiv(j, 8) + min(x, 3) - x*6 - 3");
  assert.equal(exprKey(simplify(once)), exprKey(once));
});

// ---- statements ---------------------------------------------------------------------------

const A = new Buffer("A", "float32", [c(32)]);
const B = new Buffer("B", "float32", [c(32)]);
const store = (idx: Expr, v: Expr = fc32(1)) => new BufferStore(A, [idx], v);

function showStmt(s: Stmt, ind = ""): string {
  switch (s.kind) {
    case "for":
      return `${ind}for ${s.loopVar.name} in [${show(s.min)}, +${show(s.extent)}) ${s.forKind}\n${
        showStmt(s.body, ind + "  ")
      }`;
    case "store":
      return `${ind}${s.buffer.name}[${s.indices.map((e) => show(e)).join(", ")}] = ${
        show(s.value)
      }\n`;
    case "if":
      return `${ind}if ${show(s.cond)}\n${showStmt(s.then, ind + "  ")}${
        s.otherwise ? `${ind}else\n${showStmt(s.otherwise, ind + "  ")}` : ""
      }`;
    case "seq":
      return s.stmts.map((x) => showStmt(x, ind)).join("");
    case "let":
      return `${ind}let ${s.v.name} = ${show(s.value)}\n${showStmt(s.body, ind)}`;
    default:
      return `${ind}${s.kind}\n`;
  }
}

Deno.test("simplifyStmt: loop ranges drive the body's simplification", () => {
  const body = new IfThenElse(
    io.mul(8).add(ii).lt(32),
    new BufferStore(
      A,
      [io.mul(8).add(ii).floordiv(8).mul(8).add(io.mul(8).add(ii).floormod(8))],
      new BufferLoad(B, [ii.add(io.mul(8))]),
    ),
  );
  const nest = new For(io, c(0), c(4), "serial", new For(ii, c(0), c(8), "serial", body));
  assert.equal(
    showStmt(simplifyStmt(nest)),
    "for io in [0, +4) serial\n  for ii in [0, +8) serial\n    A[io*8 + ii] = B[ii + io*8]\n",
  );
});

Deno.test("simplifyStmt: symbolic extents, guards and dependent inner ranges", () => {
  const inner = new For(
    j,
    i.mul(2),
    c(2),
    "serial",
    new IfThenElse(j.lt(i.mul(2).add(2)), store(j), store(c(0))),
  );
  const s = new For(i, c(0), n, "parallel", new Seq([new IfThenElse(i.lt(n), store(i)), inner]));
  assert.equal(
    showStmt(simplifyStmt(s)),
    "for i in [0, +n) parallel\n  A[i] = 1f\n  for j in [i*2, +2) serial\n    A[j] = 1f\n",
  );
});

Deno.test("simplifyStmt: extent-1 loops inlined, empty loops dropped, thread loops kept", () => {
  const one = new For(i, c(3), c(1), "serial", store(i.add(1)));
  assert.equal(showStmt(simplifyStmt(one)), "A[4] = 1f\n");
  const zero = new For(i, c(0), n.sub(n), "serial", store(i));
  assert.equal(showStmt(simplifyStmt(zero)), "");
  const emptyBody = new For(i, c(0), n, "serial", new IfThenElse(i.ge(n), store(i)));
  assert.equal(showStmt(simplifyStmt(emptyBody)), "");
  const thread = new For(i, c(0), c(1), "threadBinding", store(i), "threadIdx.x");
  const t = simplifyStmt(thread);
  assert.ok(t instanceof For && t.forKind === "threadBinding" && t.threadTag === "threadIdx.x");
  assert.equal(showStmt(t), "for i in [0, +1) threadBinding\n  A[0] = 1f\n");
  const ifElse = new IfThenElse(c(1).lt(2), store(c(1)), store(c(2)));
  assert.equal(showStmt(simplifyStmt(ifElse)), "A[1] = 1f\n");
  const ifElse2 = new IfThenElse(c(3).lt(2), store(c(1)), store(c(2)));
  assert.equal(showStmt(simplifyStmt(ifElse2)), "A[2] = 1f\n");
});

Deno.test("simplifyStmt: a let variable is known to equal its value", () => {
  const s = new For(
    i,
    c(0),
    c(8),
    "serial",
    new LetStmt(k, i.add(1), new IfThenElse(k.le(8), store(k.sub(1)))),
  );
  assert.equal(
    showStmt(simplifyStmt(s)),
    "for i in [0, +8) serial\n  let k = i + 1\n  A[k - 1] = 1f\n",
  );
  const unchanged = new For(i, c(0), n, "serial", store(i));
  assert.equal(simplifyStmt(unchanged), unchanged, "untouched statements are shared");
});

// ---- properties ---------------------------------------------------------------------------

const NUM_RUNS = 500;

/** Runs a property that returns "skip" for cases outside the contract, and checks most ran. */
function assertMostlyRun<T extends unknown[]>(
  arbs: { [K in keyof T]: fc.Arbitrary<T[K]> },
  body: (...args: T) => "ok" | "skip",
) {
  let ran = 0, skipped = 0;
  fc.assert(
    fc.property(...(arbs as unknown as [fc.Arbitrary<unknown>]), (...args: unknown[]) => {
      if (body(...(args as T)) === "ok") ran++;
      else skipped++;
    }),
    { numRuns: NUM_RUNS },
  );
  assert.ok(ran > skipped, `too many skipped cases: ran ${ran}, skipped ${skipped}`);
}

function origValue(e: Expr, env: Map<Var, number>): number | "skip" {
  try {
    return evaluate(e, env, true);
  } catch (err) {
    if (err instanceof Overflow || (err instanceof Error && /by zero/.test(err.message))) {
      return "skip";
    }
    throw err;
  }
}

Deno.test("property: simplify without ranges preserves values", () => {
  assertMostlyRun(
    [
      exprArb([x, y, k]),
      fc.integer({ min: -20, max: 20 }),
      fc.integer({ min: -20, max: 20 }),
      fc.integer({ min: -20, max: 20 }),
    ],
    (e: Expr, xv: number, yv: number, kv: number) => {
      const env = new Map([[x, xv], [y, yv], [k, kv]]);
      const want = origValue(e, env);
      if (want === "skip") return "skip";
      const s = simplify(e);
      assert.equal(s.dtype, e.dtype);
      assert.equal(evaluate(s, env), want, `${show(e)} ~> ${show(s)} at x=${xv} y=${yv} k=${kv}`);
      return "ok";
    },
  );
});

/** x in [xm, xm+xe), y in [x*m + yb, ... + ye) or symbolic extent k, k free. */
const rangeCase = fc.record({
  xm: fc.integer({ min: -8, max: 8 }),
  xe: fc.integer({ min: 1, max: 8 }),
  m: fc.integer({ min: -2, max: 2 }),
  yb: fc.integer({ min: -5, max: 5 }),
  ye: fc.integer({ min: 1, max: 8 }),
  symbolic: fc.boolean(),
  kv: fc.integer({ min: 1, max: 10 }),
  ox: fc.nat(),
  oy: fc.nat(),
});

Deno.test("property: simplify under (dependent, symbolic) ranges preserves values", () => {
  assertMostlyRun([exprArb([x, y, k]), rangeCase], (e: Expr, r) => {
    const yExtent = r.symbolic ? k : c(r.ye);
    const ranges: Ranges = new Map([
      [x, R(r.xm, r.xe)],
      [y, { min: x.mul(r.m).add(r.yb), extent: yExtent }],
    ]);
    const xv = r.xm + (r.ox % r.xe);
    const yv = xv * r.m + r.yb + (r.oy % (r.symbolic ? r.kv : r.ye));
    const env = new Map([[x, xv], [y, yv], [k, r.kv]]);
    const want = origValue(e, env);
    if (want === "skip") return "skip";
    const s = simplify(e, ranges);
    assert.equal(s.dtype, e.dtype);
    assert.equal(evaluate(s, env), want, `${show(e)} ~> ${show(s)} at ${JSON.stringify(r)}`);
    return "ok";
  });
});

Deno.test("property: simplify is idempotent", () => {
  fc.assert(
    fc.property(exprArb([x, y, k]), (e) => {
      const once = simplify(e);
      const twice = simplify(once);
      assert.equal(show(twice), show(once), `not idempotent on ${show(e)}`);
    }),
    { numRuns: NUM_RUNS },
  );
});

Deno.test("property: simplifyStmt keeps what a loop nest stores", () => {
  assertMostlyRun([exprArb([x, y, k], { maxDepth: 4 }), rangeCase], (e: Expr, r) => {
    // for x in [xm, xm+xe): for y in [x*m + yb, +ye): if (x - y < k) A[..] = e
    const store = new BufferStore(A, [x.sub(y)], new Cast("float32", e));
    const body = new IfThenElse(x.sub(y).lt(k), store);
    const nest = new For(
      x,
      c(r.xm),
      c(r.xe),
      "serial",
      new For(y, x.mul(r.m).add(r.yb), c(r.ye), "serial", body),
    );
    // `checked` runs the original: overflow there means the case is outside the contract.
    const run = (s: Stmt, checked: boolean) => {
      const out: string[] = [];
      const ev = (e: Expr, env: Map<Var, number>) => evaluate(e, env, checked);
      const go = (st: Stmt, env: Map<Var, number>) => {
        if (st.kind === "for") {
          const lo = ev(st.min, env), ext = ev(st.extent, env);
          for (let v = lo; v < lo + ext; v++) go(st.body, new Map(env).set(st.loopVar, v));
        } else if (st.kind === "if") {
          if (ev(st.cond, env)) go(st.then, env);
          else if (st.otherwise) go(st.otherwise, env);
        } else if (st.kind === "seq") st.stmts.forEach((t) => go(t, env));
        else if (st.kind === "store") {
          out.push(`${ev(st.indices[0], env)}=${ev(st.value, env)}`);
        } else throw new Error(st.kind);
      };
      go(s, new Map([[k, r.kv]]));
      return out;
    };
    let want: string[];
    try {
      want = run(nest, true);
    } catch (err) {
      if (err instanceof Overflow || (err instanceof Error && /by zero/.test(err.message))) {
        return "skip";
      }
      throw err;
    }
    assert.deepEqual(run(simplifyStmt(nest), false), want);
    return "ok";
  });
});
