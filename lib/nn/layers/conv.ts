/**
 * Conv2d over NCHW with PyTorch's arguments (stride, padding, dilation, groups, bias) and
 * weight layout (out, in/groups, kh, kw), traced as one conv2d node.
 */
import { TesseraError } from "../../error.ts";
import { init } from "../init.ts";
import { Module } from "../module.ts";
import { Parameter } from "../parameter.ts";
import type { Tensor } from "../tensor.ts";
import { nonNegative, pair, positive } from "./util.ts";

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | [number, number],
    options: Conv2dOptions = {},
  ) {
    super();
    const w = "nn.Conv2d";
    positive(inChannels, w, "inChannels");
    positive(outChannels, w, "outChannels");
    const [kh, kw] = pair(kernelSize, w, "kernelSize");
    this.stride = pair(options.stride ?? 1, w, "stride");
    this.padding = pair(options.padding ?? 0, w, "padding", nonNegative);
    this.dilation = pair(options.dilation ?? 1, w, "dilation");
    this.groups = positive(options.groups ?? 1, w, "groups");
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new TesseraError(
        `${w}: groups ${this.groups} must divide inChannels ${inChannels} and outChannels ` +
          `${outChannels}`,
      );
    }
    const fanIn = (inChannels / this.groups) * kh * kw;
    const bound = 1 / Math.sqrt(fanIn);
    this.weight = new Parameter(
      [outChannels, inChannels / this.groups, kh, kw],
      init.uniform(bound),
    );
    this.bias = options.bias === false ? null : new Parameter([outChannels], init.uniform(bound));
  }

  override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernel_size=(${
      this.weight.shape.slice(2).join(", ")
    }), stride=(${this.stride.join(", ")}), padding=(${this.padding.join(", ")})` +
      (this.dilation.some((d) => d !== 1) ? `, dilation=(${this.dilation.join(", ")})` : "") +
      (this.groups !== 1 ? `, groups=${this.groups}` : "") + (this.bias ? "" : ", bias=False");
  }

  forward(x: Tensor): Tensor {
    const ins = [x.ctx.param(this.weight)];
    if (this.bias) ins.push(x.ctx.param(this.bias));
    const [ph, pw] = this.padding;
    return x.call("conv2d", ins, {
      strides: this.stride,
      pads: [ph, pw, ph, pw],
      dilations: this.dilation,
      groups: this.groups,
    });
  }
}
