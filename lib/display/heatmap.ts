/**
 * A 2-D array as an SVG heatmap. Big arrays are averaged down to at most `MAX_CELLS` blocks
 * a side (ignoring NaN and infinities, which are counted in the statistics instead), colours
 * are quantized to a small viridis-like ramp so that equal neighbours merge into one rect, and
 * a legend maps the ramp back to values. Small maps carry a tooltip per cell.
 */
import { h, type Html } from "./html.ts";
import { formatNumber } from "./units.ts";

const MAX_CELLS = 48;
const RAMP = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
const LEVELS = 64;

function rampColor(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x)), f = x - i;
  const c = (hex: string, k: number) => parseInt(hex.slice(1 + 2 * k, 3 + 2 * k), 16);
  const mix = (k: number) => Math.round(c(RAMP[i], k) * (1 - f) + c(RAMP[i + 1], k) * f);
  return `rgb(${mix(0)},${mix(1)},${mix(2)})`;
}

/** `at(r, c)` gives element (r, c) of a `rows` × `cols` array. */
export function heatmapSvg(rows: number, cols: number, at: (r: number, c: number) => number): Html {
  const br = Math.ceil(rows / MAX_CELLS), bc = Math.ceil(cols / MAX_CELLS);
  const gr = Math.ceil(rows / br), gc = Math.ceil(cols / bc);
  const grid = new Float64Array(gr * gc).fill(NaN);
  let lo = Infinity, hi = -Infinity;
  for (let r = 0; r < gr; r++) {
    for (let c = 0; c < gc; c++) {
      let sum = 0, n = 0;
      for (let y = r * br; y < Math.min(rows, (r + 1) * br); y++) {
        for (let x = c * bc; x < Math.min(cols, (c + 1) * bc); x++) {
          const v = at(y, x);
          if (Number.isFinite(v)) {
            sum += v;
            n++;
          }
        }
      }
      if (n > 0) {
        const m = sum / n;
        grid[r * gc + c] = m;
        lo = Math.min(lo, m);
        hi = Math.max(hi, m);
      }
    }
  }
  const cell = Math.max(4, Math.min(24, Math.floor(320 / Math.max(gr, gc))));
  const level = (v: number) =>
    Number.isNaN(v) ? -1 : hi > lo ? Math.round(((v - lo) / (hi - lo)) * (LEVELS - 1)) : 0;
  const tips = gr * gc <= 256 && br === 1 && bc === 1;
  const rects: Html[] = [];
  for (let r = 0; r < gr; r++) {
    for (let c = 0; c < gc;) {
      const lv = level(grid[r * gc + c]);
      let end = c + 1;
      while (!tips && end < gc && level(grid[r * gc + end]) === lv) end++;
      const fill = lv < 0 ? "#bbbbbb" : rampColor(lv / (LEVELS - 1));
      const tip = tips ? h`<title>[${r}, ${c}] = ${formatNumber(at(r, c))}</title>` : null;
      const [x, y, w] = [c * cell, r * cell, (end - c) * cell];
      rects.push(
        h`<rect x="${x}" y="${y}" width="${w}" height="${cell}" fill="${fill}">${tip}</rect>`,
      );
      c = end;
    }
  }
  const width = Math.max(gc * cell, 200), y = gr * cell + 8;
  const stops = RAMP.map((col, i) =>
    h`<stop offset="${i / (RAMP.length - 1)}" stop-color="${col}"/>`
  );
  const blocks = br > 1 || bc > 1 ? `, ${br}×${bc} blocks averaged` : "";
  const label = (v: number) => (Number.isFinite(v) ? formatNumber(v) : "—");
  const legend = h`<rect y="${y}" width="120" height="8" fill="url(#tsr-ramp)"/>
<text y="${y + 20}">${label(lo)}</text><text x="120" y="${y + 20}" text-anchor="end">${
    label(hi)
  }</text>
<text y="${y + 34}">${rows}×${cols}${blocks}</text>`;
  return h`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${
    y + 44
  }" font-family="sans-serif" font-size="10">
<defs><linearGradient id="tsr-ramp">${stops}</linearGradient></defs><g>${rects}</g>${legend}</svg>`;
}
