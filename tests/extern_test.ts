/**
 * `te.extern`: a stage computed by a C function the user names. A function in C source and
 * OpenBLAS's `cblas_sgemm`, between computed stages, on the interpreter (through the
 * TypeScript `interpret` the user gives) and on C, each equal to the direct evaluation of the
 * definitions; and every refusal: bad names, missing libraries, WebGPU, the interpreter
 * without `interpret`, and scheduling the extern stage.
 */
import assert from "node:assert/strict";
import { nd, type NDArray, te, type Tensor } from "../mod.ts";
import { evalDirect } from "../lib/te/evalDirect.ts";
import { useTestCache } from "./c_util.ts";
import { rejectsTessera } from "./errors_util.ts";

useTestCache();

const rand = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, k) => Math.fround(Math.sin(k * 12.9898 + seed) * 0.9));

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) {
  assert.equal(got.length, want.length, what);
  for (let k = 0; k < want.length; k++) {
    const ok = Math.abs(got[k] - want[k]) <= tol * Math.max(1, Math.abs(want[k]));
    assert.ok(ok, `${what} [${k}]: got ${got[k]}, want ${want[k]}`);
  }
}

/** Row sums scaled by a scalar, in C; the second output counts the row's positive entries. */
const ROWSUM_C = `
#include <stdint.h>
void my_rowsum(const float* x, float* sums, int32_t* pos, int32_t m, int32_t n, float scale) {
  for (int32_t i = 0; i < m; i++) {
    float s = 0.0f;
    int32_t p = 0;
    for (int32_t j = 0; j < n; j++) {
      s += x[i * n + j];
      p += x[i * n + j] > 0.0f;
    }
    sums[i] = s * scale;
    pos[i] = p;
  }
}
`;

function rowsumInterp(ins: NDArray[], outs: NDArray[], m: number, n: number, scale: number) {
  const x = ins[0].data as Float32Array;
  const [sums, pos] = [outs[0].data as Float32Array, outs[1].data as Int32Array];
  for (let i = 0; i < m; i++) {
    let s = 0, p = 0;
    for (let j = 0; j < n; j++) {
      s = Math.fround(s + x[i * n + j]);
      p += x[i * n + j] > 0 ? 1 : 0;
    }
    sums[i] = Math.fround(s * scale);
    pos[i] = p;
  }
}

/** A computed stage before the extern (`Y = X * 2 - 0.5`), two after it. */
function pipeline(scale: number | ReturnType<typeof te.var>, withInterp = true) {
  const m = te.var("m"), n = te.var("n");
  const X = te.placeholder([m, n], "float32", "X");
  const Y = te.compute([m, n], (i, j) => X(i, j).mul(2).sub(0.5), "Y");
  const [S, P] = te.extern(
    [[m], [m]],
    [Y],
    (ins, outs) => te.externCall("my_rowsum", ins[0], outs[0], outs[1], m, n, scale),
    {
      name: "rowsum",
      dtype: ["float32", "int32"],
      cSource: ROWSUM_C,
      ...(withInterp ? { interpret: rowsumInterp as never } : {}),
    },
  ) as Tensor[];
  const Z = te.compute([m], (i) => S(i).add(te.cast("float32", P(i))), "Z");
  const W = te.compute([m, n], (i, j) => Y(i, j).sub(Z(i)), "W");
  return { X, Y, S, P, Z, W };
}

Deno.test("extern: a C function between computed stages, interpreter and C equal evalDirect", async () => {
  const { X, Y, W, Z } = pipeline(0.75);
  const [m, n] = [13, 7];
  const x = nd.array(rand(m * n, 3), [m, n]);
  const want = evalDirect([W], [[X, x]])[0].toArray() as Float32Array;
  const s = te.createSchedule([W]);
  const [i, j] = W.op.axis;
  const [jo, ji] = s.stage(W).split(j, { factor: 4 });
  s.stage(W).reorder(i, jo, ji);
  s.stage(Z).computeAt(s.stage(W), i);
  s.stage(Y).parallel(Y.op.axis[0]);
  for (const target of ["interpreter", "c"]) {
    const f = await te.build(s, [X, W], { target });
    const w = nd.empty([m, n]);
    await f(x, w);
    close(w.toArray() as Float32Array, want, 1e-5, target);
  }
});

