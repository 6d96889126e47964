/**
 * A benchmark run in words: the text table printed at the end of a run, the same table in
 * Markdown (the README's performance section is pasted from it), and a self-contained HTML
 * report with the machine record and both charts inlined as SVG. Each row says how noisy its
 * number was (the interquartile range and the outlier count) and whether its result was
 * checked, so no figure appears without the evidence for it.
 */
import { escapeHtml } from "../display/html.ts";
import { rooflineChartSpec, speedupChartSpec, svgOf } from "./charts.ts";
import { describeEnv } from "./env.ts";
import { placeOnRoofline } from "./roofline.ts";
import type { CaseResult, ResultRecord } from "./schema.ts";

/** Milliseconds with three significant digits. */
export function ms(seconds: number): string {
  const x = seconds * 1e3;
  return x >= 100
    ? x.toFixed(0)
    : x >= 10
    ? x.toFixed(1)
    : x >= 1
    ? x.toFixed(2)
    : x.toPrecision(3);
}

const COLUMNS = [
  "case",
  "median ms",
  "IQR ms",
  "GFLOP/s",
  "GB/s",
  "vs baseline",
  "roof",
  "out",
  "check",
];

function cells(r: ResultRecord, c: CaseResult): string[] {
  if (c.status !== "ok") return [c.name, `${c.status}: ${c.reason}`];
  const s = c.stats!;
  const peak = c.device ? r.roofline?.[c.device] : undefined;
  const roof = peak && c.flops && c.bytes
    ? `${(100 * placeOnRoofline(peak, c.flops, c.bytes, s.median).fraction).toFixed(0)}%`
    : "";
  const ratio = c.ratio
    ? c.baseline
      ? "baseline"
      : `${c.ratio.median.toFixed(2)}x (${c.ratio.q1.toFixed(2)}-${c.ratio.q3.toFixed(2)})`
    : "";
  const outliers = s.outliers.low.length + s.outliers.high.length;
  return [
    c.name + (c.baseline ? " *" : ""),
    ms(s.median),
    ms(s.iqr),
    c.gflops !== undefined && c.flops ? c.gflops.toFixed(c.gflops < 10 ? 2 : 1) : "",
    c.gbs !== undefined && c.bytes ? c.gbs.toFixed(c.gbs < 10 ? 2 : 1) : "",
    ratio,
    roof,
    outliers ? `${outliers}/${s.n}` : "",
    c.check ? (c.check.ok ? "ok" : `WRONG (${wrongWhy(c.check)})`) : "",
  ];
}

function wrongWhy(check: NonNullable<CaseResult["check"]>): string {
  return check.error !== undefined ? `err ${check.error.toExponential(1)}` : check.reason ?? "";
}

/** Text as Markdown text: no markup (names come from users, and a README renders HTML). */
function mdText(text: string): string {
  const entities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };
  return text.replace(/[&<>]/g, (c) => entities[c]).replace(/\s*\n\s*/g, " ");
}

/** Text as one Markdown table cell: no markup, no column break, no line break. */
function mdCell(text: string): string {
  return mdText(text).replaceAll("|", "\\|");
}

function groups(r: ResultRecord): [string, CaseResult[]][] {
  const out = new Map<string, CaseResult[]>();
  for (const c of r.cases) out.set(c.group, [...(out.get(c.group) ?? []), c]);
  return [...out];
}

function header(r: ResultRecord): string[] {
  const lines = [`${r.suite} on ${describeEnv(r.env)}`];
  for (const d of ["cpu", "webgpu"] as const) {
    const p = r.roofline?.[d];
    if (p) lines.push(`roofline ${d}: ${p.gflops.toFixed(1)} GFLOP/s, ${p.gbs.toFixed(1)} GB/s`);
  }
  lines.push(
    "medians of interleaved rounds; 'vs baseline' is how many times faster than the group's " +
      "baseline (*), per-round median and quartiles; 'out' counts Tukey outliers (kept)",
  );
  return lines;
}

/** The text table: one block per group, columns padded. */
export function formatTable(r: ResultRecord): string {
  const out = header(r);
  for (const [group, cs] of groups(r)) {
    const rows = [COLUMNS, ...cs.map((c) => cells(r, c))];
    const width = COLUMNS.map((_, i) =>
      Math.max(...rows.filter((row) => row.length === COLUMNS.length).map((row) => row[i].length))
    );
    out.push("", group);
    for (const row of rows) {
      out.push(
        "  " +
          (row.length === COLUMNS.length
            ? row.map((x, i) => x.padEnd(width[i])).join("  ").trimEnd()
            : `${row[0].padEnd(width[0])}  ${row[1]}`),
      );
    }
  }
  return out.join("\n");
}

