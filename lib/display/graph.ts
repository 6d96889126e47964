/**
 * The graph in a notebook: its Relax-like listing beside a picture of the DAG. Each node is
 * a box named by its operator, each edge carries its tensor's shape and size, and when the
 * graph has been fused (a partition, or a built executable) each fused group is drawn as a
 * box around its nodes, named by the kernel it became. The layout is dagre's (a well-kept
 * layered-graph layout with clusters); this file only turns its coordinates into SVG.
 */
import dagre from "@dagrejs/dagre";
import { bytesOf } from "../ir/dtype.ts";
import type { GraphExecutable } from "../graph/build.ts";
import { type Graph, numel, showShape, type Value } from "../graph/ir.ts";
import type { Partition } from "../graph/passes/fuseOps.ts";
import { printGraph, showBytes } from "../graph/print.ts";
import { bundle, Displayable, type MimeBundle } from "./bundle.ts";
import { h, type Html } from "./html.ts";
import { card } from "./style.ts";

const GROUP_COLOURS = ["#e8f1fa", "#fdf0e3", "#eaf6ea", "#f6eaf4", "#fbf7df", "#eef0f2"];
const CHAR = 7;

interface Box {
  id: string;
  label: string;
  kind: "input" | "op" | "output";
}

const edgeLabel = (v: Value) => {
  const n = numel(v.shape);
  return `${showShape(v.shape)}${n === null ? "" : ` · ${showBytes(n * bytesOf(v.dtype))}`}`;
};

/** The DAG as SVG; params are left out (the listing has them), inputs and outputs drawn. */
export function graphSvg(g: Graph, p?: Partition): Html {
  const G = new dagre.graphlib.Graph({ compound: true, multigraph: true });
  G.setGraph({ rankdir: "TB", nodesep: 24, ranksep: 36, marginx: 12, marginy: 12 });
  G.setDefaultEdgeLabel(() => ({}));
  const boxes = new Map<string, Box>();
  const add = (b: Box) => {
    boxes.set(b.id, b);
    G.setNode(b.id, { width: Math.max(48, b.label.length * CHAR + 16), height: 26 });
  };
  const idOf = new Map<Value, string>();
  g.inputs.forEach((v, i) => {
    add({ id: `i${i}`, label: v.name, kind: "input" });
    idOf.set(v, `i${i}`);
  });
  g.nodes.forEach((n, i) => {
    add({ id: `n${i}`, label: n.op, kind: "op" });
    n.outputs.forEach((v) => idOf.set(v, `n${i}`));
  });
  g.outputs.forEach((_, i) => add({ id: `o${i}`, label: `output ${i}`, kind: "output" }));
  if (p) {
    const index = new Map(g.nodes.map((n, i) => [n, i]));
    p.groups.forEach((gr) => {
      if (gr.nodes.length < 2) return;
      G.setNode(`g${gr.id}`, { label: `g${gr.id}` });
      gr.nodes.forEach((n) => G.setParent(`n${index.get(n)}`, `g${gr.id}`));
    });
  }
  const labels: Array<[string, string, string]> = [];
  let e = 0;
  const edge = (from: string, to: string, v: Value) => {
    const name = `e${e++}`;
    const text = edgeLabel(v);
    G.setEdge(
      from,
      to,
      { label: text, width: text.length * 6 + 8, height: 12, labelpos: "r" },
      name,
    );
    labels.push([from, to, name]);
  };
  g.nodes.forEach((n, i) => {
    const seen = new Set<Value>();
    for (const v of n.inputs) {
      const from = idOf.get(v);
      if (from === undefined || seen.has(v)) continue; // a param
      seen.add(v);
      edge(from, `n${i}`, v);
    }
  });
  g.outputs.forEach((v, i) => {
    const from = idOf.get(v);
    if (from !== undefined) edge(from, `o${i}`, v);
  });
  dagre.layout(G);

  const parts: Html[] = [];
  if (p) {
    p.groups.forEach((gr) => {
      if (gr.nodes.length < 2) return;
      const c = G.node(`g${gr.id}`);
      const colour = GROUP_COLOURS[gr.id % GROUP_COLOURS.length];
      parts.push(
        h`<rect x="${c.x - c.width / 2}" y="${
          c.y - c.height / 2
        }" width="${c.width}" height="${c.height}" rx="6" fill="${colour}" stroke="#9aa7b4" stroke-dasharray="4 2"/><text x="${
          c.x - c.width / 2 + 4
        }" y="${
          c.y - c.height / 2 + 11
        }" font-size="10" fill="#555">g${gr.id} ${gr.pattern}</text>`,
      );
    });
  }
  for (const [from, to, name] of labels) {
    const ed = G.edge(from, to, name);
    const pts = ed.points.map((q: { x: number; y: number }) => `${q.x},${q.y}`).join(" ");
    parts.push(
      h`<polyline points="${pts}" fill="none" stroke="#777" marker-end="url(#tsr-arrow)"/><text x="${ed.x}" y="${
        ed.y + 4
      }" text-anchor="middle" font-size="10" fill="#555">${ed.label}</text>`,
    );
  }
  for (const [id, b] of boxes) {
    const n = G.node(id);
    const fill = b.kind === "op" ? "#ffffff" : b.kind === "input" ? "#dfe9f3" : "#e6f2e1";
    parts.push(
      h`<rect x="${n.x - n.width / 2}" y="${
        n.y - n.height / 2
      }" width="${n.width}" height="${n.height}" rx="${
        b.kind === "op" ? 3 : 12
      }" fill="${fill}" stroke="#445"/><text x="${n.x}" y="${
        n.y + 4
      }" text-anchor="middle">${b.label}</text>`,
    );
  }
  const { width, height } = G.graph() as { width: number; height: number };
  return h`<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width + 40)}" height="${
    Math.ceil(height)
  }" font-family="sans-serif" font-size="12"><defs><marker id="tsr-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/></marker></defs>${parts}</svg>`;
}

function graphCard(title: string, g: Graph, p: Partition | undefined, extra: string): MimeBundle {
  const listing = printGraph(g);
  const svg = graphSvg(g, p);
  const text = extra ? `${extra}\n${listing}` : listing;
  return bundle(
    text,
    card(
      h`<div class="tsr-title">${title}</div>${
        extra ? h`<pre class="tsr-code">${extra}</pre>` : ""
      }<div style="display:flex;gap:16px;align-items:flex-start"><pre class="tsr-code">${listing}</pre><div>${svg}</div></div>`,
    ),
    { "image/svg+xml": svg.markup },
  );
}

export function graphBundle(g: Graph): MimeBundle {
  return graphCard(`Graph ${g.name}: ${g.nodes.length} nodes`, g, undefined, "");
}

export function executableBundle(exe: GraphExecutable): MimeBundle {
  return graphCard(
    `Model ${exe.graph.name} (${exe.target}): ${exe.kernels.length} kernels`,
    exe.graph,
    exe.partition,
    exe.summary(),
  );
}

/** A partition (fused groups) as a displayable picture. */
export function showPartition(p: Partition): Displayable {
  return new Displayable(
    graphCard(`Graph ${p.graph.name}: ${p.groups.length} fused groups`, p.graph, p, ""),
  );
}
