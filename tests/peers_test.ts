/**
 * The benchmark's peers are only worth comparing against if they compute the same product, so
 * each one is checked against the naive triple loop on an odd shape that no library's tiling
 * divides evenly. A peer that cannot run on this machine is registered as ignored with its
 * reason in the test name, so a skip shows as a skip and never as a pass.
 */
import assert from "node:assert/strict";
import { allMatmulPeers, machineInfo } from "../lib/bench/peers/mod.ts";
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

Deno.test("naive-ts agrees with a float64 dot product per element", () => {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let p = 0; p < k; p++) dot += a[i * k + p] * b[p * n + j];
      assert.ok(Math.abs(expected[i * n + j] - dot) <= 1e-5 * Math.max(1, Math.abs(dot)));
    }
  }
});

Deno.test("machineInfo names the CPU, core count and runtime versions", () => {
  const info = machineInfo();
  assert.ok(info.cpu.length > 0);
  assert.ok(info.cores >= 1);
  assert.equal(info.deno, Deno.version.deno);
  assert.equal(info.v8, Deno.version.v8);
});

const names = allMatmulPeers().map((p) => p.name);
Deno.test("peer names are unique", () => assert.equal(new Set(names).size, names.length));

for (const peer of allMatmulPeers()) {
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
