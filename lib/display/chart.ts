/**
 * Charts for benchmark and tuning results: a vega-lite spec becomes a bundle with the spec
 * itself (`application/vnd.vegalite.v5+json`, interactive where the front end renders
 * vega-lite), an SVG that `vega` renders here in Deno (for front ends and exports that do not,
 * and for CI checks), and a text summary. The bundle deliberately has no `text/html`: JupyterLab
 * ranks HTML above vega-lite, so an HTML fallback would hide the interactive chart. vega and
 * vega-lite are loaded on first use, so importing Tessera does not pay for them.
 */
import type { TopLevelSpec } from "vega-lite";
import { TesseraError } from "../error.ts";
import { Displayable, type MimeBundle } from "./bundle.ts";

export type VegaLiteSpec = TopLevelSpec;

const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

/** Rows of inline data, when the spec carries them. */
function rowsOf(spec: Record<string, unknown>): Record<string, unknown>[] | null {
  const data = spec.data as { values?: unknown } | undefined;
  return Array.isArray(data?.values) ? data.values as Record<string, unknown>[] : null;
}

function describe(spec: Record<string, unknown>): string {
  const mark = spec.mark;
  const markName = typeof mark === "string"
    ? mark
    : (mark as { type?: string } | undefined)?.type ?? "layered";
  const enc = (spec.encoding ?? {}) as Record<string, { field?: string; type?: string }>;
  const channels = Object.entries(enc).map(([ch, e]) =>
    `${ch}=${e?.field ?? "?"}${e?.type ? ` (${e.type})` : ""}`
  );
  const title = typeof spec.title === "string" ? `${spec.title}: ` : "";
  const rows = rowsOf(spec);
  const head = `Chart ${title}${markName}${channels.length ? ` of ${channels.join(", ")}` : ""}${
    rows ? `; ${rows.length} row${rows.length === 1 ? "" : "s"}` : ""
  }`;
  if (!rows || rows.length === 0 || rows.length > 20) return head;
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => keys.map((k) => String(r[k] ?? "")));
  const width = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => "  " + c.map((s, i) => s.padEnd(width[i])).join("  ").trimEnd();
  return [head, line(keys), ...cells.map(line)].join("\n");
}

/** A chart: `await display(await chart(spec))` in a notebook, its summary in a terminal. */
export async function chart(spec: VegaLiteSpec): Promise<Displayable> {
  if (spec === null || typeof spec !== "object" || Array.isArray(spec)) {
    throw new TesseraError("chart: expects a vega-lite spec object");
  }
  const full = { $schema: SCHEMA, ...spec } as TopLevelSpec;
  const [vl, vega] = await Promise.all([import("vega-lite"), import("vega")]);
  let svg: string;
  try {
    const compiled = vl.compile(full).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: "none" });
    try {
      svg = await view.toSVG();
    } finally {
      view.finalize();
    }
  } catch (e) {
    throw new TesseraError(`chart: vega-lite could not render the spec: ${(e as Error).message}`);
  }
  const bundle: MimeBundle = {
    "text/plain": describe(full as unknown as Record<string, unknown>),
    "application/vnd.vegalite.v5+json": full,
    "image/svg+xml": svg,
  };
  return new Displayable(bundle);
}
