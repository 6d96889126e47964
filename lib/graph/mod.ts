/**
 * The `graph` namespace: the graph IR (values, nodes, graphs), the builder that makes and
 * checks graphs, the operator set, the listing, the passes and the pipeline, fusion, memory
 * planning, the interpreter path and `build`.
 */
import { GraphBuilder } from "./builder.ts";
import { buildGraph } from "./build.ts";
import { groupProgram } from "./fusedProgram.ts";
import { Graph, isOp, Node, numel, showShape, Value } from "./ir.ts";
import { interpretGraph } from "./interpret.ts";
import { legalizeNode } from "./legalize.ts";
import { inferOp, OP_NAMES } from "./ops.ts";
import { nodePattern, programPattern } from "./patterns.ts";
import { optimize, PIPELINE, pipeline, weightBlockFor } from "./pipeline.ts";
import { printGraph } from "./print.ts";
import { extractTasks } from "./tasks.ts";
import { bindSizes } from "./passes/bindSizes.ts";
import { cancelLayout } from "./passes/cancelLayout.ts";
import { combineParallelMatmul } from "./passes/combineParallelMatmul.ts";
import { eliminateCommonSubexpressions } from "./passes/cse.ts";
import { eliminateDeadCode } from "./passes/dce.ts";
import { foldBatchNorm } from "./passes/foldBatchNorm.ts";
import { foldConstants } from "./passes/foldConstants.ts";
import { fuseOps } from "./passes/fuseOps.ts";
import { inferShapes } from "./passes/inferShapes.ts";
import { packConvWeights } from "./passes/packConvWeights.ts";
import { packMatmulWeights } from "./passes/packMatmulWeights.ts";
import { planMemory } from "./passes/planMemory.ts";

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
  /** `graph.build(g, { target: "c" | "interpreter", sizes, records })`. */
  build: buildGraph,
  /** The reference: every node legalized and interpreted on its own. */
  interpret: interpretGraph,
  legalizeNode,
  nodePattern,
  programPattern,
  groupProgram,
  optimize,
  PIPELINE,
  /** The pipeline packing weights by blocks of at most `block` (`await weightBlockFor(target)`). */
  pipeline,
  weightBlockFor,
  /** The model's distinct fused programs with counts and work, for tuning. */
  extractTasks,
  passes: {
    inferShapes,
    bindSizes,
    foldConstants,
    foldBatchNorm,
    cancelLayout,
    eliminateCommonSubexpressions,
    eliminateDeadCode,
    combineParallelMatmul,
    packConvWeights,
    packMatmulWeights,
    fuseOps,
    planMemory,
  },
};
