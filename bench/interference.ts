/**
 * Parallel kernels living with other libraries' thread pools, in a notebook's situation:
 * Tessera's C matmul, OpenBLAS and tfjs-wasm on the same 2 cores. Each runs alone first, then
 * all three interleaved call by call (A B C A B C ...), and the ratio of each one's median
 * call time interleaved to alone says what the neighbours cost it. The goal (issue 12) is no
 * ratio above 1.2. Every peer runs at its best (bench.peersAtTheirBest()).
 *
 *   deno run -A bench/interference.ts [--size N] [--rounds R]
 */
import { bench, type Peer } from "../mod.ts";
import type { Workload } from "../lib/bench/workload.ts";
import { inputsOf } from "../lib/bench/workload.ts";
import { summarize } from "../lib/bench/stats.ts";
import { tesseraPeer } from "./tessera_peer.ts";

const arg = (name: string, dflt: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
};
const size = arg("size", 512), rounds = arg("rounds", 30);
bench.peersAtTheirBest();
const w: Workload = { op: "matmul", m: size, n: size, k: size };
const inputs = inputsOf(w);
const peers: Peer[] = [tesseraPeer("c"), bench.peers["openblas"], bench.peers["tfjs-wasm"]];
const ready: { name: string; run: () => unknown; dispose: () => void }[] = [];
for (const p of peers) {
  const why = await p.available();
  if (why !== null) {
    console.log(`${p.name}: skipped (${why})`);
    continue;
  }
  const prepared = await p.prepare(w, inputs);
  ready.push({ name: p.name, run: () => prepared.run(), dispose: () => prepared.dispose() });
}
const once = async (r: { run: () => unknown }) => {
  const t0 = performance.now();
  await r.run();
  return (performance.now() - t0) / 1e3;
};
for (const r of ready) for (let i = 0; i < 3; i++) await once(r); // warm up
const alone = new Map<string, number[]>(), mixed = new Map<string, number[]>();
for (const r of ready) {
  const xs: number[] = [];
  for (let i = 0; i < rounds; i++) xs.push(await once(r));
  alone.set(r.name, xs);
}
for (const r of ready) mixed.set(r.name, []);
for (let i = 0; i < rounds; i++) for (const r of ready) mixed.get(r.name)!.push(await once(r));
console.log(`matmul ${size}, ${rounds} calls each, ${navigator.hardwareConcurrency} cores`);
console.log("peer            alone (median)   interleaved (median)   ratio");
for (const r of ready) {
  const a = summarize(alone.get(r.name)!).median, m = summarize(mixed.get(r.name)!).median;
  console.log(
    `${r.name.padEnd(15)} ${(a * 1e3).toFixed(3).padStart(10)} ms   ${
      (m * 1e3).toFixed(3).padStart(14)
    } ms        ${(m / a).toFixed(2)}`,
  );
  r.dispose();
}
