/**
 * The operations a benchmark compares across libraries, defined once so that every side
 * (Tessera's C and WebGPU kernels, tfjs, onnxruntime, jax-js, OpenBLAS, plain TypeScript)
 * computes the same thing on the same inputs: shapes and layouts, the deterministic inputs,
 * the FLOP and byte counts that place a case on a roofline, and a float64 reference in plain
 * TypeScript that both checks every side's result and serves as the naive peer.
 *
 * Layouts are row-major; conv2d is NCHW input, OIHW weights, zero padding, no bias. The byte
 * count is the compulsory traffic (every input read once, the output written once), so
 * arithmetic intensity is the algorithm's, not any implementation's.
 */
import { TesseraError } from "../error.ts";

export type Workload =
  | { op: "matmul"; m: number; n: number; k: number }
  | { op: "batch_matmul"; batch: number; m: number; n: number; k: number }
  | {
    op: "conv2d";
    n: number;
    c: number;
    h: number;
    w: number;
    /** Output channels. */
    k: number;
    /** Square kernel size. */
    r: number;
    stride: number;
    pad: number;
  }
  | { op: "softmax"; rows: number; cols: number }
  /** y = (x - mean) / sqrt(var + eps) * gamma + beta over each row; var is the biased one. */
  | { op: "layernorm"; rows: number; cols: number; eps: number }
  /** y = max(a * b + c, 0) - 0.5 * a, elementwise: one pass that a fusing compiler keeps in registers. */
  | { op: "elementwise"; len: number };

/** The conv2d output's spatial size. */
export function convOut(w: Extract<Workload, { op: "conv2d" }>): { oh: number; ow: number } {
  return {
    oh: Math.floor((w.h + 2 * w.pad - w.r) / w.stride) + 1,
    ow: Math.floor((w.w + 2 * w.pad - w.r) / w.stride) + 1,
  };
}

/** The shape of each input, in the order every side takes them. */
export function inputShapes(w: Workload): number[][] {
  switch (w.op) {
    case "matmul":
      return [[w.m, w.k], [w.k, w.n]];
    case "batch_matmul":
      return [[w.batch, w.m, w.k], [w.batch, w.k, w.n]];
    case "conv2d":
      return [[w.n, w.c, w.h, w.w], [w.k, w.c, w.r, w.r]];
    case "softmax":
      return [[w.rows, w.cols]];
    case "layernorm":
      return [[w.rows, w.cols], [w.cols], [w.cols]];
    case "elementwise":
      return [[w.len], [w.len], [w.len]];
  }
}

