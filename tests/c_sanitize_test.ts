/**
 * Boundary cases compiled with AddressSanitizer and UBSan: non-dividing splits, vectorized
 * tails, symbolic sizes of 1 and of primes, computeAt with partial tiles, the packed
 * register-tiled matmul, and double-buffered tiles. Each kernel runs as a standalone program
 * (the sanitizers must own the process and guard heap buffers of exactly the arguments'
 * sizes), and its output must equal the interpreter's.
 */
import assert from "node:assert/strict";
import { nd, type NDArray, type Schedule, te, type Tensor } from "../mod.ts";
import { findCompiler } from "../lib/codegen/c/compile.ts";
import { parseStandaloneOutput, standaloneC } from "../lib/codegen/c/standalone.ts";
import { matmulCpu } from "../examples/matmul_cpu.ts";
import { matmulGpu } from "../examples/matmul_gpu.ts";
import { Binary, Buffer, BufferLoad, intConst, Var } from "../lib/ir/expr.ts";
import { BufferStore, For, PrimFunc } from "../lib/ir/stmt.ts";

const FLAGS = [
  "-std=gnu11",
  "-O1",
  "-g",
  "-fsanitize=address,undefined",
  "-fno-sanitize-recover=all",
  "-fno-omit-frame-pointer",
  "-fopenmp",
  "-fwrapv",
  "-ffp-contract=fast",
  "-fexcess-precision=standard",
];

function rand(shape: number[], seed: number): NDArray {
  let x = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
  return nd.array(v, shape);
}

async function sanitized(s: Schedule, args: Tensor[], arrays: NDArray[], outs: number[]) {
  const func = te.lower(s, args);
  const r = await runSanitized(func, arrays);
  const err = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 0, `sanitized kernel failed:\n${err.slice(0, 3000)}`);
  assert.doesNotMatch(err, /runtime error|AddressSanitizer/);
  const want = arrays.map((a) => nd.array(a.toArray(), a.shape, a.dtype));
  te.evaluate(func, want);
  const got = parseStandaloneOutput(new TextDecoder().decode(r.stdout));
  for (const i of outs) {
    const w = want[i].toArray(), g = got.get(i)!;
    assert.equal(g.length, w.length);
    for (let k = 0; k < w.length; k++) {
      assert.ok(
        Math.abs(g[k] - w[k]) <= 1e-5 * Math.max(1, Math.abs(w[k])),
        `${i}[${k}]: ${g[k]} vs ${w[k]}`,
      );
    }
  }
}

/** Compiles `func` as a standalone program with the sanitizers and runs it on `arrays`. */
async function runSanitized(func: PrimFunc, arrays: NDArray[]): Promise<Deno.CommandOutput> {
  const dir = await Deno.makeTempDir({ prefix: "tessera-asan-" });
  try {
    await Deno.writeTextFile(`${dir}/k.c`, standaloneC(func, arrays));
    const { path: cc } = await findCompiler();
    const c = await new Deno.Command(cc, {
      args: [...FLAGS, `${dir}/k.c`, "-o", `${dir}/k`, "-lm"],
    })
      .output();
    assert.equal(c.code, 0, new TextDecoder().decode(c.stderr).slice(0, 3000));
    return await new Deno.Command(`${dir}/k`, {
      env: { ASAN_OPTIONS: "detect_leaks=1", UBSAN_OPTIONS: "print_stacktrace=1" },
    }).output();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("sanitizers: non-dividing split with a vectorized tail", async () => {
  const A = te.placeholder([13, 7], "float32", "A");
  const B = te.compute([13, 7], (i, j) => A(i, j).mul(2).add(1), "B");
  const s = te.createSchedule(B);
  const [i, j] = s.stage(B).op.axis;
  const [, ji] = s.stage(B).split(j, { factor: 4 });
  const [io] = s.stage(B).split(i, { factor: 5 });
  s.stage(B).vectorize(ji).parallel(io);
  await sanitized(s, [A, B], [rand([13, 7], 1), nd.empty([13, 7])], [1]);
});

Deno.test("sanitizers: symbolic sizes of 1 and of primes, tiled matmul", async () => {
  const n = te.var("n"), m = te.var("m");
  const A = te.placeholder([n, m], "float32", "A");
  const B = te.placeholder([m, 5], "float32", "B");
  const k = te.reduceAxis([0, m], "k");
  const C = te.compute([n, 5], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");
  const s = te.createSchedule(C);
  const [i, j] = s.stage(C).op.axis;
  const [io, , , ji] = s.stage(C).tile(i, j, 4, 4);
  const [ko, ki] = s.stage(C).split(k, { factor: 3 });
  s.stage(C).reorder(io, ko, ki).vectorize(ji).parallel(io);
  for (const [nv, mv] of [[1, 1], [1, 7], [7, 13], [13, 2]]) {
    await sanitized(s, [A, B, C], [rand([nv, mv], nv), rand([mv, 5], mv), nd.empty([nv, 5])], [2]);
  }
});

Deno.test("sanitizers: computeAt with partial tiles and a local cache", async () => {
  const X = te.placeholder([11, 9], "float32", "X");
  const P = te.compute([11, 9], (i, j) => X(i, j).mul(X(i, j)), "P");
  const Y = te.compute([10, 8], (i, j) => P(i, j).add(P(i.add(1), j.add(1))), "Y");
  const s = te.createSchedule(Y);
  const [i, j] = s.stage(Y).op.axis;
  const [, jo] = s.stage(Y).tile(i, j, 3, 3);
  s.stage(P).computeAt(s.stage(Y), jo);
  s.cacheRead(X, "local", [P]);
  await sanitized(s, [X, Y], [rand([11, 9], 3), nd.empty([10, 8])], [1]);
});

Deno.test("sanitizers: the packed register-tiled matmul at a ragged size", async () => {
  const { s, args } = matmulCpu(19, 37, 21);
  await sanitized(s, args, [rand([19, 21], 4), rand([21, 37], 5), nd.empty([19, 37])], [2]);
});

Deno.test("sanitizers: double-buffered shared tiles (GEMM), odd and even tile counts", async () => {
  // k / tk = 29 / 8 (4 tiles, the last partial) and 40 / 8 (5): the pairs, the odd last
  // step and the clamped load two steps ahead, all within the tiles' two copies.
  for (const [m, n, k] of [[13, 10, 29], [9, 6, 40]]) {
    const { s, args } = matmulGpu(m, n, k, { threads: 4, reg: 2, tk: 8, double: true });
    await sanitized(s, args, [rand([m, k], 6), rand([k, n], 7), nd.empty([m, n])], [2]);
  }
});

Deno.test("sanitizers: the harness does catch an out-of-bounds store", async () => {
  // Hand-written IR the interpreter would reject: B[i + 1] for i < 8 writes one past the end.
  const A = new Buffer("A", "float32", [intConst(8)]);
  const B = new Buffer("B", "float32", [intConst(8)]);
  const i = new Var("i");
  const idx = new Binary("add", i, intConst(1), "int32");
  const body = new For(
    i,
    intConst(0),
    intConst(8),
    "serial",
    new BufferStore(B, [idx], new BufferLoad(A, [i])),
  );
  const f = new PrimFunc("oob", [A, B], [], body, [B]);
  const r = await runSanitized(f, [rand([8], 1), nd.empty([8])]);
  assert.notEqual(r.code, 0);
  assert.match(new TextDecoder().decode(r.stderr), /AddressSanitizer: heap-buffer-overflow/);
});
