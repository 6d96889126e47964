/**
 * `tune.validateModel`: keeps a model's tuning records only where they hold inside the model.
 * A group is tuned alone, and what is fastest alone need not be fastest between the model's
 * other kernels (its weights cold, its input just written, the caches shared): on a Zen 5,
 * of 31 ResNet-18 and BERT groups tuned with cold timing, three records beat their default
 * schedules inside the model by 3% or more, and BERT's GELU matmul record, 14% faster alone,
 * ran 4% slower there. This builds the model twice in one process, with default schedules and
 * with the records, profiles the two alternately (`exe.profile`, so every kernel is timed in
 * place), and writes a copy of the records file without the records of the groups whose
 * kernels did not run at least `margin` faster with them. Records of workloads that are not
 * in the model pass through untouched.
 */
import { TesseraError } from "../error.ts";
import { buildGraph, type GraphExecutable } from "../graph/build.ts";
import { groupProgram } from "../graph/fusedProgram.ts";
import type { Graph } from "../graph/ir.ts";
import { NDArray } from "../runtime/ndarray.ts";
import { progress, type ProgressMode } from "../display/progress.ts";
import { workloadKey } from "./key.ts";
import { seededRandom } from "./decisions.ts";
import { median } from "../bench/stats.ts";

export interface ValidateOptions {
  /** The records to validate (JSON lines, as tune.model writes them). */
  records: string;
  /** Where the kept records go (may not be `records`). */
  out: string;
  /** Alternating rounds of profiling (default 7), each of `runs` inferences per build (15). */
  rounds?: number;
  runs?: number;
  /** How much faster a group must run with its records to keep them (default 0.03). */
  margin?: number;
  /** Values of the graph's symbolic sizes (as graph.build takes them). */
  sizes?: Record<string, number>;
  progress?: ProgressMode | false;
}

export interface ValidatedGroup {
  workload: string;
  label: string;
  /** Kernels of the model running this program. */
  count: number;
  /** Their summed medians inside the model, ms: with default schedules, with the records. */
  defaultMs: number;
  recordsMs: number;
  kept: boolean;
}

export interface ValidateResult {
  /** Groups built from records, slowest first by default time. */
  groups: ValidatedGroup[];
  /** Median whole inferences, ms (default schedules, records), timed in the same rounds. */
  defaultMs: number;
  recordsMs: number;
  /** Lines written to `out`, and lines of model groups left out. */
  written: number;
  removed: number;
}

/** Seeded inputs in [-0.5, 0.5) for every graph input (float32). */
function inputsFor(exe: GraphExecutable, sizes: Record<string, number>): NDArray[] {
  const random = seededRandom(1);
  return exe.graph.inputs.map((v) => {
    const shape = v.shape.map((d) => typeof d === "number" ? d : sizes[d]);
    if (v.dtype !== "float32" || shape.some((d) => !Number.isInteger(d))) {
      throw new TesseraError(
        `tune.validateModel: input ${v.name} (${v.dtype}, [${v.shape}]) needs float32 and ` +
          `known sizes (pass sizes for symbolic ones)`,
      );
    }
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, () => random() - 0.5);
    return new NDArray(shape as number[], "float32", data);
  });
}

export async function validateModel(g: Graph, opts: ValidateOptions): Promise<ValidateResult> {
  const rounds = opts.rounds ?? 7, runs = opts.runs ?? 15, margin = opts.margin ?? 0.03;
  const bad = (what: string, got: unknown) => {
    throw new TesseraError(`tune.validateModel: ${what}, got ${String(got)}`);
  };
  if (typeof opts?.records !== "string" || opts.records === "") {
    bad("records must be a records file path", opts?.records);
  }
  if (typeof opts.out !== "string" || opts.out === "" || opts.out === opts.records) {
    bad("out must be a file path other than records", opts.out);
  }
  if (!(Number.isInteger(rounds) && rounds >= 1)) bad("rounds must be an integer >= 1", rounds);
  if (!(Number.isInteger(runs) && runs >= 1)) bad("runs must be an integer >= 1", runs);
  if (!(margin >= 0 && margin < 1)) bad("margin must be in [0, 1)", margin);
  const lines = (await Deno.readTextFile(opts.records)).split("\n").filter((l) => l.trim());
  const sizes = opts.sizes ?? {};
  const base = await buildGraph(g, { target: "c", sizes });
  const tuned = await buildGraph(g, { target: "c", sizes, records: opts.records });
  const inputs = inputsFor(tuned, sizes);
  const show = opts.progress === false ? null : progress(
    `tune.validateModel ${g.name}`,
    rounds,
    opts.progress ? { mode: opts.progress } : {},
  );
  const kernelMs = [new Map<string, number[]>(), new Map<string, number[]>()];
  const wholeMs: number[][] = [[], []];
  for (let r = 0; r < rounds; r++) {
    show?.update(r, `round ${r + 1} of ${rounds}`);
    for (const [i, exe] of [base, tuned].entries()) {
      const p = await exe.profile(inputs, { runs });
      for (const row of p.rows) {
        kernelMs[i].set(row.kernel, [...(kernelMs[i].get(row.kernel) ?? []), row.ms]);
      }
      const t0 = performance.now();
      for (let k = 0; k < runs; k++) await exe.run(inputs);
      wholeMs[i].push((performance.now() - t0) / runs);
    }
  }
  await show?.done(`${rounds} rounds`);
  const groups = new Map<string, ValidatedGroup>();
  for (const k of tuned.kernels) {
    if (k.schedule !== "records") continue;
    const workload = workloadKey(groupProgram(k.group).outputs);
    const name = k.func.name;
    const g0 = groups.get(workload) ??
      { workload, label: k.group.name, count: 0, defaultMs: 0, recordsMs: 0, kept: false };
    g0.count++;
    g0.defaultMs += median(kernelMs[0].get(name) ?? [NaN]);
    g0.recordsMs += median(kernelMs[1].get(name) ?? [NaN]);
    groups.set(workload, g0);
  }
  for (const v of groups.values()) v.kept = v.recordsMs <= (1 - margin) * v.defaultMs;
  const out = lines.filter((l) => {
    let w: unknown;
    try {
      w = JSON.parse(l).workload;
    } catch {
      return false; // a torn or corrupt line (readRecords warned about it when building)
    }
    return groups.get(w as string)?.kept ?? true;
  });
  await Deno.writeTextFile(opts.out, out.map((l) => l + "\n").join(""));
  return {
    groups: [...groups.values()].sort((a, b) => b.defaultMs - a.defaultMs),
    defaultMs: median(wholeMs[0]),
    recordsMs: median(wholeMs[1]),
    written: out.length,
    removed: lines.length - out.length,
  };
}
