/**
 * The C compiler driver, against the real compiler: a library it builds loads and runs, the
 * cache hits and misses when it should, errors point at the generated line, concurrent builds
 * of one kernel all succeed, a damaged or swapped cache entry is rebuilt and never loaded,
 * and OpenMP libraries let the process exit cleanly.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TesseraError } from "../lib/error.ts";
import {
  BASE_FLAGS,
  cacheDir,
  compileC as compileInto,
  CompileError,
  type CompileOptions,
  findCompiler,
  loadC,
} from "../lib/codegen/c/compile.ts";

// Every test builds into a directory of its own, never the user's cache. The directory is
// passed, not set in the environment: `deno test --parallel` runs all test files in one
// process, so a Deno.env.set here would move other files' caches too (and deleting this
// directory at the end would pull it from under their compiles).
const CACHE = Deno.makeTempDirSync({ prefix: "tessera-c-compile-test-" });
const compileC = (src: string, opts: CompileOptions = {}) =>
  compileInto(src, { cacheDir: CACHE, ...opts });
const COMPILE_TS = new URL("../lib/codegen/c/compile.ts", import.meta.url).href;
const MOD_TS = new URL("../mod.ts", import.meta.url).href;

/** A source no earlier run can have cached, so the first compile really compiles. */
function fresh(body: string): string {
  return `/* ${crypto.randomUUID()} */\n#include <stdint.h>\n${body}\n`;
}

function tmpFiles(): string[] {
  return [...Deno.readDirSync(CACHE)].map((e) => e.name).filter((n) => n.includes(".tmp"));
}

Deno.test("compileC builds a library that Deno.dlopen loads and calls", async () => {
  const lib = await compileC(fresh("int32_t add1(int32_t x) { return x + 1; }"));
  assert.equal(lib.cached, false);
  assert.ok(lib.path.startsWith(CACHE) && lib.path.endsWith(".so"));
  assert.ok(Deno.statSync(lib.path.replace(/\.so$/, ".c")).isFile, "the source is kept beside");
  for (const f of BASE_FLAGS) assert.ok(lib.command.includes(f), `command has ${f}`);
  assert.equal(lib.command.at(-1), "-lm");
  const dl = Deno.dlopen(lib.path, { add1: { parameters: ["i32"], result: "i32" } });
  try {
    assert.equal(dl.symbols.add1(41), 42);
  } finally {
    dl.close();
  }
});

Deno.test("the same source is cached; other flags give another library", async () => {
  const src = fresh("int32_t twice(int32_t x) { return 2 * x; }");
  const a = await compileC(src);
  const b = await compileC(src);
  assert.equal(a.cached, false);
  assert.equal(b.cached, true);
  assert.equal(b.path, a.path);
  const c = await compileC(src, { flags: ["-O1"] });
  assert.equal(c.cached, false);
  assert.notEqual(c.path, a.path);
  const d = await compileC(src, { extraFlags: ["-g"] });
  assert.notEqual(d.path, a.path);
  assert.notEqual(d.path, c.path);
  assert.deepEqual(tmpFiles(), []);
});

Deno.test("int32 arithmetic wraps (-fwrapv) even at -O3", async () => {
  // Without -fwrapv, -O3 folds `x + 1 > x` to 1.
  const lib = await compileC(fresh("int32_t grows(int32_t x) { return x + 1 > x; }"));
  const dl = Deno.dlopen(lib.path, { grows: { parameters: ["i32"], result: "i32" } });
  try {
    assert.equal(dl.symbols.grows(5), 1);
    assert.equal(dl.symbols.grows(2147483647), 0);
  } finally {
    dl.close();
  }
});

Deno.test("_Float16 is available and rounds to half precision", async () => {
  const lib = await compileC(fresh("float to_half(float x) { return (float)(_Float16)x; }"));
  const dl = Deno.dlopen(lib.path, { to_half: { parameters: ["f32"], result: "f32" } });
  try {
    assert.equal(dl.symbols.to_half(1 / 3), Math.f16round(1 / 3));
    assert.equal(dl.symbols.to_half(70000), Infinity);
  } finally {
    dl.close();
  }
});

