/**
 * Dead code elimination: nodes none of whose outputs reach a graph output, and params
 * nothing reads, are dropped. Every operator here is pure, so nothing else is kept alive.
 */
import type { Graph, Value } from "../ir.ts";
import { rewrite } from "../rewrite.ts";

export function eliminateDeadCode(g: Graph): Graph {
  const live = new Set<Value>(g.outputs);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (n.outputs.some((v) => live.has(v))) n.inputs.forEach((v) => live.add(v));
  }
  const dead = new Set(g.nodes.filter((n) => !n.outputs.some((v) => live.has(v))));
  const unread = [...g.paramValues.values()].filter((v) => !live.has(v));
  if (dead.size === 0 && unread.length === 0) return g;
  return rewrite(g, {
    keepParam: (name) => live.has(g.paramValues.get(name)!),
    // A dead node's output is never read: the value stands in for nothing.
    node: (n, ins) => (dead.has(n) ? n.outputs.map(() => ins[0]) : undefined),
  }).graph;
}
