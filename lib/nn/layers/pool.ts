/**
 * Pooling over NCHW: MaxPool2d, AvgPool2d (PyTorch's arguments; the stride defaults to the
 * kernel, count_include_pad to true) and AdaptiveAvgPool2d(1), the global average.
 */
import { TesseraError } from "../../error.ts";
import { Module } from "../module.ts";
import type { Tensor } from "../tensor.ts";
import { nonNegative, pair } from "./util.ts";

interface PoolOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

function poolAttrs(where: string, kernel: number | [number, number], o: PoolOptions) {
  const k = pair(kernel, where, "kernelSize");
  const s = pair(o.stride ?? k, where, "stride");
  const [ph, pw] = pair(o.padding ?? 0, where, "padding", nonNegative);
  return { kernel: k, strides: s, pads: [ph, pw, ph, pw] };
}

export class MaxPool2d extends Module {
  readonly attrs: { kernel: number[]; strides: number[]; pads: number[] };
  constructor(kernelSize: number | [number, number], options: PoolOptions = {}) {
    super();
    this.attrs = poolAttrs("nn.MaxPool2d", kernelSize, options);
  }

  override extraRepr(): string {
    return `kernel_size=${this.attrs.kernel[0]}, stride=${this.attrs.strides[0]}, padding=${
      this.attrs.pads[0]
    }`;
  }

  forward(x: Tensor): Tensor {
    return x.call("maxPool2d", [], this.attrs);
  }
}

export class AvgPool2d extends Module {
  readonly attrs: { kernel: number[]; strides: number[]; pads: number[]; countIncludePad: boolean };
  constructor(
    kernelSize: number | [number, number],
    options: PoolOptions & { countIncludePad?: boolean } = {},
  ) {
    super();
    this.attrs = {
      ...poolAttrs("nn.AvgPool2d", kernelSize, options),
      countIncludePad: options.countIncludePad ?? true,
    };
  }

  override extraRepr(): string {
    return `kernel_size=${this.attrs.kernel[0]}, stride=${this.attrs.strides[0]}, padding=${
      this.attrs.pads[0]
    }`;
  }

  forward(x: Tensor): Tensor {
    return x.call("avgPool2d", [], this.attrs);
  }
}

/** Only output size 1 (global average pooling), the form classification heads use. */
export class AdaptiveAvgPool2d extends Module {
  constructor(outputSize: number | [number, number]) {
    super();
    const [h, w] = pair(outputSize, "nn.AdaptiveAvgPool2d", "outputSize");
    if (h !== 1 || w !== 1) {
      throw new TesseraError(
        `nn.AdaptiveAvgPool2d: output size (${h}, ${w}) is not supported; only 1 (global ` +
          `average pooling)`,
      );
    }
  }

  override extraRepr(): string {
    return "output_size=1";
  }

  forward(x: Tensor): Tensor {
    return x.call("globalAvgPool");
  }
}