Deno.test("extern: a scalar te.var argument reaches the C function and the interpreter", async () => {
  const scale = te.var("scale", "float32");
  const { X, W, S, P } = pipeline(scale);
  const [m, n] = [5, 9];
  const x = nd.array(rand(m * n, 7), [m, n]);
  const out: Record<string, number[]> = {};
  for (const target of ["interpreter", "c"]) {
    const f = await te.build(te.createSchedule([W, S, P]), [X, scale, W, S, P], { target });
    const [w, sm, p] = [nd.empty([m, n]), nd.empty([m]), nd.empty([m], "int32")];
    await f(x, -1.25, w, sm, p);
    out[target] = [...w.toArray(), ...sm.toArray(), ...p.toArray()];
  }
  close(out.c, out.interpreter, 1e-5, "c vs interpreter");
  // The sums really are scaled: row 0 by hand.
  const row = Array.from({ length: n }, (_, j) => Math.fround(x.data[j] as number * 2 - 0.5));
  const sum = row.reduce((a, b) => Math.fround(a + b), 0);
  close([out.c[m * n]], [Math.fround(sum * -1.25)], 1e-5, "row 0 sum");
  assert.equal(out.c[m * n + m], row.filter((v) => v > 0).length);
});

/** OpenBLAS where it is installed: the soname the dynamic linker's cache knows. */
function openblasPath(): string | null {
  try {
    const fromEnv = Deno.env.get("TESSERA_OPENBLAS");
    if (fromEnv) return fromEnv;
    const out = new Deno.Command("ldconfig", { args: ["-p"], stdout: "piped", stderr: "null" })
      .outputSync();
    const line = new TextDecoder().decode(out.stdout).split("\n")
      .find((l) => /\blibopenblas\.so/.test(l));
    return line?.split("=>")[1]?.trim() ?? null;
  } catch {
    return null;
  }
}
const OPENBLAS = openblasPath();

Deno.test({
  name: "extern: cblas_sgemm from OpenBLAS between computed stages, C equals the interpreter" +
    (OPENBLAS ? "" : " (ignored: OpenBLAS not installed; apt-get install libopenblas0)"),
  ignore: OPENBLAS === null,
  fn: async () => {
    const [M, N, K] = [19, 23, 17];
    const A0 = te.placeholder([M, K], "float32", "A0");
    const B = te.placeholder([K, N], "float32", "B");
    const A = te.compute([M, K], (i, k) => A0(i, k).add(1), "A");
    const gemmTS = (ins: NDArray[], outs: NDArray[]) => {
      const [a, b, c] = [ins[0].data, ins[1].data, outs[0].data] as Float32Array[];
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let acc = 0;
          for (let k = 0; k < K; k++) acc += a[i * K + k] * b[k * N + j];
          c[i * N + j] = acc;
        }
      }
    };
    const CblasRowMajor = 101, CblasNoTrans = 111;
    const one = te.const(1, "float32"), zero = te.const(0, "float32");
    const G = te.extern([M, N], [A, B], (ins, outs) =>
      te.externCall(
        "cblas_sgemm",
        CblasRowMajor,
        CblasNoTrans,
        CblasNoTrans,
        M,
        N,
        K,
        one,
        ins[0],
        K,
        ins[1],
        N,
        zero,
        outs[0],
        N,
      ), { name: "gemm", libs: ["openblas"], interpret: gemmTS }) as Tensor;
    const R = te.compute([M, N], (i, j) => G(i, j).max(0), "R");
    const a = nd.array(rand(M * K, 1), [M, K]), b = nd.array(rand(K * N, 2), [K, N]);
    const want = evalDirect([R], [[A0, a], [B, b]])[0].toArray() as Float32Array;
    for (const target of ["interpreter", "c"]) {
      const f = await te.build(te.createSchedule(R), [A0, B, R], { target });
      const r = nd.empty([M, N]);
      await f(a, b, r);
      close(r.toArray() as Float32Array, want, 1e-4, target);
    }
    // An absolute path to the .so links too; the extern's output is the kernel's output.
    const G2 = te.extern([M, N], [A, B], (ins, outs) =>
      te.externCall(
        "cblas_sgemm",
        CblasRowMajor,
        CblasNoTrans,
        CblasNoTrans,
        M,
        N,
        K,
        one,
        ins[0],
        K,
        ins[1],
        N,
        zero,
        outs[0],
        N,
      ), { libs: [OPENBLAS!], interpret: gemmTS }) as Tensor;
    const g = [nd.empty([M, N]), nd.empty([M, N])];
    for (const [k, target] of ["interpreter", "c"].entries()) {
      await (await te.build(te.createSchedule(G2), [A0, B, G2], { target }))(a, b, g[k]);
    }
    close(g[1].toArray() as Float32Array, g[0].toArray() as Float32Array, 1e-4, "absolute path");
  },
});

