/**
 * The roofline model (Williams, Waterman and Patterson): a kernel of arithmetic intensity I
 * (FLOPs per byte of memory traffic) can reach at most min(peak FLOP/s, I x bandwidth). The
 * two ceilings are measured here, on this machine, with kernels Tessera itself generates — an
 * FMA-bound kernel whose operands stay in registers and L1, and a STREAM-style triad — so a
 * case's distance to the roof says how much its schedule leaves on the table, on the CPU and
 * on the WebGPU adapter alike. These are attainable peaks, not the datasheet's: they are what
 * a good schedule can hope for.
 */
import { nd } from "../runtime/ndarray.ts";
import { DeviceArray } from "../runtime/device_array.ts";
import { te } from "../te/te.ts";
import type { Peak } from "./schema.ts";
import { cpuFeatures, lanes, widestVector } from "./cpu.ts";

/** Where a case sits: its intensity, its speed, the roof above it and how close it gets. */
export interface RooflinePoint {
  /** FLOPs per byte. */
  intensity: number;
  gflops: number;
  /** min(peak, intensity x bandwidth), in GFLOP/s. */
  attainable: number;
  /** gflops / attainable. */
  fraction: number;
  bound: "memory" | "compute";
}

/** The intensity at which the memory roof meets the compute roof. */
export function ridge(peak: Pick<Peak, "gflops" | "gbs">): number {
  return peak.gflops / peak.gbs;
}

export function attainable(peak: Pick<Peak, "gflops" | "gbs">, intensity: number): number {
  return Math.min(peak.gflops, intensity * peak.gbs);
}

/** A measured case on the roofline: `flops` and `bytes` per call, `seconds` per call. */
export function placeOnRoofline(
  peak: Pick<Peak, "gflops" | "gbs">,
  flops: number,
  bytes: number,
  seconds: number,
): RooflinePoint {
  const intensity = flops / bytes, gflops = flops / seconds / 1e9;
  const roof = attainable(peak, intensity);
  return {
    intensity,
    gflops,
    attainable: roof,
    fraction: gflops / roof,
    bound: intensity < ridge(peak) ? "memory" : "compute",
  };
}

/** Sizes of the two measuring kernels; small ones for smoke tests. */
export interface RooflineSizes {
  /** Independent register tiles of accumulators (spread over threads). */
  tiles: number;
  /** FMAs per accumulator. */
  steps: number;
  /** Elements per stream array. */
  streamLength: number;
}

// 8192 tiles: a call of a few ms even at 400 GFLOP/s, so a repeat has few OpenMP barriers at
// which a thread descheduled by a busy machine can hold the others up.
const FULL: RooflineSizes = { tiles: 8192, steps: 256, streamLength: 1 << 24 };
const GPU_FULL: RooflineSizes = { tiles: 1024, steps: 256, streamLength: 1 << 22 };
/** Small kernels for smoke runs: the machinery runs, the peaks are rough. */
export const QUICK_ROOFLINE: RooflineSizes = { tiles: 32, steps: 64, streamLength: 1 << 16 };

/**
 * The FMA-bound kernel: Y[t, i, j] = sum_r X[r, i] * W[r, j]: each tile keeps rows x cols
 * accumulators in registers and streams X and W (small enough for L1) past them, which is a
 * GEMM micro-kernel without the memory system; 2 x tiles x rows x cols x steps FLOPs.
 *
 * On the CPU a row is two vector registers of the widest unit (cols = 2 x lanes), so the 6 rows
 * keep 12 independent accumulators in flight: more than FMA latency x FMA ports (4 x 2 on
 * current x86 cores), which a single register per row (6 chains) would leave a quarter short
 * of on AVX-512. tests/roofline_test.ts holds it to a hand-written intrinsic loop. The step loop
 * is unrolled by `unroll` (1: not at all): with AVX2's 16 registers GCC runs out of them when
 * it is unrolled, and folds the operand loads into the FMAs (Zen 3: 150-158 GFLOP/s unrolled by 4,
 * 184-187 not unrolled, against the intrinsic loop's 198); the roof is the faster of the two.
 */
