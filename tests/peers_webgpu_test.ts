/**
 * The WebGPU peers of bench/gpu.ts are only worth a ratio if they compute the same product,
 * so each is checked against the naive triple loop on an odd shape that no workgroup tiling
 * divides. Where a peer cannot run (no adapter, the library fails under Deno) its test is
 * registered as ignored with the reason in its name, so a skip never shows as a pass.
 */
import assert from "node:assert/strict";
import { allGpuMatmulPeers, allMatmulPeers } from "../lib/bench/peers/mod.ts";
import { naiveMatmul } from "../lib/bench/peers/naive.ts";

const [m, n, k] = [37, 29, 41];

/** Deterministic values in [-1, 1) so a failure reproduces. */
function values(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const a = values(m * k, 1), b = values(k * n, 2);
const expected = new Float32Array(m * n);
naiveMatmul(m, n, k, a, b, expected);

function assertClose(peer: string, got: Float32Array): void {
  assert.equal(got.length, m * n, `${peer}: result length`);
  for (let i = 0; i < got.length; i++) {
    const tol = 1e-4 * Math.max(1, Math.abs(expected[i]));
    if (!(Math.abs(got[i] - expected[i]) <= tol)) {
      assert.fail(`${peer}: C[${Math.floor(i / n)},${i % n}] = ${got[i]}, want ${expected[i]}`);
    }
  }
}

Deno.test("GPU peer names are unique and distinct from the CPU peers'", () => {
  const names = [...allMatmulPeers(), ...allGpuMatmulPeers()].map((p) => p.name);
  assert.equal(new Set(names).size, names.length);
});

for (const peer of allGpuMatmulPeers()) {
  const reason = await peer.available();
  if (reason !== null) {
    Deno.test({ name: `${peer.name} (unavailable: ${reason})`, ignore: true, fn() {} });
    continue;
  }
  Deno.test({
    name: `${peer.name} matches naive-ts on ${m}x${n}x${k}`,
    async fn() {
      const prepared = await peer.prepare(m, n, k, a, b);
      try {
        await prepared.run();
        assertClose(peer.name, await prepared.result());
        // A second run must not accumulate into or otherwise disturb the first.
        await prepared.run();
        assertClose(peer.name, await prepared.result());
      } finally {
        prepared.dispose();
      }
    },
  });
}
