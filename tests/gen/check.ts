/**
 * The oracle comparison used by every property test: lower a scheduled program, run it on
 * random inputs (outputs pre-filled with poison), evaluate the compute definitions directly,
 * and compare; then run the storage-flattened function too and require the very same bits.
 * On mismatch the error carries the program, the schedule log and the IR.
 */
import {
  type DType,
  nd,
  NDArray,
  type PrimFunc,
  type Schedule,
  te,
  TesseraError,
} from "../../mod.ts";
import { postOrder } from "../../lib/te/tensor.ts";
import { evalDirect } from "../../lib/te/evalDirect.ts";
import { flattenStorage } from "../../lib/lower/flatten.ts";
import { rng } from "./choices.ts";
import { argsOf, type Program } from "./programs.ts";

export function concreteShape(p: Program, shape: readonly unknown[]): number[] {
  return shape.map((d) => {
    const e = d as { kind: string; value?: number };
    if (e.kind === "const") return e.value!;
    const v = p.sizes.get(d as never);
    if (v === undefined) throw new Error(`no size for ${String(d)}`);
    return v;
  });
}

/** Random data: floats in [-1, 1), int32/int64 in [-8, 8], 8-bit ints over their whole range. */
export function randomInputs(p: Program, seed: number): NDArray[] {
  const r = rng(seed);
  const value = (t: DType) => {
    switch (t) {
      case "uint8":
        return Math.floor(r() * 256);
      case "int8":
        return Math.floor(r() * 256) - 128;
      case "int32":
      case "int64":
        return Math.floor(r() * 17) - 8;
      case "float64":
        return r() * 2 - 1;
      default:
        return Math.fround(r() * 2 - 1);
    }
  };
  return p.inputs.map((t) => {
    const shape = concreteShape(p, t.shape);
    const n = shape.reduce((a, b) => a * b, 1);
    return nd.array(Array.from({ length: n }, () => value(t.dtype)), shape, t.dtype);
  });
}

export function poisoned(p: Program): NDArray[] {
  return p.outputs.map((t) => {
    const a = nd.empty(concreteShape(p, t.shape), t.dtype);
    if (t.dtype === "int64") a.data64.fill(0x7eadbeefn);
    else a.data.fill(isFloat(t.dtype) ? NaN : 0x7eadbeef);
    return a;
  });
}

const isFloat = (t: DType) => t.startsWith("float");

/**
 * `got` against `want`: exactly for ints (int64 by its exact values), within `tol` for
 * floats (relative, absolute below 1; NaN equals NaN).
 */
export function compareArrays(got: NDArray, want: NDArray, tol: number): string | null {
  if (want.dtype === "int64") {
    const g = got.data64, w = want.data64;
    if (g.length !== w.length) return `length ${g.length} != ${w.length}`;
    const at = w.findIndex((x, i) => g[i] !== x);
    return at < 0 ? null : `element ${at}: got ${g[at]}, want ${w[at]}`;
  }
  return closeEnough(got.toArray(), want.toArray(), isFloat(want.dtype) ? tol : 0);
}

/** Whether any tensor of the program (inputs, stages, outputs) is int64 or float64. */
export function uses64Bit(p: Program): boolean {
  const wide = (t: DType) => t === "int64" || t === "float64";
  return p.inputs.some((t) => wide(t.dtype)) ||
    postOrder(p.outputs.map((t) => t.op)).some((op) =>
      op.kind === "compute" ? op.bodies.some((b) => wide(b.dtype)) : wide(op.dtype)
    );
}

export function closeEnough(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
): string | null {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (g === w) continue;
    if (!(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)))) {
      return `element ${i}: got ${g}, want ${w}`;
    }
  }
  return null;
}

/** The program and schedule log, for failure messages. */
function describer(p: Program, log: string[]): () => string {
  return () => [`program (${p.family}):`, ...p.text, "schedule:", ...log].join("\n  ");
}

/**
 * Lowers the schedule; "rejected" when lowering rightly refuses it (vectorizing a loop of
 * non-constant extent, a cross-thread reduction it cannot lower), any other error is a test
 * failure.
 */
function lowerOrReject(p: Program, s: Schedule, describe: () => string): PrimFunc | "rejected" {
  try {
    return te.lower(s, argsOf(p));
  } catch (e) {
    // Also a reduction across threads whose data loops sit inside its reduce loops, or a
    // double-buffered tile whose producer is computed inside the same loop.
    if (
      e instanceof TesseraError &&
      /not a constant|across threads\)|which is written inside/.test(e.message)
    ) {
      return "rejected";
    }
    throw new Error(`lowering failed: ${(e as Error).message}\n  ${describe()}`);
  }
}

/** A loop past int32, or one whose bounds wrap (schedules.ts's big sizes), is refused at the call. */
const passesInt32 = (e: unknown) =>
  e instanceof TesseraError &&
  /loop '.*' would run from .* past int32|of loop '.*', .* overflows int32 on the way/.test(
    e.message,
  );

