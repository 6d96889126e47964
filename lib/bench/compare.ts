/**
 * Two result files side by side: for every case both ran, the old and new medians and how
 * many times faster the new one is. A change is marked only when the two runs' interquartile
 * ranges do not overlap — a difference inside the noise of either run is not a finding. Runs
 * from different machines or commits are compared all the same, with a warning saying so.
 */
import { type CaseResult, parseResult, type ResultRecord } from "./schema.ts";
import { ms } from "./report.ts";

export interface CompareRow {
  group: string;
  name: string;
  /** Median seconds per call in each run; undefined when the case did not run there. */
  before?: number;
  after?: number;
  /** before / after: > 1 means the new run is faster. */
  speedup?: number;
  change: "faster" | "slower" | "same" | "only before" | "only after" | "not measured";
}

const key = (c: CaseResult) => `${c.group}\0${c.name}`;

export function compareResults(a: ResultRecord, b: ResultRecord): CompareRow[] {
  // Validated: a (group, name) pair twice in one run would silently compare one of them.
  parseResult(a, "the first result");
  parseResult(b, "the second result");
  const before = new Map(a.cases.map((c) => [key(c), c]));
  const after = new Map(b.cases.map((c) => [key(c), c]));
  const keys = [...new Set([...before.keys(), ...after.keys()])];
  return keys.map((k) => {
    const x = before.get(k), y = after.get(k);
    const [group, name] = k.split("\0");
    const sx = x?.status === "ok" ? x.stats : undefined,
      sy = y?.status === "ok" ? y.stats : undefined;
    if (!sx || !sy) {
      const change = !x ? "only after" : !y ? "only before" : "not measured";
      return { group, name, before: sx?.median, after: sy?.median, change };
    }
    const change = sy.q3 < sx.q1 ? "faster" : sy.q1 > sx.q3 ? "slower" : "same";
    return {
      group,
      name,
      before: sx.median,
      after: sy.median,
      speedup: sx.median / sy.median,
      change,
    };
  });
}

/** Lines that say why the two runs may not be comparable. */
export function envDifferences(a: ResultRecord, b: ResultRecord): string[] {
  const out: string[] = [];
  const diff = (what: string, x: unknown, y: unknown) => {
    if (JSON.stringify(x) !== JSON.stringify(y)) {
      out.push(`${what} differs: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`);
    }
  };
  diff("CPU", a.env.cpu, b.env.cpu);
  diff("cores", a.env.cores, b.env.cores);
  diff("Deno", a.env.deno, b.env.deno);
  diff("compiler", a.env.compiler?.version, b.env.compiler?.version);
  diff(
    "WebGPU adapter",
    "adapter" in a.env.webgpu ? a.env.webgpu.adapter : null,
    "adapter" in b.env.webgpu ? b.env.webgpu.adapter : null,
  );
  diff("tessera commit", a.env.tessera?.commit, b.env.tessera?.commit);
  return out;
}

export function formatCompare(a: ResultRecord, b: ResultRecord): string {
  const rows = compareResults(a, b);
  const head = ["group", "case", "before ms", "after ms", "speedup", "change"];
  const body = rows.map((r) => [
    r.group,
    r.name,
    r.before !== undefined ? ms(r.before) : "-",
    r.after !== undefined ? ms(r.after) : "-",
    r.speedup !== undefined ? `${r.speedup.toFixed(2)}x` : "-",
    r.change === "faster" || r.change === "slower" ? `${r.change.toUpperCase()}` : r.change,
  ]);
  const width = head.map((_, i) => Math.max(...[head, ...body].map((row) => row[i].length)));
  const line = (row: string[]) => row.map((x, i) => x.padEnd(width[i])).join("  ").trimEnd();
  const notes = envDifferences(a, b).map((d) => `warning: ${d}`);
  return [
    `before: ${a.suite}, ${a.env.date}; after: ${b.suite}, ${b.env.date}`,
    ...notes,
    "speedup = before / after median; FASTER or SLOWER only when the interquartile ranges do not overlap",
    "",
    line(head),
    ...body.map(line),
  ].join("\n");
}
