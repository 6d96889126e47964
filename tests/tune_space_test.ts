/**
 * The search space (lib/tune/space.ts, lib/tune/decisions.ts): the default rules with their
 * decisions drawn from a seeded generator produce only valid schedules, equal to the
 * definitions on the interpreter, for random programs of every family and both rule sets
 * (CPU and WebGPU); the C and WebGPU kernels of some sampled candidates equal the
 * interpreter too, and sampled candidates of every standard workload family (small shapes)
 * equal the float64 reference on the interpreter, C and WebGPU. A candidate's decisions replay to the same trace, a mutation changes the
 * decision it draws anew (and what depends on it) and keeps the rest, and the features of every
 * candidate's loop IR have one fixed length.
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { nd, te } from "../mod.ts";
import { DeviceArray } from "../lib/runtime/device_array.ts";
import {
  inputShapes,
  inputsOf,
  labelOf,
  maxRelError,
  outputShape,
  reference,
  TOLERANCE,
  type Workload,
} from "../lib/bench/workload.ts";
import { applyDefault, defaultFacts, type Facts } from "../lib/tune/default.ts";
import { type Decisions, sampler, seededRandom } from "../lib/tune/decisions.ts";
import { defaultCandidate, mutate, sample } from "../lib/tune/space.ts";
import { FEATURE_NAMES, featuresOf } from "../lib/tune/features.ts";
import { definition } from "../lib/tune/workloads.ts";
import { applyTrace } from "../lib/tune/trace.ts";
import { Choices, propertyOptions } from "./gen/choices.ts";
import { checkBackend, checkSchedule } from "./gen/check.ts";
import { randomProgram } from "./gen/programs.ts";
import { useTestCache } from "./c_util.ts";

const host = await defaultFacts();
// Small lanes and thresholds so that every rule fires on the generators' small shapes.
const eager: Facts = {
  ...host,
  lanes: 2,
  minParallelWork: 0,
  fewOutputs: 4,
  longReduction: 2,
  threads: 4,
  side: 2,
  reg: 2,
};
const programs = fc.array(fc.nat(1 << 20), { minLength: 20, maxLength: 120 });

function sampled(xs: number[], target: string, facts: Facts, seed: number) {
  const p = randomProgram(new Choices(xs));
  const s = te.createSchedule(p.outputs);
  const { decide, taken } = sampler(seededRandom(seed), {}, 0.1);
  const trace = applyDefault(s, target, facts, [], decide);
  const log = [`decisions ${JSON.stringify(taken)}`, ...trace.map((t) => JSON.stringify(t))];
  return { p, s, trace, taken, log };
}

for (const target of ["c", "webgpu"]) {
  Deno.test(`${target} rules with sampled decisions give schedules equal to the definitions on the interpreter`, () => {
    const decided = new Set<string>();
    fc.assert(
      fc.property(programs, fc.nat(), fc.boolean(), (xs, seed, useEager) => {
        const facts = useEager ? eager : host;
        const { p, s, trace, taken, log } = sampled(xs, target, facts, seed);
        Object.keys(taken).forEach((k) => decided.add(k.replace(/^[\d.]+|^inline\.\d+/, "")));
        assert.equal(checkSchedule(p, s, log, seed), "ok");
        // The decisions taken replay to the same trace.
        const again = applyDefault(
          te.createSchedule(p.outputs),
          target,
          facts,
          [],
          sampler(seededRandom(seed + 1), taken as Decisions).decide,
        );
        assert.deepEqual(again, trace, log.join("\n"));
      }),
      propertyOptions(150),
    );
    assert.ok(decided.size >= 3, `too few kinds of decision were sampled: ${[...decided]}`);
    // The CPU's layout and compute-location decisions among them (packing, row groups).
    if (target === "c") {
      for (const k of ["pack", "rows"]) {
        assert.ok(decided.has(k), `no ${k} decision: ${[...decided]}`);
      }
    }
  });
}

Deno.test("C and WebGPU kernels of sampled candidates equal the interpreter", async () => {
  useTestCache();
  for (const target of ["c", "webgpu"]) {
    await fc.assert(
      fc.asyncProperty(programs, fc.nat(), async (xs, seed) => {
        const { p, s, log } = sampled(xs, target, eager, seed);
        const got = await checkBackend(p, s, log, seed, target, target === "c" ? 1e-5 : 1e-4);
        assert.ok(["ok", "refused-64"].includes(got), `${got}\n${log.join("\n")}`);
      }),
      propertyOptions(12),
    );
  }
});

Deno.test("mutation redraws one decision; features have a fixed length", () => {
  const w = { op: "matmul", m: 48, n: 40, k: 24 } as const;
  const args = definition(w);
  for (const target of ["c", "webgpu"]) {
    const space = { outputs: [args[args.length - 1]], target, facts: host };
    const d = defaultCandidate(space);
    // The default candidate is the default schedule.
    const plain = applyDefault(te.createSchedule(space.outputs), target, host);
    assert.deepEqual(d.trace, plain);
    const random = seededRandom(7);
    let changed = 0;
    for (let i = 0; i < 30; i++) {
      const m = mutate(space, d, random);
      const differ = Object.keys(m.decisions!).filter((k) => m.decisions![k] !== d.decisions![k]);
      // One decision drawn anew; a later one changes too only where its old option is no
      // longer offered (a register tile that no longer fits a wider workgroup side).
      const fresh = differ.filter((k) => k in d.decisions!);
      assert.ok(fresh.length <= 2, `mutation changed ${fresh.join(", ")}`);
      if (differ.length) changed++;
      const s = te.createSchedule(space.outputs);
      const c = sample(space, random);
      const f = featuresOf(te.lower(applyTrace(s, c.trace), args));
      assert.equal(f.length, FEATURE_NAMES.length);
      assert.ok(f.every(Number.isFinite), String(f));
    }
    assert.ok(changed > 5, `only ${changed} of 30 mutations changed anything`);
  }
});

const SMALL: Workload[] = [
  { op: "matmul", m: 20, n: 36, k: 12 },
  { op: "batch_matmul", batch: 2, m: 12, n: 20, k: 8 },
  { op: "conv2d", n: 1, c: 4, h: 9, w: 9, k: 6, r: 3, stride: 2, pad: 1 },
  { op: "softmax", rows: 6, cols: 40 },
  { op: "layernorm", rows: 6, cols: 40, eps: 1e-5 },
  { op: "elementwise", len: 100 },
];

Deno.test("sampled candidates of the standard workloads equal the float64 reference on every target", async () => {
  useTestCache();
  const random = seededRandom(Number(Deno.env.get("TESSERA_PROPERTY_SEED") ?? 20));
  for (const w of SMALL) {
    const args = definition(w);
    const inputs = inputsOf(w);
    const want = reference(w, inputs);
    const shapes = inputShapes(w);
    for (
      const [target, facts, n] of [["c", eager, 8], ["c", host, 4], ["webgpu", eager, 6]] as const
    ) {
      const space = { outputs: [args[args.length - 1]], target, facts };
      for (let i = 0; i < n; i++) {
        const c = sample(space, random);
        const s = applyTrace(te.createSchedule(space.outputs), c.trace);
        // Every candidate on the interpreter; some on the target itself.
        const on = i < 2 ? target : "interpreter";
        const f = await te.build(s, args, { target: on });
        const host = inputs.map((x, k) => nd.array(x, shapes[k]));
        const out = nd.empty(outputShape(w));
        if (on === "webgpu") {
          const o = await DeviceArray.empty(outputShape(w), "float32");
          await f(...await Promise.all(host.map((a) => a.to("webgpu"))), o);
          out.data.set((await o.toHost()).data as Float32Array);
        } else await f(...host, out);
        const err = maxRelError(out.data as Float32Array, want);
        assert.ok(
          err <= TOLERANCE,
          `${labelOf(w)} on ${on}: error ${err}\n${JSON.stringify(c.decisions)}`,
        );
      }
    }
  }
});
