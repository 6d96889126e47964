/**
 * The benchmark result file: one JSON document per run, holding every sample, the statistics,
 * the roofline and a record of the machine, so that a run can be read, charted and compared
 * months later. The zod schema is the single definition of the format (the TypeScript types
 * are inferred from it), and reading a file validates it: a truncated or hand-edited file
 * gives an error that names the field, not a crash somewhere in a chart. Every derived number
 * (statistics, GFLOP/s, GB/s, ratios, a check's verdict) is recomputed from what it came from
 * and must agree, and a (group, name) pair appears once, so a file cannot claim what its own
 * samples contradict, and a comparison cannot pick one of two cases silently.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";
import { pairedRatio, summarize } from "./stats.ts";

export const FORMAT = "tessera-bench";
export const VERSION = 1;

const finite = z.number().refine(Number.isFinite, "expected a finite number");
const positive = finite.refine((x) => x > 0, "expected a positive number");

const summary = z.object({
  n: z.number().int().positive(),
  min: positive,
  max: positive,
  mean: positive,
  median: positive,
  q1: positive,
  q3: positive,
  iqr: finite.nonnegative(),
  outliers: z.object({ low: z.array(finite), high: z.array(finite) }),
});

const ratio = z.object({
  /** The case this one is measured against (same group, same rounds). */
  vs: z.string(),
  /** How many times faster this case is than `vs`: per-round ratios, median and quartiles. */
  median: positive,
  q1: positive,
  q3: positive,
});

export const caseResultSchema = z.object({
  group: z.string(),
  name: z.string().min(1),
  status: z.enum(["ok", "skipped", "failed"]),
  /** Why a case was skipped or failed. */
  reason: z.string().optional(),
  device: z.enum(["cpu", "webgpu"]).optional(),
  flops: finite.nonnegative().optional(),
  bytes: finite.nonnegative().optional(),
  baseline: z.boolean().optional(),
  /** Calls per sample (short calls are timed in batches). */
  number: z.number().int().positive().optional(),
  /** Seconds per call, one per sample, in the order taken. */
  samples: z.array(positive),
  stats: summary.optional(),
  /** GFLOP/s and GB/s at the median. */
  gflops: finite.nonnegative().optional(),
  gbs: finite.nonnegative().optional(),
  ratio: ratio.optional(),
  /**
   * The result checked against a reference: the largest relative error and the tolerance it
   * was held to, whether it passed, and why not when there is no error to show (the check
   * gave NaN, Infinity or no number at all: a NaN in the result, a length mismatch).
   */
  check: z.object({
    ok: z.boolean(),
    error: finite.nonnegative().optional(),
    tolerance: finite.nonnegative().optional(),
    reason: z.string().optional(),
  }).superRefine((k, ctx) => {
    if (k.error === undefined && (k.ok || !k.reason)) {
      const message = k.ok
        ? "a passed check needs its error"
        : "a failed check needs its error or a reason";
      ctx.addIssue({ code: "custom", path: ["error"], message });
    }
    if (k.error !== undefined && k.tolerance !== undefined && k.ok !== k.error <= k.tolerance) {
      ctx.addIssue({
        code: "custom",
        path: ["ok"],
        message: `ok is ${k.ok} but the error ${k.error} is ${
          k.ok ? "over" : "within"
        } the tolerance ${k.tolerance}`,
      });
    }
  }).optional(),
}).superRefine((c, ctx) => {
  if (c.status === "ok" && !c.stats) {
    ctx.addIssue({ code: "custom", path: ["stats"], message: "a case with status ok needs stats" });
  }
  if (c.status !== "ok" && !c.reason) {
    ctx.addIssue({
      code: "custom",
      path: ["reason"],
      message: `a ${c.status} case needs a reason`,
    });
  }
  if (!c.stats) return;
  const s = summarize(c.samples);
  for (const k of ["n", "min", "max", "mean", "median", "q1", "q3", "iqr"] as const) {
    disagree(ctx, ["stats", k], c.stats[k], s[k], "the samples");
  }
  if (JSON.stringify(c.stats.outliers) !== JSON.stringify(s.outliers)) {
    ctx.addIssue({
      code: "custom",
      path: ["stats", "outliers"],
      message: `do not match the samples' (${JSON.stringify(s.outliers)})`,
    });
  }
  if (c.gflops !== undefined && c.flops !== undefined) {
    disagree(ctx, ["gflops"], c.gflops, c.flops / s.median / 1e9, "flops / median");
  }
  if (c.gbs !== undefined && c.bytes !== undefined) {
    disagree(ctx, ["gbs"], c.gbs, c.bytes / s.median / 1e9, "bytes / median");
  }
});

