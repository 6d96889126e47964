/**
 * Parameter-free elementwise layers (ReLU, GELU, Sigmoid, Tanh), Softmax, and Dropout, which
 * is the identity at inference.
 */
import { Module } from "../module.ts";
import type { Tensor } from "../tensor.ts";

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return x.call("relu");
  }
}

export class GELU extends Module {
  constructor(readonly approximate: "none" | "tanh" = "none") {
    super();
  }

  override extraRepr(): string {
    return this.approximate === "none" ? "" : `approximate='${this.approximate}'`;
  }

  forward(x: Tensor): Tensor {
    return x.call("gelu", [], { approximate: this.approximate });
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return x.call("sigmoid");
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return x.call("tanh");
  }
}

export class Softmax extends Module {
  constructor(readonly dim = -1) {
    super();
  }

  override extraRepr(): string {
    return `dim=${this.dim}`;
  }

  forward(x: Tensor): Tensor {
    return x.call("softmax", [], { axis: this.dim });
  }
}

/** Identity at inference; `p` is kept for the listing of the module only. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }

  forward(x: Tensor): Tensor {
    return x;
  }
}