/** Runs the comparison; returns "rejected" when lowering refuses the schedule with a TesseraError. */
export function checkSchedule(
  p: Program,
  s: Schedule,
  log: string[],
  seed: number,
): "ok" | "rejected" {
  const describe = describer(p, log);
  const func = lowerOrReject(p, s, describe);
  if (func === "rejected") return "rejected";
  const ins = randomInputs(p, seed);
  const want = evalDirect(p.outputs, p.inputs.map((t, i) => [t, ins[i]]), p.scalars);
  const outs = poisoned(p);
  try {
    te.evaluate(func, [...ins, ...scalarValues(p), ...outs]);
  } catch (e) {
    if (passesInt32(e)) return "rejected";
    throw new Error(
      `interpreter failed: ${(e as Error).message}\n  ${describe()}\n${String(func)}`,
    );
  }
  outs.forEach((o, i) => {
    const bad = compareArrays(o, want[i], 1e-4);
    if (bad) {
      throw new Error(`mismatch in ${p.outputs[i].name}: ${bad}\n  ${describe()}\n${String(func)}`);
    }
  });
  checkFlattened(p, func, ins, outs, describe);
  return "ok";
}

const scalarValues = (p: Program) => (p.scalars ?? []).map(([, x]) => x);

const bytesOf = (a: NDArray) => new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);

/** The flattened function must write exactly the bits the unflattened one wrote. */
function checkFlattened(
  p: Program,
  func: PrimFunc,
  ins: NDArray[],
  want: NDArray[],
  describe: () => string,
): void {
  let flat: PrimFunc | undefined;
  const outs = poisoned(p);
  try {
    flat = flattenStorage(func);
    te.evaluate(flat, [...ins, ...scalarValues(p), ...outs]);
  } catch (e) {
    throw new Error(
      `flattened function failed: ${(e as Error).message}\n  ${describe()}\n${
        String(flat ?? func)
      }`,
    );
  }
  outs.forEach((o, i) => {
    const got = bytesOf(o), exp = bytesOf(want[i]);
    const at = got.findIndex((b, k) => b !== exp[k]);
    if (at >= 0 || got.length !== exp.length) {
      const el = Math.floor(at / o.data.BYTES_PER_ELEMENT);
      const show = (a: NDArray) => a.dtype === "int64" ? a.data64[el] : a.data[el];
      throw new Error(
        `flattening changed ${p.outputs[i].name}: element ${el} is ${show(o)}, unflattened ` +
          `${show(want[i])}\n  ${describe()}\n${String(func)}\nflattened:\n${String(flat)}`,
      );
    }
  });
}

/**
 * Builds the scheduled program for `target` and holds its results to the interpreter's on
 * the same inputs: exactly for ints, within `tol` (relative, absolute below 1) for floats.
 * Returns "rejected" when lowering refuses the schedule, as `checkSchedule` does, and
 * "refused-64" when WebGPU refuses an int64 or float64 program at build, as it must where
 * a 64-bit value is left after lowering; where none is, the program must run and agree.
 */
export async function checkBackend(
  p: Program,
  s: Schedule,
  log: string[],
  seed: number,
  target: string,
  tol = 1e-5,
  /** Build errors that are the target rightly refusing the schedule, not failures. */
  refusals?: RegExp,
): Promise<"ok" | "rejected" | "refused-64"> {
  const describe = describer(p, log);
  const func = lowerOrReject(p, s, describe);
  if (func === "rejected") return "rejected";
  const ins = randomInputs(p, seed);
  const want = poisoned(p);
  try {
    te.evaluate(func, [...ins, ...scalarValues(p), ...want]);
  } catch (e) {
    if (passesInt32(e)) return "rejected";
    throw e;
  }
  const got = poisoned(p);
  let kernel;
  try {
    kernel = await te.build(func, undefined, { target });
  } catch (e) {
    if (refusals && e instanceof TesseraError && refusals.test(e.message)) return "rejected";
    // What lowering leaves 64-bit (a float32 -> float64 -> float32 round trip folds away).
    if (
      target === "webgpu" && uses64Bit(p) && e instanceof TesseraError &&
      /WGSL has no 64-bit integer or float type/.test(e.message)
    ) return "refused-64";
    throw new Error(
      `${target} build failed: ${(e as Error).message}\n  ${describe()}\n${String(func)}`,
    );
  }
  try {
    await kernel(...ins, ...scalarValues(p), ...got);
  } catch (e) {
    throw new Error(`${target} failed: ${(e as Error).message}\n  ${describe()}\n${String(func)}`);
  }
  got.forEach((o, i) => {
    const bad = compareArrays(o, want[i], tol);
    if (bad) {
      throw new Error(
        `${target} differs from the interpreter in ${
          p.outputs[i].name
        }: ${bad}\n  ${describe()}\n` +
          `${String(func)}\n${kernel.source}`,
      );
    }
  });
  return "ok";
}
