/**
 * Parallel kernels living with other libraries' thread pools, in a notebook's situation:
 * Tessera's C matmul, OpenBLAS and tfjs-wasm on the same 2 cores. Each runs alone first, then
 * all three interleaved call by call (A B C A B C ...), and the ratio of each one's median
 * call time interleaved to alone says what the neighbours cost it. The goal (issue 12) is no
 * ratio above 1.2. Every peer runs at its best (bench.peersAtTheirBest()).
 *
 * The cost found here is one library's idle threads spinning after a call: a spinning thread
 * takes a core that a fork-join kernel (Tessera's static OpenMP loop, OpenBLAS's own) needs,
 * and the whole call waits for the thread that shares it. The "busy after" column measures
 * each library's CPU time in the 20 ms after a call, when it should be idle (Linux only).
 * OpenBLAS's pthreads build spins for 2^28 cycles by default (~130 ms of a core per call);
 * OPENBLAS_THREAD_TIMEOUT=4 makes its workers sleep at once, and this bench sets it before
 * OpenBLAS loads unless the caller set it or passes --spin.
 *
 * A call after a pause is slower even with no neighbour: on a shared VM the kernel's data
 * leaves the caches while it does not run (a 512^3 matmul is 1.3-1.8x slower after a 5-13 ms
 * pause on a Zen 3 VM, with one thread too). So each library is also timed alone with a pause
 * before each call as long as its neighbours' calls, and "interleaved / paused" is what the
 * neighbours themselves cost it.
 *
 *   deno run -A bench/interference.ts [--size N] [--rounds R (60)] [--spin]
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
const size = arg("size", 512), rounds = arg("rounds", 60);
const spin = Deno.args.includes("--spin");
if (!spin && Deno.env.get("OPENBLAS_THREAD_TIMEOUT") === undefined) {
  Deno.env.set("OPENBLAS_THREAD_TIMEOUT", "4");
}
console.log(
  `OPENBLAS_THREAD_TIMEOUT=${Deno.env.get("OPENBLAS_THREAD_TIMEOUT") ?? "(unset: spins ~130 ms)"}`,
);
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process's CPU seconds so far (user + system), or null where /proc is missing. */
const cpuSeconds = (): number | null => {
  try {
    const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
};
/** Waits (up to 5 s) until the process is idle, so that a JIT's background tier-up ends. */
const quiet = async () => {
  for (let i = 0; i < 50; i++) {
    const c0 = cpuSeconds();
    await sleep(100);
    const c1 = cpuSeconds();
    if (c0 === null || c1 === null || c1 - c0 <= 0.01) return;
  }
};
/** Mean CPU milliseconds the process spends in the 20 ms after one of r's calls. */
const busyAfter = async (r: { run: () => unknown }) => {
  let sum = 0;
  for (let i = 0; i < 20; i++) {
    await r.run();
    const c0 = cpuSeconds();
    await sleep(20);
    const c1 = cpuSeconds();
    if (c0 === null || c1 === null) return null;
    sum += c1 - c0;
  }
  await quiet();
  return (sum / 20) * 1e3;
};

/**
 * `r`'s calls each after a pause of `ms` in which this thread keeps one core busy in
 * JavaScript and no other library runs: what the pause alone costs the next call (median).
 */
const afterPause = async (r: { run: () => unknown }, ms: number) => {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    for (let x = 0, end = performance.now() + ms; performance.now() < end;) x += Math.sqrt(x);
    times.push(await once(r));
  }
  return summarize(times).median;
};

for (const r of ready) for (let i = 0; i < 5; i++) await once(r); // warm up
await quiet();
const busy = new Map<string, number | null>();
for (const r of ready) busy.set(r.name, await busyAfter(r));
// Alone and interleaved blocks alternate (ten of each, each after three unrecorded calls), so
// that the machine's shifts of speed (on a shared VM they last a second or so and move every
// library's time alike) fall on both sides alike.
const alone = new Map<string, number[]>(), mixed = new Map<string, number[]>();
for (const r of ready) alone.set(r.name, []), mixed.set(r.name, []);
const blocks = 10, per = Math.max(1, Math.ceil(rounds / blocks));
for (let b = 0; b < blocks; b++) {
  for (const r of ready) {
    for (let i = 0; i < 3; i++) await once(r);
    for (let i = 0; i < per; i++) alone.get(r.name)!.push(await once(r));
  }
  for (let i = 0; i < 3 + per; i++) {
    for (const r of ready) {
      const t = await once(r);
      if (i >= 3) mixed.get(r.name)!.push(t);
    }
  }
}
// The same calls with no neighbour, each after a pause of its caller as long as its
// neighbours' calls took (a busy JavaScript loop, so that no CPU goes idle). On a shared VM a
// kernel is slower after any pause (its data leaves the shared caches, whoever runs): the
// interleaved time over this one is what the neighbours themselves cost.
const median = (r: { name: string }, m: Map<string, number[]>) => summarize(m.get(r.name)!).median;
const paused = new Map<string, number>();
for (const r of ready) {
  const others = ready.filter((o) => o !== r).reduce((t, o) => t + median(o, mixed), 0);
  paused.set(r.name, await afterPause(r, others * 1e3));
}
console.log(`matmul ${size}, ${blocks * per} calls each, ${navigator.hardwareConcurrency} cores`);
console.log(
  "peer            alone (median)   interleaved (median)   ratio   after an equal pause   " +
    "interleaved / paused   busy after a call",
);
for (const r of ready) {
  const a = median(r, alone), m = median(r, mixed), p = paused.get(r.name)!;
  const b = busy.get(r.name);
  const ms = (x: number, w: number) => `${(x * 1e3).toFixed(3)} ms`.padStart(w);
  console.log(
    `${r.name.padEnd(15)} ${ms(a, 13)}   ${ms(m, 17)}    ${(m / a).toFixed(2)}   ${ms(p, 18)}   ` +
      `${(m / p).toFixed(2).padStart(20)}   ${b === null ? "n/a" : `${b!.toFixed(1)} ms of 20`}`,
  );
  r.dispose();
}
