/**
 * The shape every matmul peer takes, so that Tessera's CPU benchmark can time other libraries
 * in the same run as its own kernels and print ratios instead of numbers from another day or
 * another machine. A peer that cannot run here says why instead of throwing, so a benchmark
 * or test on a machine without it still runs the rest.
 */

export interface MatmulPeer {
  /** Short stable name, e.g. "openblas", "onnxruntime", "tfjs-wasm", "naive-ts". */
  name: string;
  /** null when usable; otherwise a one-line reason and how to enable it (never throws). */
  available(): Promise<string | null>;
  /** Prepares C = A·B for float32 row-major A[m,k], B[k,n]; inputs are copied in once. */
  prepare(
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
  ): Promise<PreparedMatmul>;
}

export interface PreparedMatmul {
  /** Runs one multiplication (inputs already resident; includes any sync needed so the work is done). */
  run(): Promise<void> | void;
  /** The result of the last run, row-major m*n. */
  result(): Promise<Float32Array>;
  dispose(): void;
}

/** Rejects sizes that would make a peer read past its inputs (native peers would not notice). */
export function checkShapes(
  peer: string,
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
): void {
  for (const [name, v] of [["m", m], ["n", n], ["k", k]] as const) {
    if (!Number.isSafeInteger(v) || v < 1 || v > 2 ** 31 - 1) {
      throw new RangeError(`${peer}: ${name} must be a positive int32, got ${v}`);
    }
  }
  if (a.length !== m * k) {
    throw new RangeError(`${peer}: A must hold m*k = ${m * k} floats, got ${a.length}`);
  }
  if (b.length !== k * n) {
    throw new RangeError(`${peer}: B must hold k*n = ${k * n} floats, got ${b.length}`);
  }
}

/** One line from whatever a failed load threw, for an availability reason. */
export function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split("\n")[0].trim();
}
