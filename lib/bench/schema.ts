/**
 * The benchmark result file: one JSON document per run, holding every sample, the statistics,
 * the roofline and a record of the machine, so that a run can be read, charted and compared
 * months later. The zod schema is the single definition of the format (the TypeScript types
 * are inferred from it), and reading a file validates it: a truncated or hand-edited file
 * gives an error that names the field, not a crash somewhere in a chart.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";

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
  /** The result checked against a reference: the largest relative error, and whether it passed. */
  check: z.object({ ok: z.boolean(), error: z.number().optional() }).optional(),
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
});

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
    text = await Deno.readTextFile(path);
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
  await Deno.writeTextFile(tmp, JSON.stringify(result, null, 1) + "\n");
  await Deno.rename(tmp, path);
}
