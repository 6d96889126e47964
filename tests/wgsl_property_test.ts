/**
 * The foundation's central property, through WebGPU (on whatever adapter Deno finds: Mesa's
 * llvmpipe in CI): random programs under random GPU-style schedules (blockIdx on a root
 * stage's outer loop, thread indices on inner loops, attached stages filled cooperatively,
 * shared and local caches, rfactor) give what the interpreter gives on the same inputs.
 * Schedules the GPU rightly refuses (a workgroup size that is not constant, an array of
 * symbolic size inside a shader, blockIdx bound below another loop) are counted and must
 * stay a minority.
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { Choices, propertyOptions } from "./gen/choices.ts";
import { checkBackend } from "./gen/check.ts";
import { randomProgram } from "./gen/programs.ts";
import { randomSchedule } from "./gen/schedules.ts";

const RUNS = Number(Deno.env.get("TESSERA_WGSL_PROPERTY_RUNS") ?? 200);
const REFUSALS = /must be a constant|need a constant size|bind blockIdx only|grid must depend/;

Deno.test(`WebGPU kernels equal the interpreter (${RUNS} programs x GPU schedules)`, async () => {
  let ok = 0, rejected = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.nat(1 << 20), { minLength: 20, maxLength: 120 }),
      fc.nat(),
      async (xs, seed) => {
        const c = new Choices(xs);
        const p = randomProgram(c);
        const { s, log } = randomSchedule(p, c, "gpu");
        if (await checkBackend(p, s, log, seed, "webgpu", 1e-4, REFUSALS) === "ok") ok++;
        else rejected++;
      },
    ),
    propertyOptions(RUNS),
  );
  // A replayed case (TESSERA_PROPERTY_PATH) is one run: the proportions say nothing.
  if (!Deno.env.get("TESSERA_PROPERTY_PATH")) {
    assert.ok(rejected < RUNS * 0.25, `${rejected} of ${RUNS} schedules were refused`);
    assert.ok(ok >= RUNS * 0.75);
  }
});