function fmaKernel(device: "cpu" | "webgpu", z: RooflineSizes, lanes: number, unroll = 4) {
  // On llvmpipe a 16 x 16 tile per invocation was no faster than 6 x 16 (2.3 against 2.4
  // GFLOP/s).
  const rows = 6, cols = device === "cpu" ? 2 * lanes : 16;
  const X = te.placeholder([z.steps, rows], "float32", "X");
  const W = te.placeholder([z.steps, cols], "float32", "W");
  const r = te.reduceAxis([0, z.steps], "r");
  // Every tile computes the same product: the operands stay in L1, the accumulators in registers.
  const Y = te.compute([z.tiles, rows, cols], (_t, i, j) => te.sum(X(r, i).mul(W(r, j)), [r]), "Y");
  const s = te.createSchedule(Y);
  const YL = s.cacheWrite(Y, "local");
  const [t, i, j] = s.stage(Y).op.axis;
  const [ri] = s.stage(YL).op.reduceAxis;
  const [, li, lj] = s.stage(YL).op.axis;
  if (device === "cpu") {
    s.stage(Y).parallel(t).vectorize(j);
    s.stage(YL).computeAt(s.stage(Y), t);
    if (unroll > 1) {
      const [ro, rin] = s.stage(YL).split(ri, { factor: unroll });
      s.stage(YL).reorder(ro, rin, li, lj).unroll(rin).unroll(li).vectorize(lj);
    } else s.stage(YL).reorder(ri, li, lj).unroll(li).vectorize(lj);
  } else {
    // A tile per invocation: every step loads 22 operands, the same for all invocations,
    // and does 96 FMAs with them (as the register-tiled matmul does).
    const [b, th] = s.stage(Y).split(t, { factor: 64 });
    s.stage(Y).bind(b, "blockIdx.x").bind(th, "threadIdx.x");
    s.stage(YL).computeAt(s.stage(Y), th);
    const [, li, lj] = s.stage(YL).op.axis;
    s.stage(YL).reorder(ri, li, lj).unroll(li).unroll(lj);
    void i;
    void j;
  }
  return { s, args: [X, W, Y], rows, cols, flops: 2 * z.tiles * rows * cols * z.steps };
}

/**
 * The stream kernels: a copy (8 bytes an element), the STREAM triad a = b + 3 c (12) and
 * y = a * b + c (16), whose mixes of reads and writes each favour a different memory system;
 * the roof is the fastest of them, so that no streaming case (a fused relu(a*b+c), a copy)
 * sits above it.
 */
function streamKernels(device: "cpu" | "webgpu", n: number) {
  const p = (name: string) => te.placeholder([n], "float32", name);
  const A = p("A"), B = p("B"), C = p("C");
  const kernels = [
    { name: "copy", args: [A], Y: te.compute([n], (i) => A(i), "Y") },
    { name: "triad", args: [B, C], Y: te.compute([n], (i) => B(i).add(C(i).mul(3)), "Y") },
    { name: "a*b+c", args: [A, B, C], Y: te.compute([n], (i) => A(i).mul(B(i)).add(C(i)), "Y") },
  ];
  return kernels.map(({ name, args, Y }) => {
    const s = te.createSchedule(Y);
    const st = s.stage(Y);
    if (device === "cpu") {
      // Blocks of 64 Ki elements per thread, each vectorized (bench/stream.ts's schedule).
      const [o, i] = st.split(Y.op.axis[0], { factor: 1 << 16 });
      const [, v] = st.split(i, { factor: 16 });
      st.parallel(o).vectorize(v);
    } else {
      const [o, v] = st.split(Y.op.axis[0], { factor: 256 });
      st.bind(o, "blockIdx.x").bind(v, "threadIdx.x");
    }
    return { name, s, args: [...args, Y], bytes: 4 * (args.length + 1) * n };
  });
}

const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 7) * 0.125 - 0.375);

const REPEATS = { repeat: 7, minRepeatMs: 50 };