export function outputShape(w: Workload): number[] {
  switch (w.op) {
    case "matmul":
      return [w.m, w.n];
    case "batch_matmul":
      return [w.batch, w.m, w.n];
    case "conv2d": {
      const { oh, ow } = convOut(w);
      return [w.n, w.k, oh, ow];
    }
    case "softmax":
    case "layernorm":
      return [w.rows, w.cols];
    case "elementwise":
      return [w.len];
  }
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Floating-point operations of one call (a multiply-add is 2; exp, division and sqrt are 1). */
export function flopsOf(w: Workload): number {
  switch (w.op) {
    case "matmul":
      return 2 * w.m * w.n * w.k;
    case "batch_matmul":
      return 2 * w.batch * w.m * w.n * w.k;
    case "conv2d":
      return 2 * count(outputShape(w)) * w.c * w.r * w.r;
    case "softmax":
      // max, subtract, exp, sum, divide
      return 5 * w.rows * w.cols;
    case "layernorm":
      // sum, subtract, square, sum, scale, multiply, add (and a sqrt per row, not counted)
      return 7 * w.rows * w.cols;
    case "elementwise":
      return 5 * w.len;
  }
}

/** Compulsory bytes moved by one call: each input read once, the output written once. */
export function bytesOf(w: Workload): number {
  const elements = inputShapes(w).reduce((a, s) => a + count(s), 0) + count(outputShape(w));
  return 4 * elements;
}

/** A short label, e.g. "matmul 512x512x512" or "conv2d 1x64x56x56 k64 3x3 s1". */
export function labelOf(w: Workload): string {
  switch (w.op) {
    case "matmul":
      return `matmul ${w.m}x${w.n}x${w.k}`;
    case "batch_matmul":
      return `batch_matmul ${w.batch}x${w.m}x${w.n}x${w.k}`;
    case "conv2d":
      return `conv2d ${w.n}x${w.c}x${w.h}x${w.w} k${w.k} ${w.r}x${w.r} s${w.stride} p${w.pad}`;
    case "softmax":
      return `softmax ${w.rows}x${w.cols}`;
    case "layernorm":
      return `layernorm ${w.rows}x${w.cols}`;
    case "elementwise":
      return `elementwise ${w.len}`;
  }
}

/** Rejects shapes no side could run, with the field that is wrong. */
export function checkWorkload(w: Workload): void {
  for (const [key, v] of Object.entries(w)) {
    if (key === "op") continue;
    if (typeof v !== "number") {
      throw new TesseraError(`workload ${w.op}: ${key} must be a number, got ${typeof v}`);
    }
    const ok = key === "eps"
      ? Number.isFinite(v) && v > 0
      : key === "pad"
      ? Number.isSafeInteger(v) && v >= 0
      : Number.isSafeInteger(v) && v >= 1;
    if (!ok) {
      throw new TesseraError(
        `workload ${w.op}: ${key} = ${v} is not valid; expected ${
          key === "eps"
            ? "a positive number"
            : key === "pad"
            ? "an integer >= 0"
            : "an integer >= 1"
        }`,
      );
    }
  }
  if (w.op === "conv2d" && (w.r > w.h + 2 * w.pad || w.r > w.w + 2 * w.pad)) {
    throw new TesseraError(`workload conv2d: a ${w.r}x${w.r} kernel does not fit the padded input`);
  }
}

/** Deterministic inputs in [-0.5, 0.5): the same numbers for every side, from `seed`. */
export function inputsOf(w: Workload, seed = 1): Float32Array[] {
  return inputShapes(w).map((shape, i) => {
    let x = (seed * 7919 + i * 104729) % 2147483648;
    return Float32Array.from({ length: count(shape) }, () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return x / 2147483648 - 0.5;
    });
  });
}

/** The float64-accumulated result in plain TypeScript (the naive peer, and every check). */
export function reference(w: Workload, inputs: Float32Array[]): Float32Array {
  const out = new Float32Array(count(outputShape(w)));
  switch (w.op) {
    case "matmul":
    case "batch_matmul": {
      const [a, b] = inputs;
      const batch = w.op === "batch_matmul" ? w.batch : 1;
      const { m, n, k } = w;
      const row = new Float64Array(n);
      for (let q = 0; q < batch; q++) {
        for (let i = 0; i < m; i++) {
          row.fill(0);
          for (let p = 0; p < k; p++) {
            const av = a[q * m * k + i * k + p];
            const bo = q * k * n + p * n;
            for (let j = 0; j < n; j++) row[j] += av * b[bo + j];
          }
          out.set(row, q * m * n + i * n);
        }
      }
      return out;
    }
    case "conv2d": {
      const [x, wt] = inputs;
      const { oh, ow } = convOut(w);
      let o = 0;
      for (let b = 0; b < w.n; b++) {
        for (let kk = 0; kk < w.k; kk++) {
          for (let y = 0; y < oh; y++) {
            for (let xo = 0; xo < ow; xo++) {
              let acc = 0;
              for (let c = 0; c < w.c; c++) {
                for (let ry = 0; ry < w.r; ry++) {
                  const iy = y * w.stride + ry - w.pad;
                  if (iy < 0 || iy >= w.h) continue;
                  for (let rx = 0; rx < w.r; rx++) {
                    const ix = xo * w.stride + rx - w.pad;
                    if (ix < 0 || ix >= w.w) continue;
                    acc += x[((b * w.c + c) * w.h + iy) * w.w + ix] *
                      wt[((kk * w.c + c) * w.r + ry) * w.r + rx];
                  }
                }
              }
              out[o++] = acc;
            }
          }
        }
      }
      return out;
    }
    case "softmax": {
      const [x] = inputs;
      for (let i = 0; i < w.rows; i++) {
        const base = i * w.cols;
        let max = -Infinity;
        for (let j = 0; j < w.cols; j++) max = Math.max(max, x[base + j]);
        let sum = 0;
        for (let j = 0; j < w.cols; j++) sum += Math.exp(x[base + j] - max);
        for (let j = 0; j < w.cols; j++) out[base + j] = Math.exp(x[base + j] - max) / sum;
      }
      return out;
    }
    case "layernorm": {
      const [x, gamma, beta] = inputs;
      for (let i = 0; i < w.rows; i++) {
        const base = i * w.cols;
        let sum = 0;
        for (let j = 0; j < w.cols; j++) sum += x[base + j];
        const mean = sum / w.cols;
        let sq = 0;
        for (let j = 0; j < w.cols; j++) sq += (x[base + j] - mean) ** 2;
        const inv = 1 / Math.sqrt(sq / w.cols + w.eps);
        for (let j = 0; j < w.cols; j++) {
          out[base + j] = (x[base + j] - mean) * inv * gamma[j] + beta[j];
        }
      }
      return out;
    }
    case "elementwise": {
      const [a, b, c] = inputs;
      for (let i = 0; i < w.len; i++) out[i] = Math.max(a[i] * b[i] + c[i], 0) - 0.5 * a[i];
      return out;
    }
  }
}

