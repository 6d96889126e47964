/**
 * Shared by the two peer test files (CPU peers, WebGPU peers): a benchmark's peers are only
 * worth comparing against if they compute the workload as defined, so every peer is checked
 * on every workload it supports against the float64 reference, at small odd sizes that no
 * library's tiling divides evenly. A peer that cannot run here, or a workload it does not
 * support, is registered as an ignored test with the reason in its name, so a skip shows as a
 * skip and never as a pass.
 */
import assert from "node:assert/strict";
import type { Peer } from "../lib/bench/peers/mod.ts";
import {
  inputsOf,
  labelOf,
  maxRelError,
  reference,
  TOLERANCE,
  type Workload,
} from "../lib/bench/workload.ts";

export const SMALL: Workload[] = [
  { op: "matmul", m: 13, n: 17, k: 19 },
  { op: "batch_matmul", batch: 3, m: 13, n: 17, k: 19 },
  // Stride 2 and pad 1 on a non-square input, so a swapped axis or a lost pad shows.
  { op: "conv2d", n: 2, c: 3, h: 11, w: 9, k: 5, r: 3, stride: 2, pad: 1 },
  // tfjs-webgpu's NCHW conv2d gets this one wrong (its NHWC one, which the peer uses, does not).
  { op: "conv2d", n: 1, c: 8, h: 28, w: 28, k: 8, r: 3, stride: 1, pad: 1 },
  { op: "softmax", rows: 7, cols: 33 },
  // An eps large enough to move the result well past TOLERANCE, so a dropped eps shows.
  { op: "layernorm", rows: 5, cols: 37, eps: 0.1 },
  { op: "elementwise", len: 1001 },
];

/** One test per peer and workload; call it at the top level of a test file. */
export async function checkPeers(peers: Peer[]): Promise<void> {
  const kind = [...new Set(peers.map((p) => p.device))].join("/");
  for (const peer of peers) {
    const reason = await peer.available();
    if (reason !== null) {
      console.log(`${peer.name} is not available here: ${reason}`);
      Deno.test({ name: `${peer.name} (unavailable: ${reason})`, ignore: true, fn() {} });
      continue;
    }
    for (const w of SMALL) {
      const why = peer.supports(w);
      if (why !== null) {
        Deno.test({
          name: `${peer.name} ${labelOf(w)} (unsupported: ${why})`,
          ignore: true,
          fn() {},
        });
        continue;
      }
      Deno.test(`${peer.name} ${labelOf(w)} matches the reference`, async () => {
        const inputs = inputsOf(w);
        const want = reference(w, inputs);
        const prepared = await peer.prepare(w, inputs);
        try {
          await prepared.run();
          const err = maxRelError(await prepared.result(), want);
          assert.ok(err <= TOLERANCE, `${peer.name} ${labelOf(w)}: max relative error ${err}`);
          // A second run must not accumulate into or otherwise disturb the first.
          await prepared.run();
          const again = maxRelError(await prepared.result(), want);
          assert.ok(again <= TOLERANCE, `${peer.name} ${labelOf(w)}, second run: ${again}`);
        } finally {
          prepared.dispose();
        }
      });
    }
  }

  Deno.test(`every ${kind} peer answers supports() with null or a reason`, () => {
    for (const peer of peers) {
      for (const w of SMALL) {
        const why = peer.supports(w);
        assert.ok(
          why === null || (typeof why === "string" && why.trim().length > 0),
          `${peer.name} ${w.op}: ${JSON.stringify(why)}`,
        );
      }
    }
  });

  Deno.test(`every ${kind} peer rejects wrongly sized inputs in prepare, before any native call`, async () => {
    const w = SMALL[0];
    const [a, b] = inputsOf(w);
    for (const peer of peers) {
      // Checked first, so this holds even where the library is missing.
      await assert.rejects(peer.prepare(w, [a.subarray(1), b]), RangeError, peer.name);
      await assert.rejects(peer.prepare(w, [a]), RangeError, peer.name);
      await assert.rejects(
        peer.prepare(w, [a, new Float64Array(b) as unknown as Float32Array]),
        RangeError,
        peer.name,
      );
    }
  });
}
