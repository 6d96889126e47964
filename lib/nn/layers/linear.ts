/**
 * Linear: y = x W^T + b with W of shape (out, in), PyTorch's layout, traced as TVM's nn.Linear
 * is (a transpose of the weight, a matmul, a broadcast add); constant folding can store the
 * transposed weight.
 */
import { init } from "../init.ts";
import { Module } from "../module.ts";
import { Parameter } from "../parameter.ts";
import type { Tensor } from "../tensor.ts";
import { positive } from "./util.ts";

export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    positive(inFeatures, "nn.Linear", "inFeatures");
    positive(outFeatures, "nn.Linear", "outFeatures");
    const bound = 1 / Math.sqrt(inFeatures);
    this.weight = new Parameter([outFeatures, inFeatures], init.uniform(bound));
    this.bias = bias ? new Parameter([outFeatures], init.uniform(bound)) : null;
  }

  override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${
      this.bias ? "True" : "False"
    }`;
  }

  forward(x: Tensor): Tensor {
    const w = x.ctx.wrap(x.ctx.param(this.weight)).transpose([1, 0]);
    const y = x.matmul(w);
    return this.bias ? y.add(x.ctx.wrap(x.ctx.param(this.bias))) : y;
  }
}
