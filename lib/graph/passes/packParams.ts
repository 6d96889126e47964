/**
 * The rewrite the weight-packing passes share (packConvWeights, packMatmulWeights): each node
 * whose block is nonzero gets its weight (input 1, a param) repacked into a new param, once per
 * weight however many nodes share it, and is rebuilt to read it. The passes say which nodes,
 * how the data moves and how the node is rebuilt.
 */
import type { GraphBuilder } from "../builder.ts";
import type { Graph, Node, Value } from "../ir.ts";
import { rewrite } from "../rewrite.ts";

export function packParams(
  g: Graph,
  blockOf: (n: Node) => number,
  pack: (w: Value, B: number, b: GraphBuilder) => Value,
  call: (n: Node, ins: readonly Value[], packed: Value, B: number, b: GraphBuilder) => Value,
): Graph {
  if (!g.nodes.some((n) => blockOf(n) > 0)) return g;
  const done = new Map<Value, Value>(); // a weight two nodes share is packed once
  return rewrite(g, {
    node(n, ins, b) {
      const B = blockOf(n);
      if (B === 0) return undefined;
      const w = n.inputs[1];
      const wv = done.get(w) ?? pack(w, B, b);
      done.set(w, wv);
      return call(n, ins, wv, B, b);
    },
  }).graph;
}
