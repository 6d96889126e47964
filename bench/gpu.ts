/**
 * The WebGPU benchmark: Tessera's GPU matmul schedule (examples/matmul_gpu.ts) built for the
 * webgpu target, against tfjs's and jax-js's webgpu backends on the same adapter in the same
 * run. Every side keeps its inputs and output on the GPU, and is timed the same way: host
 * wall-clock over one call that dispatches the multiplication and waits once for the GPU to
 * finish (no download). Tessera's `timeEvaluator` could time on GPU timestamps, but the peers
 * expose those only through their profilers (`tf.time`, jax-js traces), which change how they
 * submit work, so every side is on the host clock instead. The one wait costs >= ~10 ms in
 * Deno (it polls with a 10 ms sleep), which every side pays alike (about 12 ms each for a
 * 16³ matmul on llvmpipe) and which is small next to a 512³ matmul on a software adapter.
 *
 * Calls are interleaved (A B C A B C ...) with a settle gap before each, as in bench/cpu.ts,
 * so drift hits every side alike; results are checked against float64 dot products on a
 * grid of sampled elements (first, last and spread rows and columns).
 *
 *   deno run -A bench/gpu.ts [--gpu-sizes 512,1024] [--gpu-rounds 3] [--settle 200] [--quick]
 *
 * `gpuSection` is exported so that another script (`deno task bench`) can run this section.
 */
import { nd, te } from "../mod.ts";
import { matmulGpu } from "../examples/matmul_gpu.ts";
import { DeviceArray } from "../lib/runtime/device_array.ts";
import { median } from "../lib/runtime/timing.ts";
import { getDevice } from "../lib/target/wgsl/device.ts";
import { allPeers } from "../lib/bench/peers/mod.ts";
import { firstLine, type Prepared } from "../lib/bench/peers/peer.ts";

export interface GpuSectionOptions {
  /** Square matmul sizes. Default [512, 1024]; [128] when quick. */
  sizes?: number[];
  /** Interleaved rounds (one timed call of each side per round). Default 3; 1 when quick. */
  rounds?: number;
  /** Pause before each sample, in ms, so the previous side's work has drained. Default 200. */
  settleMs?: number;
  /** A smoke run: small sizes, one round, no settle. */
  quick?: boolean;
}

export interface GpuResult {
  size: number;
  name: string;
  /** Median seconds per call, the wait for completion included. */
  seconds: number;
  gflops: number;
  /** Largest error against the float64 samples, relative to max(1, |value|). */
  maxRelErr: number;
}

interface Side {
  name: string;
  run: () => Promise<void>;
  result: () => Promise<Float32Array>;
  dispose: () => void;
}

/** The section's options from command-line flags, for this script and for bench/cpu.ts. */
export function gpuOptionsFromArgs(args: string[]): GpuSectionOptions {
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const sizes = opt("gpu-sizes");
  const rounds = opt("gpu-rounds"), settle = opt("settle");
  return {
    quick: args.includes("--quick"),
    sizes: sizes ? sizes.split(",").map(Number) : undefined,
    rounds: rounds ? Number(rounds) : undefined,
    settleMs: settle ? Number(settle) : undefined,
  };
}

const status = (msg: string) => {
  if (Deno.stdout.isTerminal()) Deno.stdout.writeSync(new TextEncoder().encode(`\r\x1b[K${msg}`));
};

function rand(len: number, seed: number): Float32Array {
  let x = seed;
  return Float32Array.from({ length: len }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  });
}

/** Rows or columns to check: the first, the last and `count` spread between them. */
function spread(n: number, count: number): number[] {
  return [
    ...new Set(Array.from({ length: count }, (_, t) => Math.round(t * (n - 1) / (count - 1)))),
  ];
}

/** float64 A·B at a grid of sampled (row, column) pairs, as [i, j, value] triples. */
function sampledReference(n: number, a: Float32Array, b: Float32Array): number[][] {
  const out: number[][] = [];
  for (const i of spread(n, 32)) {
    for (const j of spread(n, 32)) {
      let dot = 0;
      for (let p = 0; p < n; p++) dot += a[i * n + p] * b[p * n + j];
      out.push([i, j, dot]);
    }
  }
  return out;
}

function maxRelErr(n: number, got: Float32Array, ref: number[][]): number {
  if (got.length !== n * n) return Infinity;
  let worst = 0;
  for (const [i, j, want] of ref) {
    const err = Math.abs(got[i * n + j] - want) / Math.max(1, Math.abs(want));
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err);
  }
  return worst;
}

/**
 * Tessera's two hand schedules (examples/matmul_gpu.ts), with A, B and C resident on the
 * device: the classic one with shared-memory tiles (what a real GPU wants), and register
 * tiles read straight from storage (what a software adapter wants: on llvmpipe, workgroup
 * memory is ordinary cache and every barrier is a context switch).
 */
const TESSERA_SCHEDULES = [
  { name: "tessera-shared", opts: { threads: 16, reg: 4, tk: 16, shared: true } },
  { name: "tessera-regtile", opts: { threads: 8, reg: 16, shared: false } },
];

