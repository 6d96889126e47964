/**
 * The central property: for random programs and random valid schedules, lowering and
 * interpreting gives what evaluating the compute definitions directly gives.
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { Choices, propertyOptions } from "./gen/choices.ts";
import { checkSchedule } from "./gen/check.ts";
import { randomProgram } from "./gen/programs.ts";
import { randomSchedule } from "./gen/schedules.ts";

const RUNS = Number(Deno.env.get("TESSERA_PROPERTY_RUNS") ?? 1000);

Deno.test(`lowered and interpreted equals direct evaluation (${RUNS} programs x schedules)`, () => {
  let ok = 0, rejected = 0;
  fc.assert(
    fc.property(
      fc.array(fc.nat(1 << 20), { minLength: 20, maxLength: 120 }),
      fc.nat(),
      (xs, seed) => {
        const c = new Choices(xs);
        const p = randomProgram(c);
        const { s, log } = randomSchedule(p, c);
        if (checkSchedule(p, s, log, seed) === "ok") ok++;
        else rejected++;
      },
    ),
    propertyOptions(RUNS),
  );
  // A replayed case (TESSERA_PROPERTY_PATH) is one run: the proportions say nothing.
  if (!Deno.env.get("TESSERA_PROPERTY_PATH")) {
    // Rejections (vectorizing a loop whose extent is not constant) must stay rare.
    assert.ok(rejected < RUNS * 0.1, `${rejected} of ${RUNS} schedules were rejected`);
    assert.ok(ok >= RUNS * 0.9);
  }
});