Deno.test("warnings are not errors", async () => {
  const lib = await compileC(fresh("int32_t f(void) { int32_t unused; return 0; }"), {
    extraFlags: ["-Wall", "-Wextra"],
  });
  assert.ok(Deno.statSync(lib.path).isFile);
});

Deno.test("a syntax error throws CompileError naming the generated line", async () => {
  const src = fresh(
    "int32_t ok(int32_t x) { return x; }\nint32_t bad(int32_t x) { return x +* 2 }",
  );
  const err = await compileC(src).then(
    () => assert.fail("expected a CompileError"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CompileError, `got ${String(err)}`);
  assert.ok(err instanceof TesseraError);
  assert.match(err.message, /line +4: int32_t bad\(int32_t x\) \{ return x \+\* 2 \}/);
  assert.match(err.message, /error:/);
  assert.match(err.stderr, /error:/);
  assert.ok(err.message.includes(".c"), "the message says where the source is kept");
  assert.deepEqual(tmpFiles(), [], "no temporary files are left behind");
  // A failure is not cached: the same source fails again.
  await assert.rejects(compileC(src), CompileError);
});

Deno.test("an unknown compiler is a TesseraError saying what to install", async () => {
  await assert.rejects(
    compileC(fresh("int f(void) { return 0; }"), { cc: "/nonexistent/tessera-no-cc" }),
    (e: unknown) => {
      assert.ok(e instanceof TesseraError && !(e instanceof CompileError), String(e));
      assert.match(e.message, /no C compiler found/);
      assert.match(e.message, /tessera-no-cc/);
      assert.match(e.message, /apt-get install gcc/);
      return true;
    },
  );
});

Deno.test("an unwritable cache directory is a TesseraError naming TESSERA_CACHE_DIR", async () => {
  const blocker = join(CACHE, "not-a-directory");
  Deno.writeTextFileSync(blocker, "");
  try {
    const bad = { cacheDir: join(blocker, "cache") };
    await assert.rejects(compileC(fresh("int f(void) { return 0; }"), bad), (e: unknown) => {
      assert.ok(e instanceof TesseraError, String(e));
      assert.match(e.message, /not-a-directory.*TESSERA_CACHE_DIR/s);
      return true;
    });
  } finally {
    Deno.removeSync(blocker);
  }
});

Deno.test("findCompiler skips a missing $CC and reports a version", async () => {
  // In a subprocess: setting CC here would set it for every test file in this process.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { findCompiler } from ${JSON.stringify(COMPILE_TS)};
       console.log(JSON.stringify(await findCompiler()));`,
    ],
    env: { CC: "tessera-no-such-compiler" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const found = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.ok(!found.path.includes("tessera-no-such-compiler"), found.path);
  assert.ok(found.version.length > 0);
  assert.deepEqual(await findCompiler(found.path), found);
});

Deno.test("cacheDir: TESSERA_CACHE_DIR, then XDG_CACHE_HOME, then HOME, then temp", () => {
  const dir = (env: Record<string, string>) => cacheDir((k) => env[k]);
  const all = { TESSERA_CACHE_DIR: "/t", XDG_CACHE_HOME: "/x/cache", HOME: "/home/u" };
  assert.equal(dir(all), "/t");
  assert.equal(dir({ ...all, TESSERA_CACHE_DIR: "" }), "/x/cache/tessera/c");
  assert.equal(dir({ HOME: "/home/u" }), "/home/u/.cache/tessera/c");
  assert.match(dir({ USER: "ann" }), /tessera-ann\/c$/);
});

Deno.test("concurrent compiles of one new kernel all succeed", async () => {
  const src = fresh(
    "int32_t mul3(int32_t x) { return 3 * x; }\n" +
      Array.from({ length: 200 }, (_, i) => `int32_t pad${i}(int32_t x) { return x + ${i}; }`)
        .join("\n"),
  );
  const script = `
    import { compileC } from ${JSON.stringify(COMPILE_TS)};
    const lib = await compileC(${JSON.stringify(src)});
    const dl = Deno.dlopen(lib.path, { mul3: { parameters: ["i32"], result: "i32" } });
    if (dl.symbols.mul3(5) !== 15) Deno.exit(3);
    console.log(lib.path);
  `;
  const subprocess = () =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      env: { TESSERA_CACHE_DIR: CACHE },
      stdout: "piped",
      stderr: "piped",
    }).output();
  const [x, y, p, q] = await Promise.all([
    compileC(src),
    compileC(src),
    subprocess(),
    subprocess(),
  ]);
  for (const out of [p, q]) {
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stdout).trim(), x.path);
  }
  assert.equal(y.path, x.path);
  const dl = Deno.dlopen(x.path, { mul3: { parameters: ["i32"], result: "i32" } });
  try {
    assert.equal(dl.symbols.mul3(-7), -21);
  } finally {
    dl.close();
  }
  assert.deepEqual(tmpFiles(), []);
});

Deno.test("an OpenMP library lets the process exit cleanly, 20 times out of 20", async () => {
  const lib = await compileC(fresh(`
void fill(float* out, int32_t n) {
  #pragma omp parallel for
  for (int32_t i = 0; i < n; ++i) out[i] = (float)i * 2.0f;
}`));
  const dir = await Deno.makeTempDir({ prefix: "tessera-omp-" });
  try {
    // Half the runs close the library, half leave it to process exit: both used to crash.
    const script = join(dir, "run.ts");
    await Deno.writeTextFile(
      script,
      `const lib = Deno.dlopen(Deno.args[0], {
  fill: { parameters: ["buffer", "i32"], result: "void" },
});
const a = new Float32Array(1 << 16);
lib.symbols.fill(a, a.length);
if (a[12345] !== 24690) Deno.exit(3);
if (Deno.args[1] === "close") lib.close();
`,
    );
    for (let i = 0; i < 20; i++) {
      const mode = i % 2 ? "close" : "leave";
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "--allow-ffi", script, lib.path, mode],
        env: { OMP_NUM_THREADS: "4" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const why = `run ${i} (${mode}): code ${out.code}, signal ${out.signal}\n` +
        new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, why);
      assert.equal(out.signal, null, why);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Builds and runs two kernels (x + 1, x * 2) in a fresh process on the cache `dir`. They have
 * one name, so each library has the symbol the other's loader asks for.
 */
async function runTwoKernels(dir: string): Promise<void> {
  const script = `
    import { nd, te } from ${JSON.stringify(MOD_TS)};
    const X = te.placeholder([16], "float32", "X");
    const kernels = [[(x) => x.add(1), (v) => v + 1], [(x) => x.mul(2), (v) => v * 2]];
    for (const [body, want] of kernels) {
      const Y = te.compute([16], (i) => body(X(i)), "Y");
      const f = await te.build(te.createSchedule(Y), [X, Y], { target: "c", name: "k" });
      const x = nd.array(Float32Array.from({ length: 16 }, (_, i) => i - 5), [16]);
      const y = nd.empty([16]);
      await f(x, y);
      const got = Array.from(y.toArray()), expect = Array.from(x.toArray(), want);
      if (JSON.stringify(got) !== JSON.stringify(expect)) {
        throw new Error("got " + got + ", want " + expect);
      }
    }`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env: { TESSERA_CACHE_DIR: dir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const why = `code ${out.code}, signal ${out.signal}\n${new TextDecoder().decode(out.stderr)}`;
  assert.equal(out.signal, null, why);
  assert.equal(out.code, 0, why);
  const temps = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.includes(".tmp"));
  assert.deepEqual(temps, [], "no temporary file is left behind");
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("a truncated, garbage or swapped cached library is rebuilt, never loaded", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "tessera-c-cache-test-" });
  try {
    await runTwoKernels(dir);
    // The cache key of each kernel, from its kept source.
    const keyOf = (body: string) =>
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".c")).find((n) =>
        Deno.readTextFileSync(join(dir, n)).includes(body)
      )!.slice(0, -2);
    const inc = join(dir, keyOf("b_X[v_i] + 1.0f;")), dbl = join(dir, keyOf("b_X[v_i] * 2.0f;"));
    const good = Deno.readFileSync(`${inc}.so`);
    const damages: [string, () => Promise<void>][] = [
      ["truncated to half (used to die of SIGBUS)", async () => {
        await Deno.truncate(`${inc}.so`, good.length >> 1);
      }],
      ["garbage (used to fail to open on every run)", async () => {
        await Deno.writeTextFile(`${inc}.so`, "not a shared object\n".repeat(100));
      }],
      ["another kernel's library (used to compute x * 2)", async () => {
        await Deno.copyFile(`${dbl}.so`, `${inc}.so`);
      }],
      ["another kernel's library and manifest", async () => {
        await Deno.copyFile(`${dbl}.so`, `${inc}.so`);
        await Deno.copyFile(`${dbl}.sha256`, `${inc}.sha256`);
      }],
      ["another kernel's library with a manifest forged to match it", async () => {
        const other = await Deno.readFile(`${dbl}.so`);
        await Deno.writeFile(`${inc}.so`, other);
        const name = inc.split("/").pop();
        await Deno.writeTextFile(`${inc}.sha256`, `${await sha256Hex(other)}  ${name}.so\n`);
      }],
      ["a missing manifest", async () => {
        await Deno.remove(`${inc}.sha256`);
      }],
    ];
    for (const [what, damage] of damages) {
      await damage();
      await runTwoKernels(dir).catch((e) => assert.fail(`${what}: ${e.message}`));
      assert.deepEqual(Deno.readFileSync(`${inc}.so`), good, `${what}: rebuilt in place`);
      const manifest = Deno.readTextFileSync(`${inc}.sha256`);
      assert.equal(manifest.split(" ")[0], await sha256Hex(good), `${what}: manifest rewritten`);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a compile sweeps temporaries that a dead process left, not a live compile's", async () => {
  const stale = join(CACHE, "0123abcd.4242.deadbeef0000.tmp.so");
  const young = join(CACHE, "0123abcd.4243.feedbeef0000.tmp.c");
  Deno.writeTextFileSync(stale, "half a library");
  Deno.writeTextFileSync(young, "a compile in progress");
  const hourAgo = new Date(Date.now() - 3600_000);
  Deno.utimeSync(stale, hourAgo, hourAgo);
  try {
    await compileC(fresh("int32_t f(void) { return 0; }"));
    assert.deepEqual(tmpFiles(), [young.split("/").pop()]);
  } finally {
    for (const f of [stale, young]) {
      if (tmpFiles().includes(f.split("/").pop()!)) Deno.removeSync(f);
    }
  }
});

Deno.test("loadC: a library that does not load even after a rebuild is a TesseraError", async () => {
  const src = fresh("int32_t present(int32_t x) { return x; }");
  await assert.rejects(
    loadC(src, { absent: { parameters: ["i32"], result: "i32" } }, { cacheDir: CACHE }),
    (e: unknown) => {
      assert.ok(e instanceof TesseraError, String(e));
      assert.match(e.message, /cannot load the compiled library .*\.so: dlopen failed/);
      assert.match(e.message, /absent/);
      assert.match(e.message, /after a rebuild/);
      return true;
    },
  );
  assert.deepEqual(tmpFiles(), []);
  const { library, dl } = await loadC(src, { present: { parameters: ["i32"], result: "i32" } }, {
    cacheDir: CACHE,
  });
  try {
    assert.equal(dl.symbols.present(7), 7);
    assert.ok(library.cached);
  } finally {
    dl.close();
  }
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(CACHE, { recursive: true });
  } catch {
    // best effort
  }
});
