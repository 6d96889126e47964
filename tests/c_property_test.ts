/**
 * The foundation's central property, through the C backend: random programs under random
 * schedules, compiled to native code, give what the interpreter gives on the same inputs.
 * Each case is one compile (cached by source), so the default count is lower than the
 * interpreter's; TESSERA_C_PROPERTY_RUNS raises it.
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { Choices, propertyOptions } from "./gen/choices.ts";
import { checkBackend } from "./gen/check.ts";
import { randomProgram } from "./gen/programs.ts";
import { randomSchedule } from "./gen/schedules.ts";
import { useTestCache } from "./c_util.ts";

const RUNS = Number(Deno.env.get("TESSERA_C_PROPERTY_RUNS") ?? 300);

Deno.test(`C kernels equal the interpreter (${RUNS} programs x schedules)`, async () => {
  useTestCache();
  let ok = 0, rejected = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.nat(1 << 20), { minLength: 20, maxLength: 120 }),
      fc.nat(),
      async (xs, seed) => {
        const c = new Choices(xs);
        const p = randomProgram(c);
        const { s, log } = randomSchedule(p, c);
        if (await checkBackend(p, s, log, seed, "c") === "ok") ok++;
        else rejected++;
      },
    ),
    propertyOptions(RUNS),
  );
  // A replayed case (TESSERA_PROPERTY_PATH) is one run: the proportions say nothing.
  if (!Deno.env.get("TESSERA_PROPERTY_PATH")) {
    assert.ok(rejected < RUNS * 0.1, `${rejected} of ${RUNS} schedules were rejected`);
    assert.ok(ok >= RUNS * 0.9);
  }
});
