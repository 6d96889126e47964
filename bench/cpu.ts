/**
 * The benchmark (`deno task bench`), CPU part: Tessera's hand-scheduled matmul against every peer
 * that is installed, and a fused memory-bound chain against a plain copy of the same bytes.
 * Peers are measured in the same run on the same inputs, one call of each in turn per round
 * (A B C A B C ...), so that drift on a noisy machine hits every side alike; medians are
 * reported with their ratio to OpenBLAS (or to the best peer when OpenBLAS is missing).
 * The WebGPU part (bench/gpu.ts) follows in the same process, so `--quick` reaches both.
 *
 *   deno task bench [--sizes 256,512,1024] [--rounds 15] [--settle 200] [--quick]
 */
import { nd, te } from "../mod.ts";
import { matmulCpu } from "../examples/matmul_cpu.ts";
import { allPeers, machineInfo, type Prepared } from "../lib/bench/peers/mod.ts";
import { median } from "../lib/runtime/timing.ts";
import { gpuOptionsFromArgs, gpuSection } from "./gpu.ts";

const args = Deno.args;
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const sizes = (opt("sizes") ?? (quick ? "128" : "256,512,1024")).split(",").map(Number);
const rounds = Number(opt("rounds") ?? (quick ? 3 : 15));
const streamLog2 = Number(opt("stream") ?? (quick ? 18 : 24));
const settleMs = Number(opt("settle") ?? (quick ? 0 : 200));

const info = machineInfo();
console.log(`machine: ${info.cpu}, ${info.cores} cores; Deno ${info.deno}, V8 ${info.v8}`);
console.log(`medians of ${rounds} interleaved rounds, ${settleMs} ms settle before each sample\n`);

const status = (msg: string) => {
  if (Deno.stdout.isTerminal()) {
    Deno.stdout.writeSync(new TextEncoder().encode(`\r\x1b[K${msg}`));
  }
};

function rand(n: number, seed: number): Float32Array {
  let x = seed;
  return Float32Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
}

interface Runner {
  name: string;
  run: () => Promise<void> | void;
  result: () => Promise<Float32Array>;
  /** Rounds this runner takes part in (slow baselines are sampled less). */
  every: number;
}

/**
 * Times each runner once per round, in turn, and returns median seconds per runner. Every
 * library here keeps its own thread pool, and idle pools spin for a while before they
 * sleep (OpenBLAS for ~0.1 s): on 2 cores a pool left spinning by the previous runner
 * steals a core from the next. So each visit waits `settleMs` first, then makes one
 * untimed call (waking the runner's own threads) and times the next.
 */
async function interleaved(runners: Runner[], label: string): Promise<Map<string, number>> {
  const samples = new Map<string, number[]>(runners.map((r) => [r.name, []]));
  for (let k = 0; k < rounds; k++) {
    status(`${label}: round ${k + 1}/${rounds}`);
    for (const r of runners) {
      if (k % r.every !== 0) continue;
      await new Promise((ok) => setTimeout(ok, settleMs));
      await r.run();
      const t0 = performance.now();
      await r.run();
      samples.get(r.name)!.push((performance.now() - t0) / 1000);
    }
  }
  status("");
  return new Map([...samples].map(([n, xs]) => [n, median(xs)]));
}

function maxRelErr(got: Float32Array, want: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  }
  return worst;
}

const peers = allPeers().filter((p) => p.device === "cpu");
const usable = [];
for (const p of peers) {
  const why = await p.available();
  if (why) console.log(`skipping ${p.name}: ${why}`);
  else usable.push(p);
}

