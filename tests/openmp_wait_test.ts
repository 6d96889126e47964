/**
 * Which threads run a kernel's parallel loops, checked in fresh processes by what libgomp
 * itself reports (OMP_DISPLAY_ENV=verbose prints its settings to stderr as it initializes):
 * a plain kernel runs them on Tessera's pool (lib/codegen/c/pool.ts) and never starts libgomp;
 * a kernel with te.extern C sources keeps libgomp, whose threads wait passively (passiveOpenMP
 * in lib/codegen/c/compile.ts: set before libgomp's initialization, which runs when the first
 * such kernel is loaded), and a user's own choice wins.
 */
import assert from "node:assert/strict";
import { useTestCache } from "./c_util.ts";

const plain = `
  import { nd, te } from "${new URL("../mod.ts", import.meta.url)}";
  const A = te.placeholder([4096], "float32", "A");
  const B = te.compute([4096], (i) => A(i).mul(2), "B");
  const s = te.createSchedule(B);
  s.stage(B).parallel(s.stage(B).split(B.op.axis[0], { factor: 64 })[0]);
  const f = await te.build(s, [A, B], { target: "c", name: "wait_policy" });
  f(nd.array(new Float32Array(4096), [4096]), nd.empty([4096], "float32"));`;

/** The same kernel with a te.extern stage whose C source the kernel compiles. */
const withExtern = `
  import { nd, te } from "${new URL("../mod.ts", import.meta.url)}";
  const A = te.placeholder([4096], "float32", "A");
  const E = te.extern([4096], [A], (ins, outs) => te.externCall("my_copy", ins[0], outs[0]), {
    name: "E",
    cSource: "void my_copy(const float* x, float* y) { for (int i = 0; i < 4096; i++) y[i] = x[i]; }",
  });
  const B = te.compute([4096], (i) => E(i).mul(2), "B");
  const s = te.createSchedule(B);
  s.stage(B).parallel(s.stage(B).split(B.op.axis[0], { factor: 64 })[0]);
  const f = await te.build(s, [A, B], { target: "c", name: "wait_policy_extern" });
  f(nd.array(new Float32Array(4096), [4096]), nd.empty([4096], "float32"));`;

function base(): Record<string, string> {
  const keep = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "TMPDIR"];
  return Object.fromEntries(keep.flatMap((k) => {
    const v = Deno.env.get(k);
    return v === undefined ? [] : [[k, v]];
  }));
}

/** libgomp's report of its settings from a fresh process running `script`, or "" if none. */
async function gompReport(script: string, env: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    // A clean environment: this process's may already hold what a loaded kernel set.
    clearEnv: true,
    env: { ...base(), ...env, OMP_DISPLAY_ENV: "verbose", TESSERA_CACHE_DIR: useTestCache() },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.ok(out.success, err);
  return err.includes("OPENMP DISPLAY ENVIRONMENT") ? err : "";
}

async function spinCount(env: Record<string, string>): Promise<string> {
  const err = await gompReport(withExtern, env);
  const m = /GOMP_SPINCOUNT = '(\d+)'/.exec(err);
  assert.ok(m, `libgomp printed no GOMP_SPINCOUNT:\n${err}`);
  return m[1];
}

Deno.test({
  name: "a kernel without te.extern C sources never starts libgomp",
  ignore: Deno.build.os !== "linux", // the pool is built on Linux only; libgomp elsewhere
}, async () => {
  assert.equal(await gompReport(plain, {}), "");
});

Deno.test("libgomp's threads (te.extern kernels) wait passively unless the user says otherwise", async () => {
  // Passive means libgomp spins 0 turns before sleeping (its default is 300000).
  assert.equal(await spinCount({}), "0");
  assert.equal(await spinCount({ GOMP_SPINCOUNT: "1234" }), "1234");
  assert.notEqual(await spinCount({ OMP_WAIT_POLICY: "active" }), "0");
});
