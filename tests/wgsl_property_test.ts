/**
 * The foundation's central property, through WebGPU (on whatever adapter Deno finds: Mesa's
 * llvmpipe in CI): random programs under random GPU-style schedules (blockIdx on a root
 * stage's outer loop, thread indices on inner loops, attached stages filled cooperatively,
 * shared and local caches, rfactor) give what the interpreter gives on the same inputs.
 * Schedules the GPU rightly refuses (a workgroup size that is not constant, an array of
 * symbolic size inside a shader, blockIdx bound below another loop) are counted and must
 * stay a minority. Programs with an int64 or float64 tensor must be refused at build (WGSL
 * has no 64-bit types).
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
  let ok = 0, rejected = 0, wide = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.nat(1 << 20), { minLength: 20, maxLength: 120 }),
      fc.nat(),
      async (xs, seed) => {
        const c = new Choices(xs);
        const p = randomProgram(c);
        const { s, log } = randomSchedule(p, c, "gpu");
        const r = await checkBackend(p, s, log, seed, "webgpu", 1e-4, REFUSALS);
        if (r === "ok") ok++;
        else if (r === "refused-64") wide++; // int64/float64: refused at build, as stated
        else rejected++;
      },
    ),
    propertyOptions(RUNS),
  );
  // A replayed case (TESSERA_PROPERTY_PATH) is one run: the proportions say nothing.
  if (!Deno.env.get("TESSERA_PROPERTY_PATH")) {
    assert.ok(rejected < RUNS * 0.25, `${rejected} of ${RUNS} schedules were refused`);
    // Programs with a 64-bit type check only the refusal; most must run.
    assert.ok(ok >= (RUNS - wide) * 0.75 && wide < RUNS * 0.25, `${ok} ran, ${wide} were 64-bit`);
  }
});
