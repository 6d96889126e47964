/**
 * The roofline's ceilings are this machine's: the FMA roof is held to a hand-written intrinsic
 * loop (tests/fma_peak.c: the widest vector unit the compiler targets, 12 accumulators, every
 * core), and the bandwidth roof to the streaming kernels of `deno task bench` (bench/stream.ts:
 * a fused relu(a*b+c) and a copy). On a machine shared with other work the numbers move, so
 * the two sides are measured in interleaved rounds and each keeps its best round: a ceiling
 * is what the machine reaches, and both sides get the same chances to reach it. No instruction
 * set and no wall time is asserted, only the ratio.
 */
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { measureRoofline } from "../lib/bench/roofline.ts";
import { findCompiler } from "../lib/codegen/c/compile.ts";
import { streamCases } from "../bench/stream.ts";
import { useTestCache } from "./c_util.ts";

useTestCache();
const ROUNDS = 3;
// Minutes of both cores at full load: a check for a quiet machine, not for every test run.
const WANTED = Deno.env.get("TESSERA_ROOFLINE_TEST") === "1";

/** The hand-written loop as a library, or why it cannot be built here. */
async function handLoop() {
  let cc;
  try {
    cc = await findCompiler();
  } catch (e) {
    return `no C compiler (${(e as Error).message})`;
  }
  const so = `${tmpdir()}/tessera-fma-peak-${Deno.pid}.so`;
  const src = new URL("./fma_peak.c", import.meta.url).pathname;
  const out = await new Deno.Command(cc.path, {
    args: ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", src, "-o", so],
    stderr: "piped",
  }).output();
  if (!out.success) return `cannot build fma_peak.c: ${new TextDecoder().decode(out.stderr)}`;
  const lib = Deno.dlopen(
    so,
    {
      fma_peak: { parameters: ["i64", "buffer"], result: "f64" },
    } as const,
  );
  await Deno.remove(so);
  const sink = new Float32Array(64);
  // Steps for about 50 ms a run, like a repeat of the roofline's own timing.
  let steps = 100_000n;
  for (let t = 0; t < 50;) {
    const t0 = performance.now();
    lib.symbols.fma_peak(steps, sink);
    t = performance.now() - t0;
    if (t < 50) steps *= 2n;
  }
  return {
    /** GFLOP/s: the fastest of 7 runs. */
    gflops() {
      let best = 0;
      for (let i = 0; i < 7; i++) {
        const t0 = performance.now();
        const flops = lib.symbols.fma_peak(steps, sink);
        best = Math.max(best, flops / ((performance.now() - t0) / 1e3) / 1e9);
      }
      return best;
    },
    close: () => lib.close(),
  };
}

Deno.test({
  name: "the CPU roofline reaches a hand-written FMA loop and the bench's streaming kernels" +
    (WANTED ? "" : " (set TESSERA_ROOFLINE_TEST=1 on a quiet machine to run it)"),
  ignore: !WANTED,
  fn: roofline,
});

async function roofline(t: Deno.TestContext) {
  const hand = await handLoop();
  if (typeof hand === "string") {
    await t.step({ name: `skipped: ${hand}`, ignore: true, fn() {} });
    return;
  }
  // The bench's relu(a*b+c) and copy, at full size, timed as the roofline times its own
  // kernels: the fastest of 7 repeats of at least 50 ms each.
  const streams = streamCases(false);
  for (const c of streams) await c.setup!();
  const gbs = (c: (typeof streams)[number]) => {
    let best = 0;
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      let calls = 0;
      while (performance.now() - t0 < 50) c.fn(), calls++;
      best = Math.max(best, calls * c.bytes! / ((performance.now() - t0) / 1e3) / 1e9);
    }
    return best;
  };
  const best = { hand: 0, fma: 0, stream: 0, roofGbs: 0 };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      best.hand = Math.max(best.hand, hand.gflops());
      for (const c of streams) best.stream = Math.max(best.stream, gbs(c));
      const roof = await measureRoofline("cpu");
      best.fma = Math.max(best.fma, roof.gflops);
      best.roofGbs = Math.max(best.roofGbs, roof.gbs);
    }
  } finally {
    hand.close();
    for (const c of streams) await c.teardown!();
  }
  const load = await Deno.readTextFile("/proc/loadavg").catch(() => "unknown");
  console.log(
    `best of ${ROUNDS} rounds: hand FMA ${best.hand.toFixed(1)}, roof ${best.fma.toFixed(1)} ` +
      `GFLOP/s; bench streams ${best.stream.toFixed(1)}, roof ${
        best.roofGbs.toFixed(1)
      } GB/s; load ${load.trim()}`,
  );
  assert.ok(
    best.fma >= 0.95 * best.hand,
    `FMA roof ${best.fma.toFixed(1)} GFLOP/s is below 95% of the hand loop's ${
      best.hand.toFixed(1)
    }`,
  );
  assert.ok(
    best.roofGbs >= 0.95 * best.stream,
    `bandwidth roof ${best.roofGbs.toFixed(1)} GB/s is below 95% of the bench's streaming ` +
      `kernels' ${best.stream.toFixed(1)}`,
  );
}
