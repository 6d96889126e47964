/**
 * Containers: Sequential (submodules named "0", "1", ... as in PyTorch, each one's output the
 * next one's input) and Residual (x + inner(x), the skip connection of ResNets and
 * transformers).
 */
import { TesseraError } from "../../error.ts";
import { Module } from "../module.ts";
import type { Tensor } from "../tensor.ts";

export class Sequential extends Module {
  readonly length: number;
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => {
      if (!(m instanceof Module)) {
        throw new TesseraError(`nn.Sequential: argument ${i} is not an nn.Module`);
      }
      Object.defineProperty(this, String(i), { value: m, enumerable: true });
    });
    this.length = modules.length;
  }

  /** The i-th submodule. */
  at(i: number): Module {
    const m = (this as unknown as Record<string, Module>)[String(i)];
    if (!(m instanceof Module)) {
      throw new TesseraError(`nn.Sequential: no module ${i} (it has ${this.length})`);
    }
    return m;
  }

  forward(x: Tensor): Tensor {
    for (let i = 0; i < this.length; i++) {
      const y = this.at(i).forward(x);
      if (Array.isArray(y)) {
        throw new TesseraError(`nn.Sequential: module ${i} returned several tensors`);
      }
      x = y;
    }
    return x;
  }
}

export class Residual extends Module {
  constructor(readonly inner: Module) {
    super();
  }
  forward(x: Tensor): Tensor {
    const y = this.inner.forward(x);
    if (Array.isArray(y)) {
      throw new TesseraError("nn.Residual: the inner module returned several tensors");
    }
    return x.add(y);
  }
}
