/**
 * The C target beyond the random property: numerics of every intrinsic and cast against the
 * interpreter, float16 and bool, argument checking before the native call, kernel status
 * errors, names that try to inject code, real SIMD in the machine code, non-blocking calls,
 * the timer, and processes that exit cleanly after running parallel kernels.
 */
import assert from "node:assert/strict";
import { type Expr, nd, NDArray, te } from "../mod.ts";
import { compileC } from "../lib/codegen/c/compile.ts";
import { printC } from "../lib/codegen/c/printer.ts";
import { flattenStorage } from "../lib/lower/flatten.ts";
import { Buffer, BufferLoad, intConst, Var } from "../lib/ir/expr.ts";
import { BufferStore, For, PrimFunc } from "../lib/ir/stmt.ts";
import { useTestCache } from "./c_util.ts";
import { rejectsTessera, throwsTessera } from "./errors_util.ts";

useTestCache();

/** Builds `fn` elementwise over the inputs for both targets; returns [c, interpreter] outputs. */
async function both(
  inputs: NDArray[],
  fn: (...xs: Expr[]) => Expr,
  outDtype?: NDArray["dtype"],
): Promise<[number[], number[]]> {
  const n = inputs[0].size;
  const ps = inputs.map((a, k) => te.placeholder([n], a.dtype, `X${k}`));
  const Y = te.compute([n], (i) => fn(...ps.map((p) => p(i))), "Y");
  const s = te.createSchedule(Y);
  const outs = [0, 1].map(() => nd.empty([n], outDtype ?? Y.dtype));
  const fc = await te.build(s, [...ps, Y], { target: "c" });
  const fi = await te.build(s, [...ps, Y]);
  await fc(...inputs, outs[0]);
  await fi(...inputs, outs[1]);
  return [Array.from(outs[0].toArray()), Array.from(outs[1].toArray())];
}

function close(got: number[], want: number[], tol: number) {
  assert.equal(got.length, want.length);
  want.forEach((w, k) => {
    const g = got[k];
    if (g === w) return;
    if (Number.isNaN(w)) return assert.ok(Number.isNaN(g), `[${k}] ${g} should be NaN`);
    assert.ok(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)), `[${k}] got ${g}, want ${w}`);
  });
}

const specials = [
  0,
  -0,
  0.5,
  1.5,
  2.5,
  -0.5,
  -2.5,
  1e-3,
  3.75,
  -7.25,
  88,
  -100,
  1e30,
  NaN,
  Infinity,
];

Deno.test("C intrinsics and float ops match the interpreter", async () => {
  const x = nd.array(specials.map((v) => Math.fround(v)));
  const pos = nd.array(specials.map((v) => Math.abs(v) + 0.25));
  const y = nd.array(specials.map((_, k) => (k % 5) - 2.5));
  for (
    const [name, fn, tol] of [
      ["exp", (a: Expr) => te.exp(a), 1e-6],
      ["tanh", (a: Expr) => te.tanh(a), 1e-6],
      ["sigmoid", (a: Expr) => te.sigmoid(a), 1e-6],
      ["erf", (a: Expr) => te.erf(a), 1e-6],
      ["abs", (a: Expr) => te.abs(a), 0],
      ["floor", (a: Expr) => te.floor(a), 0],
      ["ceil", (a: Expr) => te.ceil(a), 0],
      ["round half to even", (a: Expr) => te.round(a), 0],
      ["neg", (a: Expr) => a.neg(), 0],
    ] as const
  ) {
    const [c, i] = await both([x], fn);
    close(c, i, tol);
    if (name === "round half to even") assert.deepEqual(c.slice(2, 7), [0, 2, 2, -0, -2]);
  }
  for (
    const [fn, tol] of [
      [(a: Expr) => te.log(a), 1e-6],
      [(a: Expr) => te.sqrt(a), 0],
      [(a: Expr) => te.rsqrt(a), 1e-6],
    ] as const
  ) {
    const [c, i] = await both([pos], fn);
    close(c, i, tol);
  }
  for (
    const fn of [
      (a: Expr, b: Expr) => a.max(b),
      (a: Expr, b: Expr) => a.min(b),
      (a: Expr, b: Expr) => a.div(b),
      (a: Expr, b: Expr) => a.floordiv(b),
      (a: Expr, b: Expr) => a.floormod(b),
      (a: Expr, b: Expr) => te.pow(a, b),
      (a: Expr, b: Expr) => te.select(a.gt(b), a, b.mul(2)),
    ]
  ) {
    const [c, i] = await both([x, y], fn);
    close(c, i, 1e-6);
  }
});

