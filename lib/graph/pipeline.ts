/**
 * The graph optimization pipeline, as a list a reader can follow top to bottom (Relax's
 * pass pipelines read the same way). Each entry is a graph -> graph pass from passes/; the
 * pipeline runs them in order after symbolic sizes are bound.
 */
import type { Graph } from "./ir.ts";
import { bindSizes } from "./passes/bindSizes.ts";
import { cancelLayout } from "./passes/cancelLayout.ts";
import { combineParallelMatmul } from "./passes/combineParallelMatmul.ts";
import { eliminateCommonSubexpressions } from "./passes/cse.ts";
import { eliminateDeadCode } from "./passes/dce.ts";
import { foldBatchNorm } from "./passes/foldBatchNorm.ts";
import { foldConstants } from "./passes/foldConstants.ts";
import { narrowIndices } from "./passes/narrowIndices.ts";
import { packConvWeights } from "./passes/packConvWeights.ts";
import { packMatmulWeights } from "./passes/packMatmulWeights.ts";

export interface Pass {
  name: string;
  run: (g: Graph) => Graph;
}

/** The passes `graph.build` runs, in order. */
export const PIPELINE: readonly Pass[] = [
  { name: "foldConstants", run: (g) => foldConstants(g) },
  { name: "foldBatchNorm", run: foldBatchNorm },
  { name: "cancelLayout", run: cancelLayout },
  { name: "eliminateCommonSubexpressions", run: eliminateCommonSubexpressions },
  { name: "combineParallelMatmul", run: combineParallelMatmul },
  { name: "foldConstants", run: (g) => foldConstants(g) },
  { name: "packConvWeights", run: packConvWeights },
  { name: "packMatmulWeights", run: packMatmulWeights },
  { name: "narrowIndices", run: narrowIndices },
  { name: "eliminateDeadCode", run: eliminateDeadCode },
];

/** `g` with sizes bound and every pass of `passes` applied. */
export function optimize(
  g: Graph,
  sizes: Readonly<Record<string, number>> = {},
  passes: readonly Pass[] = PIPELINE,
): Graph {
  let cur = g.symbols.length > 0 ? bindSizes(g, sizes) : g;
  for (const p of passes) cur = p.run(cur);
  return cur;
}