function simpleExtern(fname = "my_copy", opts: Record<string, unknown> = {}) {
  const n = te.var("n");
  const X = te.placeholder([n], "float32", "X");
  const Y = te.compute([n], (i) => X(i).add(1), "Y");
  const E = te.extern([n], [Y], (ins, outs) => te.externCall(fname, ins[0], outs[0], n), {
    name: "E",
    cSource: "#include <stdint.h>\n" +
      "void my_copy(const float* x, float* y, int32_t n) { for (int32_t i = 0; i < n; i++) " +
      "y[i] = x[i]; }\n",
    ...opts,
  }) as Tensor;
  const Z = te.compute([n], (i) => E(i).mul(2), "Z");
  return { X, Y, E, Z };
}

Deno.test("extern: function names must be C identifiers and not Tessera's", async () => {
  for (const bad of ["my-copy", "1f", "f(x)", "", "int", "k_main", "tsr_alloc", "v_x"]) {
    await rejectsTessera(() => simpleExtern(bad), /externCall: function name/);
  }
  await rejectsTessera(
    () => te.extern([4], [], () => "call" as never, {}),
    /must return te\.externCall/,
  );
  const X = te.placeholder([4], "float32", "X");
  await rejectsTessera(
    () => te.extern([4], [X], (ins) => te.externCall("f", ins[0]), {}),
    /never passes outs\[0\]/,
  );
  await rejectsTessera(
    () => te.extern([4], [X], (_, outs) => te.externCall("f", outs[0], X(0)), {}),
    /reads a tensor/,
  );
  await rejectsTessera(
    () => te.extern([4], [X], (_, outs) => te.externCall("f", outs[0]), { libs: ["-lc"] }),
    /neither a library name/,
  );
  await rejectsTessera(
    () => te.extern([4], [X], (_, outs) => te.externCall("f", outs[0]), { dtype: "bool" }),
    /output 0 has dtype bool/,
  );
  const H = te.placeholder([4], "float16", "H");
  await rejectsTessera(
    () => te.extern([4], [H], (_, outs) => te.externCall("f", outs[0]), { dtype: "float32" }),
    /input 0 'H' is float16/,
  );
});

Deno.test("extern: a library found nowhere is a TesseraError before compiling", async () => {
  const { X, Z } = simpleExtern("my_copy", { libs: ["tessera_no_such_lib"] });
  await rejectsTessera(
    () => te.build(te.createSchedule(Z), [X, Z], { target: "c" }),
    /library 'tessera_no_such_lib' not found/,
  );
  const p = simpleExtern("my_copy", { libs: ["/nonexistent/libfoo.so"] });
  await rejectsTessera(
    () => te.build(te.createSchedule(p.Z), [p.X, p.Z], { target: "c" }),
    /\/nonexistent\/libfoo\.so does not exist/,
  );
});

Deno.test("extern: WebGPU refuses at build, saying extern calls run on C only", async () => {
  const { X, Z } = simpleExtern();
  await rejectsTessera(
    () => te.build(te.createSchedule(Z), [X, Z], { target: "webgpu" }),
    /extern stage 'E' calls C function 'my_copy'; extern calls run on the C target only/,
  );
});

Deno.test("extern: the interpreter without `interpret` says to pass one; C still runs", async () => {
  const { X, Z } = simpleExtern();
  const f = await te.build(te.createSchedule(Z), [X, Z], { target: "interpreter" });
  const x = nd.array(new Float32Array([1, 2, 3])), z = nd.empty([3]);
  await rejectsTessera(() => f(x, z), /interpreter cannot run; pass a TypeScript implementation/);
  const c = await te.build(te.createSchedule(Z), [X, Z], { target: "c" });
  await c(x, z);
  assert.deepEqual([...z.toArray()], [4, 6, 8]);
});

