/**
 * Flatten: merges dimensions startDim..endDim into one (PyTorch's defaults 1 and -1) as a
 * reshape. A merged run with a symbolic size becomes -1, which the reshape solves.
 */
import { TesseraError } from "../../error.ts";
import type { Dim } from "../../graph/ir.ts";
import { Module } from "../module.ts";
import type { Tensor } from "../tensor.ts";

export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) {
    super();
  }

  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }

  forward(x: Tensor): Tensor {
    const r = x.ndim;
    const s = this.startDim < 0 ? this.startDim + r : this.startDim;
    const e = this.endDim < 0 ? this.endDim + r : this.endDim;
    if (!(s >= 0 && s < r && e >= s && e < r)) {
      throw new TesseraError(
        `nn.Flatten(${this.startDim}, ${this.endDim}): the dimensions do not fit an input of ` +
          `shape (${x.shape.join(", ")})`,
      );
    }
    const run = x.shape.slice(s, e + 1);
    const merged: Dim = run.every((d) => typeof d === "number")
      ? (run as number[]).reduce((a, b) => a * b, 1)
      : -1;
    return x.reshape([...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
  }
}
