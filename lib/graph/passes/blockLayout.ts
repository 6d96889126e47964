/**
 * Keeps a CNN's activations in the channel-blocked layout NCHW[x]c between operators, as TVM's
 * AlterOpLayout and onnxruntime's NCHWc transformer do. A convolution with packed weights
 * (packConvWeights) computes its sums over (N, M/B, H, W, B) anyway; without this pass it then
 * copies them back to NCHW, a transpose that cost ResNet-18's 7x7 stem 0.5 of its 1.2 ms
 * (Zen 5). Here the blocked result is the value: the convolution's `outBlock` is its weight's
 * block, and what reads it stays blocked where it can:
 *   - a convolution reads a blocked input (`inBlock`);
 *   - unary elementwise operators, and binary ones whose operands are both blocked alike (or
 *     one is a scalar), work on the blocked tensor as on any other;
 *   - max and average pooling and the global average pool take `block` and pool over H, W.
 * Anything else (a reshape, a softmax, a graph output) gets the NCHW tensor back through one
 * `fromBlocks` per value. The values are the same; only the layout between kernels changes.
 * Run after packConvWeights. CPU builds only (graph.build leaves WebGPU in NCHW).
 */
import type { GraphBuilder } from "../builder.ts";
import type { Graph, Value } from "../ir.ts";
import { isOp } from "../ir.ts";
import { BINARY_OPS, UNARY_OPS } from "../ops.ts";
import { rewrite } from "../rewrite.ts";

export function blockLayout(g: Graph): Graph {
  if (!g.nodes.some((n) => isOp(n, "conv2d") && n.attrs.weightBlock && !n.attrs.outBlock)) {
    return g;
  }
  const block = new Map<Value, number>(); // a new blocked value -> its block
  const plain = new Map<Value, Value>(); // a new blocked value -> its NCHW copy
  const nchw = (v: Value, b: GraphBuilder): Value => {
    if (!block.has(v)) return v;
    let p = plain.get(v);
    if (!p) plain.set(v, p = b.call("fromBlocks", [v], {}));
    return p;
  };
  const result = (v: Value, B: number): Value => {
    block.set(v, B);
    return v;
  };
  const scalar = (v: Value) => v.shape.every((d) => d === 1);
  return rewrite(g, {
    node(n, ins, b) {
      const [x, y] = ins;
      const B = block.get(x) ?? 0;
      if (isOp(n, "conv2d") && n.attrs.weightBlock && !n.attrs.outBlock) {
        const attrs = { ...n.attrs, outBlock: n.attrs.weightBlock, ...(B ? { inBlock: B } : {}) };
        return result(b.call("conv2d", ins, attrs, n.name), n.attrs.weightBlock);
      }
      if (B && (UNARY_OPS as readonly string[]).includes(n.op)) {
        return result(b.call(n.op, ins, n.attrs as never, n.name), B);
      }
      if ((BINARY_OPS as readonly string[]).includes(n.op)) {
        const By = block.get(y) ?? 0;
        const same = B && By === B && x.shape.every((d, i) => d === y.shape[i]);
        if (same || (B && !By && scalar(y)) || (By && !B && scalar(x))) {
          return result(b.call(n.op, ins, n.attrs as never, n.name), B || By);
        }
      }
      if (B && (isOp(n, "maxPool2d") || isOp(n, "avgPool2d"))) {
        return result(b.call(n.op, ins, { ...n.attrs, block: B } as never, n.name), B);
      }
      if (B && isOp(n, "globalAvgPool") && n.inputs[0].shape.length === 4) {
        return result(b.call("globalAvgPool", ins, { block: B }, n.name), B);
      }
      if (!ins.some((v) => block.has(v))) return undefined;
      return b.call(n.op, ins.map((v) => nchw(v, b)), n.attrs as never, n.name);
    },
    output: nchw,
  }).graph;
}
