/**
 * Narrows int64 gather indices that are params to int32 when every value fits: ONNX stores
 * indices as int64, which WebGPU cannot hold at all and the C target reads at twice the
 * bytes; an int32 copy of the param computes the same gather everywhere.
 */
import type { Graph, Value } from "../ir.ts";
import { isOp } from "../ir.ts";
import { rewrite } from "../rewrite.ts";

export function narrowIndices(g: Graph): Graph {
  const narrow = new Set<Value>();
  for (const n of g.nodes) {
    if (!isOp(n, "gather")) continue;
    const idx = n.inputs[1];
    if (idx.kind !== "param" || idx.dtype !== "int64") continue;
    const d = g.params.get(idx.name)!.data as BigInt64Array;
    if (d.every((x) => x >= -(2n ** 31n) && x < 2n ** 31n)) narrow.add(idx);
  }
  if (narrow.size === 0) return g;
  const made = new Map<Value, Value>();
  return rewrite(g, {
    node(n, ins, b) {
      if (!isOp(n, "gather") || !narrow.has(n.inputs[1])) return undefined;
      const old = n.inputs[1];
      let v = made.get(old);
      if (!v) {
        const d = g.params.get(old.name)!.data as BigInt64Array;
        v = b.param(`${old.name}.i32`, Int32Array.from(d, Number), old.shape as number[]);
        made.set(old, v);
      }
      return b.call("gather", [ins[0], v], n.attrs, n.name);
    },
  }).graph;
}
