/**
 * Reshapes that need no kernel. A group that is one reshape only renumbers the elements of a
 * contiguous row-major tensor, so its output can be the very bytes of its input, read with
 * another shape (Relax rewrites such reshapes to views the same way). Each one found here is
 * mapped to the value whose storage it shares (through chains of them); memory planning keeps
 * that storage alive for the view's readers, and build emits no kernel for it. A reshape the
 * graph returns stays a kernel: the caller's output array must be written.
 */
import type { Value } from "../ir.ts";
import type { Partition } from "./fuseOps.ts";

export function findViews(p: Partition): Map<Value, Value> {
  const outputs = new Set(p.graph.outputs);
  const views = new Map<Value, Value>();
  for (const gr of p.groups) {
    const [n] = gr.nodes;
    if (gr.nodes.length !== 1 || n.op !== "reshape" || outputs.has(n.outputs[0])) continue;
    const src = n.inputs[0];
    views.set(n.outputs[0], views.get(src) ?? src);
  }
  return views;
}
