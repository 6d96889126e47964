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

const FULL: RooflineSizes = { tiles: 1024, steps: 256, streamLength: 1 << 24 };
const GPU_FULL: RooflineSizes = { tiles: 1024, steps: 256, streamLength: 1 << 22 };
/** Small kernels for smoke runs: the machinery runs, the peaks are rough. */
export const QUICK_ROOFLINE: RooflineSizes = { tiles: 32, steps: 64, streamLength: 1 << 16 };

/**
 * The FMA-bound kernel: Y[t, i, j] = sum_r X[r, i] * W[r, j]: each tile keeps rows x 16
 * accumulators in registers and streams X and W (small enough for L1) past them, which is a
 * GEMM micro-kernel without the memory system; 2 x tiles x rows x 16 x steps FLOPs.
 */
function fmaKernel(device: "cpu" | "webgpu", z: RooflineSizes) {
  // 6 x 16 fills AVX2's 16 registers (12 accumulators). On llvmpipe a 16 x 16 tile per
  // invocation was no faster (2.3 against 2.4 GFLOP/s).
  const rows = 6;
  const X = te.placeholder([z.steps, rows], "float32", "X");
  const W = te.placeholder([z.steps, 16], "float32", "W");
  const r = te.reduceAxis([0, z.steps], "r");
  // Every tile computes the same product: the operands stay in L1, the accumulators in registers.
  const Y = te.compute([z.tiles, rows, 16], (_t, i, j) => te.sum(X(r, i).mul(W(r, j)), [r]), "Y");
  const s = te.createSchedule(Y);
  const YL = s.cacheWrite(Y, "local");
  const [t, i, j] = s.stage(Y).op.axis;
  const [ri] = s.stage(YL).op.reduceAxis;
  const [, li, lj] = s.stage(YL).op.axis;
  if (device === "cpu") {
    s.stage(Y).parallel(t).vectorize(j);
    s.stage(YL).computeAt(s.stage(Y), t);
    const [ro, rin] = s.stage(YL).split(ri, { factor: 4 });
    s.stage(YL).reorder(ro, rin, li, lj).unroll(rin).unroll(li).vectorize(lj);
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
  return { s, args: [X, W, Y], rows, flops: 2 * z.tiles * rows * 16 * z.steps };
}

/** The stream kernel: the STREAM triad a = b + 3 c; 12 bytes per element. */
function streamKernel(device: "cpu" | "webgpu", n: number) {
  const B = te.placeholder([n], "float32", "B");
  const C = te.placeholder([n], "float32", "C");
  const A = te.compute([n], (i) => B(i).add(C(i).mul(3)), "A");
  const s = te.createSchedule(A);
  if (device === "cpu") {
    const [o, v] = s.stage(A).split(A.op.axis[0], { factor: 16 });
    s.stage(A).parallel(o).vectorize(v);
  } else {
    const [o, v] = s.stage(A).split(A.op.axis[0], { factor: 256 });
    s.stage(A).bind(o, "blockIdx.x").bind(v, "threadIdx.x");
  }
  return { s, args: [B, C, A], bytes: 12 * n };
}

const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 7) * 0.125 - 0.375);

/**
 * Measures this machine's attainable peaks on the CPU (C target) or the WebGPU adapter: the
 * fastest of several timed repeats of each kernel, since a ceiling is what the machine can
 * reach, not what it typically does.
 */
export async function measureRoofline(
  device: "cpu" | "webgpu",
  sizes?: Partial<RooflineSizes>,
): Promise<Peak> {
  const z = { ...(device === "cpu" ? FULL : GPU_FULL), ...sizes };
  const target = device === "cpu" ? "c" : "webgpu";
  const fma = fmaKernel(device, z);
  const stream = streamKernel(device, z.streamLength);
  const ff = await te.build(fma.s, fma.args, { target, name: "roofline_fma" });
  const fs = await te.build(stream.s, stream.args, { target, name: "roofline_stream" });
  const arrays = async (shapes: number[][]) => {
    const host = shapes.map((sh) => nd.array(fill(sh.reduce((a, b) => a * b, 1)), sh));
    return device === "cpu" ? host : await Promise.all(host.map((h) => h.to("webgpu")));
  };
  const fa = await arrays([[z.steps, fma.rows], [z.steps, 16], [z.tiles, fma.rows, 16]]);
  const sa = await arrays([[z.streamLength], [z.streamLength], [z.streamLength]]);
  try {
    const opts = { repeat: 7, minRepeatMs: 50 };
    const tf = await ff.timeEvaluator(opts)(...fa);
    const ts = await fs.timeEvaluator(opts)(...sa);
    return {
      gflops: fma.flops / tf.min / 1e9,
      gbs: stream.bytes / ts.min / 1e9,
      method:
        `${target}: FMA-bound Tessera kernel (${z.tiles} register tiles of 6x16 x ${z.steps} ` +
        `steps), STREAM triad over ${z.streamLength} float32; fastest of ${opts.repeat} repeats`,
    };
  } finally {
    for (const a of [...fa, ...sa]) if (a instanceof DeviceArray) a.destroy();
  }
}
