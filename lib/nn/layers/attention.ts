/**
 * MultiHeadAttention over batch-first inputs (B, S, E), PyTorch's nn.MultiheadAttention
 * with separate q/k/v projections (so that the graph's horizontal fusion has the three
 * parallel matmuls to combine). Scaled dot-product attention per head, no mask, no dropout.
 */
import { TesseraError } from "../../error.ts";
import { Module } from "../module.ts";
import type { Tensor } from "../tensor.ts";
import { Linear } from "./linear.ts";
import { positive } from "./util.ts";

export class MultiHeadAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly out_proj: Linear;
  readonly headDim: number;

  constructor(readonly embedDim: number, readonly numHeads: number) {
    super();
    positive(embedDim, "nn.MultiHeadAttention", "embedDim");
    positive(numHeads, "nn.MultiHeadAttention", "numHeads");
    if (embedDim % numHeads !== 0) {
      throw new TesseraError(
        `nn.MultiHeadAttention: embedDim ${embedDim} is not divisible by numHeads ${numHeads}`,
      );
    }
    this.headDim = embedDim / numHeads;
    this.q_proj = new Linear(embedDim, embedDim);
    this.k_proj = new Linear(embedDim, embedDim);
    this.v_proj = new Linear(embedDim, embedDim);
    this.out_proj = new Linear(embedDim, embedDim);
  }

  /** Self-attention with one argument; `key` defaults to `query`, `value` to `key`. */

  override extraRepr(): string {
    return `embed_dim=${this.embedDim}, num_heads=${this.numHeads}`;
  }

  forward(query: Tensor, key: Tensor = query, value: Tensor = key): Tensor {
    for (const [name, t] of [["query", query], ["key", key], ["value", value]] as const) {
      if (t.ndim !== 3 || t.shape[2] !== this.embedDim) {
        throw new TesseraError(
          `nn.MultiHeadAttention: ${name} has shape (${t.shape.join(", ")}); expected ` +
            `(batch, sequence, ${this.embedDim})`,
        );
      }
    }
    const [b, s] = query.shape;
    const heads = (t: Tensor) => t.reshape([t.shape[0], t.shape[1], this.numHeads, this.headDim]);
    const q = heads(this.q_proj.forward(query)).transpose([0, 2, 1, 3]);
    const k = heads(this.k_proj.forward(key)).transpose([0, 2, 3, 1]);
    const v = heads(this.v_proj.forward(value)).transpose([0, 2, 1, 3]);
    const scores = q.matmul(k).mul(1 / Math.sqrt(this.headDim));
    const ctx = scores.softmax(-1).matmul(v).transpose([0, 2, 1, 3]);
    return this.out_proj.forward(ctx.reshape([b, s, this.embedDim]));
  }
}