const pad = (s: string, n: number) => s.padEnd(n);
for (const n of sizes) {
  const a = rand(n * n, 1), b = rand(n * n, 2);
  const { s, args: targs, flops } = matmulCpu(n, n, n);
  const f = await te.build(s, targs, { target: "c", name: `matmul${n}` });
  const A = nd.array(a, [n, n]), B = nd.array(b, [n, n]), C = nd.empty([n, n]);
  const runners: Runner[] = [{
    name: "tessera-c",
    run: () => f(A, B, C),
    result: () => Promise.resolve(C.data as Float32Array),
    every: 1,
  }];
  const prepared: Prepared[] = [];
  for (const p of usable) {
    // The naive loop takes seconds at 1024; sample it once every few rounds.
    const every = p.name.startsWith("naive") || p.name === "tfjs-cpu" ? Math.max(1, rounds) : 1;
    if (p.name.startsWith("naive") && n > 512) continue;
    const pm = await p.prepare({ op: "matmul", m: n, n, k: n }, [a, b]);
    prepared.push(pm);
    runners.push({ name: p.name, run: () => pm.run(), result: () => pm.result(), every });
  }
  const times = await interleaved(runners, `matmul ${n}`);
  // Every result is checked against the first peer that is not Tessera (OpenBLAS if present).
  const ref = runners.length > 1 ? await runners[1].result() : null;
  const base = times.get("openblas") ??
    Math.min(...[...times].filter(([k]) => k !== "tessera-c").map(([, v]) => v));
  console.log(`matmul ${n}x${n}x${n} float32`);
  console.log(
    `  ${pad("", 14)}${pad("median ms", 12)}${pad("GFLOP/s", 10)}${pad("vs openblas", 13)}check`,
  );
  for (const r of runners) {
    const t = times.get(r.name)!;
    const err = ref ? maxRelErr(await r.result(), ref) : 0;
    console.log(
      `  ${pad(r.name, 14)}${pad((t * 1e3).toFixed(2), 12)}${
        pad((flops / t / 1e9).toFixed(1), 10)
      }${pad(Number.isFinite(base) ? `${(base / t).toFixed(2)}x` : "-", 13)}${
        err < 1e-3 ? "ok" : `MISMATCH ${err.toExponential(1)}`
      }`,
    );
  }
  for (const pm of prepared) pm.dispose();
  console.log();
}

// --- memory-bound: y = relu(a*b + c), fused in one loop, against a copy of as many bytes ---
const len = 2 ** streamLog2;
const vec = (name: string) => te.placeholder([len], "float32", name);
const [Xa, Xb, Xc] = [vec("a"), vec("b"), vec("c")];
const Y = te.compute([len], (i) => te.max(Xa(i).mul(Xb(i)).add(Xc(i)), 0), "y");
const sy = te.createSchedule(Y);
const [yo, yi] = sy.stage(Y).split(Y.op.axis[0], { factor: 16 });
sy.stage(Y).parallel(yo).vectorize(yi);
const fused = await te.build(sy, [Xa, Xb, Xc, Y], { target: "c", name: "relu_fma" });
// The copy moves the same bytes: 2 x len floats read, 2 x len floats written (16 B per element).
const Src = te.placeholder([2 * len], "float32", "src");
const Dst = te.compute([2 * len], (i) => Src(i), "dst");
const sc = te.createSchedule(Dst);
const [co, ci] = sc.stage(Dst).split(Dst.op.axis[0], { factor: 16 });
sc.stage(Dst).parallel(co).vectorize(ci);
const copy = await te.build(sc, [Src, Dst], { target: "c", name: "copy" });
const va = nd.array(rand(len, 3), [len]), vb = nd.array(rand(len, 4), [len]);
const vc = nd.array(rand(len, 5), [len]), vy = nd.empty([len]);
const src = nd.array(rand(2 * len, 6), [2 * len]), dst = nd.empty([2 * len]);
const jsDst = new Float32Array(2 * len);
const mem = await interleaved([
  {
    name: "fused",
    run: () => fused(va, vb, vc, vy),
    result: () => Promise.resolve(vy.data as Float32Array),
    every: 1,
  },
  {
    name: "copy",
    run: () => copy(src, dst),
    result: () => Promise.resolve(dst.data as Float32Array),
    every: 1,
  },
  {
    name: "TypedArray.set",
    run: () => jsDst.set(src.data as Float32Array),
    result: () => Promise.resolve(jsDst),
    every: 1,
  },
], "stream");
const bytes = 16 * len;
console.log(
  `relu(a*b + c) over 2^${streamLog2} float32, fused, against a copy of the same ${
    bytes / 2 ** 20
  } MiB`,
);
for (const [name, t] of mem) {
  console.log(
    `  ${pad(name, 16)}${pad((t * 1e3).toFixed(2) + " ms", 12)}${
      (bytes / t / 1e9).toFixed(1)
    } GB/s`,
  );
}
console.log(`  fused / copy: ${(mem.get("copy")! / mem.get("fused")!).toFixed(2)}`);
console.log();
await gpuSection(gpuOptionsFromArgs(Deno.args));
Deno.exit(0); // jax-js keeps worker threads alive that it cannot shut down
