/**
 * Shared by the tests of language constructs (inline reductions, tuples): run one schedule on
 * the interpreter, C and WebGPU with the same inputs, outputs poisoned first, and hold C and
 * WebGPU to the interpreter (float32 within `tol` relative, everything else exactly, NaN equal
 * to NaN). The interpreter's own answer is returned, for tests to check against a reference.
 */
import assert from "node:assert/strict";
import { type DType, nd, NDArray, type Schedule, te, type Tensor } from "../mod.ts";
import { useTestCache } from "./c_util.ts";

useTestCache();

/** Deterministic inputs: floats in [-1, 1), int32 in [-8, 8]. */
export function rand(shape: number[], dtype: DType = "float32", seed = 1): NDArray {
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from({ length: n }, () => {
    const r = next();
    return dtype === "int32" ? Math.floor(r * 17) - 8 : Math.fround(r * 2 - 1);
  });
  return nd.array(vals, shape, dtype);
}

function poisoned(shape: number[], dtype: DType): NDArray {
  const a = nd.empty(shape, dtype);
  a.data.fill(dtype === "int32" ? 0x7eadbeef : NaN);
  return a;
}

export function assertClose(got: NDArray, want: NDArray, tol: number, what: string): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  const exact = want.dtype !== "float32" && want.dtype !== "float16";
  for (let k = 0; k < want.size; k++) {
    const g = got.at(k), w = want.at(k);
    if (Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w))) continue;
    if (exact) assert.fail(`${what}: element ${k} is ${g}, want ${w}`);
    assert.ok(
      Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)),
      `${what}: element ${k} is ${g}, want ${w}`,
    );
  }
}

const shapeOf = (t: Tensor): number[] =>
  t.shape.map((d) => {
    assert.equal(d.kind, "const", "these programs have constant shapes");
    return (d as { value: number }).value;
  });

/**
 * Runs `s` (with `args` = inputs then outputs) on every target; returns the interpreter's
 * outputs after checking C and WebGPU against them.
 */
export async function onAllTargets(
  s: Schedule,
  args: Tensor[],
  inputs: NDArray[],
  what: string,
  tol = 1e-4,
): Promise<NDArray[]> {
  const outs = args.slice(inputs.length);
  const run = async (target: "interpreter" | "c" | "webgpu") => {
    const f = await te.build(s, args, target === "interpreter" ? {} : { target });
    const got = outs.map((t) => poisoned(shapeOf(t), t.dtype));
    await f(...inputs, ...got);
    return got;
  };
  const want = await run("interpreter");
  for (const target of ["c", "webgpu"] as const) {
    const got = await run(target);
    got.forEach((g, k) => assertClose(g, want[k], tol, `${what} on ${target}, ${outs[k].name}`));
  }
  return want;
}
