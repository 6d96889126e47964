/**
 * The CPU peers of the benchmark against the workloads' float64 reference (the checks are in
 * ./peers_util.ts, shared with the WebGPU peers' file), plus what only the CPU side has: the
 * CPU's name, unique names, and the peers that must refuse what their library lacks.
 */
import assert from "node:assert/strict";
import { allPeers } from "../lib/bench/peers/mod.ts";
import { cpuModel } from "../lib/bench/env.ts";
import { bestOpenblasCore, coreRank, cpuFeatures } from "../lib/bench/cpu.ts";
import { inputsOf } from "../lib/bench/workload.ts";
import { checkPeers, SMALL } from "./peers_util.ts";

Deno.test("cpuModel names the CPU", () => {
  assert.ok(cpuModel().length > 0);
});

Deno.test("peer names are unique, CPU peers listed before WebGPU ones", () => {
  const peers = allPeers();
  const names = peers.map((p) => p.name);
  assert.equal(new Set(names).size, names.length);
  const devices = peers.map((p) => p.device);
  const cpu = devices.filter((d) => d === "cpu"), gpu = devices.filter((d) => d === "webgpu");
  assert.deepEqual(devices, [...cpu, ...gpu]);
});

Deno.test("naive-ts runs everything; openblas refuses all but the matmuls, with a reason", async () => {
  const byName = new Map(allPeers().map((p) => [p.name, p]));
  const naive = byName.get("naive-ts")!, openblas = byName.get("openblas")!;
  for (const w of SMALL) {
    assert.equal(naive.supports(w), null, w.op);
    const why = openblas.supports(w);
    if (w.op === "matmul" || w.op === "batch_matmul") assert.equal(why, null);
    else {
      assert.match(why ?? "", new RegExp(w.op), w.op);
      // Refused before the library is looked for, so this holds without OpenBLAS too.
      await assert.rejects(openblas.prepare(w, inputsOf(w)), new RegExp(`openblas: .*${w.op}`));
    }
  }
});

Deno.test("numpy refuses conv2d with a reason, before Python is looked for", async () => {
  const numpy = allPeers().find((p) => p.name === "numpy")!;
  const w = SMALL.find((w) => w.op === "conv2d")!;
  assert.match(numpy.supports(w) ?? "", /convolution/);
  await assert.rejects(numpy.prepare(w, inputsOf(w)), /numpy: .*convolution/);
});

/**
 * What `deno task bench` does (peersAtTheirBest, then the peers load), in a process of its own
 * whose environment forces OpenBLAS's oldest AVX2 core, as this machine's does: each OpenBLAS
 * (the system one, numpy's) must report the core of this CPU's widest unit, and this test
 * process's own environment is left as it was.
 */
Deno.test("bench gives OpenBLAS and numpy's OpenBLAS this CPU's best core; tests do not", async (t) => {
  const best = bestOpenblasCore((await cpuFeatures()).flags);
  if (!best) {
    t.step({
      name: "skipped: no x86 vector unit OpenBLAS has a core type for",
      ignore: true,
      fn() {},
    });
    return;
  }
  const before = Deno.env.get("OPENBLAS_CORETYPE");
  const script = `
    import { allPeers, peersAtTheirBest } from "${new URL(
    "../lib/bench/peers/mod.ts",
    import.meta.url,
  )}";
    peersAtTheirBest();
    const out = {};
    for (const p of allPeers().filter((p) => p.name === "openblas" || p.name === "numpy")) {
      out[p.name] = (await p.available()) === null ? await p.describe() : null;
    }
    console.log(JSON.stringify(out));
    Deno.exit(0);`;
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    env: { OPENBLAS_CORETYPE: "Sandybridge", OPENBLAS_L2_SIZE: "256" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(run.success, new TextDecoder().decode(run.stderr));
  const got = JSON.parse(new TextDecoder().decode(run.stdout)) as Record<
    string,
    Record<string, string> | null
  >;
  for (const [name, d] of Object.entries(got)) {
    if (d === null) {
      await t.step({ name: `${name}: skipped, not available here`, ignore: true, fn() {} });
      continue;
    }
    await t.step(`${name} runs ${best}`, () => {
      assert.equal(coreRank(d.core), coreRank(best), `${name}: ${JSON.stringify(d)}`);
      assert.match(d.tuning, /forces OPENBLAS_CORETYPE=Sandybridge/);
      // Its idle workers must not spin into the next library's timing (lib/bench/cpu.ts).
      if (Deno.env.get("OPENBLAS_THREAD_TIMEOUT") === undefined) {
        assert.match(d.tuning, /OPENBLAS_THREAD_TIMEOUT=22/);
      }
    });
  }
  assert.equal(Deno.env.get("OPENBLAS_CORETYPE"), before);
});

await checkPeers(allPeers().filter((p) => p.device === "cpu"));
