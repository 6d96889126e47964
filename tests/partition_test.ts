/**
 * Loop partitioning: the steady part of a loop with a non-dividing split runs without its
 * guard, the remainder keeps it (or makes it its loop bound), results stay those of the
 * definitions (constant and symbolic sizes, many values of each size), guards that cannot be
 * proven stay as they are, and code grows at most linearly with the number of guards.
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { nd, type Stmt, te, type Tensor } from "../mod.ts";
import { Buffer, BufferLoad, Cast, Cmp, Const, type Expr, intConst, Var } from "../lib/ir/expr.ts";
import { Barrier, BufferStore, For, IfThenElse, PrimFunc, seq } from "../lib/ir/stmt.ts";
import { walkStmt } from "../lib/ir/visit.ts";
import { printStmt } from "../lib/ir/printer.ts";
import { evalDirect } from "../lib/te/evalDirect.ts";
import { partitionLoops } from "../lib/lower/partition.ts";
import { propertyOptions } from "./gen/choices.ts";

const rand = (n: number, seed: number) => {
  let x = seed;
  return Float32Array.from(
    { length: n },
    () => ((x = (x * 16807) % 2147483647) / 2147483647) * 2 - 1,
  );
};

/** Runs `f` on random inputs of the given shapes and compares with direct evaluation. */
function agree(
  f: ReturnType<typeof te.lower>,
  out: Tensor,
  inputs: Tensor[],
  shapes: number[][],
): void {
  const arrays = inputs.map((_, i) =>
    nd.array(rand(shapes[i].reduce((a, b) => a * b, 1), i + 7), shapes[i])
  );
  const want = evalDirect([out], inputs.map((t, i) => [t, arrays[i]]))[0];
  const got = nd.empty(want.shape);
  got.data.fill(NaN);
  te.evaluate(f, [...arrays, got]);
  const g = got.toArray(), w = want.toArray();
  for (let i = 0; i < w.length; i++) {
    assert.ok(
      Math.abs(g[i] - w[i]) <= 1e-4 * Math.max(1, Math.abs(w[i])),
      `shape ${want.shape}, element ${i}: ${g[i]} vs ${w[i]}`,
    );
  }
}

function matmul(n: number | Var, k = 16, m = 32) {
  const A = te.placeholder([n, k], "float32", "A");
  const B = te.placeholder([k, m], "float32", "B");
  const r = te.reduceAxis([0, k], "k");
  const C = te.compute([n, m], (i, j) => te.sum(A(i, r).mul(B(r, j)), [r]), "C");
  return { A, B, C, s: te.createSchedule(C), r };
}

/** The lines of the block that starts at the first line matching `head`. */
function block(text: string, head: RegExp): string {
  const lines = text.split("\n");
  const at = lines.findIndex((l) => head.test(l));
  assert.ok(at >= 0, `no line matches ${head}:\n${text}`);
  const indent = lines[at].search(/\S/);
  let end = at + 1;
  while (end < lines.length && lines[end].search(/\S/) > indent) end++;
  return lines.slice(at, end).join("\n");
}

function count(s: Stmt, kind: Stmt["kind"]): number {
  let n = 0;
  walkStmt(s, (x) => {
    if (x.kind === kind) n++;
  });
  return n;
}

/** A register-tiled 6x16 micro-kernel schedule over rows split by 6. */
function microKernel(n: number | Var) {
  const { A, B, C, s, r } = matmul(n);
  const [i, j] = s.stage(C).op.axis;
  const [io, jo, ii, ji] = s.stage(C).tile(i, j, 6, 16);
  s.stage(C).reorder(io, jo, r, ii, ji).unroll(ii).vectorize(ji).parallel(io);
  return { A, B, C, s };
}

