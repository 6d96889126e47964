/**
 * Where a model's time goes: each distinct fused group of a bench model (bench/models.ts)
 * built alone with the schedule graph.build would give it (the best record with --records,
 * else the default schedule), checked against the interpreter, and timed with the kernel's
 * timeEvaluator; the table lists the groups by total time (count x median), with their
 * GFLOP/s and share of the sum. The sum approximates one inference (graph.build adds only
 * the driver's calls). Only ratios within one run mean anything on a loaded machine.
 *
 *   deno run -A bench/model_kernels.ts [--model mlp|resnet|bert] [--quick] [--records FILE]
 */
import { nd, nn, te } from "../mod.ts";
import { extractTasks } from "../lib/graph/tasks.ts";
import { weightBlockFor } from "../lib/graph/pipeline.ts";
import { NDArray } from "../lib/runtime/ndarray.ts";
import { modelSpecs } from "./models.ts";

const arg = (name: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const which = arg("model") ?? "resnet";
const records = arg("records");
const quick = Deno.args.includes("--quick");
const spec = modelSpecs(quick).find((m) => m.label.toLowerCase().includes(which));
if (!spec) {
  console.error(`model_kernels: --model is mlp, resnet or bert, got ${which}`);
  Deno.exit(2);
}
const { graph: g } = spec.make().exportGraph({ forward: { x: nn.spec.tensor(spec.shape) } }, {
  seed: 0,
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const rows = [];
for (const t of extractTasks(g, { block: await weightBlockFor("c") })) {
  const args = [...t.inputs, ...t.outputs];
  const f = await te.build(t.outputs, args, {
    target: "c",
    ...(records ? { records } : { schedule: "auto" as const }),
  });
  const ref = await te.build(te.createSchedule(t.outputs), args, { target: "interpreter" });
  const arrays = (fill: boolean) =>
    args.map((x, k) => {
      const shape = x.shape.map((d) => (d as { value: number }).value);
      const n = shape.reduce((a, b) => a * b, 1);
      if (x.dtype !== "float32" || k >= t.inputs.length || !fill) return nd.empty(shape, x.dtype);
      return new NDArray(shape, "float32", Float32Array.from({ length: n }, (_, i) => Math.sin(i)));
    });
  const a = arrays(true);
  const b = [...a.slice(0, t.inputs.length), ...arrays(false).slice(t.inputs.length)];
  await f(...a);
  if (quick || (t.flops ?? 0) < 5e7) {
    // The interpreter is slow: only small groups are checked against it.
    await ref(...b);
    for (let k = t.inputs.length; k < a.length; k++) {
      const p = Array.from(a[k].toArray(), Number), q = Array.from(b[k].toArray(), Number);
      const err = p.reduce((m, v, i) => Math.max(m, Math.abs(v - q[i]) / (1 + Math.abs(q[i]))), 0);
      if (!(err < 1e-3)) throw new Error(`${t.group.name}: wrong result (error ${err})`);
    }
  }
  const r = await f.timeEvaluator({ repeat: 5, minRepeatMs: 20 })(...a);
  const ms = median(r.results) * 1e3;
  rows.push({
    group: t.group.name,
    out: t.outputs[0].shape.map(String).join("x"),
    count: t.count,
    "ms each": +ms.toFixed(3),
    "ms total": +(ms * t.count).toFixed(3),
    "GFLOP/s": t.flops === null ? null : +(t.flops / ms / 1e6).toFixed(2),
  });
}
rows.sort((p, q) => q["ms total"] - p["ms total"]);
const sum = rows.reduce((s, r) => s + r["ms total"], 0);
console.log(`${spec.label} (${records ? `records ${records}` : "default schedules"}, C)`);
console.table(rows.map((r) => ({ ...r, share: `${(100 * r["ms total"] / sum).toFixed(1)}%` })));
console.log(`sum of kernels: ${sum.toFixed(2)} ms`);
