/**
 * Constant folding: a node whose inputs are all params (weights and constants, or values
 * folded before it) is computed now, on the interpreter through its legalization, and
 * becomes a param itself. Frontends leave such chains behind (a transposed weight, a
 * reshape of a constant, ONNX's Shape -> Gather -> Concat chains, which the importer turns
 * into constants). Outputs larger than `maxElements` stay computed at run time, so a
 * broadcast of a scalar constant does not become a huge weight.
 */
import { NDArray } from "../../runtime/ndarray.ts";
import { placeholder } from "../../te/compute.ts";
import type { Graph, ParamData, Value } from "../ir.ts";
import { numel } from "../ir.ts";
import { runTe } from "../interpret.ts";
import { legalizeNode } from "../legalize.ts";
import { rewrite } from "../rewrite.ts";

export interface FoldOptions {
  /** The largest output folded (default 2^24 elements). */
  maxElements?: number;
}

export function foldConstants(g: Graph, opts: FoldOptions = {}): Graph {
  const max = opts.maxElements ?? 2 ** 24;
  const arrays = new Map<Value, NDArray>();
  return rewrite(g, {
    node(n, ins, b) {
      if (!ins.every((v) => v.kind === "param")) return undefined;
      const size = numel(n.outputs[0].shape);
      if (size === null || size > max) return undefined;
      const inputs = ins.map((v) => {
        if (!arrays.has(v)) {
          arrays.set(v, new NDArray(v.shape as number[], v.dtype, b.paramOf(v).data as never));
        }
        return arrays.get(v)!;
      });
      const phs = ins.map((v, i) => placeholder(v.shape as number[], v.dtype, `in${i}`));
      const [out] = runTe([legalizeNode(n, phs)], phs.map((t, i) => [t, inputs[i]]));
      const v = b.param(n.name, out.data as ParamData, out.shape, out.dtype);
      arrays.set(v, out);
      return v;
    },
  }).graph;
}
