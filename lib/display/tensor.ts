/**
 * How a tensor shows itself: its name, dtype and shape, and for a compute its definition as
 * math with the range of every index, so that a notebook cell holding `C` says what `C` is.
 */
import type { Tensor } from "../te/tensor.ts";
import { bundle, type MimeBundle } from "./bundle.ts";
import { h } from "./html.ts";
import { mathHtml, mathText, rangeOf } from "./math.ts";
import { card } from "./style.ts";

export function shapeText(t: Tensor): string {
  return `${t.dtype}[${t.shape.map(mathText).join(", ")}]`;
}

function title(t: Tensor, kind: string) {
  const shape = shapeText(t);
  return h`<div class="tsr-title">${t.name} <span class="tsr-dim">${shape}</span><span class="tsr-badge">${kind}</span></div>`;
}

export function tensorBundle(t: Tensor): MimeBundle {
  const op = t.op;
  const head = `Tensor ${t.name}: ${shapeText(t)}`;
  if (op.kind === "placeholder") return bundle(`${head} (input)`, card(title(t, "input")));
  if (op.kind === "scan") return bundle(`${head} (scan)`, card(title(t, "scan")));
  if (op.kind === "extern") {
    return bundle(`${head} (extern ${op.spec.fname})`, card(title(t, "extern")));
  }
  // A multi-output compute shows every output it defines, this one first.
  const order = op.outputs.map((_, k) => k).sort((a, b) =>
    (a === t.valueIndex ? -1 : 0) - (b === t.valueIndex ? -1 : 0)
  );
  const idx = op.axis.map((a) => a.name).join(", ");
  const lhs = (k: number) => `${op.outputs[k].name}[${idx}]`;
  const axes = [...op.axis, ...op.reduceAxis];
  const domain = axes.map((a) => `${a.name} ∈ ${rangeOf(a.dom!.min, a.dom!.extent)}`).join(", ");
  const text = [head, ...order.map((k) => `  ${lhs(k)} = ${mathText(op.bodies[k])}`)];
  if (axes.length > 0) text.push(`  ${domain}`);
  const def = order.map((k) =>
    h`<div class="tsr-nest">${lhs(k)} = ${mathHtml(op.bodies[k])}</div>`
  );
  return bundle(
    text.join("\n"),
    card(h`${title(t, "compute")}${def}<div class="tsr-dim">${domain}</div>`),
  );
}
