/**
 * The tuner's foundations (lib/tune/): traces record any schedule a user or a generator can
 * make, replay to the same loop program, and print as code that records the same trace back;
 * workload keys ignore names and nothing else; records files survive torn lines, other
 * versions and garbage.
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { te, TesseraError } from "../mod.ts";
import type { Schedule } from "../mod.ts";
import { applyTrace, printTrace, recording, type Trace, traceOfCode } from "../lib/tune/trace.ts";
import { canonicalDag, targetKey, workloadKey } from "../lib/tune/key.ts";
import {
  best,
  costOf,
  parseRecords,
  pooledTraces,
  readRecords,
  RecordWriter,
  SPACE_VERSION,
  type TuneRecord,
} from "../lib/tune/records.ts";
import { Choices, propertyOptions } from "./gen/choices.ts";
import { argsOf, randomProgram } from "./gen/programs.ts";
import { randomSchedule } from "./gen/schedules.ts";

const lowered = (s: Schedule, args: Parameters<typeof te.lower>[1]) => {
  try {
    return String(te.lower(s, args));
  } catch (e) {
    if (e instanceof TesseraError) return `refused: ${e.message}`;
    throw e;
  }
};

for (const target of ["cpu", "gpu"] as const) {
  Deno.test(`a recorded ${target} schedule replays to the same program and prints as code that records it back`, () => {
    let steps = 0;
    fc.assert(
      fc.property(fc.array(fc.nat(1 << 20), { minLength: 20, maxLength: 120 }), (xs) => {
        const c = new Choices(xs);
        const p = randomProgram(c);
        let trace: Trace = [];
        let original: Schedule | null = null;
        const { log } = randomSchedule(p, c, target, (s) => {
          original = s;
          const r = recording(s);
          trace = r.trace;
          return r.schedule;
        });
        steps += trace.length;
        const args = argsOf(p);
        const why = `schedule:\n${log.join("\n")}\ntrace ${JSON.stringify(trace)}`;
        const replayed = applyTrace(te.createSchedule(p.outputs), trace);
        assert.equal(lowered(replayed, args), lowered(original!, args), why);
        const { code, tensors } = printTrace(te.createSchedule(p.outputs), trace);
        const back = traceOfCode(te.createSchedule(p.outputs), code, tensors);
        assert.deepEqual(back, trace, `${why}\ncode:\n${code}`);
      }),
      propertyOptions(150),
    );
    assert.ok(steps > 150, `the schedules recorded only ${steps} steps`);
  });
}

function mm(names: [string, string, string], m: number, dtype: "float32" | "float16" = "float32") {
  const n = te.var(names[0]);
  const A = te.placeholder([n, 16], dtype, names[1]);
  const B = te.placeholder([16, m], dtype, names[2]);
  const k = te.reduceAxis([0, 16], `k${names[0]}`);
  return te.compute([n, m], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), `C${names[1]}`);
}

Deno.test("a workload key counts shapes, dtypes and structure, not names", () => {
  const key = workloadKey([mm(["n", "A", "B"], 8)]);
  assert.equal(workloadKey([mm(["rows", "X", "W"], 8)]), key);
  assert.notEqual(workloadKey([mm(["n", "A", "B"], 9)]), key);
  assert.notEqual(workloadKey([mm(["n", "A", "B"], 8, "float16")]), key);
  const A = te.placeholder([4, 16], "float32", "A"), B = te.placeholder([16, 8], "float32", "B");
  const k = te.reduceAxis([0, 16], "k");
  const maxPlus = te.compute([4, 8], (i, j) => te.max(A(i, k).add(B(k, j)), [k]), "C");
  assert.notEqual(workloadKey([maxPlus]), workloadKey([mm(["n", "A", "B"], 8)]));
  assert.doesNotMatch(canonicalDag([mm(["rows", "X", "W"], 8)]), /rows|X|W/);
});

Deno.test("a target key is the same for the same facts in any order, and differs otherwise", () => {
  const a = targetKey({ target: "webgpu", adapter: "llvmpipe", limits: { x: 1, y: 2 } });
  assert.equal(targetKey({ limits: { y: 2, x: 1 }, adapter: "llvmpipe", target: "webgpu" }), a);
  assert.notEqual(targetKey({ target: "webgpu", adapter: "llvmpipe", limits: { x: 1, y: 3 } }), a);
  assert.match(a, /^webgpu-[0-9a-f]{16}$/);
});

const rec = (
  workload: string,
  costs: number[],
  error?: string,
  stage = 0,
): Omit<TuneRecord, "format" | "version" | "time"> => ({
  workload,
  target: "c-test",
  trace: [{ p: "parallel", s: stage, a: 0 }],
  costs,
  ...(error ? { error } : {}),
});

Deno.test("records: torn lines, other versions and garbage are skipped with warnings, never fatal", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/r.jsonl`;
  const w = await RecordWriter.open(path);
  await w.append(rec("w1", [3e-3, 2e-3, 4e-3], undefined, 0));
  await w.append(rec("w1", [1e-3], undefined, 1));
  await w.append(rec("w1", [], "timed out after 10 s", 2));
  w.close();
  // A foreign version, garbage, then a write torn by a kill.
  const foreign = JSON.stringify({
    ...JSON.parse((await Deno.readTextFile(path)).split("\n")[0]),
    version: SPACE_VERSION + 1,
  });
  await Deno.writeTextFile(path, `${foreign}\nnot json at all\n{"format":"tessera-tune","ver`, {
    append: true,
  });
  // The next writer starts a fresh line, so the torn one stays one bad line.
  const w2 = await RecordWriter.open(path);
  await w2.append(rec("w2", [5e-3]));
  w2.close();
  const { records, warnings } = await readRecords(path);
  assert.deepEqual(records.map((r) => r.workload), ["w1", "w1", "w1", "w2"]);
  assert.equal(warnings.length, 3, warnings.join("\n"));
  assert.match(warnings.join("\n"), /version/);
  assert.match(warnings.join("\n"), /not JSON/);
  assert.equal(best(records, "w1", "c-test")?.costs[0], 1e-3);
  assert.equal(best(records, "w1", "c-other"), null);
  // A file that ends torn reports that, too.
  assert.match(parseRecords('{"a":').warnings[0], /torn last line/);
  assert.deepEqual(await readRecords(`${dir}/absent.jsonl`), { records: [], warnings: [] });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("records.best judges a trace on all its measurements and prefers traces measured twice", () => {
  const at = (r: Omit<TuneRecord, "format" | "version" | "time">): TuneRecord => ({
    format: "tessera-tune",
    version: SPACE_VERSION,
    time: "",
    ...r,
  });
  // Trace 0 was lucky once (1 ms) and 3 ms when timed again; trace 1 was 2 ms twice; trace 2,
  // timed once, looks fastest; trace 3 failed once after a fast run.
  const records = [
    at(rec("w", [1e-3, 1e-3, 1e-3], undefined, 0)),
    at(rec("w", [2e-3, 2e-3, 2e-3], undefined, 1)),
    at(rec("w", [0.5e-3, 0.5e-3], undefined, 2)),
    at(rec("w", [0.1e-3], undefined, 3)),
    at(rec("w", [3e-3, 3e-3, 3e-3, 3e-3], undefined, 0)),
    at(rec("w", [2e-3, 2e-3, 2e-3], undefined, 1)),
    at(rec("w", [], "run: wrong result: output 0", 3)),
  ];
  const pooled = pooledTraces(records, "w", "c-test");
  assert.deepEqual(pooled.map((p) => [p.trace[0].s, p.runs, p.cost]), [
    [0, 2, 3e-3],
    [1, 2, 2e-3],
    [2, 1, 0.5e-3],
    [3, 2, Infinity],
  ]);
  const top = best(records, "w", "c-test")!;
  assert.equal(top.trace[0].s, 1, "the confirmed 2 ms trace, not the lucky or the unconfirmed");
  assert.equal(top.costs.length, 6);
  assert.equal(costOf(top), 2e-3);
  // With no trace measured twice, the fastest single measurement is the best there is.
  assert.equal(best(records.slice(0, 4), "w", "c-test")!.trace[0].s, 3);
  assert.equal(best(records.slice(6), "w", "c-test"), null);
});