/** Largest error of `got` against `want`, relative to max(1, |want|); Infinity on a length or NaN mismatch. */
export function maxRelError(got: Float32Array, want: Float32Array): number {
  if (got.length !== want.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (Number.isNaN(err)) return Infinity;
    worst = Math.max(worst, err);
  }
  return worst;
}

/** The tolerance a float32 implementation is held to against the float64 reference. */
export const TOLERANCE = 1e-3;

/** The standard suite's workloads (ResNet-18's conv layers at batch 1, 224x224 input). */
export function standardWorkloads(quick = false): Workload[] {
  if (quick) {
    return [
      { op: "matmul", m: 64, n: 64, k: 64 },
      { op: "batch_matmul", batch: 2, m: 32, n: 32, k: 32 },
      { op: "conv2d", n: 1, c: 8, h: 14, w: 14, k: 8, r: 3, stride: 1, pad: 1 },
      { op: "softmax", rows: 16, cols: 100 },
      { op: "layernorm", rows: 16, cols: 100, eps: 1e-5 },
      { op: "elementwise", len: 4096 },
    ];
  }
  return [
    { op: "matmul", m: 256, n: 256, k: 256 },
    { op: "matmul", m: 512, n: 512, k: 512 },
    { op: "matmul", m: 1024, n: 1024, k: 1024 },
    { op: "matmul", m: 2048, n: 2048, k: 2048 },
    { op: "batch_matmul", batch: 16, m: 128, n: 128, k: 64 },
    // ResNet-18 layer1 (3x3, 64 -> 64 at 56x56), layer2's first (3x3 stride 2, 64 -> 128,
    // 56x56 -> 28x28) and layer3 (3x3, 256 -> 256 at 14x14)
    { op: "conv2d", n: 1, c: 64, h: 56, w: 56, k: 64, r: 3, stride: 1, pad: 1 },
    { op: "conv2d", n: 1, c: 64, h: 56, w: 56, k: 128, r: 3, stride: 2, pad: 1 },
    { op: "conv2d", n: 1, c: 256, h: 14, w: 14, k: 256, r: 3, stride: 1, pad: 1 },
    { op: "softmax", rows: 1024, cols: 1000 },
    { op: "layernorm", rows: 1024, cols: 768, eps: 1e-5 },
    { op: "elementwise", len: 1 << 22 },
  ];
}
