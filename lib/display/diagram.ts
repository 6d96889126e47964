/**
 * The iteration-space diagram: the whiteboard picture of tiling. The output's 2-D index space
 * is drawn cut into the tiles a stage's schedule makes (alternating shades, partial tiles
 * dashed), the tile a chosen iteration of the outer loops computes is highlighted, and beside
 * it each input is drawn with the region that tile reads (its footprint) in the same colour.
 * The numbers come from `iterspace.ts`; this file only draws them, as SVG for notebooks and
 * as a character picture for terminals.
 */
import type { ShowOptions, Stage } from "../schedule/stage.ts";
import { Displayable } from "./bundle.ts";
import { h, type Html } from "./html.ts";
import { type Footprint, type IterationSpace, iterationSpace } from "./iterspace.ts";
import { card } from "./style.ts";

const CHOSEN = "#f28e2b";
const SHADES = ["#9ecae1", "#c6dbef"];
const EMPTY = "#eeeeee";
const PANEL = 220;
const GAP = 36;
const TOP = 34;
/** More tiles than this are drawn as boundary lines instead of one shape each. */
const MAX_TILE_SHAPES = 4096;

/** Cells (row-major indices) as rectangles [row, col, height, width]: row runs, then stacked. */
export function rectsOf(
  cells: Iterable<number>,
  cols: number,
): Array<[number, number, number, number]> {
  const byRow = new Map<number, number[]>();
  for (const x of cells) {
    const r = Math.floor(x / cols);
    let l = byRow.get(r);
    if (!l) byRow.set(r, l = []);
    l.push(x - r * cols);
  }
  const out: Array<[number, number, number, number]> = [];
  let open = new Map<string, [number, number, number, number]>();
  let prevRow = -2;
  for (const r of [...byRow.keys()].sort((a, b) => a - b)) {
    const cs = byRow.get(r)!.sort((a, b) => a - b);
    const runs: Array<[number, number]> = [];
    for (const c of cs) {
      const last = runs[runs.length - 1];
      if (last && c === last[1]) last[1]++;
      else if (!last || c > last[1]) runs.push([c, c + 1]);
    }
    const next = new Map<string, [number, number, number, number]>();
    for (const [c0, c1] of runs) {
      const key = `${c0}:${c1}`;
      const prev = r === prevRow + 1 ? open.get(key) : undefined;
      if (prev) {
        prev[2]++;
        next.set(key, prev);
      } else {
        const rect: [number, number, number, number] = [r, c0, 1, c1 - c0];
        out.push(rect);
        next.set(key, rect);
      }
    }
    open = next;
    prevRow = r;
  }
  return out;
}

/** `[4:8, 0:64]`: per dimension, the half-open range between the smallest and largest index. */
function slice(box: Array<[number, number]>): string {
  return `[${box.map(([lo, hi]) => (hi < lo ? "∅" : `${lo}:${hi + 1}`)).join(", ")}]`;
}

function tileLabel(sp: IterationSpace): string {
  const outer = sp.loops.filter((l) => l.value !== null);
  return outer.length ? outer.map((l) => `${l.name}=${l.value}`).join(", ") : "the whole space";
}

function summary(sp: IterationSpace): string {
  const partial = sp.tiles.filter((t) => t.partial).length;
  const n = sp.tiles.length === sp.totalTiles
    ? `${sp.tiles.length} tiles`
    : `${sp.tiles.length} tiles in this plane (${sp.totalTiles} in all)`;
  return `${n}, ${partial} partial`;
}

function footprintText(fp: Footprint): string {
  const dd = fp.dataDependent ? ", some indices data-dependent" : "";
  return `${fp.tensor}${slice(fp.box)} (${fp.elements} elements${dd})`;
}

interface Panel {
  title: string;
  rows: number;
  cols: number;
  body: (cell: number) => Html;
}

type Rect = [number, number, number, number];

