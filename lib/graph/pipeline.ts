/**
 * The graph optimization pipeline, as a list a reader can follow top to bottom (Relax's
 * pass pipelines read the same way). Each entry is a graph -> graph pass from passes/; the
 * pipeline runs them in order after symbolic sizes are bound.
 */
import type { Graph } from "./ir.ts";
import { bindSizes } from "./passes/bindSizes.ts";
import { blockLayout } from "./passes/blockLayout.ts";
import { cancelLayout } from "./passes/cancelLayout.ts";
import { combineParallelMatmul } from "./passes/combineParallelMatmul.ts";
import { eliminateCommonSubexpressions } from "./passes/cse.ts";
import { eliminateDeadCode } from "./passes/dce.ts";
import { foldBatchNorm } from "./passes/foldBatchNorm.ts";
import { foldConstants } from "./passes/foldConstants.ts";
import { narrowIndices } from "./passes/narrowIndices.ts";
import { packConvWeights } from "./passes/packConvWeights.ts";
import { packMatmulWeights } from "./passes/packMatmulWeights.ts";
import { defaultFacts } from "../tune/default.ts";

export interface Pass {
  name: string;
  run: (g: Graph) => Graph;
}

/**
 * The passes `graph.build` runs, in order; weights are packed in blocks of at most `block`
 * columns or channels (weightBlockFor), and with `blocked` (CPU builds: blockedFor) a CNN's
 * activations stay in the convolutions' channel-blocked layout between operators.
 */
export function pipeline(block = 32, blocked = false): Pass[] {
  return [
    { name: "foldConstants", run: (g) => foldConstants(g) },
    { name: "foldBatchNorm", run: foldBatchNorm },
    { name: "cancelLayout", run: cancelLayout },
    { name: "eliminateCommonSubexpressions", run: eliminateCommonSubexpressions },
    { name: "combineParallelMatmul", run: combineParallelMatmul },
    { name: "foldConstants", run: (g) => foldConstants(g) },
    { name: "packConvWeights", run: (g) => packConvWeights(g, block) },
    { name: "packMatmulWeights", run: (g) => packMatmulWeights(g, block) },
    ...(blocked ? [{ name: "blockLayout", run: blockLayout }] : []),
    { name: "narrowIndices", run: narrowIndices },
    { name: "eliminateDeadCode", run: eliminateDeadCode },
  ];
}

/**
 * Whether a build on `target` keeps activations channel-blocked (the `blocked` argument of
 * `pipeline`): on the CPU, where a convolution's register tile runs over a block of output
 * channels; not on WebGPU, whose schedules are written for NCHW.
 */
export function blockedFor(target: string): boolean {
  return target !== "webgpu";
}

/** The pipeline with the widest blocks (32), as a WebGPU build packs. */
export const PIPELINE: readonly Pass[] = pipeline();

/**
 * The weight block for a build on `target`: two vector registers of float32 on the CPU (16
 * with AVX2, 32 with AVX-512: the register tile's columns, see legalize.ts's weightBlock),
 * also for the interpreter, which runs the CPU schedules and reads the C target's records;
 * 32 on WebGPU.
 */
export async function weightBlockFor(target: string): Promise<number> {
  if (target === "webgpu") return 32;
  return Math.min(32, 2 * (await defaultFacts()).lanes);
}

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
