/**
 * The loop nest a schedule stands for, before lowering: each stage's loops in order with
 * their kind (serial, parallel, vectorized, unrolled, bound to a GPU thread), their extent,
 * and the stages attached inside them (computeAt), so a notebook shows what every primitive
 * just did. Extents come from bound inference when the schedule is complete enough for it
 * (attached stages then show the region they compute per iteration), else from the axes.
 */
import { simplify } from "../arith/simplify.ts";
import type { Expr } from "../ir/expr.ts";
import { inferBounds } from "../lower/bounds.ts";
import { inlineBodies } from "../lower/inline.ts";
import { passDownExtents } from "../schedule/relations.ts";
import type { Schedule } from "../schedule/schedule.ts";
import type { Stage } from "../schedule/stage.ts";
import type { IterVar } from "../te/tensor.ts";
import { bundle, type MimeBundle } from "./bundle.ts";
import { h, type Html } from "./html.ts";
import { mathHtml, mathText } from "./math.ts";
import { card } from "./style.ts";
import { shapeText } from "./tensor.ts";

interface Badge {
  label: string;
  cls: string;
}

interface Line {
  indent: number;
  text: string;
  html: Html;
  badges: Badge[];
}

/** Extent of every loop variable of every computed stage. */
function extents(s: Schedule): Map<Stage, Map<IterVar, Expr>> {
  try {
    const b = inferBounds(s, inlineBodies(s));
    return new Map([...b].map(([st, sb]) => [st, sb.ext]));
  } catch {
    // A schedule mid-edit (say, attached at a loop that was split since) still shows.
    const out = new Map<Stage, Map<IterVar, Expr>>();
    for (const st of s.stages) {
      if (st.op.kind !== "compute") continue;
      const root = new Map<IterVar, Expr>();
      for (const a of [...st.op.axis, ...st.op.reduceAxis]) root.set(a, a.dom!.extent);
      const ext = passDownExtents(st.relations, root);
      for (const [v, e] of ext) ext.set(v, simplify(e));
      out.set(st, ext);
    }
    return out;
  }
}

function loopBadges(st: Stage, v: IterVar): Badge[] {
  const a = st.attrs.get(v);
  const out: Badge[] = [];
  switch (a?.forKind ?? "serial") {
    case "serial":
      out.push({ label: "serial", cls: "" });
      break;
    case "parallel":
      out.push({ label: "parallel", cls: "parallel" });
      break;
    case "vectorized":
      out.push({ label: "vectorized", cls: "vectorized" });
      break;
    case "unrolled":
      out.push({ label: "unrolled", cls: "unrolled" });
      break;
    case "threadBinding":
      out.push({ label: `bound to ${a!.threadTag}`, cls: "thread" });
  }
  if (v.iterType === "reduce") out.push({ label: "reduce", cls: "reduce" });
  for (const [k, val] of a?.pragmas ?? []) out.push({ label: `pragma ${k}=${val}`, cls: "" });
  return out;
}

function attachText(st: Stage): string {
  const at = st.attach.type === "scope"
    ? `computed at ${st.attach.stage.name}.${st.attach.axis.name}`
    : st.attach.type === "inline"
    ? "inlined into its consumers"
    : "root";
  return `${at}, ${st.scope}`;
}

function stageLines(
  st: Stage,
  indent: number,
  ext: Map<Stage, Map<IterVar, Expr>>,
  out: Line[],
): void {
  const s = st.schedule;
  const head = `stage ${st.name}`;
  out.push({
    indent,
    text: `${head} [${attachText(st)}]`,
    html: h`<b>${head}</b> <span class="tsr-dim">[${attachText(st)}]</span>`,
    badges: [],
  });
  if (st.op.kind !== "compute") return;
  const op = st.op;
  const lhs = `${st.name}[${op.axis.map((a) => a.name).join(", ")}]`;
  if (st.attach.type === "inline") {
    out.push({
      indent: indent + 1,
      text: `${lhs} = ${mathText(op.body)}`,
      html: h`${lhs} = ${mathHtml(op.body)}`,
      badges: [],
    });
    return;
  }
  const e = ext.get(st);
  st.leafIterVars.forEach((v, l) => {
    const x = e?.get(v);
    const range = x ? `[0, ${mathText(x)})` : "";
    out.push({
      indent: indent + 1 + l,
      text: `for ${v.name} in ${range}`,
      html: h`<span class="tsr-kw">for</span> ${v.name} <span class="tsr-kw">in</span> ${range}`,
      badges: loopBadges(st, v),
    });
    for (const c of s.stages) {
      if (c.attach.type === "scope" && c.attach.stage === st && c.attach.axis === v) {
        stageLines(c, indent + 2 + l, ext, out);
      }
    }
  });
  out.push({
    indent: indent + 1 + st.leafIterVars.length,
    text: `${lhs} = ${mathText(op.body)}`,
    html: h`${lhs} = ${mathHtml(op.body)}`,
    badges: [],
  });
}

function render(title: string, lines: Line[], extraText: string[] = []): MimeBundle {
  const left = lines.map((l) => "  ".repeat(l.indent + 1) + l.text);
  const width = Math.max(0, ...left.map((s, i) => (lines[i].badges.length ? s.length : 0)));
  const text = lines.map((l, i) =>
    l.badges.length
      ? `${left[i].padEnd(width)}   ${l.badges.map((b) => b.label).join(", ")}`
      : left[i]
  );
  const rows = lines.map((l) =>
    h`<div>${"  ".repeat(l.indent)}${l.html}${
      l.badges.map((b) =>
        h`<span class="tsr-badge${b.cls ? ` tsr-${b.cls}` : ""}">${b.label}</span>`
      )
    }</div>`
  );
  return bundle(
    [title, ...extraText, ...text].join("\n"),
    card(
      h`<div class="tsr-title">${title}</div>${
        extraText.map((t) => h`<div class="tsr-dim">${t}</div>`)
      }<div class="tsr-nest">${rows}</div>`,
    ),
  );
}

/** Every stage: inputs, inlined stages, then each root stage with what is attached in it. */
export function scheduleBundle(s: Schedule): MimeBundle {
  const ext = extents(s);
  const lines: Line[] = [];
  const inputs = s.stages.filter((st) => st.op.kind === "placeholder");
  for (const st of inputs) {
    const t = st.op.output;
    lines.push({
      indent: 0,
      text: `input ${t.name}: ${shapeText(t)}`,
      html: h`<b>input ${t.name}</b> <span class="tsr-dim">${shapeText(t)}</span>`,
      badges: [],
    });
  }
  for (const st of s.stages) {
    if (st.op.kind !== "compute") continue;
    const parentGone = st.attach.type === "scope" &&
      !st.attach.stage.leafIterVars.includes(st.attach.axis);
    if (st.attach.type !== "scope" || parentGone) stageLines(st, 0, ext, lines);
  }
  const outs = s.outputs.map((o) => o.name).join(", ");
  return render(`Schedule of ${outs} (${s.stages.length} stages)`, lines);
}

/** One stage's nest, including the stages attached inside its loops. */
export function stageBundle(st: Stage): MimeBundle {
  const lines: Line[] = [];
  // Its own header line becomes the title, so its loops start at the left margin.
  stageLines(st, -1, extents(st.schedule), lines);
  const [head, ...rest] = lines;
  const note = st.op.kind === "placeholder" ? ["an input: it has no loops"] : [];
  return render(head.text.replace(/^stage/, "Stage"), rest, note);
}
