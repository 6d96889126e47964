/**
 * The shape every peer takes, so that a benchmark can time other libraries in the same run as
 * Tessera's own kernels and print ratios instead of numbers from another day or machine. A
 * peer runs the workloads of ./workload.ts it supports; one that cannot run here says why
 * instead of throwing, so a benchmark or test on a machine without it still runs the rest.
 */
import { checkWorkload, inputShapes, type Workload } from "../workload.ts";

/** Where a peer's work runs: the CPU, or the WebGPU adapter Deno finds. */
export type Device = "cpu" | "webgpu";

export interface Peer {
  /** Short stable name, e.g. "openblas", "onnxruntime", "tfjs-wasm", "naive-ts". */
  name: string;
  device: Device;
  /** null when usable here; otherwise a one-line reason and how to enable it (never throws). */
  available(): Promise<string | null>;
  /** null when this peer can run `w`; otherwise why not (e.g. "OpenBLAS has no softmax"). */
  supports(w: Workload): string | null;
  /** Prepares `w` on `inputs` (in the order of inputShapes(w)); inputs are copied in once. */
  prepare(w: Workload, inputs: Float32Array[]): Promise<Prepared>;
}

export interface Prepared {
  /** One call (inputs already resident; includes whatever wait makes the work done). */
  run(): Promise<void> | void;
  /** The output of the last run, row-major, as a fresh array. */
  result(): Promise<Float32Array>;
  dispose(): void;
}

/** Rejects inputs that do not match `w` (native peers would read past them unnoticed). */
export function checkInputs(peer: string, w: Workload, inputs: Float32Array[]): void {
  checkWorkload(w);
  const shapes = inputShapes(w);
  if (inputs.length !== shapes.length) {
    throw new RangeError(`${peer}: ${w.op} takes ${shapes.length} inputs, got ${inputs.length}`);
  }
  shapes.forEach((shape, i) => {
    const want = shape.reduce((a, b) => a * b, 1);
    if (!(inputs[i] instanceof Float32Array) || inputs[i].length !== want) {
      throw new RangeError(
        `${peer}: input ${i} of ${w.op} must be a Float32Array of ${want} floats ` +
          `(shape [${shape}]), got ${inputs[i]?.length}`,
      );
    }
  });
}

// --- transitional: the matmul-only interface, until every peer takes workloads ---
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