Deno.test("C int32 arithmetic wraps and divides like the interpreter", async () => {
  const a = nd.array(
    [7, -7, 7, -7, 2147483647, -2147483648, 5, 0, -1, 123456789],
    undefined,
    "int32",
  );
  const b = nd.array([2, 2, -2, -2, 1, -1, 3, 4, 9, -7], undefined, "int32");
  for (
    const fn of [
      (x: Expr, y: Expr) => x.div(y),
      (x: Expr, y: Expr) => x.mod(y),
      (x: Expr, y: Expr) => x.floordiv(y),
      (x: Expr, y: Expr) => x.floormod(y),
      (x: Expr, y: Expr) => x.mul(y).add(x),
      (x: Expr, y: Expr) => x.max(y).sub(x.min(y)),
      (x: Expr, _y: Expr) => te.abs(x),
      (x: Expr, y: Expr) => te.pow(x, y.floormod(4)),
      (x: Expr, _y: Expr) => x.floordiv(3).add(x.floormod(4)),
    ]
  ) {
    const [c, i] = await both([a, b], fn);
    assert.deepEqual(c, i);
  }
});

Deno.test("C casts follow the interpreter (ToInt32 for float to int)", async () => {
  const x = nd.array([1.9, -1.9, 3e9, -3e9, NaN, Infinity, 0.5, 2 ** 31, 1e20, -0.0]);
  const [c, i] = await both([x], (a) => te.cast("int32", a), "int32");
  assert.deepEqual(c, i);
  const [cb, ib] = await both([x], (a) => te.cast("bool", a), "bool");
  assert.deepEqual(cb, ib);
  const n = nd.array([3, -4, 16777217, 0], undefined, "int32");
  const [cf, iF] = await both([n], (a) => te.cast("float32", a).div(2));
  assert.deepEqual(cf, iF);
});

Deno.test("C float16 rounds after every operation, as the interpreter does", async () => {
  const v = [0.1, 0.2, 1000.5, -3.3, 65504, 1e-5, 2049, 0.333];
  const x = nd.array(v, undefined, "float16"),
    y = nd.array(v.map((t) => t * 0.7), undefined, "float16");
  const [c, i] = await both([x, y], (a, b) => a.mul(b).add(a).sub(b.div(3)));
  assert.deepEqual(c, i);
});

Deno.test("C bool tensors", async () => {
  const x = nd.array([1, 0, 1, 0], undefined, "bool"),
    y = nd.array([1, 1, 0, 0], undefined, "bool");
  const [c, i] = await both([x, y], (a, b) => a.and(b.not()).or(a.eq(b)));
  assert.deepEqual(c, i);
  assert.deepEqual(c, [1, 0, 1, 1]);
});

function vecAdd() {
  const n = te.var("n");
  const A = te.placeholder([n], "float32", "A"), B = te.placeholder([n], "float32", "B");
  const C = te.compute([n], (i) => A(i).add(B(i)), "C");
  const s = te.createSchedule(C);
  const [io, ii] = s.stage(C).split(C.op.axis[0], { factor: 8 });
  s.stage(C).vectorize(ii).parallel(io);
  return { s, args: [A, B, C] };
}

