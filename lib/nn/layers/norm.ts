/**
 * Normalization layers: BatchNorm2d in its inference form (running statistics are
 * parameters, PyTorch's names) and LayerNorm over the trailing `normalizedShape`.
 */
import { TesseraError } from "../../error.ts";
import { init } from "../init.ts";
import { Module } from "../module.ts";
import { Parameter } from "../parameter.ts";
import type { Tensor } from "../tensor.ts";
import { positive } from "./util.ts";

export class BatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly running_mean: Parameter;
  readonly running_var: Parameter;

  constructor(readonly numFeatures: number, readonly eps = 1e-5) {
    super();
    positive(numFeatures, "nn.BatchNorm2d", "numFeatures");
    this.weight = new Parameter([numFeatures], init.ones());
    this.bias = new Parameter([numFeatures], init.zeros());
    this.running_mean = new Parameter([numFeatures], init.zeros());
    this.running_var = new Parameter([numFeatures], init.ones());
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}`;
  }

  forward(x: Tensor): Tensor {
    const p = (q: Parameter) => x.ctx.param(q);
    return x.call(
      "batchNorm",
      [p(this.weight), p(this.bias), p(this.running_mean), p(this.running_var)],
      { epsilon: this.eps },
    );
  }
}

export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly normalizedShape: number[];

  constructor(normalizedShape: number | readonly number[], readonly eps = 1e-5) {
    super();
    const s = typeof normalizedShape === "number" ? [normalizedShape] : [...normalizedShape];
    if (s.length === 0) throw new TesseraError("nn.LayerNorm: normalizedShape is empty");
    s.forEach((d) => positive(d, "nn.LayerNorm", "normalizedShape"));
    this.normalizedShape = s;
    this.weight = new Parameter(s, init.ones());
    this.bias = new Parameter(s, init.zeros());
  }

  override extraRepr(): string {
    return `(${this.normalizedShape.join(", ")}${
      this.normalizedShape.length === 1 ? "," : ""
    }), eps=${this.eps}`;
  }

  forward(x: Tensor): Tensor {
    return x.call("layerNorm", [x.ctx.param(this.weight), x.ctx.param(this.bias)], {
      axis: -this.normalizedShape.length,
      epsilon: this.eps,
    });
  }
}
