/**
 * Reads outside a tensor's declared shape, as a property (issue 11): random programs that
 * read at an offset, over a shifted reduction, over a symbolic domain longer than what they
 * read, or through an index tensor (tests/gen/programs.ts, outOfBounds), under random
 * schedules, are refused the same way everywhere. A read provably outside is a TesseraError
 * from lowering that names the tensor, whatever the schedule and target. Any other is
 * reported at run time by the interpreter exactly when the definition (evalDirect) reads
 * outside, and then by checked C and WebGPU builds too; where the index data stays inside,
 * every target computes what the definition does.
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { type NDArray, type Schedule, te, TesseraError } from "../mod.ts";
import { evalDirect } from "../lib/te/evalDirect.ts";
import { Choices, propertyOptions } from "./gen/choices.ts";
import { closeEnough, poisoned, randomInputs } from "./gen/check.ts";
import { type OobProgram, outOfBounds } from "./gen/programs.ts";
import { randomSchedule } from "./gen/schedules.ts";
import { useTestCache } from "./c_util.ts";

const ENV = "TESSERA_BOUNDS_PROPERTY_RUNS";
const RUNS = {
  interpreter: Number(Deno.env.get(ENV) ?? 400),
  c: Number(Deno.env.get(ENV) ?? 120),
  webgpu: Number(Deno.env.get(ENV) ?? 100),
};
/** What the WebGPU target rightly refuses to build (as in wgsl_property_test.ts). */
const GPU_REFUSALS = /must be a constant|need a constant size|bind blockIdx only|grid must depend/;

/** The call-time refusals of a loop whose variable or bounds would pass int32. */
const BIG_LOOP = /past int32|overflows int32 on the way/;

/** Whether `f` fails with a report of an out-of-bounds read; any other failure is thrown. */
async function reportsOob(f: () => unknown): Promise<boolean> {
  try {
    await f();
    return false;
  } catch (e) {
    if (e instanceof TesseraError && /out-of-bounds|out of bounds/.test(e.message)) return true;
    throw e;
  }
}

type Outcome = "lowering" | "run" | "inside" | "refused";

async function refusesConsistently(
  p: OobProgram,
  s: Schedule,
  log: string[],
  seed: number,
  target: keyof typeof RUNS,
): Promise<Outcome> {
  const what = () => [`program (${p.family}):`, ...p.text, "schedule:", ...log].join("\n  ") + "\n";
  const args = [...p.inputs, ...p.outputs];
  const opts = { target, checked: true };
  if (p.oob.when === "lower") {
    const name = `outside the declared shape of '${p.oob.tensor}'`;
    await assert.rejects(() => te.build(s, args, opts), (e: unknown) => {
      assert.ok(e instanceof TesseraError && e.message.includes(name), `${e}\n  ${what()}`);
      return true;
    });
    return "lowering";
  }
  let func;
  try {
    func = te.lower(s, args);
  } catch (e) {
    // Vectorizing a loop of symbolic extent, or double buffering a tile whose producer is
    // computed inside the same loop; anything else is a failure.
    if (e instanceof TesseraError && /not a constant|which is written inside/.test(e.message)) {
      return "refused";
    }
    throw new Error(`lowering failed: ${(e as Error).message}\n  ${what()}`);
  }
  const ins = randomInputs(p, seed);
  let defined: NDArray[] = [];
  const outside = await reportsOob(() => {
    defined = evalDirect(p.outputs, p.inputs.map((t, i) => [t, ins[i]]));
  });
  if (p.oob.when === "sizes") assert.ok(outside, `the sizes keep the read inside\n  ${what()}`);
  const want = poisoned(p);
  let interpreted: boolean;
  try {
    interpreted = await reportsOob(() => te.evaluate(func, [...ins, ...want]));
  } catch (e) {
    // A schedule with a loop past int32 (tests/gen/schedules.ts's big sizes) is refused at
    // the call, before any read: every target must refuse it the same way.
    if (!(e instanceof TesseraError && BIG_LOOP.test(e.message))) throw e;
    if (target !== "interpreter") {
      const k = await te.build(func, undefined, opts);
      await assert.rejects(async () => await k(...ins, ...poisoned(p)), BIG_LOOP);
    }
    return "refused";
  }
  assert.equal(interpreted, outside, `interpreter vs definition\n  ${what()}${func}`);
  let got = want, kernel: Awaited<ReturnType<typeof te.build>> | undefined;
  if (target !== "interpreter") {
    try {
      kernel = await te.build(func, undefined, opts);
    } catch (e) {
      if (target === "webgpu" && e instanceof TesseraError && GPU_REFUSALS.test(e.message)) {
        return "refused";
      }
      throw e;
    }
    got = poisoned(p);
    const reported = await reportsOob(() => kernel!(...ins, ...got));
    assert.equal(reported, outside, `${target} vs interpreter\n  ${what()}${func}`);
  }
  if (outside) return "run";
  got.forEach((o, i) => {
    const bad = closeEnough(o.toArray(), defined[i].toArray(), 1e-5);
    assert.equal(bad, null, `${target}: ${bad}\n  ${what()}${func}\n${kernel?.source ?? ""}`);
  });
  return "inside";
}

for (const target of ["interpreter", "c", "webgpu"] as const) {
  const runs = RUNS[target];
  Deno.test(`${target}: reads outside a declared shape are refused consistently (${runs} programs x schedules)`, async () => {
    if (target === "c") useTestCache();
    const seen: Record<Outcome, number> = { lowering: 0, run: 0, inside: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(1 << 20), { minLength: 20, maxLength: 120 }),
        fc.nat(),
        async (xs, seed) => {
          const c = new Choices(xs);
          const p = outOfBounds(c);
          const { s, log } = randomSchedule(p, c, target === "webgpu" ? "gpu" : "cpu");
          seen[await refusesConsistently(p, s, log, seed, target)]++;
        },
      ),
      propertyOptions(runs),
    );
    // Both ways of refusing must really occur (not a replayed single case).
    if (!Deno.env.get("TESSERA_PROPERTY_PATH")) {
      assert.ok(seen.lowering > runs * 0.2 && seen.run > runs * 0.2, JSON.stringify(seen));
      assert.ok(seen.refused < runs * 0.25, JSON.stringify(seen));
    }
  });
}