/** Adds an issue when a recorded number is not the one recomputed from its source. */
function disagree(
  ctx: z.RefinementCtx,
  path: (string | number)[],
  recorded: number,
  recomputed: number,
  from: string,
): void {
  const close = recorded === recomputed ||
    Math.abs(recorded - recomputed) <= 1e-12 * Math.max(Math.abs(recorded), Math.abs(recomputed));
  if (!close) {
    ctx.addIssue({
      code: "custom",
      path,
      message: `is ${recorded}, but ${from} give ${recomputed}`,
    });
  }
}

const peak = z.object({
  /** Attainable GFLOP/s, from a Tessera-generated FMA-bound kernel. */
  gflops: positive,
  /** Attainable GB/s, from a Tessera-generated stream kernel. */
  gbs: positive,
  /** What was run to measure them, in words. */
  method: z.string(),
});

export const envSchema = z.object({
  date: z.string(),
  os: z.string(),
  arch: z.string(),
  cpu: z.string(),
  cores: z.number().int().positive(),
  memoryGiB: finite.optional(),
  deno: z.string(),
  v8: z.string(),
  typescript: z.string(),
  tessera: z.object({ commit: z.string(), dirty: z.boolean() }).nullable(),
  compiler: z.object({ path: z.string(), version: z.string(), flags: z.array(z.string()) })
    .nullable(),
  webgpu: z.union([
    z.object({
      adapter: z.string(),
      features: z.array(z.string()),
      limits: z.record(z.string(), z.number()),
    }),
    z.object({ unavailable: z.string() }),
  ]),
  libraries: z.record(z.string(), z.string()),
  /** Per peer: its library's version, the core it runs, its threads, what was tuned. */
  peers: z.record(z.string(), z.record(z.string(), z.union([z.string(), z.number()]))).optional(),
  command: z.array(z.string()),
});

export const resultSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(VERSION),
  suite: z.string(),
  env: envSchema,
  /** The options the suite ran with, and the seed of its inputs. */
  options: z.record(z.string(), z.unknown()),
  cases: z.array(caseResultSchema),
  roofline: z.object({ cpu: peak.optional(), webgpu: peak.optional() }).optional(),
}).superRefine((r, ctx) => {
  const seen = new Map<string, number>();
  r.cases.forEach((c, i) => {
    const key = `${c.group}\0${c.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["cases", i, "name"],
        message:
          `"${c.name}" in group "${c.group}" is already cases[${first}]; a pair appears once`,
      });
    } else seen.set(key, i);
  });
  r.cases.forEach((c, i) => {
    if (!c.ratio) return;
    const base = r.cases.find((b) => b.group === c.group && b.name === c.ratio!.vs);
    if (!base) {
      const message = `names "${c.ratio.vs}", which is not a case of group "${c.group}"`;
      ctx.addIssue({ code: "custom", path: ["cases", i, "ratio", "vs"], message });
      return;
    }
    const want = pairedRatio(base.samples, c.samples);
    for (const k of ["median", "q1", "q3"] as const) {
      disagree(ctx, ["cases", i, "ratio", k], c.ratio[k], want[k], "the paired samples");
    }
  });
});

export type CaseResult = z.infer<typeof caseResultSchema>;
export type EnvRecord = z.infer<typeof envSchema>;
export type Peak = z.infer<typeof peak>;
export type ResultRecord = z.infer<typeof resultSchema>;

/** `cases[3].stats.median` from zod's path. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    out += typeof p === "number" ? `[${p}]` : `${out ? "." : ""}${String(p)}`;
  }
  return out || "(the document)";
}

/** Validates a parsed result; `where` names the source in the error (a file path). */
export function parseResult(json: unknown, where = "benchmark result"): ResultRecord {
  const r = resultSchema.safeParse(json);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 3).map((i) => `${fieldPath(i.path)}: ${i.message}`);
  const more = r.error.issues.length > 3 ? ` (and ${r.error.issues.length - 3} more)` : "";
  throw new TesseraError(
    `${where} is not a valid ${FORMAT} v${VERSION} result: ${issues.join("; ")}${more}`,
  );
}

/** Reads and validates a result file. */
export async function readResult(path: string): Promise<ResultRecord> {
  let text: string;
  try {
    // A byte-order mark (some editors write one) is not part of the JSON.
    text = (await Deno.readTextFile(path)).replace(/^\uFEFF/, "");
  } catch (e) {
    throw new TesseraError(`cannot read benchmark result ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TesseraError(
      `${path} is not JSON (truncated or corrupted?): ${(e as Error).message}`,
    );
  }
  return parseResult(json, path);
}

/** Writes a result as indented JSON, through a temporary file so a reader never sees half of it. */
export async function writeResult(path: string, result: ResultRecord): Promise<void> {
  parseResult(result, "the result being written");
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(result, null, 1) + "\n");
    await Deno.rename(tmp, path);
  } finally {
    await Deno.remove(tmp).catch(() => {}); // left only when the write or rename failed
  }
}
