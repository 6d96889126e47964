/**
 * Shared by the graph tests: output arrays compared within a relative tolerance (NaN equals
 * NaN), with the output and element that differ named; seeded data in [-1, 1).
 */
import assert from "node:assert/strict";
import type { NDArray } from "../mod.ts";

export function assertClose(got: NDArray[], want: NDArray[], tol = 1e-5): void {
  assert.equal(got.length, want.length);
  got.forEach((g, k) => {
    assert.deepEqual(g.shape, want[k].shape);
    assert.equal(g.dtype, want[k].dtype);
    const a = g.toArray(), b = want[k].toArray();
    for (let i = 0; i < a.length; i++) {
      const ok = Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])) ||
        (Number.isNaN(a[i]) && Number.isNaN(b[i]));
      if (!ok) assert.fail(`output ${k} element ${i}: ${a[i]} vs ${b[i]}`);
    }
  });
}

/** `n` values in [-1, 1) from a linear congruential generator seeded by `seed`. */
export function data(n: number, seed: number): Float32Array {
  let s = seed * 2654435761 % 2 ** 32;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) % 2 ** 32;
    return (s / 2 ** 32) * 2 - 1;
  });
}
