/**
 * How a host array shows itself: small arrays as a table of their values, 2-D arrays also
 * as a heatmap, and large ones as summary statistics (min, max, mean, NaN and infinity
 * counts) rather than a wall of numbers. The text form is numpy-like `String(a)`, with the
 * statistics line for large arrays.
 */
import type { NDArray } from "../runtime/ndarray.ts";
import { bundle, type MimeBundle } from "./bundle.ts";
import { heatmapSvg } from "./heatmap.ts";
import { h, type Html } from "./html.ts";
import { card } from "./style.ts";
import { formatNumber } from "./units.ts";

/** Arrays up to this many elements (and at most 2-D) are shown as a table. */
const TABLE_MAX = 256;

export interface Stats {
  min: number;
  max: number;
  mean: number;
  nan: number;
  inf: number;
}

export function stats(a: NDArray): Stats {
  let min = Infinity, max = -Infinity, sum = 0, n = 0, nan = 0, inf = 0;
  for (let i = 0; i < a.size; i++) {
    const v = a.at(i);
    if (Number.isNaN(v)) nan++;
    else if (!Number.isFinite(v)) inf++;
    else {
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
      n++;
    }
  }
  return { min, max, mean: n ? sum / n : NaN, nan, inf };
}

function statsText(s: Stats): string {
  const f = (x: number) => (Number.isFinite(x) ? formatNumber(x) : "—");
  return `min ${f(s.min)}, max ${f(s.max)}, mean ${f(s.mean)}, NaN ${s.nan}, ±inf ${s.inf}`;
}

function cell(a: NDArray, i: number): string {
  const v = a.at(i);
  return a.dtype === "bool"
    ? (v ? "true" : "false")
    : formatNumber(v, a.dtype === "int32" ? 10 : 6);
}

function table(a: NDArray): Html {
  const [rows, cols] = a.ndim === 2 ? a.shape : [1, a.ndim === 1 ? a.shape[0] : 1];
  const head = h`<tr><th></th>${Array.from({ length: cols }, (_, c) => h`<th>${c}</th>`)}</tr>`;
  const body = Array.from(
    { length: rows },
    (_, r) =>
      h`<tr><th>${a.ndim === 2 ? r : ""}</th>${
        Array.from({ length: cols }, (_, c) => h`<td>${cell(a, r * cols + c)}</td>`)
      }</tr>`,
  );
  return h`<table class="tsr-t">${a.ndim > 0 ? head : null}${body}</table>`;
}

export function ndarrayBundle(a: NDArray): MimeBundle {
  const title = `NDArray ${a.dtype}[${a.shape.join(", ")}]`;
  const large = a.size > TABLE_MAX;
  const st = large ? stats(a) : null;
  const text = [title, ...(st ? [statsText(st)] : []), String(a)].join("\n");
  const map = a.ndim === 2 && a.size > 0
    ? heatmapSvg(a.shape[0], a.shape[1], (r, c) => a.at(r * a.shape[1] + c))
    : null;
  const body = !large && a.ndim <= 2 ? table(a) : h`<div class="tsr-code">${String(a)}</div>`;
  const extra: Record<string, unknown> = map ? { "image/svg+xml": map.markup } : {};
  const stLine = st ? h`<div class="tsr-dim">${statsText(st)}</div>` : null;
  return bundle(
    text,
    card(
      h`<div class="tsr-title">${title}</div>${stLine}<div style="display:flex;gap:16px;align-items:flex-start">${body}${map}</div>`,
    ),
    extra,
  );
}
