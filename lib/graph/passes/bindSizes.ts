/**
 * Binds symbolic sizes to numbers: every "n" in the inputs' shapes (and in reshape targets)
 * becomes the given size and the graph's types are inferred again. Legalization, fusion,
 * memory planning and build work on graphs of known shapes, so this is their first step.
 */
import { TesseraError } from "../../error.ts";
import type { Dim, Graph } from "../ir.ts";
import { isOp } from "../ir.ts";
import { rewrite } from "../rewrite.ts";

export function bindSizes(g: Graph, sizes: Readonly<Record<string, number>>): Graph {
  for (const [name, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 0) {
      throw new TesseraError(`bindSizes: size ${name} is ${v}; sizes are non-negative integers`);
    }
  }
  const missing = g.symbols.filter((s) => !(s in sizes));
  if (missing.length > 0) {
    throw new TesseraError(
      `bindSizes: graph ${g.name} has symbolic sizes ${missing.join(", ")} with no value; ` +
        `give them, e.g. { ${missing.map((s) => `${s}: 1`).join(", ")} }`,
    );
  }
  const bind = (d: Dim): Dim => (typeof d === "string" && d in sizes ? sizes[d] : d);
  return rewrite(g, {
    inputShape: (v) => v.shape.map(bind),
    node(n, ins, b) {
      if (!isOp(n, "reshape")) return undefined;
      return b.call("reshape", ins, { shape: n.attrs.shape.map(bind) }, n.name);
    },
  }).graph;
}
