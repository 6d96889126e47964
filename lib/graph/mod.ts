/**
 * The `graph` namespace: the graph IR (values, nodes, graphs), the builder that makes and
 * checks graphs, the operator set and the listing. Passes, legalization, fusion and build
 * join it as they land.
 */
import { GraphBuilder } from "./builder.ts";
import { Graph, isOp, Node, numel, showShape, Value } from "./ir.ts";
import { inferOp, OP_NAMES } from "./ops.ts";
import { printGraph } from "./print.ts";

export const graph = {
  GraphBuilder,
  Graph,
  Node,
  Value,
  isOp,
  printGraph,
  inferOp,
  OP_NAMES,
  numel,
  showShape,
  /** A new builder for a graph named `name` ("main"). */
  builder: (name?: string): GraphBuilder => new GraphBuilder(name),
};