Deno.test("extern: its stage cannot be scheduled, and what it reads stays whole", async () => {
  const { X, Y, E, Z } = simpleExtern();
  const s = te.createSchedule(Z);
  await rejectsTessera(() => s.stage(E).split(E.op.axis[0], { factor: 2 }), /'E' is an extern/);
  await rejectsTessera(() => s.stage(E).computeInline(), /'E' is an extern call/);
  await rejectsTessera(
    () => s.stage(E).computeAt(s.stage(Z), Z.op.axis[0]),
    /computeAt\(stage 'E'.*an extern call/,
  );
  await rejectsTessera(() => s.stage(Y).computeAt(s.stage(E), Y.op.axis[0]), /an extern call/);
  await rejectsTessera(() => s.cacheWrite(E, "local"), /'E' is an extern call/);
  await rejectsTessera(() => s.cacheRead(Y, "local", [E]), /stage 'E' is an extern call/);
  s.stage(Y).computeInline();
  await rejectsTessera(
    () => te.lower(s, [X, Z]),
    /'Y' is read by extern stage 'E'.*computed at the root \(it is inlined\)/,
  );
  // Reading the extern's output from an attached stage is fine.
  const t = simpleExtern();
  const s2 = te.createSchedule(t.Z);
  const [zo] = s2.stage(t.Z).split(t.Z.op.axis[0], { factor: 4 });
  void zo;
  const f = await te.build(s2, [t.X, t.Z], { target: "c" });
  const z = nd.empty([6]);
  await f(nd.array(new Float32Array([0, 1, 2, 3, 4, 5])), z);
  assert.deepEqual([...z.toArray()], [2, 4, 6, 8, 10, 12]);
});

/** TVM's extern tutorial, in our words: a BLAS matmul, a bias added after it, and "add one". */
Deno.test({
  name: "extern: TVM's extern tutorial (sgemm then bias add; addone in C source)" +
    (OPENBLAS ? "" : " (ignored: OpenBLAS not installed; apt-get install libopenblas0)"),
  ignore: OPENBLAS === null,
  fn: async () => {
    const [n, l, m] = [32, 12, 21];
    const A = te.placeholder([n, l], "float32", "A");
    const B = te.placeholder([l, m], "float32", "B");
    const bias = te.placeholder([m], "float32", "bias");
    const f32 = (x: number) => te.const(x, "float32");
    const C = te.extern([n, m], [A, B], (ins, outs) =>
      te.externCall(
        "cblas_sgemm",
        101,
        111,
        111,
        n,
        m,
        l,
        f32(1),
        ins[0],
        l,
        ins[1],
        m,
        f32(0),
        outs[0],
        m,
      ), {
      name: "C",
      libs: ["openblas"],
      interpret: (ins, outs) => {
        const [a, b, c] = [ins[0].data, ins[1].data, outs[0].data] as Float32Array[];
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < m; j++) {
            let acc = 0;
            for (let k = 0; k < l; k++) acc += a[i * l + k] * b[k * m + j];
            c[i * m + j] = acc;
          }
        }
      },
    }) as Tensor;
    const D = te.compute([n, m], (i, j) => C(i, j).add(bias(j)), "D");
    // The tutorial's second half: an element-wise function of the user's own.
    const E = te.extern(
      [n, m],
      [D],
      (ins, outs) => te.externCall("addone", ins[0], outs[0], n * m),
      {
        name: "E",
        cSource: "#include <stdint.h>\n" +
          "void addone(const float* x, float* y, int32_t k) { for (int32_t i = 0; i < k; i++) " +
          "y[i] = x[i] + 1.0f; }\n",
        interpret: (ins, outs) => {
          const [x, y] = [ins[0].data, outs[0].data] as Float32Array[];
          for (let i = 0; i < x.length; i++) y[i] = x[i] + 1;
        },
      },
    ) as Tensor;
    const a = nd.array(rand(n * l, 4), [n, l]), b = nd.array(rand(l * m, 5), [l, m]);
    const bb = nd.array(rand(m, 6), [m]);
    const want = evalDirect([E], [[A, a], [B, b], [bias, bb]])[0].toArray() as Float32Array;
    for (const target of ["interpreter", "c"]) {
      const s = te.createSchedule(E);
      s.stage(D).parallel(D.op.axis[0]);
      const f = await te.build(s, [A, B, bias, E], { target });
      const e = nd.empty([n, m]);
      await f(a, b, bb, e);
      close(e.toArray() as Float32Array, want, 1e-4, target);
    }
  },
});