Deno.test("C kernels check every argument before the native call", async () => {
  const { s, args } = vecAdd();
  const f = await te.build(s, args, { target: "c", name: "vadd" });
  const a = nd.array([1, 2, 3]), b = nd.array([4, 5, 6]), c = nd.empty([3]);
  await f(a, b, c);
  assert.deepEqual(Array.from(c.toArray()), [5, 7, 9]);
  await rejectsTessera(() => f(a, b), /expected 3 arguments \(A, B, C\) but got 2/);
  await rejectsTessera(
    () => f(a, nd.array([1, 2, 3], undefined, "int32"), c),
    /argument 2 'B' has dtype int32/,
  );
  await rejectsTessera(
    () => f(a, nd.array([1, 2]), c),
    /argument 2 'B' dimension 0 is 2 but n = 3/,
  );
  await rejectsTessera(() => f(a, b, nd.empty([3, 1])), /argument 3 'C' has rank 2/);
  await rejectsTessera(() => f(a, b, a), /output argument 3 'C' shares memory with argument 1 'A'/);
  const big = new Float32Array(8);
  const view = new NDArray([3], "float32", big.subarray(0, 3));
  const overlap = new NDArray([3], "float32", big.subarray(2, 5));
  await rejectsTessera(() => f(view, b, overlap), /shares memory with argument 1/);
  await rejectsTessera(() => f(a, b, [1, 2, 3] as unknown as NDArray), /not an NDArray/);
  // A tampered array whose storage is shorter than its shape says never reaches native code.
  // (NDArray is frozen, so the tampered one is made without its constructor.)
  const lying = Object.assign(Object.create(NDArray.prototype), {
    shape: [3],
    dtype: "float32",
    data: new Float32Array(1),
  });
  await rejectsTessera(() => f(a, b, lying), /has 1 elements but 3 are needed/);
});

Deno.test("C kernel status: integer division by zero is a TesseraError", async () => {
  const A = te.placeholder([4], "int32", "A"), B = te.placeholder([4], "int32", "B");
  const C = te.compute([4], (i) => A(i).div(B(i)), "C");
  const f = await te.build(te.createSchedule(C), [A, B, C], { target: "c" });
  const a = nd.array([1, 2, 3, 4], undefined, "int32");
  await rejectsTessera(
    () => f(a, nd.array([1, 0, 1, 1], undefined, "int32"), nd.empty([4], "int32")),
    /integer division or modulo by zero/,
  );
});

