/**
 * Packs matmul weights once, at compile time, the matmul counterpart of packConvWeights (and
 * of the packed B panels every BLAS keeps): a float32 matmul whose second operand is a 2-D
 * param (K, N) with N a multiple of the block gets that weight as a new param (N/B, K, B) and
 * `weightBlock: B`. Legalization then reads each panel of B columns contiguously along K.
 * B is legalize.ts's weightBlock of N, at most `widest` (graph.build asks for two vector
 * registers: the CPU rules' register tile is 8x32 with AVX-512 and 6x16 with AVX2); other
 * matmuls are left as they are.
 */
import type { GraphBuilder } from "../builder.ts";
import type { Graph, Node, Value } from "../ir.ts";
import { isOp } from "../ir.ts";
import { weightBlock } from "../legalize.ts";
import { packParams } from "./packParams.ts";

export function packMatmulWeights(g: Graph, widest = 32): Graph {
  return packParams(
    g,
    (n) => blockOf(n, widest),
    (w, B, b) => pack(g, w, B, b),
    (n, ins, wv, B, b) => b.call("matmul", [ins[0], wv], { weightBlock: B }, n.name),
  );
}

/** The block a node's weight is packed by: 0 unless an unpacked float32 matmul on a 2-D param. */
function blockOf(n: Node, widest: number): number {
  if (!isOp(n, "matmul") || n.attrs.weightBlock) return 0;
  const w = n.inputs[1];
  if (w.kind !== "param" || w.dtype !== "float32" || w.shape.length !== 2) return 0;
  return weightBlock(w.shape[1] as number, widest);
}

/** The param `w` (K, N) packed as (N/B, K, B), a new param on `b`. */
function pack(g: Graph, w: Value, B: number, b: GraphBuilder): Value {
  const [k, n] = w.shape as number[];
  const data = g.params.get(w.name)!.data as Float32Array;
  const packed = new Float32Array(data.length);
  // packed[o][r][l] = w[r][o * B + l]
  for (let r = 0; r < k; r++) {
    for (let j = 0; j < n; j++) packed[(Math.floor(j / B) * k + r) * B + (j % B)] = data[r * n + j];
  }
  return b.param(`${w.name}.packed${B}`, packed, [n / B, k, B]);
}
