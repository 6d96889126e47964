/**
 * The skeleton every pass is written on: walk a graph's nodes in order and build a new graph
 * through a `GraphBuilder`, copying what the pass leaves alone and letting it replace a node
 * by any values it builds. Because the copy goes through the builder, every node's type is
 * inferred and checked again, so a pass cannot produce an ill-typed graph silently.
 */
import { GraphBuilder } from "./builder.ts";
import type { Graph, Node, Param, Shape, Value } from "./ir.ts";

export interface Rewriter {
  /** A graph input's new shape (default: the same). */
  inputShape?(v: Value): Shape;
  /** Whether to copy a param (default: all are copied, used or not; DCE drops unused ones). */
  keepParam?(name: string, p: Param): boolean;
  /**
   * The replacement of node `n` whose inputs are now `ins`: a value per output, built on `b`.
   * Return undefined to copy the node as it is.
   */
  node?(n: Node, ins: Value[], b: GraphBuilder): Value[] | Value | undefined;
  /** What the new graph gives as output `v` (already mapped; default: `v`). */
  output?(v: Value, b: GraphBuilder): Value;
}

/** A copy of the node `n` on `ins` (its normalized attributes and name kept). */
export function copyNode(n: Node, ins: readonly Value[], b: GraphBuilder): Value {
  return b.call(n.op, ins, n.attrs as never, n.name);
}

/** A new graph from `g` through `r`, and the map from old values to new ones. */
export function rewrite(g: Graph, r: Rewriter = {}): { graph: Graph; map: Map<Value, Value> } {
  const b = new GraphBuilder(g.name);
  const map = new Map<Value, Value>();
  for (const v of g.inputs) map.set(v, b.input(v.name, r.inputShape?.(v) ?? v.shape, v.dtype));
  for (const [name, p] of g.params) {
    if (r.keepParam && !r.keepParam(name, p)) continue;
    map.set(g.paramValues.get(name)!, b.param(name, p.data, p.shape, p.dtype));
  }
  for (const n of g.nodes) {
    const ins = n.inputs.map((v) => map.get(v)!);
    const got = r.node?.(n, ins, b);
    const outs = got === undefined ? [copyNode(n, ins, b)] : Array.isArray(got) ? got : [got];
    n.outputs.forEach((v, i) => map.set(v, outs[i]));
  }
  b.output(...g.outputs.map((v) => r.output ? r.output(map.get(v)!, b) : map.get(v)!));
  return { graph: b.build(), map };
}
