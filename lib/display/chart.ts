/**
 * Charts for benchmark and tuning results: a vega-lite spec becomes a bundle with the spec
 * itself (`application/vnd.vegalite.v5+json`), an SVG that `vega` renders here in Deno, an
 * HTML form and a text summary. The HTML form is what front ends and exports show: Debian's
 * nbconvert 6.5 cleans every SVG and HTML output with lxml, which strips the shapes out of an
 * SVG and so blanks a chart; it keeps an `<img>` of a PNG. So the HTML carries the SVG and a
 * PNG of it, and a style shows the SVG where its shapes survived and the PNG where they did
 * not. The cost: JupyterLab ranks HTML above vega-lite, so it shows this static chart rather
 * than an interactive one. vega, vega-lite and the rasterizer are loaded on first use, so
 * importing Tessera does not pay for them.
 */
import type { TopLevelSpec } from "vega-lite";
import { TesseraError } from "../error.ts";
import { Displayable, type MimeBundle } from "./bundle.ts";
import { h, rawHtml } from "./html.ts";
import { svgToPng } from "./raster.ts";

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
  const text = describe(full as unknown as Record<string, unknown>);
  const bundle: MimeBundle = {
    "text/plain": text,
    "text/html": chartHtml(svg, await svgToPng(svg), text),
    "application/vnd.vegalite.v5+json": full,
    "image/svg+xml": svg,
  };
  return new Displayable(bundle);
}

// Shown: the SVG when it still has shapes, else the PNG (and the SVG's loose text hidden).
const CHART_CSS = ".tsr-chart>img{display:none}" +
  ".tsr-chart:not(:has(svg path,svg rect,svg line))>img{display:block}" +
  ".tsr-chart:not(:has(svg path,svg rect,svg line))>svg{display:none}";

/** The SVG and its PNG (drawn at twice the size, shown at the SVG's size). */
function chartHtml(svg: string, png: Uint8Array, alt: string): string {
  const size = /<svg\b[^>]*?\swidth="([\d.]+)"[^>]*?\sheight="([\d.]+)"/.exec(svg);
  const [w, hgt] = size ? [size[1], size[2]] : [undefined, undefined];
  let bin = "";
  for (let i = 0; i < png.length; i += 0x8000) {
    bin += String.fromCharCode(...png.subarray(i, i + 0x8000));
  }
  const src = `data:image/png;base64,${btoa(bin)}`;
  // vega's SVG is markup vega made from the spec, and its text is escaped by vega.
  return h`<div class="tsr-chart">${rawHtml(`<style>${CHART_CSS}</style>`)}${
    rawHtml(svg)
  }<img src="${src}" width="${w}" height="${hgt}" alt="${alt.split("\n")[0]}"></div>`.markup;
}
