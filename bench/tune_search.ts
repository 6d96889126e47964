/**
 * Does the cost model pay in the search itself? The same search run twice per workload with
 * the same budget and seed, once ranking candidates with the model and once at random
 * (`model: false`), each into a fresh records file: the best found, its ratio to the seed
 * (the default schedule, measured in the same run), and the trial at which the search was
 * within 10% of its final best. Only ratios inside one run mean anything on a shared machine.
 *
 *   deno run -A bench/tune_search.ts [--target c|webgpu] [--trials N] [--quick]
 */
import { labelOf, type Workload } from "../lib/bench/workload.ts";
import { tuneWorkload } from "../lib/tune/search.ts";

const argv = Deno.args;
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const target = (value("target") ?? "c") as "c" | "webgpu";
const trials = Number(value("trials") ?? 48);
const quick = argv.includes("--quick");
const workloads: Workload[] = quick
  ? [
    { op: "matmul", m: 64, n: 64, k: 64 },
    { op: "conv2d", n: 1, c: 8, h: 14, w: 14, k: 8, r: 3, stride: 1, pad: 1 },
  ]
  : [
    { op: "matmul", m: 128, n: 128, k: 128 },
    { op: "conv2d", n: 1, c: 16, h: 28, w: 28, k: 16, r: 3, stride: 1, pad: 1 },
    { op: "batch_matmul", batch: 4, m: 64, n: 64, k: 64 },
  ];

const dir = await Deno.makeTempDir();
const rows: string[][] = [];
for (const w of workloads) {
  for (const model of [true, false]) {
    const records = `${dir}/${w.op}_${model}.jsonl`;
    const r = await tuneWorkload(w, { target, trials, records, progress: false, model });
    if (!r.best || r.seedCost === null) {
      rows.push([labelOf(w), model ? "model" : "random", "—", "—", "—", "—"]);
      continue;
    }
    const final = r.best.cost;
    const within = r.history.find((h) => h.bestMs <= (final * 1e3) / 0.9)?.trial ?? r.total;
    rows.push([
      labelOf(w),
      model ? "model" : "random",
      (final * 1e3).toFixed(4),
      (r.seedCost / final).toFixed(2),
      String(within),
      r.modelCorrelation?.toFixed(2) ?? "—",
    ]);
    console.error(`${labelOf(w)} (${model ? "model" : "random"}): done`);
  }
}
await Deno.remove(dir, { recursive: true });
const head = ["workload", "ranking", "best ms", "× seed", "trial within 10%", "held-out ρ"];
console.log(`target ${target}, ${trials} trials each`);
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map(() => "---").join("|")}|`);
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
