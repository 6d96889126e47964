/**
 * The tuning command line: tunes standard workloads (the bench module's names and shapes)
 * on one target, appending every measured candidate to a records file, and prints the best
 * schedule found as code with its time against the seed (the default schedule).
 *
 *   deno task tune <workload> [--target c|webgpu] [--trials N] [--minutes M] [--records FILE]
 *                  [--quick] [--fresh] [--random] [--cold]
 *
 * <workload> is an operation ("matmul": each of its standard shapes), a label as the bench
 * prints it ("matmul 1024x1024x1024", "conv2d 1x64x56x56 k64 3x3 s1 p1"), or the path of a
 * module exporting a task (lib/tune/task.ts: `export const task = { args: [A, B, C] }`). --quick takes the
 * small shapes; --fresh measures anew instead of resuming from the records; --random ranks
 * candidates at random instead of with the cost model (the baseline the model must beat); --cold
 * times each candidate's single calls after a cache flush (as tune.model does on C) instead of a
 * hot loop. The records file
 * defaults to tune-<target>.jsonl; stopping (Ctrl-C) keeps everything measured.
 */
import { labelOf, standardWorkloads } from "../lib/bench/workload.ts";
import { tuneModule, tuneWorkload } from "../lib/tune/search.ts";

const argv = [...Deno.args];
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const flag = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) argv.splice(i, 1);
  return i >= 0;
};
const usage = "usage: deno task tune <workload> [--target c|webgpu] [--trials N] [--minutes M] " +
  "[--records FILE] [--quick] [--fresh] [--random] [--cold]";
const target = value("target") ?? "c";
const trials = Number(value("trials") ?? 64);
const minutes = value("minutes");
const records = value("records") ?? `tune-${target}.jsonl`;
const quick = flag("quick");
const fresh = flag("fresh");
const random = flag("random");
const cold = flag("cold");
const name = argv.join(" ").trim();
const all = [...standardWorkloads(false), ...standardWorkloads(true)];
const byOp = standardWorkloads(quick).filter((w) => w.op === name);
const chosen = byOp.length ? byOp : all.filter((w) => labelOf(w) === name).slice(0, 1);
// A module path that exports a task (lib/tune/task.ts) instead of a standard workload.
const module = /\.(ts|js|mts|mjs)$/.test(name) ? await Deno.realPath(name).catch(() => null) : null;
if (target !== "c" && target !== "webgpu") {
  console.error(`tune: --target must be c or webgpu, got ${target}\n${usage}`);
  Deno.exit(2);
}
if (!Number.isInteger(trials) || trials < 1) {
  console.error(`tune: --trials must be an integer >= 1\n${usage}`);
  Deno.exit(2);
}
if (/\.(ts|js|mts|mjs)$/.test(name) && module === null) {
  console.error(`tune: no task module at ${name}\n${usage}`);
  Deno.exit(2);
}
if (chosen.length === 0 && module === null) {
  console.error(
    `tune: no standard workload '${name}'; one of:\n${
      [...new Set(all.map((w) => `  ${w.op}`)), ...all.map((w) => `  ${labelOf(w)}`)].join("\n")
    }\n${usage}`,
  );
  Deno.exit(2);
}
const options = {
  target,
  trials,
  minutes: minutes ? Number(minutes) : undefined,
  records,
  resume: !fresh,
  model: !random,
  coldCache: cold,
} as const;
const runs = module
  ? [() => tuneModule(module, options)]
  : chosen.map((w) => () => tuneWorkload(w, options));
for (const tune of runs) {
  const r = await tune();
  console.log(`\n${r.label} on ${target}: ${r.total} trials, ${r.errors} failed`);
  if (!r.best) {
    console.log("no candidate ran correctly");
    continue;
  }
  const ratio = r.seedCost
    ? ` (${(r.seedCost / r.best.cost).toFixed(2)}x the default schedule)`
    : "";
  console.log(`best ${(r.best.cost * 1e3).toFixed(4)} ms${ratio}; records in ${records}`);
  console.log(
    `cost model held-out rank correlation: ${r.modelCorrelation?.toFixed(2) ?? "too few records"}`,
  );
  console.log(r.best.code);
}