function outputPanel(sp: IterationSpace): Panel {
  const cols = sp.cols, rows = sp.rows;
  return {
    title: `${sp.stage}${slice(sp.chosenBox)}`,
    rows,
    cols,
    body: (cell) => {
      const edge = cell >= 3 ? 1 : 0;
      const rect = ([r, c, nr, nc]: Rect, fill: string, dashed: boolean) => {
        const stroke = dashed
          ? h` stroke="#555" stroke-width="0.8" stroke-dasharray="3 2"`
          : h` stroke="#fff" stroke-width="${edge}"`;
        return h`<rect x="${c * cell}" y="${r * cell}" width="${nc * cell}" height="${
          nr * cell
        }" fill="${fill}"${stroke}/>`;
      };
      const plane = (fill: string) =>
        h`<rect width="${cols * cell}" height="${rows * cell}" fill="${fill}"/>`;
      const shapes: Html[] = [plane(EMPTY)];
      if (sp.tiles.length <= MAX_TILE_SHAPES) {
        for (const t of sp.tiles) {
          if (t === sp.chosen) continue;
          const shade = SHADES[t.outer.reduce((a, b) => a + b, 0) % 2];
          for (const r of rectsOf(t.cells, cols)) shapes.push(rect(r, shade, t.partial));
        }
      } else {
        // Too many tiles to draw one by one: shade the plane and draw where tiles change
        // along the chosen tile's first row and column.
        const owner = new Int32Array(rows * cols).fill(-1);
        sp.tiles.forEach((t, k) => t.cells.forEach((x) => (owner[x] = k)));
        shapes.push(plane(SHADES[1]));
        const r0 = Math.floor(sp.chosen.cells[0] / cols), c0 = sp.chosen.cells[0] % cols;
        const line = (x1: number, y1: number, x2: number, y2: number) =>
          h`<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#fff" stroke-width="0.5"/>`;
        for (let c = 1; c < cols; c++) {
          if (owner[r0 * cols + c] !== owner[r0 * cols + c - 1]) {
            shapes.push(line(c * cell, 0, c * cell, rows * cell));
          }
        }
        for (let r = 1; r < rows; r++) {
          if (owner[r * cols + c0] !== owner[(r - 1) * cols + c0]) {
            shapes.push(line(0, r * cell, cols * cell, r * cell));
          }
        }
      }
      for (const r of rectsOf(sp.chosen.cells, cols)) {
        shapes.push(rect(r, CHOSEN, sp.chosen.partial));
      }
      return h`${shapes}`;
    },
  };
}

function footprintPanel(fp: Footprint): Panel {
  return {
    title: `${fp.tensor}${slice(fp.box)}`,
    rows: fp.rows,
    cols: fp.cols,
    body: (cell) => {
      const read = rectsOf(fp.cells, fp.cols).map(([r, c, nr, nc]) =>
        h`<rect x="${c * cell}" y="${r * cell}" width="${nc * cell}" height="${
          nr * cell
        }" fill="${CHOSEN}"/>`
      );
      return h`<rect width="${fp.cols * cell}" height="${fp.rows * cell}" fill="${EMPTY}"/>${read}`;
    },
  };
}

/** The diagram as a standalone SVG document. */
export function diagramSvg(sp: IterationSpace): Html {
  const panels = [...sp.footprints.map(footprintPanel), outputPanel(sp)];
  let x = 16, height = 0;
  const parts: Html[] = [];
  panels.forEach((p, k) => {
    const cell = Math.min(20, PANEL / Math.max(p.rows, p.cols, 1));
    const pw = p.cols * cell, ph = p.rows * cell;
    const isOut = k === panels.length - 1;
    if (isOut && panels.length > 1) {
      const mid = TOP + ph / 2;
      parts.push(
        h`<text x="${x - GAP / 2}" y="${mid}" text-anchor="middle" font-size="18">→</text>`,
      );
    }
    const rowLabel = isOut && sp.rowAxis !== null
      ? h`<text y="${TOP - 4}" fill="#666">${sp.rowAxis} ↓</text>`
      : null;
    const colLabel = isOut
      ? h`<text x="${pw}" y="${TOP - 4}" text-anchor="end" fill="#666">${sp.colAxis} →</text>`
      : null;
    const frame = h`<rect width="${pw}" height="${ph}" fill="none" stroke="#888"/>`;
    parts.push(
      h`<g transform="translate(${x},0)"><text y="14" font-weight="bold">${p.title}</text>${rowLabel}${colLabel}
<g transform="translate(0,${TOP})">${p.body(cell)}${frame}</g></g>`,
    );
    x += Math.max(pw, p.title.length * 7) + GAP;
    height = Math.max(height, TOP + ph);
  });
  return h`<svg xmlns="http://www.w3.org/2000/svg" width="${x - GAP + 16}" height="${
    height + 12
  }" font-family="sans-serif" font-size="12">
${parts}</svg>`;
}

