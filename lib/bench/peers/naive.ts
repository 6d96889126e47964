/**
 * The floor every other number is read against: a plain triple loop over Float32Arrays in
 * TypeScript, as someone would write it without thinking about caches or SIMD. It is also the
 * reference the peer tests check the other peers against, so it stays obviously correct.
 */
import { checkShapes, type MatmulPeer, type PreparedMatmul } from "./peer.ts";

/** C = A·B in i-k-j order, so the innermost loop walks B and C contiguously. */
export function naiveMatmul(
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
): void {
  c.fill(0);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      const col = p * n;
      for (let j = 0; j < n; j++) c[row + j] += aip * b[col + j];
    }
  }
}

export const naivePeer: MatmulPeer = {
  name: "naive-ts",
  available: () => Promise.resolve(null),
  prepare(m, n, k, a, b): Promise<PreparedMatmul> {
    checkShapes("naive-ts", m, n, k, a, b);
    const ac = a.slice(), bc = b.slice(), c = new Float32Array(m * n);
    return Promise.resolve({
      run: () => naiveMatmul(m, n, k, ac, bc, c),
      result: () => Promise.resolve(c.slice()),
      dispose() {},
    });
  },
};
