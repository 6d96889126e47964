/**
 * A layer's weight: a named slot with a fixed shape that holds data a user gives, or is
 * filled at export from the seed (init.ts). A module names its parameters by where they sit
 * in the module tree ("fc1.weight"), as PyTorch and TVM do; the parameter itself does not
 * know its name, so one layer object can be reused in several models.
 */
import { TesseraError } from "../error.ts";
import type { DType } from "../ir/dtype.ts";
import type { ParamData } from "../graph/ir.ts";
import { checkStorage } from "../runtime/ndarray.ts";
import { fill, type Init } from "./init.ts";

export class Parameter {
  #data: ParamData | null = null;
  readonly shape: readonly number[];

  constructor(shape: readonly number[], readonly init: Init, readonly dtype: DType = "float32") {
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
      throw new TesseraError(
        `nn.Parameter: shape must be non-negative integers, got ${JSON.stringify(shape)}`,
      );
    }
    this.shape = Object.freeze([...shape]);
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The data given with `assign`, or null when it will be filled from the seed. */
  get data(): ParamData | null {
    return this.#data;
  }

  /** Gives the parameter data (row-major, exactly `size` elements of its dtype); kept, not copied. */
  assign(data: ParamData, what = "nn.Parameter.assign"): this {
    checkStorage(data, this.dtype, this.size, `${what} (shape [${this.shape.join(", ")}])`);
    this.#data = data;
    return this;
  }

  /** The given data, or the values filled for `name` from `seed`. */
  valueFor(seed: number, name: string): ParamData {
    if (this.#data) return this.#data;
    if (this.dtype !== "float32") {
      throw new TesseraError(
        `nn: parameter ${name} is ${this.dtype} and has no data; only float32 ones are filled ` +
          `from a seed, assign() its data`,
      );
    }
    return fill(this.init, this.size, seed, name);
  }
}
