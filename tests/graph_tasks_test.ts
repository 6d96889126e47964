/**
 * Task extraction: a model's distinct fused programs, with counts that add up to its kernels,
 * work figures, and workload keys that graph.build finds records under.
 */
import assert from "node:assert/strict";
import { graph } from "../mod.ts";
import { extractTasks } from "../lib/graph/tasks.ts";
import { defaultSchedule } from "../lib/tune/default.ts";
import { targetKey } from "../lib/tune/key.ts";
import { targetFacts } from "../lib/tune/target.ts";
import { RECORD_FORMAT, SPACE_VERSION, type TuneRecord } from "../lib/tune/records.ts";
import { reseed, resnet18 } from "./graph_models.ts";

Deno.test("tasks: ResNet's repeated blocks are one task each, keyed as records are", async () => {
  reseed();
  const g = resnet18(32, [8, 8, 16, 16], 10);
  const tasks = extractTasks(g, { sizes: { n: 1 } });
  const exe = await graph.build(g, { target: "interpreter", sizes: { n: 1 } });
  assert.equal(tasks.reduce((a, t) => a + t.count, 0), exe.kernels.length);
  assert.ok(tasks.length < exe.kernels.length, "repeated blocks share a task");
  assert.ok(tasks.some((t) => t.count > 1));
  const weight = (t: (typeof tasks)[number]) => (t.flops ?? t.bytes) * t.count;
  for (let i = 1; i < tasks.length; i++) assert.ok(weight(tasks[i - 1]) >= weight(tasks[i]));
  assert.ok(tasks.every((t) => t.bytes > 0));
  // A record filed under a task's key is used for every group running it.
  const top = tasks[0];
  const { trace } = await defaultSchedule(top.outputs, "c");
  const record: TuneRecord = {
    format: RECORD_FORMAT,
    version: SPACE_VERSION,
    workload: top.workload,
    target: targetKey(await targetFacts("c")),
    trace,
    costs: [1e-3],
    time: new Date(0).toISOString(),
  };
  const tuned = await graph.build(g, { target: "interpreter", sizes: { n: 1 }, records: [record] });
  assert.equal(tuned.kernels.filter((k) => k.schedule === "records").length, top.count);
});