Deno.test("a 1024-row matmul split by 6: no guard in the steady loop, the remainder keeps its own", () => {
  const { A, B, C, s } = microKernel(1024);
  const text = String(te.lower(s, [A, B, C]));
  // 1024 = 170*6 + 4: the steady part covers 170 tiles, the last tile is the remainder, both
  // iterations of one parallel loop (so that the remainder runs beside the steady tiles).
  assert.match(text, /for i_outer in T\.parallel\(171\):\n\s+if i_outer < 170:\n/);
  const steady = block(text, /if i_outer < 170:/);
  assert.doesNotMatch(steady.split("\n").slice(1).join("\n"), /if /);
  assert.match(
    steady,
    /for i_inner in T\.unroll\(6\):\n\s+for j_inner in T\.vectorized\(16\):\n\s+C\[i_outer \* 6 \+ i_inner, j_outer \* 16 \+ j_inner\] = C\[/,
  );
  // The remainder (i_outer = 170, inlined) is the 4-row tile: its guard `i_inner < 4` became
  // the bound of the unrolled loop, so it needs no `if` either.
  const tail = text.slice(text.indexOf(steady) + steady.length);
  assert.match(
    tail,
    /for i_inner in T\.unroll\(4\):\n\s+for j_inner in T\.vectorized\(16\):\n\s+C\[i_inner \+ 1020/,
  );
  assert.equal(text.match(/\bif /g)?.length, 1, "only the choice of piece");

  // 40 columns split by 16: the column guard sits in a vectorized loop, which is never split,
  // so the remainder keeps it; the steady loop does not.
  const { A: A2, B: B2, C: C2, s: s2, r } = matmul(1024, 16, 40);
  const [i, j] = s2.stage(C2).op.axis;
  const [io, jo, ii, ji] = s2.stage(C2).tile(i, j, 6, 16);
  s2.stage(C2).reorder(io, jo, r, ii, ji).vectorize(ji);
  const text2 = String(te.lower(s2, [A2, B2, C2]));
  const steady2 = block(text2, /for j_outer in range\(2\):/);
  assert.doesNotMatch(steady2, /if /);
  assert.match(
    text2.slice(text2.indexOf(steady2) + steady2.length),
    /for j_inner in T\.vectorized\(16\):\n\s+if j_inner < 8:\n\s+C\[i_outer \* 6 \+ i_inner, j_inner \+ 32\] = C\[/,
  );

  const small = microKernel(37);
  const f = te.lower(small.s, [small.A, small.B, small.C]);
  assert.match(String(f), /for i_outer in T\.parallel\(7\):\n\s+if i_outer < 6:/);
  agree(f, small.C, [small.A, small.B], [[37, 16], [16, 32]]);
});

Deno.test("a partitioned parallel loop stays one parallel loop in C, its border iterations on every core", async () => {
  // A 3x3 window over a zero-padded input with rows in parallel: the first and last rows keep
  // the padding's test, the others do not, and all of them are iterations of one loop.
  const n = 12;
  const X = te.placeholder([n, n], "float32", "X");
  const P = te.compute([n + 2, n + 2], (y, x) =>
    te.ifThenElse(
      y.ge(1).and(y.lt(n + 1)).and(x.ge(1)).and(x.lt(n + 1)),
      X(y.sub(1), x.sub(1)),
      te.const(0),
    ), "P");
  const ry = te.reduceAxis([0, 3], "ry"), rx = te.reduceAxis([0, 3], "rx");
  const Y = te.compute([n, n], (y, x) => te.sum(P(y.add(ry), x.add(rx)), [ry, rx]), "Y");
  const s = te.createSchedule(Y);
  s.stage(P).computeInline();
  s.stage(Y).parallel(Y.op.axis[0]);
  const f = await te.build(s, [X, Y], { target: "c" });
  assert.equal(f.source.match(/#pragma omp parallel for/g)?.length, 1, f.source);
  const body = f.source.slice(f.source.indexOf("#pragma omp parallel for"));
  assert.match(body, /if \(v_y < 1\)/);
  const x = nd.array(rand(n * n, 5), [n, n]);
  const got = nd.empty([n, n]);
  await f(x, got);
  const want = evalDirect([Y], [[X, x]])[0].toArray();
  want.forEach((w, k) => assert.ok(Math.abs(got.toArray()[k] - w) <= 1e-5, `element ${k}`));
});

Deno.test("a symbolic size split by 4 splits at n // 4, keeps the loop kind, is right for any n", async () => {
  const n = te.var("n");
  const { A, B, C, s } = matmul(n);
  const [io, ii] = s.stage(C).split(s.stage(C).op.axis[0], { factor: 4 });
  s.stage(C).parallel(io).unroll(ii);
  const kernel = await te.build(s, [A, B, C]);
  const text = kernel.source;
  // One parallel loop to (n + 3) // 4: the steady part below n // 4, the remainder after.
  assert.match(
    text,
    /for i_outer in T\.parallel\(\(n \+ 3\) \/\/ 4\):\n\s+if i_outer < n \/\/ 4:\n/,
  );
  const steady = block(text, /if i_outer < n \/\/ 4:/);
  assert.doesNotMatch(steady.split("\n").slice(1).join("\n"), /if /);
  for (const size of [1, 2, 3, 4, 5, 7, 13]) {
    const a = nd.array(rand(size * 16, size), [size, 16]);
    const b = nd.array(rand(16 * 32, 3), [16, 32]);
    const want = evalDirect([C], [[A, a], [B, b]])[0].toArray();
    const got = nd.empty([size, 32]);
    got.data.fill(NaN);
    await kernel(a, b, got);
    const g = got.toArray();
    want.forEach((w, k) => assert.ok(Math.abs(g[k] - w) <= 1e-4, `n=${size} element ${k}`));
  }
});

Deno.test("split points stay right for every size, prefixes and suffixes alike", () => {
  // Symbolic tiles, a padded window read (x >= 0 style guards from bound inference) and
  // nparts splits, each lowered once and run for sizes 0..17.
  const n = te.var("n"), m = te.var("m");
  const schedules: Array<() => { f: ReturnType<typeof te.lower>; out: Tensor; ins: Tensor[] }> = [
    () => {
      const X = te.placeholder([n, m], "float32", "X");
      const Y = te.compute([n, m], (i, j) => X(i, j).mul(3).add(1), "Y");
      const s = te.createSchedule(Y);
      const [i, j] = s.stage(Y).op.axis;
      s.stage(Y).tile(i, j, 3, 5);
      return { f: te.lower(s, [X, Y]), out: Y, ins: [X] };
    },
    () => {
      const X = te.placeholder([n, m], "float32", "X");
      const Y = te.compute([n, m], (i, j) => X(i, j).add(1), "Y");
      const s = te.createSchedule(Y);
      const [i, j] = s.stage(Y).op.axis;
      const [io] = s.stage(Y).split(i, { nparts: 3 });
      s.stage(Y).split(j, { factor: 4 });
      s.stage(Y).parallel(io);
      return { f: te.lower(s, [X, Y]), out: Y, ins: [X] };
    },
    () => {
      // A stage computed at a tile of its consumer: partial regions and their guards.
      const X = te.placeholder([n, m], "float32", "X");
      const P = te.compute([n, m], (i, j) => X(i, j).mul(2), "P");
      const Y = te.compute([n, m], (i, j) => P(i, j).add(P(i, j)), "Y");
      const s = te.createSchedule(Y);
      const [i, j] = s.stage(Y).op.axis;
      const [io, jo] = s.stage(Y).tile(i, j, 4, 3);
      s.stage(P).computeAt(s.stage(Y), jo);
      void io;
      return { f: te.lower(s, [X, Y]), out: Y, ins: [X] };
    },
  ];
  for (const make of schedules) {
    const { f, out, ins } = make();
    for (let a = 0; a <= 17; a += a < 8 ? 1 : 3) {
      for (const b of [1, 4, 7]) agree(f, out, ins, [[a, b]]);
    }
  }
});

/** Runs a statement over one float buffer (zeroed) and returns what it wrote. */
function run(body: Stmt, buf: Buffer): number[] {
  const out = nd.empty(buf.shape.map((d) => (d as Const).value));
  te.evaluate(new PrimFunc("f", [buf], [], body, [buf]), [out]);
  return [...out.toArray()];
}

Deno.test("guards of both kinds: x >= p leaves a prefix remainder, dead pieces vanish", () => {
  const i = new Var("i"), io = new Var("io"), ii = new Var("ii");
  const buf = new Buffer("B", "float32", [intConst(40)]);
  const one = new Const(1, "float32");
  // Exact guard: the prefix where it fails does nothing and disappears.
  const exact = new For(
    i,
    intConst(0),
    intConst(10),
    "serial",
    new IfThenElse(new Cmp("ge", i.mul(2).sub(3), intConst(0)), new BufferStore(buf, [i], one)),
  );
  assert.equal(printStmt(partitionLoops(exact)), "for i in range(2, 10):\n    B[i] = 1.0");
  // With an inner loop: a prefix and a suffix around a guard-free steady part, the three
  // of them iterations of one parallel loop.
  const idx = io.mul(4).add(ii);
  const tiled = new For(
    io,
    intConst(0),
    intConst(5),
    "parallel",
    new For(
      ii,
      intConst(0),
      intConst(4),
      "serial",
      new IfThenElse(
        new Cmp("ge", idx, intConst(6)).and(new Cmp("lt", idx, intConst(18))),
        new BufferStore(buf, [idx], new Cast("float32", idx.add(1))),
      ),
    ),
  );
  const out = partitionLoops(tiled);
  const text = printStmt(out);
  assert.match(text, /^for io in T\.parallel\(5\):\n {4}if io < 2:\n/);
  assert.ok(
    text.includes(
      'if io < 4:\n            for ii in range(4):\n                B[io * 4 + ii] = T.Cast("float32", io * 4 + ii + 1)\n        else:',
    ),
    text,
  );
  assert.deepEqual(run(out, buf), run(tiled, buf));
});

Deno.test("symbolic split points are clamped into the loop, whichever side they fall on", () => {
  // Bounds like n - 3 fall before the loop's start for small n and past its end for large n.
  const n = new Var("n"), i = new Var("i"), io = new Var("io"), ii = new Var("ii");
  const N = new Buffer("N", "float32", [n]); // only binds n
  const B = new Buffer("B", "float32", [intConst(32)]);
  const idx = io.mul(3).add(ii);
  const nests: Stmt[] = [
    new For(
      i,
      intConst(2),
      intConst(8),
      "serial",
      new IfThenElse(
        new Cmp("lt", i, n.sub(3)).and(new Cmp("ge", i, n.sub(9))),
        new BufferStore(B, [i], new Cast("float32", i.add(1))),
      ),
    ),
    new For(
      io,
      intConst(1),
      intConst(6),
      "parallel",
      new For(
        ii,
        intConst(0),
        intConst(3),
        "serial",
        new IfThenElse(
          new Cmp("lt", idx, n.sub(4)).and(new Cmp("ge", idx, n.sub(10))),
          new BufferStore(B, [idx], new Cast("float32", idx.add(1))),
        ),
      ),
    ),
  ];
  const exec = (body: Stmt, size: number) => {
    const out = nd.empty([32]);
    out.data.fill(0);
    te.evaluate(new PrimFunc("f", [N, B], [n], body, [B]), [nd.empty([size]), out]);
    return [...out.toArray()];
  };
  for (const nest of nests) {
    const parted = partitionLoops(nest, [n]);
    assert.notEqual(parted, nest);
    for (let size = 0; size <= 40; size++) {
      assert.deepEqual(exec(parted, size), exec(nest, size), `n = ${size}:\n${printStmt(parted)}`);
    }
  }
});

Deno.test("guards that can never be proven are left alone", () => {
  const i = new Var("i"), io = new Var("io"), ji = new Var("ji"), tx = new Var("tx");
  const A = new Buffer("A", "float32", [intConst(64)]);
  const out = new Buffer("B", "float32", [intConst(64)]);
  const st = (idx: ReturnType<Var["add"]> | Var) =>
    new BufferStore(out, [idx], new BufferLoad(A, [idx]));
  const loop = (v: Var, ext: number, body: Stmt, kind: For["forKind"] = "serial") =>
    new For(
      v,
      intConst(0),
      intConst(ext),
      kind,
      body,
      kind === "threadBinding" ? "threadIdx.x" : null,
    );
  const cases: Stmt[] = [
    // Depends on data.
    loop(
      i,
      10,
      new IfThenElse(new Cmp("gt", new BufferLoad(A, [i]), new Const(0, "float32")), st(i)),
    ),
    loop(
      i,
      10,
      new IfThenElse(
        new Cmp("lt", new BufferLoad(new Buffer("K", "int32", [intConst(64)]), [i]), i),
        st(i),
      ),
    ),
    // Not linear in the loop variable.
    loop(i, 10, new IfThenElse(new Cmp("eq", i.floormod(3), intConst(0)), st(i))),
    loop(i, 10, new IfThenElse(new Cmp("lt", i.mul(i), intConst(50)), st(i))),
    // Depends only on a vectorized inner loop, which is never split.
    loop(
      io,
      4,
      loop(
        ji,
        8,
        new IfThenElse(new Cmp("lt", ji, intConst(5)), st(io.mul(8).add(ji))),
        "vectorized",
      ),
    ),
    // A thread-bound loop names a hardware axis; its extent stays.
    loop(tx, 8, new IfThenElse(new Cmp("lt", tx, intConst(5)), st(tx)), "threadBinding"),
    // Every thread must reach a barrier equally often.
    loop(i, 10, seq([new Barrier(), new IfThenElse(new Cmp("lt", i, intConst(5)), st(i))])),
    // Holds nowhere: the inner loop makes it false for every i.
    loop(i, 4, loop(ji, 8, new IfThenElse(new Cmp("lt", i.add(ji), intConst(0)), st(i.add(ji))))),
  ];
  for (const c of cases) assert.equal(partitionLoops(c), c, printStmt(c));

  // A data-dependent reduction filter survives lowering, in every piece.
  const { A: P, B: Q, C, s } = (() => {
    const X = te.placeholder([37, 16], "float32", "A");
    const W = te.placeholder([16, 8], "float32", "B");
    const r = te.reduceAxis([0, 16], "k");
    const Y = te.compute([37, 8], (a, b) => te.sum(X(a, r).mul(W(r, b)), [r], X(a, r).gt(0)), "C");
    return { A: X, B: W, C: Y, s: te.createSchedule(Y) };
  })();
  s.stage(C).split(s.stage(C).op.axis[0], { factor: 6 });
  const f = te.lower(s, [P, Q, C]);
  assert.equal(String(f).match(/if A\[/g)?.length, 2, String(f));
  agree(f, C, [P, Q], [[37, 16], [16, 8]]);
});

Deno.test("code size stays linear in the number of partitioned loops", () => {
  const X = te.placeholder([37, 29, 23], "float32", "X");
  const Y = te.compute([37, 29, 23], (a, b, c) => X(a, b, c).mul(2), "Y");
  const s = te.createSchedule(Y);
  const [a, b, c] = s.stage(Y).op.axis;
  const [ao, ai] = s.stage(Y).split(a, { factor: 4 });
  const [bo, bi] = s.stage(Y).split(b, { factor: 4 });
  const [co, ci] = s.stage(Y).split(c, { factor: 4 });
  s.stage(Y).reorder(ao, bo, co, ai, bi, ci);
  const f = te.lower(s, [X, Y]);
  // Three partitioned loops: at most 2*3 + 1 copies of the store, in practice 3 + 1.
  const stores = count(f.body, "store"), loops = count(f.body, "for");
  assert.ok(stores <= 4, `${stores} stores:\n${String(f)}`);
  assert.ok(loops <= 4 * 6, `${loops} loops:\n${String(f)}`);
  // The steady nest is guard-free; guards live only in remainders.
  const steady = block(String(f), /for a_outer in range\(9\):/);
  assert.doesNotMatch(steady, /if /);
  agree(f, Y, [X], [[37, 29, 23]]);
});

Deno.test("nested non-dividing tiles in a reduction: bounded copies, same results", () => {
  const { A, B, C, s, r } = matmul(37, 19, 29);
  const [i, j] = s.stage(C).op.axis;
  const [io, jo, ii, ji] = s.stage(C).tile(i, j, 6, 8);
  const [ko, ki] = s.stage(C).split(r, { factor: 4 });
  s.stage(C).reorder(io, jo, ko, ii, ki, ji).parallel(io);
  const f = te.lower(s, [A, B, C]);
  assert.ok(count(f.body, "store") <= 2 * 4, String(f));
  agree(f, C, [A, B], [[37, 19], [19, 29]]);
});

Deno.test("a pad stage's select is a guard: the interior copies without it, borders keep it", () => {
  for (const size of [7, new Var("n")] as const) {
    const A = te.placeholder([size, size], "float32", "A");
    const n = typeof size === "number" ? intConst(size) : size;
    const P = te.compute(
      [n.add(2), n.add(2)],
      (y, x) =>
        te.ifThenElse(
          y.ge(1).and(y.lt(n.add(1))).and(x.ge(1)).and(x.lt(n.add(1))),
          A(y.sub(1), x.sub(1)),
          te.const(-1),
        ),
      "P",
    );
    const f = te.lower(te.createSchedule(P), [A, P]);
    const text = printStmt(f.body);
    // The innermost copy of the interior reads A with no select around it.
    assert.match(text, /P\[.*\] = A\[[^\]]*\]$/m, text);
    for (const m of [1, 2, 5, 7]) {
      if (typeof size === "number" && m !== size) continue;
      agree(f, P, [A], [[m, m]]);
    }
  }
});

/**
 * Random programs for the partition properties: a parallel (or serial) loop over io with a
 * serial loop over ii inside, and statements under random linear guards
 * `a*io + b*ii + c (+ d*n)` (some exact, naming io alone). Each iteration writes its own
 * elements, with values that say which statement and iteration wrote them, so a piece that
 * runs the wrong iterations, or the right ones with the wrong body, shows.
 */
const guardedNests = (symbolic: boolean) =>
  fc.record({
    outer: fc.integer({ min: 1, max: 9 }),
    kind: fc.constantFrom("parallel", "serial") as fc.Arbitrary<"parallel" | "serial">,
    inner: fc.integer({ min: 1, max: 5 }),
    stmts: fc.array(
      fc.array(
        fc.record({
          a: fc.integer({ min: -3, max: 3 }),
          b: fc.integer({ min: -2, max: 2 }),
          c: fc.integer({ min: -12, max: 12 }),
          d: symbolic ? fc.integer({ min: -1, max: 1 }) : fc.constant(0),
          op: fc.constantFrom("lt", "le", "gt", "ge") as fc.Arbitrary<"lt" | "le" | "gt" | "ge">,
        }),
        { minLength: 1, maxLength: 3 },
      ),
      { minLength: 1, maxLength: 3 },
    ),
  }).map(({ outer, kind, inner, stmts }) => {
    const io = new Var("io"), ii = new Var("ii"), n = new Var("n");
    const buf = new Buffer("B", "float32", [intConst(outer * inner * stmts.length)]);
    const body = seq(stmts.map((gs, k) => {
      const cond = gs.map(({ a, b, c, d, op }) => {
        const lin = io.mul(a).add(ii.mul(b)).add(c);
        return new Cmp(op, symbolic ? lin.add(n.mul(d)) : lin, intConst(0));
      }).reduce<Expr>((x, y) => x.and(y), intConst(1).gt(0));
      const at = io.mul(inner).add(ii).mul(stmts.length).add(k);
      const value = new Cast("float32", io.mul(100).add(ii.mul(10)).add(k + 1));
      return new IfThenElse(cond, new BufferStore(buf, [at], value));
    }));
    const nest = new For(
      io,
      intConst(0),
      intConst(outer),
      kind,
      new For(ii, intConst(0), intConst(inner), "serial", body),
    );
    return { nest, buf, n };
  });

Deno.test("random guards around a parallel or serial loop: partitioned, every iteration does what it did", () => {
  fc.assert(
    fc.property(guardedNests(false), ({ nest, buf }) => {
      const out = partitionLoops(nest);
      assert.deepEqual(run(out, buf), run(nest, buf), printStmt(out));
    }),
    propertyOptions(300),
  );
});

Deno.test("random guards with a symbolic size: partitioned, the same for every size", () => {
  // With n in the guards, split points are symbolic, clamped into the loop and ordered by
  // proof, and the pieces must agree for every n.
  fc.assert(
    fc.property(guardedNests(true), ({ nest, buf, n }) => {
      const N = new Buffer("N", "float32", [n]); // only binds n
      const out = partitionLoops(nest, [n]);
      const exec = (b: Stmt, size: number) => {
        const o = nd.empty(buf.shape.map((d) => (d as Const).value));
        te.evaluate(new PrimFunc("f", [N, buf], [n], b, [buf]), [nd.empty([size]), o]);
        return [...o.toArray()];
      };
      for (const size of [0, 1, 3, 6, 10, 17]) {
        assert.deepEqual(exec(out, size), exec(nest, size), `n = ${size}:\n${printStmt(out)}`);
      }
    }),
    propertyOptions(200),
  );
});
