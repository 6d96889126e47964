/**
 * Folds an inference BatchNorm into the convolution before it, as inference compilers do
 * (TVM's SimplifyInference with FoldScaleAxis): `bn(conv(x, w, b))` with w, b and the
 * BatchNorm's gamma, beta, mean and var all float32 params becomes `conv(x, w', b')` with
 *   s = gamma / sqrt(var + eps),  w'[m] = w[m] * s[m],  b' = (b - mean) * s + beta,
 * computed in float64 and stored as float32 params named after the convolution. Only when
 * the BatchNorm is the convolution's only reader (else the unnormalized result is needed).
 */
import type { Graph, Node, Value } from "../ir.ts";
import { isOp } from "../ir.ts";
import { rewrite } from "../rewrite.ts";

export function foldBatchNorm(g: Graph): Graph {
  const users = g.users();
  const outputs = new Set(g.outputs);
  const bnOf = new Map<Node, Node>(); // conv -> its BatchNorm
  for (const bn of g.nodes) {
    if (!isOp(bn, "batchNorm")) continue;
    const conv = bn.inputs[0].producer;
    if (!conv || !isOp(conv, "conv2d")) continue;
    if (users.get(conv.outputs[0])!.length !== 1 || outputs.has(conv.outputs[0])) continue;
    const params = [...conv.inputs.slice(1), ...bn.inputs.slice(1)];
    if (params.every((v) => v.kind === "param" && v.dtype === "float32")) bnOf.set(conv, bn);
  }
  if (bnOf.size === 0) return g;
  const folded = new Set(bnOf.values());
  const data = (v: Value) => g.params.get(v.name)!.data as Float32Array;
  return rewrite(g, {
    node(n, ins, b) {
      if (folded.has(n)) return ins[0]; // the folded convolution already normalizes
      const bn = bnOf.get(n);
      if (!bn || !isOp(n, "conv2d") || !isOp(bn, "batchNorm")) return undefined;
      const [gamma, beta, mean, variance] = bn.inputs.slice(1).map(data);
      const w = data(n.inputs[1]);
      const bias = n.inputs[2] ? data(n.inputs[2]) : null;
      const m = gamma.length, per = w.length / m;
      const w2 = new Float32Array(w.length), b2 = new Float32Array(m);
      for (let f = 0; f < m; f++) {
        const s = gamma[f] / Math.sqrt(variance[f] + bn.attrs.epsilon);
        for (let i = 0; i < per; i++) w2[f * per + i] = w[f * per + i] * s;
        b2[f] = ((bias ? bias[f] : 0) - mean[f]) * s + beta[f];
      }
      const wv = b.param(`${n.name}.w_bn`, w2, n.inputs[1].shape as number[]);
      const bv = b.param(`${n.name}.b_bn`, b2, [m]);
      return b.call("conv2d", [ins[0], wv, bv], n.attrs, bn.name);
    },
  }).graph;
}
