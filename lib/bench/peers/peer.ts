/**
 * The shape every peer takes, so that a benchmark can time other libraries in the same run as
 * Tessera's own kernels and print ratios instead of numbers from another day or machine. A
 * peer runs the workloads of ../workload.ts it supports; one that cannot run here says why
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
  /**
   * For the machine record, once the peer has run: its library's version, the core or kernel
   * set it uses, its thread count and what was changed to give it its best (see
   * peersAtTheirBest). Absent for peers with nothing beyond their npm version to say.
   */
  describe?(): Promise<Record<string, string | number>>;
}

let best = false;

/**
 * Lets the peers configure themselves for this CPU's best (`deno task bench` and a notebook
 * turn it on): OpenBLAS, numpy's OpenBLAS included, gets the core type of the CPU's widest
 * vector unit when the environment forces a lesser one. Off by default, so that tests (and any
 * other caller) run the libraries in the environment as they find it. It must be on before a
 * peer first loads its library, since OpenBLAS reads its environment only then.
 */
export function peersAtTheirBest(on = true): void {
  best = on;
}

export const atTheirBest = (): boolean => best;

export interface Prepared {
  /** One call (inputs already resident; includes whatever wait makes the work done). */
  run(): Promise<void> | void;
  /**
   * Seconds for `calls` runs, timed by the peer itself; for a peer in another process, whose
   * every run() would otherwise include a round trip through a pipe. Absent: run() is timed.
   */
  time?(calls: number): Promise<number>;
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

/** checkInputs, then refuses a workload the peer does not support, before any native call. */
export function checkPrepare(
  peer: Pick<Peer, "name" | "supports">,
  w: Workload,
  inputs: Float32Array[],
): void {
  checkInputs(peer.name, w, inputs);
  const why = peer.supports(w);
  if (why !== null) throw new Error(`${peer.name}: ${why}`);
}

/** One line from whatever a failed load threw, for an availability reason. */
export function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split("\n")[0].trim();
}