/**
 * One row per group: the baseline against the fastest other library's case that computed the
 * right result, as baseline speed over peer speed (> 1: the baseline is faster). Tessera's own
 * other cases (`tessera-c-tuned`, ...) are not peers: they are in the group's table.
 */
export function summaryRows(
  r: ResultRecord,
): { group: string; baseline: CaseResult; best?: CaseResult; speedup?: number }[] {
  const out = [];
  for (const [group, cs] of groups(r)) {
    const baseline = cs.find((c) => c.baseline && c.status === "ok");
    if (!baseline) continue;
    const others = cs.filter((c) =>
      c !== baseline && !c.name.startsWith("tessera-") && c.status === "ok" &&
      c.check?.ok !== false
    );
    const best = others.sort((a, b) => a.stats!.median - b.stats!.median)[0];
    out.push({ group, baseline, best, speedup: best ? 1 / best.ratio!.median : undefined });
  }
  return out;
}

const rate = (c: CaseResult) =>
  c.gflops !== undefined && c.flops && c.bytes && c.flops / c.bytes > 1
    ? `${c.gflops.toFixed(c.gflops < 10 ? 2 : 1)} GFLOP/s`
    : c.gbs !== undefined
    ? `${c.gbs.toFixed(c.gbs < 10 ? 2 : 1)} GB/s`
    : `${ms(c.stats!.median)} ms`;

/** The same table in Markdown, for a README: the summary first, then every group. */
export function formatMarkdown(r: ResultRecord): string {
  const out = header(r).map((l) => mdText(l) + "  ");
  out.push(
    "",
    "| workload | Tessera | fastest peer | peer | Tessera vs fastest peer |",
    "|---|---|---|---|---|",
  );
  for (const row of summaryRows(r)) {
    out.push(
      `| ${mdCell(row.group)} | ${rate(row.baseline)} (${ms(row.baseline.stats!.median)} ms) | ${
        mdCell(row.best?.name ?? "-")
      } | ${row.best ? `${rate(row.best)} (${ms(row.best.stats!.median)} ms)` : "-"} | ${
        row.speedup ? `${row.speedup.toFixed(2)}x` : "-"
      } |`,
    );
  }
  for (const [group, cs] of groups(r)) {
    out.push(
      "",
      `**${mdCell(group)}**`,
      "",
      `| ${COLUMNS.join(" | ")} |`,
      `|${COLUMNS.map(() => "---").join("|")}|`,
    );
    for (const c of cs) {
      const row = cells(r, c);
      const full = row.length === COLUMNS.length
        ? row
        : [row[0], row[1], ...COLUMNS.slice(2).map(() => "")];
      out.push(`| ${full.map(mdCell).join(" | ")} |`);
    }
  }
  return out.join("\n");
}

function tableHtml(r: ResultRecord): string {
  const parts: string[] = [];
  for (const [group, cs] of groups(r)) {
    parts.push(
      `<h3>${escapeHtml(group)}</h3><table><tr>${
        COLUMNS.map((c) => `<th>${escapeHtml(c)}</th>`).join("")
      }</tr>`,
    );
    for (const c of cs) {
      const row = cells(r, c);
      parts.push(
        row.length === COLUMNS.length
          ? `<tr>${row.map((x) => `<td>${escapeHtml(x)}</td>`).join("")}</tr>`
          : `<tr><td>${escapeHtml(row[0])}</td><td colspan="${COLUMNS.length - 1}">${
            escapeHtml(row[1])
          }</td></tr>`,
      );
    }
    parts.push("</table>");
  }
  return parts.join("\n");
}

/** The table alone as an HTML fragment (for notebooks). */
export function resultHtml(r: ResultRecord): string {
  return `<div class="tessera-bench"><p>${header(r).map(escapeHtml).join("<br>")}</p>${
    tableHtml(r)
  }</div>`;
}

/** A self-contained HTML page: machine record, table, and both charts as inline SVG. */
export async function htmlReport(r: ResultRecord): Promise<string> {
  const charts: string[] = [];
  if (r.cases.some((c) => c.ratio && !c.baseline)) charts.push(await svgOf(speedupChartSpec(r)));
  if (r.roofline && Object.keys(r.roofline).length) charts.push(await svgOf(rooflineChartSpec(r)));
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(r.suite)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}pre{font-size:12px}</style>
</head><body><h1>${escapeHtml(r.suite)}</h1>
${resultHtml(r)}
${charts.join("\n")}
<h2>Environment</h2><pre>${escapeHtml(JSON.stringify(r.env, null, 1))}</pre>
</body></html>
`;
}
