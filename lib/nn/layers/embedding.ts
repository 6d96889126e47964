/**
 * Embedding: a table of `num` rows of `dim` floats read at integer indices (a gather along
 * axis 0); rows start N(0, 1), as in PyTorch.
 */
import { init } from "../init.ts";
import { Module } from "../module.ts";
import { Parameter } from "../parameter.ts";
import type { Tensor } from "../tensor.ts";
import { positive } from "./util.ts";

export class Embedding extends Module {
  readonly weight: Parameter;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number) {
    super();
    positive(numEmbeddings, "nn.Embedding", "numEmbeddings");
    positive(embeddingDim, "nn.Embedding", "embeddingDim");
    this.weight = new Parameter([numEmbeddings, embeddingDim], init.normal(1));
  }

  /** `indices` are int32 or int64, of any shape; the result adds a trailing `embeddingDim`. */

  override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}`;
  }

  forward(indices: Tensor): Tensor {
    const table = indices.ctx.wrap(indices.ctx.param(this.weight));
    return table.call("gather", [indices], { axis: 0 });
  }
}
