/**
 * Packs convolution weights for the channel-blocked form once, at compile time, as TVM's
 * AlterOpLayout with FoldConstant does for NCHW[x]c: a float32 conv2d (groups 1) whose weight
 * is a param and whose output channels are a multiple of 8 gets its weight as a new param
 * (M/B, C, kh, kw, B) and `weightBlock: B` (B from legalize.ts's weightBlock, at most
 * `widest`). Legalization then reads the packed weight directly instead of packing it at
 * every inference (for ResNet-18, 11.7M floats a call). A weight computed at run time stays
 * as it is (legalization packs it as a stage).
 */
import type { GraphBuilder } from "../builder.ts";
import type { Graph, Node, Value } from "../ir.ts";
import type { NormAttrs } from "../ops.ts";
import { isOp } from "../ir.ts";
import { packedShape, weightBlock } from "../legalize.ts";
import { packParams } from "./packParams.ts";

export function packConvWeights(g: Graph, widest = 32): Graph {
  return packParams(
    g,
    (n) => blockOf(n, widest),
    (w, B, b) => pack(g, w, B, b),
    (n, ins, wv, B, b) =>
      b.call("conv2d", [ins[0], wv, ...ins.slice(2)], {
        ...(n.attrs as NormAttrs<"conv2d">),
        weightBlock: B,
      }, n.name),
  );
}

/** The block a node's weight is packed by: 0 unless an unpacked float32 conv2d on a param. */
function blockOf(n: Node, widest: number): number {
  if (!isOp(n, "conv2d") || n.attrs.weightBlock || n.attrs.groups !== 1) return 0;
  const w = n.inputs[1];
  return w.kind === "param" && w.dtype === "float32"
    ? weightBlock(w.shape[0] as number, widest)
    : 0;
}

/** The param `w` (M, C, kh, kw) packed as (M/B, C, kh, kw, B), a new param on `b`. */
function pack(g: Graph, w: Value, B: number, b: GraphBuilder): Value {
  const [m, c, kh, kw] = w.shape as number[];
  const data = g.params.get(w.name)!.data as Float32Array;
  const packed = new Float32Array(data.length);
  const per = c * kh * kw;
  // packed[o][i][l] = w[o * B + l][i], i running over (c, y, x).
  for (let f = 0; f < m; f++) {
    const o = Math.floor(f / B), l = f % B;
    for (let i = 0; i < per; i++) packed[(o * per + i) * B + l] = data[f * per + i];
  }
  return b.param(`${w.name}.packed${B}`, packed, packedShape([m, c, kh, kw], B));
}
