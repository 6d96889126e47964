/**
 * How a module shows itself: PyTorch's repr (`MLP(\n  (fc1): Linear(in_features=784, ...)`),
 * one line per layer with its settings, children indented, and the parameter count. It is the
 * text `console.log(model)` prints and, in a card, what a notebook shows for a model.
 */
import { bundle, type MimeBundle } from "../display/bundle.ts";
import { h } from "../display/html.ts";
import { card } from "../display/style.ts";
import { showBytes } from "../graph/print.ts";
import type { Module } from "./module.ts";

/** The child modules of `m` by field name (array fields as name.i), in field order. */
export function childModules(m: Module, isModule: (x: unknown) => x is Module): [string, Module][] {
  const out: [string, Module][] = [];
  for (const [key, val] of Object.entries(m)) {
    if (Array.isArray(val)) val.forEach((x, i) => isModule(x) && out.push([`${key}.${i}`, x]));
    else if (isModule(val)) out.push([key, val]);
  }
  return out;
}

export function describeModule(
  m: Module,
  isModule: (x: unknown) => x is Module,
  indent = "",
): string {
  const kids = childModules(m, isModule);
  const head = `${m.constructor.name}(${m.extraRepr()}`;
  if (kids.length === 0) return `${head})`;
  const inner = indent + "  ";
  const lines = kids.map(([k, c]) => `${inner}(${k}): ${describeModule(c, isModule, inner)}`);
  return `${head}${m.extraRepr() ? "," : ""}\n${lines.join("\n")}\n${indent})`;
}

export function moduleBundle(m: Module, isModule: (x: unknown) => x is Module): MimeBundle {
  const text = describeModule(m, isModule);
  let count = 0, bytes = 0;
  for (const [, p] of m.namedParameters()) {
    count += p.size;
    bytes += p.size * 4;
  }
  const summary = `${m.namedParameters().length} parameters, ${count} elements (${
    showBytes(bytes)
  } as float32)`;
  return bundle(
    `${text}\n# ${summary}`,
    card(h`<pre>${text}</pre><div>${summary}</div>`),
  );
}
