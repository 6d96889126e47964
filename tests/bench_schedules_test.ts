/**
 * Tessera's own benchmark kernels (bench/schedules/, run through bench/tessera_peer.ts) must
 * compute the workloads as lib/bench/workload.ts defines them, or the benchmark would time
 * the wrong thing: at small odd sizes that no tile divides (both strides of conv2d) and at
 * the quick suite's sizes, the C and WebGPU peers are held to the float64 reference, and
 * each schedule run by the interpreter (the definition of meaning: every access
 * bounds-checked, fresh buffers poisoned) is held to the reference and to the compiled
 * kernel. The peer checks shared with the other libraries (./peers_util.ts) run as well.
 * Without a WebGPU adapter the WebGPU tests are registered as ignored, with the reason.
 */
import assert from "node:assert/strict";
import { nd, te } from "../mod.ts";
import {
  inputShapes,
  inputsOf,
  labelOf,
  maxRelError,
  outputShape,
  reference,
  standardWorkloads,
  TOLERANCE,
  type Workload,
} from "../lib/bench/workload.ts";
import { scheduleFor, type Target } from "../bench/schedules/mod.ts";
import { tesseraPeer } from "../bench/tessera_peer.ts";
import { checkPeers } from "./peers_util.ts";

const ODD: Workload[] = [
  { op: "matmul", m: 13, n: 17, k: 19 },
  { op: "batch_matmul", batch: 3, m: 5, n: 7, k: 9 },
  { op: "conv2d", n: 1, c: 3, h: 9, w: 11, k: 5, r: 3, stride: 2, pad: 1 },
  { op: "conv2d", n: 1, c: 3, h: 9, w: 11, k: 5, r: 3, stride: 1, pad: 1 },
  // Weights past 256 KiB: the CPU schedule's other loop order, and 60 = 7 * 8 + 4 channels.
  { op: "conv2d", n: 2, c: 130, h: 6, w: 7, k: 60, r: 3, stride: 1, pad: 0 },
  { op: "softmax", rows: 7, cols: 33 },
  { op: "layernorm", rows: 5, cols: 37, eps: 1e-5 },
  // Rows too long for one WebGPU invocation each: the cross-thread form.
  { op: "softmax", rows: 3, cols: 5001 },
  { op: "layernorm", rows: 2, cols: 4099, eps: 1e-5 },
  { op: "elementwise", len: 1001 },
];

/** Runs `target`'s schedule of `w` on the interpreter and returns its output. */
async function interpret(w: Workload, target: Target, inputs: Float32Array[]) {
  const { s, args } = scheduleFor(w, target);
  const f = await te.build(s, args, { target: "interpreter" });
  const out = nd.empty(outputShape(w));
  await f(...inputs.map((x, i) => nd.array(x, inputShapes(w)[i])), out);
  return out.data as Float32Array;
}

for (const target of ["c", "webgpu"] as const) {
  const peer = tesseraPeer(target);
  const reason = await peer.available();
  for (const w of [...ODD, ...standardWorkloads(true)]) {
    const odd = ODD.includes(w);
    const name = `${peer.name} ${labelOf(w)}: matches the reference` +
      (odd ? " and the interpreter running the same schedule" : "");
    if (reason !== null) {
      Deno.test({ name: `${name} (unavailable: ${reason})`, ignore: true, fn() {} });
      continue;
    }
    Deno.test(name, async () => {
      const inputs = inputsOf(w, 3);
      const want = reference(w, inputs);
      const prepared = await peer.prepare(w, inputs);
      let got: Float32Array;
      try {
        await prepared.run();
        got = await prepared.result();
        const err = maxRelError(got, want);
        assert.ok(err <= TOLERANCE, `${peer.name} ${labelOf(w)}: max relative error ${err}`);
      } finally {
        prepared.dispose();
      }
      if (!odd) return;
      const meant = await interpret(w, target, inputs);
      const err = maxRelError(meant, want);
      assert.ok(err <= TOLERANCE, `interpreter, ${target} schedule: max relative error ${err}`);
      // Tighter than the reference's tolerance: the same float32 program, rounded alike
      // up to fused multiply-adds and exp.
      const apart = maxRelError(got, meant);
      assert.ok(apart <= 1e-5, `${peer.name} against the interpreter: ${apart}`);
    });
  }
}

await checkPeers([tesseraPeer("c"), tesseraPeer("webgpu")]);

// The CPU picks its register tiles by vector unit; every variant must compute the workload
// whichever machine runs this test.
Deno.test("every vector-width variant of the CPU matmul and conv2d schedules is right", async () => {
  const { matmulCpu } = await import("../examples/matmul_cpu.ts");
  const { conv2dCpu } = await import("../bench/schedules/conv2d.ts");
  const mm = ODD[0] as Extract<Workload, { op: "matmul" }>;
  const conv = ODD[4] as Extract<Workload, { op: "conv2d" }>;
  const cases = [
    ...[[6, 16], [8, 32]].map(([bm, bn]) => ({
      w: mm as Workload,
      ...matmulCpu(mm.m, mm.n, mm.k, bm, bn),
    })),
    ...[8, 16].map((kb) => ({ w: conv as Workload, ...conv2dCpu(conv, kb) })),
  ];
  for (const { w, s, args } of cases) {
    const inputs = inputsOf(w, 5);
    const f = await te.build(s, args, { target: "c" });
    const out = nd.empty(outputShape(w));
    await f(...inputs.map((x, i) => nd.array(x, inputShapes(w)[i])), out);
    const err = maxRelError(out.data as Float32Array, reference(w, inputs));
    assert.ok(err <= TOLERANCE, `${labelOf(w)}: max relative error ${err}`);
  }
});