async function arrays(device: "cpu" | "webgpu", shapes: number[][]) {
  const host = shapes.map((sh) => nd.array(fill(sh.reduce((a, b) => a * b, 1)), sh));
  return device === "cpu" ? host : await Promise.all(host.map((h) => h.to("webgpu")));
}

function destroy(xs: unknown[]): void {
  for (const a of xs) if (a instanceof DeviceArray) a.destroy();
}

/** The FMA roof alone, in GFLOP/s: the fastest of several repeats of the FMA-bound kernel. */
export async function measureFmaPeak(
  device: "cpu" | "webgpu",
  sizes?: Partial<RooflineSizes>,
): Promise<{ gflops: number; method: string }> {
  const z = { ...(device === "cpu" ? FULL : GPU_FULL), ...sizes };
  const target = device === "cpu" ? "c" : "webgpu";
  const unit = widestVector((await cpuFeatures()).flags);
  let best = { gflops: 0, method: "" };
  for (const unroll of device === "cpu" ? [4, 1] : [4]) {
    const fma = fmaKernel(device, z, lanes(unit), unroll);
    const f = await te.build(fma.s, fma.args, { target, name: "roofline_fma" });
    const xs = await arrays(device, [[z.steps, fma.rows], [z.steps, fma.cols], [
      z.tiles,
      fma.rows,
      fma.cols,
    ]]);
    try {
      const t = await f.timeEvaluator(REPEATS)(...xs);
      const gflops = fma.flops / t.min / 1e9;
      if (gflops > best.gflops) {
        best = {
          gflops,
          method: `FMA-bound Tessera kernel (${z.tiles} register tiles of ${fma.rows}x${fma.cols}` +
            `${device === "cpu" ? ` for ${unit}` : ""} x ${z.steps} steps` +
            `${
              device === "cpu" ? `, ${unroll > 1 ? `unrolled by ${unroll}` : "not unrolled"}` : ""
            })`,
        };
      }
    } finally {
      destroy(xs);
    }
  }
  return best;
}

/** The bandwidth roof alone, in GB/s: the fastest stream kernel's fastest repeat. */
export async function measureStreamPeak(
  device: "cpu" | "webgpu",
  sizes?: Partial<RooflineSizes>,
): Promise<{ gbs: number; method: string }> {
  const n = { ...(device === "cpu" ? FULL : GPU_FULL), ...sizes }.streamLength;
  const target = device === "cpu" ? "c" : "webgpu";
  let best = { gbs: 0, name: "" };
  for (const k of streamKernels(device, n)) {
    const f = await te.build(k.s, k.args, { target, name: "roofline_stream" });
    const xs = await arrays(device, k.args.map(() => [n]));
    try {
      const t = await f.timeEvaluator(REPEATS)(...xs);
      if (k.bytes / t.min / 1e9 > best.gbs) best = { gbs: k.bytes / t.min / 1e9, name: k.name };
    } finally {
      destroy(xs);
    }
  }
  return {
    gbs: best.gbs,
    method: `the fastest of copy, triad and a*b+c over ${n} float32 (here ${best.name})`,
  };
}

/**
 * Measures this machine's attainable peaks on the CPU (C target) or the WebGPU adapter: the
 * fastest of several timed repeats of each kernel, since a ceiling is what the machine can
 * reach, not what it typically does.
 */
export async function measureRoofline(
  device: "cpu" | "webgpu",
  sizes?: Partial<RooflineSizes>,
  onStep: (what: string) => void = () => {},
): Promise<Peak> {
  onStep(`${device} roofline: compute peak (FMA chains)`);
  const fma = await measureFmaPeak(device, sizes);
  onStep(`${device} roofline: memory bandwidth (copy, add, triad)`);
  const stream = await measureStreamPeak(device, sizes);
  const target = device === "cpu" ? "c" : "webgpu";
  return {
    gflops: fma.gflops,
    gbs: stream.gbs,
    method: `${target}: ${fma.method}; ${stream.method}; fastest of ${REPEATS.repeat} repeats`,
  };
}