Deno.test("names cannot inject code into the generated C", async () => {
  const evil = 'A"; system("touch pwned"); //';
  const dir = Deno.makeTempDirSync();
  const cwd = Deno.cwd();
  Deno.chdir(dir);
  try {
    throwsTessera(() => te.placeholder([4], "float32", evil), /name/);
    const A = te.placeholder([4], "float32", "A");
    const B = te.compute([4], (i) => A(i).mul(2), "B");
    await rejectsTessera(
      () => te.build(te.createSchedule(B), [A, B], { target: "c", name: evil }),
      /name/,
    );
    // Below the te layer nothing checks names, so the printer must make them safe itself.
    const X = new Buffer(evil, "float32", [intConst(4)]);
    const Y = new Buffer("*/ int main; /*", "float32", [intConst(4)]);
    const i = new Var("i\n#include </etc/passwd>");
    const body = new For(
      i,
      intConst(0),
      intConst(4),
      "serial",
      new BufferStore(Y, [i], new BufferLoad(X, [i])),
    );
    const func = new PrimFunc(evil, [X, Y], [], body, [Y]);
    const f = await te.build(func, undefined, { target: "c" });
    const kernelText = f.source.slice(f.source.indexOf("generated by Tessera"));
    assert.doesNotMatch(kernelText, /system\(|"|#include|\*\/ int/);
    const y = nd.empty([4]);
    await f(nd.array([1, 2, 3, 4]), y);
    assert.deepEqual(Array.from(y.toArray()), [1, 2, 3, 4]);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    Deno.chdir(cwd);
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("vectorize becomes SIMD instructions in the machine code", async () => {
  const { s, args } = vecAdd();
  const func = flattenStorage(te.lower(s, args, { name: "vadd" }));
  const { source } = printC(func);
  assert.match(source, /#pragma omp simd/);
  const lib = await compileC(source, { extraFlags: ["-fexcess-precision=standard"] });
  const out = await new Deno.Command("objdump", { args: ["-d", "--no-show-raw-insn", lib.path] })
    .output();
  const asm = new TextDecoder().decode(out.stdout);
  // SSE, AVX or AVX-512 (xmm, ymm or zmm), whichever `-march=native` picks: packed adds.
  assert.match(asm, /v?addps\s+[^\n]*%[xyz]mm/);
});

Deno.test("a vectorized loop inside a parallel loop is still SIMD", async () => {
  // OpenMP outlines the parallel body; without the restated range of its variable, GCC under
  // -fwrapv cannot prove `o*16 + v` does not wrap, and this loop came out scalar.
  const n = 1 << 20;
  const B = te.placeholder([n], "float32", "B"), C = te.placeholder([n], "float32", "C");
  const A = te.compute([n], (i) => B(i).add(C(i).mul(3)), "A");
  const s = te.createSchedule(A);
  const [o, v] = s.stage(A).split(A.op.axis[0], { factor: 16 });
  s.stage(A).parallel(o).vectorize(v);
  const { source } = printC(flattenStorage(te.lower(s, [B, C, A], { name: "triad" })));
  const lib = await compileC(source, { extraFlags: ["-fexcess-precision=standard"] });
  const out = await new Deno.Command("objdump", { args: ["-d", "--no-show-raw-insn", lib.path] })
    .output();
  const asm = new TextDecoder().decode(out.stdout);
  assert.match(asm, /v?(fmadd\d*|add|mul)ps\s+[^\n]*%[xyz]mm/); // any x86-64 vector width
});

Deno.test("a NaN-propagating max vectorizes", async () => {
  // Without -fno-trapping-math GCC will not if-convert the comparisons of tsr_max_f32.
  const n = 4096;
  const X = te.placeholder([n], "float32", "X");
  const Y = te.compute([n], (i) => te.max(X(i).mul(X(i)).sub(1), 0), "Y");
  const s = te.createSchedule(Y);
  const [, v] = s.stage(Y).split(Y.op.axis[0], { factor: 8 });
  s.stage(Y).vectorize(v);
  const { source } = printC(flattenStorage(te.lower(s, [X, Y], { name: "relu" })));
  assert.match(source, /tsr_max_f32/);
  const lib = await compileC(source, { extraFlags: ["-fexcess-precision=standard"] });
  const out = await new Deno.Command("objdump", { args: ["-d", "--no-show-raw-insn", lib.path] })
    .output();
  const asm = new TextDecoder().decode(out.stdout);
  assert.match(asm, /v?(cmp\w*|max)ps\s+[^\n]*%[xyz]mm/); // any x86-64 vector width
});

Deno.test("vectorized float32 exp, log, sigmoid, erf and tanh are within 4 ulp of the interpreter; exp, log and tanh use the C library's vector math", async () => {
  // Dense inputs across each function's range, the special values, and the edges where exp
  // overflows or goes subnormal; compared with the interpreter (double, then rounded).
  const xs: number[] = [NaN, Infinity, -Infinity, 0, -0, 88.72, 88.73, -87.33, -103.9, -104];
  for (let x = -110; x < 95; x += 0.0137) xs.push(x);
  for (let e = -149; e < 128; e += 0.25) xs.push(2 ** e, -(2 ** e));
  while (xs.length % 8) xs.push(1);
  const n = xs.length;
  const X = te.placeholder([n], "float32", "X");
  const fns = { exp: te.exp, log: te.log, sigmoid: te.sigmoid, erf: te.erf, tanh: te.tanh };
  const outs = Object.values(fns).map((f, k) => te.compute([n], (i) => f(X(i)), `Y${k}`));
  const s = te.createSchedule(outs);
  for (const Y of outs) {
    const [, v] = s.stage(Y).split(Y.op.axis[0], { factor: 8 });
    s.stage(Y).vectorize(v);
  }
  const f = await te.build(s, [X, ...outs], { target: "c", name: "vmath" });
  const ref = await te.build(s, [X, ...outs]);
  const x = nd.array(Float32Array.from(xs), [n]);
  const got = outs.map(() => nd.empty([n])), want = outs.map(() => nd.empty([n]));
  await f(x, ...got);
  await ref(x, ...want);
  const bits = new Int32Array(1), asFloat = new Float32Array(bits.buffer);
  const order = (v: number) => {
    asFloat[0] = v;
    return bits[0] < 0 ? -2147483648 - bits[0] : bits[0];
  };
  Object.keys(fns).forEach((name, k) => {
    const g = got[k].data as Float32Array, w = want[k].data as Float32Array;
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(w[i])) {
        assert.ok(Number.isNaN(g[i]), `${name}(${x.data[i]}) = ${g[i]}, want NaN`);
        continue;
      }
      const ulps = Math.abs(order(g[i]) - order(w[i]));
      assert.ok(ulps <= 4, `${name}(${x.data[i]}) = ${g[i]}, want ${w[i]} (${ulps} ulp)`);
    }
  });
  const lib = await compileC(f.source);
  if (lib.command.includes("-lmvec")) {
    const out = await new Deno.Command("objdump", { args: ["-d", lib.path] }).output();
    const asm = new TextDecoder().decode(out.stdout);
    assert.match(asm, /call\s+[^\n]*_ZGV\w*_expf/);
    assert.match(asm, /call\s+[^\n]*_ZGV\w*_logf/);
    // tanh (in double, glibc 2.35 on) where the library has it; float32 erf is our own
    // polynomial, inlined (its exp is libmvec's), with no call to the double erf.
    if (lib.command.includes("-DTSR_MVEC_ERF")) {
      assert.match(asm, /call\s+[^\n]*_ZGV\w*_tanh\b/);
    }
    assert.doesNotMatch(asm, /call\s+[^\n]*(\b|_)erf\b/);
  }
});

Deno.test("a nonblocking kernel leaves the event loop free while it runs", async () => {
  const n = 384;
  const A = te.placeholder([n, n], "float32", "A"), B = te.placeholder([n, n], "float32", "B");
  const k = te.reduceAxis([0, n], "k");
  // A deliberately slow (unscheduled, column-walking) matmul so the call takes a while.
  const C = te.compute([n, n], (i, j) => te.sum(A(k, i).mul(B(j, k)), [k]), "C");
  const f = await te.build(te.createSchedule(C), [A, B, C], { target: "c", nonblocking: true });
  const a = nd.array(new Float32Array(n * n).fill(1), [n, n]);
  const c = nd.empty([n, n]);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const t0 = performance.now();
  await f(a, a, c);
  const ms = performance.now() - t0;
  clearInterval(timer);
  assert.equal(c.toArray()[0], n);
  if (ms > 20) assert.ok(ticks > 0, `no timer tick during a ${ms.toFixed(0)} ms kernel`);
});

Deno.test("timeEvaluator: warm-up, repeats, minRepeatMs and GFLOP/s", async () => {
  const { s, args } = vecAdd();
  const f = await te.build(s, args, { target: "c" });
  const a = nd.array(new Float32Array(1000)), c = nd.empty([1000]);
  const r = await f.timeEvaluator({ repeat: 4, minRepeatMs: 5, flops: 1000 })(a, a, c);
  assert.equal(r.results.length, 4);
  assert.equal(r.repeat, 4);
  assert.ok(r.number >= 1, `number ${r.number}`);
  assert.ok(r.min <= r.median && r.median <= Math.max(...r.results));
  assert.ok(Math.abs(r.gflops!.median - 1000 / r.median / 1e9) < 1e-9);
  assert.equal(f.lastTiming, r);
  throwsTessera(() => f.timeEvaluator({ repeat: 0 }), /repeat/);
});

Deno.test("processes that ran parallel kernels exit with status 0, every time", async () => {
  const dir = Deno.makeTempDirSync();
  const mod = new URL("../mod.ts", import.meta.url).href;
  const script = `
import { nd, te } from "${mod}";
const A = te.placeholder([4096], "float32", "A");
const B = te.compute([4096], (i) => A(i).mul(2), "B");
const s = te.createSchedule(B);
const [o, i] = s.stage(B).split(B.op.axis[0], { factor: 64 });
s.stage(B).parallel(o).vectorize(i);
const f = await te.build(s, [A, B], { target: "c" });
const b = nd.empty([4096]);
await f(nd.array(new Float32Array(4096).fill(1)), b);
if (b.toArray()[4095] !== 2) Deno.exit(7);
`;
  Deno.writeTextFileSync(`${dir}/run.ts`, script);
  Deno.writeTextFileSync(
    `${dir}/run_test.ts`,
    script.replace(/^const A/m, "Deno.test('k', async () => {\nconst A") + "});\n",
  );
  const cfg = new URL("../deno.json", import.meta.url).pathname;
  const deno = Deno.execPath();
  const env = { TESSERA_CACHE_DIR: Deno.env.get("TESSERA_CACHE_DIR")!, NO_COLOR: "1" };
  const runs = Number(Deno.env.get("TESSERA_EXIT_RUNS") ?? 10);
  try {
    for (let r = 0; r < runs; r++) {
      const o = await new Deno.Command(deno, {
        args: ["run", "-A", "--config", cfg, `${dir}/run.ts`],
        env,
      })
        .output();
      assert.equal(o.code, 0, `run ${r}: exit ${o.code} ${new TextDecoder().decode(o.stderr)}`);
    }
    for (let r = 0; r < 3; r++) {
      const o = await new Deno.Command(deno, {
        args: ["test", "-A", "--config", cfg, `${dir}/run_test.ts`],
        env,
      })
        .output();
      assert.equal(
        o.code,
        0,
        `deno test ${r}: exit ${o.code} ${new TextDecoder().decode(o.stderr)}`,
      );
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("heap temporaries reused across calls keep results right at every size", async () => {
  // B is a heap temporary (its size is symbolic); calls alternate sizes so that cached blocks
  // are reused for smaller requests, refused for larger ones, and stale data would show.
  const n = te.var("n");
  const A = te.placeholder([n], "float32", "A");
  const B = te.compute([n], (i) => A(i).mul(2), "B");
  const C = te.compute([n], (i) => B(n.sub(1).sub(i)).add(1), "C");
  const s = te.createSchedule(C);
  const [io] = s.stage(C).split(C.op.axis[0], { factor: 1024 });
  s.stage(C).parallel(io);
  const f = await te.build(s, [A, C], { target: "c", name: "reuse" });
  for (const len of [70000, 20000, 70000, 300000, 40000, 300000, 1]) {
    const a = nd.array(Float32Array.from({ length: len }, (_, i) => (i % 97) - 48 + len));
    const c = nd.empty([len]);
    await f(a, c);
    const got = c.data as Float32Array, x = a.data as Float32Array;
    for (let i = 0; i < len; i++) {
      if (got[i] !== x[len - 1 - i] * 2 + 1) {
        assert.fail(`n = ${len}: C[${i}] = ${got[i]}, expected ${x[len - 1 - i] * 2 + 1}`);
      }
    }
  }
});

Deno.test("a heap temporary inside a parallel loop is private to each iteration", async () => {
  // T is computed at C's parallel row loop with a symbolic row length, so each worker thread
  // allocates (and, after the first row, reuses) its own block.
  const m = 64, n = te.var("n");
  const A = te.placeholder([m, n], "float32", "A");
  const T = te.compute([m, n], (i, j) => A(i, j).add(i), "T");
  const C = te.compute([m, n], (i, j) => T(i, n.sub(1).sub(j)), "C");
  const s = te.createSchedule(C);
  s.stage(C).parallel(C.op.axis[0]);
  s.stage(T).computeAt(s.stage(C), C.op.axis[0]);
  const f = await te.build(s, [A, C], { target: "c", name: "rowtemp" });
  for (const len of [20000, 5000, 20000]) {
    const a = nd.array(Float32Array.from({ length: m * len }, (_, k) => k % 1000), [m, len]);
    const c = nd.empty([m, len]);
    await f(a, c);
    const got = c.data as Float32Array, x = a.data as Float32Array;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < len; j++) {
        const want = x[i * len + len - 1 - j] + i;
        if (got[i * len + j] !== want) {
          assert.fail(`n = ${len}: C[${i},${j}] = ${got[i * len + j]}`);
        }
      }
    }
  }
});