async function tesseraSide(
  name: string,
  opts: Parameters<typeof matmulGpu>[3],
  n: number,
  a: Float32Array,
  b: Float32Array,
): Promise<Side> {
  const { s, args } = matmulGpu(n, n, n, opts);
  const f = await te.build(s, args, { target: "webgpu", name: `matmul_gpu${n}` });
  const A = await nd.array(a, [n, n]).to("webgpu");
  const B = await nd.array(b, [n, n]).to("webgpu");
  const C = await DeviceArray.empty([n, n], "float32");
  const run = async () => {
    // With device arrays only, the call submits and returns at once; wait here, once.
    await f(A, B, C);
    await C.gpu.device.queue.onSubmittedWorkDone();
  };
  await run(); // compiles the pipeline and settles the uploads, as the peers' prepare does
  return {
    name,
    run,
    result: async () => (await C.toArray()) as Float32Array,
    dispose() {
      for (const x of [A, B, C]) x.destroy();
    },
  };
}

/**
 * Runs the section and prints it; returns every measured median. A missing adapter or a
 * side that fails to build or prepare is reported in a line and skipped, never thrown.
 */
export async function gpuSection(opts: GpuSectionOptions = {}): Promise<GpuResult[]> {
  const quick = opts.quick ?? false;
  const sizes = opts.sizes ?? (quick ? [128] : [512, 1024]);
  const rounds = opts.rounds ?? (quick ? 1 : 3);
  const settleMs = opts.settleMs ?? (quick ? 0 : 200);
  let adapter: string;
  try {
    adapter = (await getDevice()).description;
  } catch (e) {
    console.log(`skipping the WebGPU section: ${firstLine(e)}`);
    return [];
  }
  console.log(`WebGPU matmul on ${adapter}`);
  console.log(
    "host wall-clock per call: one matmul, then one wait for completion (>= ~10 ms in Deno), " +
      `no download; median of ${rounds} interleaved rounds, ${settleMs} ms settle before each`,
  );
  const peers = [];
  for (const p of allPeers().filter((p) => p.device === "webgpu")) {
    const why = await p.available();
    if (why) console.log(`skipping ${p.name}: ${why}`);
    else peers.push(p);
  }
  console.log();

  const results: GpuResult[] = [];
  const pad = (x: string, w: number) => x.padEnd(w);
  for (const n of sizes) {
    const flops = 2 * n * n * n;
    const a = rand(n * n, 1), b = rand(n * n, 2);
    const sides: Side[] = [];
    const attempt = async (name: string, make: () => Promise<Side>) => {
      status(`matmul ${n}: preparing ${name}`);
      try {
        sides.push(await make());
      } catch (e) {
        status("");
        console.log(`skipping ${name} at ${n}: ${firstLine(e)}`);
      }
    };
    for (const t of TESSERA_SCHEDULES) {
      await attempt(t.name, () => tesseraSide(t.name, t.opts, n, a, b));
    }
    for (const p of peers) {
      await attempt(p.name, async () => {
        const pm: Prepared = await p.prepare({ op: "matmul", m: n, n, k: n }, [a, b]);
        return {
          name: p.name,
          run: async () => await pm.run(),
          result: () => pm.result(),
          dispose: () => pm.dispose(),
        };
      });
    }
    const samples = new Map<string, number[]>(sides.map((s) => [s.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const side of [...sides]) {
        status(`matmul ${n}: round ${r + 1}/${rounds}, ${side.name}`);
        await new Promise((ok) => setTimeout(ok, settleMs));
        const t0 = performance.now();
        try {
          await side.run();
        } catch (e) {
          status("");
          console.log(`dropping ${side.name} at ${n}: ${firstLine(e)}`);
          sides.splice(sides.indexOf(side), 1);
          side.dispose();
          continue;
        }
        samples.get(side.name)!.push((performance.now() - t0) / 1000);
      }
    }
    status(`matmul ${n}: checking`);
    const ref = sampledReference(n, a, b);
    const rows: GpuResult[] = [];
    for (const side of sides) {
      const seconds = median(samples.get(side.name)!);
      rows.push({
        size: n,
        name: side.name,
        seconds,
        gflops: flops / seconds / 1e9,
        maxRelErr: maxRelErr(n, await side.result(), ref),
      });
      side.dispose();
    }
    status("");
    const tfjs = rows.find((r) => r.name === "tfjs-webgpu");
    console.log(`matmul ${n}x${n}x${n} float32 (WebGPU)`);
    console.log(
      `  ${pad("", 16)}${pad("median ms", 12)}${pad("GFLOP/s", 10)}${pad("vs tfjs-webgpu", 16)}` +
        "check",
    );
    for (const r of rows) {
      console.log(
        `  ${pad(r.name, 16)}${pad((r.seconds * 1e3).toFixed(1), 12)}${
          pad(r.gflops.toFixed(3), 10)
        }${pad(tfjs ? `${(tfjs.seconds / r.seconds).toFixed(2)}x` : "-", 16)}${
          r.maxRelErr < 1e-3 ? "ok" : `MISMATCH ${r.maxRelErr.toExponential(1)}`
        }`,
      );
    }
    console.log();
    results.push(...rows);
  }
  return results;
}

if (import.meta.main) {
  await gpuSection(gpuOptionsFromArgs(Deno.args));
}