/** A character picture of a plane: `#` for `mark`ed cells, `shade(cell)` for the rest. */
function ascii(rows: number, cols: number, mark: (x: number) => string): string | null {
  if (rows > 32 || cols > 64) return null;
  return Array.from(
    { length: rows },
    (_, r) => "    " + Array.from({ length: cols }, (_, c) => mark(r * cols + c)).join(""),
  ).join("\n");
}

export function diagramText(sp: IterationSpace): string {
  const out = [
    `Iteration space of ${sp.stage}: ${sp.rowAxis ? `${sp.rowAxis} × ` : ""}${sp.colAxis} = ${
      sp.rowAxis ? `${sp.rows} × ` : ""
    }${sp.cols}, ${summary(sp)}`,
    `  loops: ${
      sp.loops.map((l) => `${l.name}${l.value === null ? `<${l.extent}` : `=${l.value}`}`).join(
        " ",
      )
    }`,
    `  tile ${tileLabel(sp)} computes ${sp.stage}${
      slice(sp.chosenBox)
    } (${sp.chosen.points} points${sp.chosen.partial ? ", partial" : ""})`,
  ];
  const owner = new Map<number, number>();
  sp.tiles.forEach((t) => {
    const shade = t.outer.reduce((a, b) => a + b, 0) % 2;
    t.cells.forEach((x) => owner.set(x, t === sp.chosen ? 2 : shade));
  });
  const pic = ascii(sp.rows, sp.cols, (x) => ["o", ".", "#"][owner.get(x) ?? 1] ?? " ");
  if (pic) out.push(pic);
  for (const fp of sp.footprints) {
    out.push(`  reads ${footprintText(fp)}`);
    const p = ascii(fp.rows, fp.cols, (x) => (fp.cells.has(x) ? "#" : "."));
    if (p) out.push(p);
  }
  for (const n of sp.notes) out.push(`  note: ${n}`);
  return out.join("\n");
}

/** What `stage.show()` returns: the diagram, with its numbers at `.space`. */
export class IterationDiagram extends Displayable {
  constructor(readonly space: IterationSpace) {
    const svg = diagramSvg(space);
    const loops = space.loops.map((l) =>
      h`<span class="tsr-badge${l.value === null ? "" : " tsr-unrolled"}">${l.name} ${
        l.value === null ? `< ${l.extent}` : `= ${l.value} of ${l.extent}`
      }${l.reduce ? " (reduce)" : ""}</span>`
    );
    const reads = space.footprints.map((fp) => `; reads ${footprintText(fp)}`).join("");
    const notes = space.notes.map((n) => h`<div class="tsr-dim">note: ${n}</div>`);
    const head = `Iteration space of ${space.stage}: ${summary(space)}`;
    const tile = `tile ${tileLabel(space)} computes ${space.stage}${slice(space.chosenBox)}`;
    super({
      "text/plain": diagramText(space),
      "text/html": card(h`<div class="tsr-title">${head}</div>${svg}
<div>${tile}${reads}</div><div>${loops}</div>${notes}`).markup,
      "image/svg+xml": svg.markup,
    });
  }
}

export function showStage(st: Stage, opts: ShowOptions = {}): IterationDiagram {
  return new IterationDiagram(iterationSpace(st, opts));
}
