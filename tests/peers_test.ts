/**
 * The CPU peers of the benchmark against the workloads' float64 reference (the checks are in
 * ./peers_util.ts, shared with the WebGPU peers' file), plus what only the CPU side has: the
 * CPU's name, unique names, and the peers that must refuse what their library lacks.
 */
import assert from "node:assert/strict";
import { allPeers } from "../lib/bench/peers/mod.ts";
import { cpuModel } from "../lib/bench/env.ts";
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

await checkPeers(allPeers().filter((p) => p.device === "cpu"));
