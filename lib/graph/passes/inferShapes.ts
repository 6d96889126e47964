/**
 * Shape inference over a whole graph: every node's output type inferred again from its
 * inputs (through the builder, which checks each node as it is added). A graph made by
 * hand-editing values, or one whose inputs are given new shapes, comes back consistent, or
 * the first node that no longer type-checks is a TesseraError naming it and its shapes.
 */
import type { Graph, Shape, Value } from "../ir.ts";
import { rewrite } from "../rewrite.ts";

/** `g` with its types inferred again; `inputs` optionally gives inputs new shapes by name. */
export function inferShapes(g: Graph, inputs: Record<string, Shape> = {}): Graph {
  return rewrite(g, { inputShape: (v: Value) => inputs[v.name] ?? v.shape }).graph;
}
