/**
 * Tessera's thread pool (lib/codegen/c/pool.ts) under the C kernels' parallel loops: kernels
 * link it and not libgomp's GOMP_parallel, te.extern's C sources keep libgomp, and the pool
 * gives right results however it is driven: many kernels at once (nonblocking calls that find
 * the pool busy run their loops on their own thread), one thread (OMP_NUM_THREADS=1), a team
 * larger than the machine, and no spinning at all (TESSERA_SPIN_US=0).
 */
import assert from "node:assert/strict";
import { nd, te } from "../mod.ts";
import { compileC } from "../lib/codegen/c/compile.ts";
import { useTestCache } from "./c_util.ts";

useTestCache();

/** A kernel whose rows are a parallel loop: C[i, j] = sum over k of A[i, k] * (j + 1). */
function rowsKernel(n: number) {
  const A = te.placeholder([n, n], "float32", "A");
  const k = te.reduceAxis([0, n], "k");
  const C = te.compute([n, n], (i, j) => te.sum(A(i, k).mul(j.add(1)), [k]), "C");
  const s = te.createSchedule(C);
  s.stage(C).parallel(C.op.axis[0]);
  return { s, args: [A, C] };
}

function expectRows(a: Float32Array, c: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let k = 0; k < n; k++) row += a[i * n + k];
    for (let j = 0; j < n; j++) {
      const want = row * (j + 1), got = c[i * n + j];
      if (Math.abs(got - want) > 1e-4 * Math.abs(want) + 1e-4) {
        assert.fail(`C[${i}, ${j}] = ${got}, expected ${want}`);
      }
    }
  }
}

Deno.test({
  name: "kernels link the pool (GOMP_parallel wrapped); te.extern's C sources keep libgomp",
  ignore: Deno.build.os !== "linux", // the pool is built on Linux only; libgomp elsewhere
}, async () => {
  const mine = await compileC("#include <stdint.h>\nint32_t k(void) { return 0; }\n");
  const wrapped = mine.command.filter((a) => a.startsWith("-Wl,--wrap="));
  assert.deepEqual(wrapped, [
    "-Wl,--wrap=GOMP_parallel",
    "-Wl,--wrap=omp_get_thread_num",
    "-Wl,--wrap=omp_get_num_threads",
  ]);
  assert.ok(mine.command.some((a) => /\/[0-9a-f]{64}\.so$/.test(a)), "links the pool library");
  const theirs = await compileC("#include <stdint.h>\nint32_t k(void) { return 0; }\n", {
    pool: false,
  });
  assert.ok(!theirs.command.some((a) => a.includes("--wrap")), theirs.command.join(" "));
});

Deno.test("parallel kernels called many at once all compute the right result", async () => {
  const n = 192;
  const { s, args } = rowsKernel(n);
  const f = await te.build(s, args, { target: "c", nonblocking: true });
  const g = await te.build(s, args, { target: "c" });
  const a = nd.array(Float32Array.from({ length: n * n }, (_, i) => (i % 13) - 6), [n, n]);
  const outs = Array.from({ length: 8 }, () => nd.empty([n, n]));
  // Eight nonblocking calls race for the pool; the synchronous ones between them too.
  const pending = outs.slice(0, 6).map((c) => f(a, c));
  await g(a, outs[6]);
  await g(a, outs[7]);
  await Promise.all(pending);
  for (const c of outs) expectRows(a.data as Float32Array, c.data as Float32Array, n);
});

Deno.test("the pool at one thread, at more threads than CPUs, and without spinning", async () => {
  const mod = new URL("../mod.ts", import.meta.url).href;
  const dir = Deno.makeTempDirSync();
  const script = `
import { nd, te } from "${mod}";
const n = 64;
const A = te.placeholder([n, n], "float32", "A");
const k = te.reduceAxis([0, n], "k");
const C = te.compute([n, n], (i, j) => te.sum(A(i, k).mul(j.add(1)), [k]), "C");
const s = te.createSchedule(C);
s.stage(C).parallel(C.op.axis[0]);
const f = await te.build(s, [A, C], { target: "c" });
const a = nd.array(Float32Array.from({ length: n * n }, (_, i) => (i % 7) - 3), [n, n]);
for (let r = 0; r < 20; r++) {
  const c = nd.empty([n, n]);
  await f(a, c);
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let q = 0; q < n; q++) row += a.at(i * n + q);
    for (let j = 0; j < n; j++) if (c.at(i * n + j) !== row * (j + 1)) Deno.exit(7);
  }
}
`;
  Deno.writeTextFileSync(`${dir}/run.ts`, script);
  const cfg = new URL("../deno.json", import.meta.url).pathname;
  try {
    for (
      const extra of [
        { OMP_NUM_THREADS: "1" },
        { OMP_NUM_THREADS: "7" },
        { TESSERA_SPIN_US: "0" },
      ] as Record<string, string>[]
    ) {
      const o = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--config", cfg, `${dir}/run.ts`],
        env: { TESSERA_CACHE_DIR: Deno.env.get("TESSERA_CACHE_DIR")!, NO_COLOR: "1", ...extra },
      }).output();
      const why = new TextDecoder().decode(o.stderr);
      assert.equal(o.code, 0, `${JSON.stringify(extra)}: exit ${o.code} ${why}`);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
