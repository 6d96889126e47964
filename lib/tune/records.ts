/**
 * Tuning records: one JSON line per measured candidate, appended and flushed to disk before
 * the next is measured, so that a tuner killed at any moment loses at most the candidate in
 * flight and a rerun resumes from the file (TVM's and Ansor's log files work the same way).
 * Reading never fails on a bad line: a torn last line (the process died mid-write), a line
 * from another version of the search space or another machine, or garbage is skipped and
 * reported as a warning. `best` is TVM's "apply history best": the fastest correct record for
 * a workload on a target.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";
import { median } from "../bench/stats.ts";
import type { Trace } from "./trace.ts";

export const RECORD_FORMAT = "tessera-tune";
/** Changes when the trace vocabulary or its meaning changes; older records are skipped. */
export const SPACE_VERSION = 1;

export interface TuneRecord {
  format: typeof RECORD_FORMAT;
  version: number;
  workload: string;
  target: string;
  trace: Trace;
  /** Seconds per call, one per measurement; empty when the candidate failed. */
  costs: number[];
  /** Why the candidate failed (compile error, crash, timeout, wrong result), when it did. */
  error?: string;
  /** When it was measured (ISO 8601). */
  time: string;
  /** The search space's decisions that made the trace, when it came from the rules. */
  decisions?: Record<string, number | boolean | string>;
  /** What the task is (a standard workload's fields), so that neighbouring shapes can seed. */
  task?: Record<string, number | string>;
}

const recordSchema = z.object({
  format: z.literal(RECORD_FORMAT),
  version: z.number().int(),
  workload: z.string().min(1),
  target: z.string().min(1),
  trace: z.array(z.object({ p: z.string(), s: z.number().int().nonnegative() }).passthrough()),
  costs: z.array(z.number().positive().finite()),
  error: z.string().optional(),
  time: z.string(),
  decisions: z.record(z.string(), z.union([z.number(), z.boolean(), z.string()])).optional(),
  task: z.record(z.string(), z.union([z.number(), z.string()])).optional(),
});

export interface ReadResult {
  records: TuneRecord[];
  /** One line per skipped line: where and why. */
  warnings: string[];
}

/** Parses a records file's text; every bad line becomes a warning, none an error. */
export function parseRecords(text: string, where = "records"): ReadResult {
  const records: TuneRecord[] = [];
  const warnings: string[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const at = `${where}:${i + 1}`;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      const last = i === lines.length - 1 || lines.slice(i + 1).every((l) => l.trim() === "");
      warnings.push(
        `${at}: ${last ? "a torn last line (an interrupted write)" : "not JSON"}; skipped`,
      );
      return;
    }
    const r = recordSchema.safeParse(json);
    if (!r.success) {
      const issue = r.error.issues[0];
      warnings.push(`${at}: not a record (${issue.path.join(".")}: ${issue.message}); skipped`);
      return;
    }
    if (r.data.version !== SPACE_VERSION) {
      warnings.push(
        `${at}: search space version ${r.data.version}, this Tessera reads ${SPACE_VERSION}; skipped`,
      );
      return;
    }
    records.push(r.data as TuneRecord);
  });
  return { records, warnings };
}

export async function readRecords(path: string): Promise<ReadResult> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { records: [], warnings: [] };
    throw new TesseraError(`records: cannot read ${path}: ${(e as Error).message}`);
  }
  return parseRecords(text, path);
}

/** Median of a record's costs (the bench module's statistics), or Infinity for a failed one. */
export function costOf(r: TuneRecord): number {
  if (r.error !== undefined || r.costs.length === 0) return Infinity;
  return median(r.costs);
}

/**
 * A trace's measurements pooled across the records that measured it: a trace measured again
 * (a search's confirmation round, a resumed run) is judged on all its measurements, never on
 * its luckiest. One failed measurement (a crash, a timeout, a wrong result) fails the trace.
 */
export interface PooledTrace {
  trace: Trace;
  /** Every measurement of the trace, in the order of the records. */
  costs: number[];
  /** How many records measured it (each a separate batch of measurements). */
  runs: number;
  /** The median of `costs`, or Infinity when any record of it failed. */
  cost: number;
  /** Its last record. */
  record: TuneRecord;
}

export function pooledTraces(
  records: TuneRecord[],
  workload: string,
  target: string,
): PooledTrace[] {
  const byTrace = new Map<string, PooledTrace>();
  for (const r of records) {
    if (r.workload !== workload || r.target !== target) continue;
    const key = JSON.stringify(r.trace);
    const p = byTrace.get(key) ?? { trace: r.trace, costs: [], runs: 0, cost: 0, record: r };
    pool(p, r);
    p.record = r;
    byTrace.set(key, p);
  }
  return [...byTrace.values()];
}

/** Adds record `r`'s measurements to a trace's pooled ones (`runs` 0 and `cost` 0 to start). */
export function pool(p: { costs: number[]; runs: number; cost: number }, r: TuneRecord): void {
  p.costs.push(...r.costs);
  p.runs++;
  p.cost = p.cost === Infinity || costOf(r) === Infinity ? Infinity : median(p.costs);
}

/**
 * The fastest correct trace of `workload` on `target` as one record carrying all of its
 * measurements, or null. Traces measured in two or more batches (confirmed: a search times
 * its leaders again at the end) come first: the fastest of many candidates each timed once
 * is likely one timed in a lucky moment, and the records file is where that luck would stay.
 */
export function best(records: TuneRecord[], workload: string, target: string): TuneRecord | null {
  const top = confirmedFirst(pooledTraces(records, workload, target))[0];
  return top ? { ...top.record, costs: top.costs } : null;
}

/**
 * The correct traces (finite cost), those measured in two or more batches first, each group
 * fastest first: how `best` and a search's result rank them.
 */
export function confirmedFirst<T extends { cost: number; runs: number }>(xs: Iterable<T>): T[] {
  const ok = [...xs].filter((x) => x.cost < Infinity).sort((a, b) => a.cost - b.cost);
  return [...ok.filter((x) => x.runs >= 2), ...ok.filter((x) => x.runs < 2)];
}

/**
 * An append-only records file. Each `append` writes one whole line and flushes it to disk
 * before returning; a file whose last line was torn gets a newline first, so the torn line
 * stays one bad line instead of corrupting the next record.
 */
export class RecordWriter {
  private constructor(private readonly file: Deno.FsFile, readonly path: string) {}

  static async open(path: string): Promise<RecordWriter> {
    const file = await Deno.open(path, { create: true, append: true, read: true });
    const size = (await file.stat()).size;
    if (size > 0) {
      const last = new Uint8Array(1);
      await file.seek(size - 1, Deno.SeekMode.Start);
      await file.read(last);
      if (last[0] !== 0x0a) await writeAll(file, new TextEncoder().encode("\n"));
    }
    return new RecordWriter(file, path);
  }

  async append(r: Omit<TuneRecord, "format" | "version" | "time">): Promise<TuneRecord> {
    const rec: TuneRecord = { format: RECORD_FORMAT, version: SPACE_VERSION, ...r, time: "" };
    rec.time = new Date().toISOString();
    await writeAll(this.file, new TextEncoder().encode(JSON.stringify(rec) + "\n"));
    await this.file.syncData();
    return rec;
  }

  close(): void {
    this.file.close();
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await file.write(bytes.subarray(off));
}
