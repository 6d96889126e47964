/**
 * A 2-D array as an SVG heatmap, drawn to the array's proportions. Big arrays are averaged
 * in square blocks down to at most `MAX_CELLS` a side (ignoring NaN and infinities, which are
 * counted in the statistics instead), and the legend says so and gives the data's own range.
 * Colours are quantized to a small viridis-like ramp so that equal neighbours merge into one
 * rect, and a legend maps the ramp back to values. Small maps carry a tooltip per cell.
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
  // One block size for both axes and cells drawn to scale, so the picture has the array's
  // shape: averaging each axis on its own made a 64×48 array look wider than tall.
  const b = Math.ceil(Math.max(rows, cols) / MAX_CELLS);
  const gr = Math.ceil(rows / b), gc = Math.ceil(cols / b);
  const grid = new Float64Array(gr * gc).fill(NaN);
  let lo = Infinity, hi = -Infinity, dataLo = Infinity, dataHi = -Infinity;
  for (let r = 0; r < gr; r++) {
    for (let c = 0; c < gc; c++) {
      let sum = 0, n = 0;
      for (let y = r * b; y < Math.min(rows, (r + 1) * b); y++) {
        for (let x = c * b; x < Math.min(cols, (c + 1) * b); x++) {
          const v = at(y, x);
          if (Number.isFinite(v)) {
            sum += v;
            n++;
            dataLo = Math.min(dataLo, v);
            dataHi = Math.max(dataHi, v);
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
  // Pixels per element: 320 px along the longer side, at most 24 a cell.
  const px = Math.min(24, 320 / Math.max(rows, cols));
  const at2 = (v: number) => Math.round(v * 100) / 100;
  const level = (v: number) =>
    Number.isNaN(v) ? -1 : hi > lo ? Math.round(((v - lo) / (hi - lo)) * (LEVELS - 1)) : 0;
  const tips = gr * gc <= 256 && b === 1;
  const rects: Html[] = [];
  for (let r = 0; r < gr; r++) {
    for (let c = 0; c < gc;) {
      const lv = level(grid[r * gc + c]);
      let end = c + 1;
      while (!tips && end < gc && level(grid[r * gc + end]) === lv) end++;
      const fill = lv < 0 ? "#bbbbbb" : rampColor(lv / (LEVELS - 1));
      const tip = tips ? h`<title>[${r}, ${c}] = ${formatNumber(at(r, c))}</title>` : null;
      const x = at2(c * b * px), y = at2(r * b * px);
      const w = at2(Math.min(cols, end * b) * px) - x,
        ht = at2(Math.min(rows, (r + 1) * b) * px) - y;
      rects.push(
        h`<rect x="${x}" y="${y}" width="${at2(w)}" height="${
          at2(ht)
        }" fill="${fill}">${tip}</rect>`,
      );
      c = end;
    }
  }
  const mapW = at2(cols * px), mapH = at2(rows * px);
  const width = Math.max(Math.ceil(mapW), 240), y = Math.ceil(mapH) + 8;
  const stops = RAMP.map((col, i) =>
    h`<stop offset="${i / (RAMP.length - 1)}" stop-color="${col}"/>`
  );
  const label = (v: number) => (Number.isFinite(v) ? formatNumber(v) : "—");
  // The colour bar spans what the cells show: with blocks, their means, which can be far
  // narrower than the data (a sine averages to almost nothing), so both ranges are written.
  const scale = b > 1 ? `colour: mean of each ${b}×${b} block` : "colour: value";
  const data = b > 1
    ? h`<text y="${y + 48}">data: min ${label(dataLo)}, max ${label(dataHi)}</text>`
    : null;
  const legend = h`<rect y="${y}" width="120" height="8" fill="url(#tsr-ramp)"/>
<text y="${y + 20}">${label(lo)}</text><text x="120" y="${y + 20}" text-anchor="end">${
    label(hi)
  }</text>
<text y="${y + 34}">${rows}×${cols}; ${scale}</text>${data}`;
  return h`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${
    y + (b > 1 ? 58 : 44)
  }" font-family="sans-serif" font-size="10">
<defs><linearGradient id="tsr-ramp">${stops}</linearGradient></defs><g>${rects}</g>${legend}</svg>`;
}
