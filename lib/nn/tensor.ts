/**
 * The symbolic tensor a module's `forward` works on while a model is exported: a graph value
 * and the export it belongs to. Its methods add nodes through the export's `GraphBuilder`, so
 * shapes are inferred and checked as the forward pass runs, and an error names the node. A
 * parameter becomes a graph param the first time a layer uses it, under its qualified name.
 */
import { TesseraError } from "../error.ts";
import type { DType } from "../ir/dtype.ts";
import type { GraphBuilder } from "../graph/builder.ts";
import type { Dim, Shape, Value } from "../graph/ir.ts";
import type { OpAttrs, OpName } from "../graph/ops.ts";
import type { Parameter } from "./parameter.ts";

/** What one export keeps while `forward` runs. */
export class ExportContext {
  #params = new Map<Parameter, Value>();
  #constants = 0;

  constructor(
    readonly builder: GraphBuilder,
    /** Each reachable parameter's qualified name. */
    readonly names: ReadonlyMap<Parameter, string>,
    readonly seed: number,
  ) {}

  /** The graph param of `p`, made on first use. */
  param(p: Parameter): Value {
    let v = this.#params.get(p);
    if (!v) {
      const name = this.names.get(p);
      if (name === undefined) {
        throw new TesseraError(
          "nn: forward used a parameter that is not a field of the exported module or its " +
            "submodules; store layers and parameters as fields so that they get names",
        );
      }
      v = this.builder.param(name, p.valueFor(this.seed, name), p.shape, p.dtype);
      this.#params.set(p, v);
    }
    return v;
  }

  /** A scalar constant (a param named const<k>). */
  scalar(value: number, dtype: DType): Value {
    const data = dtype === "float64"
      ? new Float64Array([value])
      : dtype === "int32"
      ? new Int32Array([value])
      : dtype === "float32"
      ? new Float32Array([value])
      : null;
    if (!data) throw new TesseraError(`nn: no scalar constants of dtype ${dtype}`);
    const taken = new Set(this.names.values());
    let name: string;
    do name = `const${this.#constants++}`; while (taken.has(name));
    return this.builder.param(name, data, [], dtype);
  }

  /** A graph value of this export as a Tensor. */
  wrap(v: Value): Tensor {
    return new Tensor(v, this);
  }
}

export class Tensor {
  constructor(readonly value: Value, readonly ctx: ExportContext) {}

  get shape(): Shape {
    return this.value.shape;
  }

  get dtype(): DType {
    return this.value.dtype;
  }

  get ndim(): number {
    return this.value.shape.length;
  }

  /** Adds `op(this, ...others)`; numbers become scalar constants of this tensor's dtype. */
  call<K extends OpName>(
    op: K,
    others: readonly (Tensor | Value | number)[] = [],
    attrs?: OpAttrs[K],
  ): Tensor {
    const ins = [this.value, ...others.map((o) => this.#value(o, op))];
    return new Tensor(this.ctx.builder.call(op, ins, attrs), this.ctx);
  }

  #value(o: Tensor | Value | number, op: string): Value {
    if (typeof o === "number") return this.ctx.scalar(o, this.dtype);
    if (o instanceof Tensor) {
      if (o.ctx !== this.ctx) {
        throw new TesseraError(`nn: ${op} mixes tensors of two different exports`);
      }
      return o.value;
    }
    return o;
  }

  add(y: Tensor | number): Tensor {
    return this.call("add", [y]);
  }
  sub(y: Tensor | number): Tensor {
    return this.call("sub", [y]);
  }
  mul(y: Tensor | number): Tensor {
    return this.call("mul", [y]);
  }
  div(y: Tensor | number): Tensor {
    return this.call("div", [y]);
  }
  matmul(y: Tensor | Value): Tensor {
    return this.call("matmul", [y]);
  }
  relu(): Tensor {
    return this.call("relu");
  }
  reshape(shape: readonly Dim[]): Tensor {
    return this.call("reshape", [], { shape });
  }
  transpose(perm?: readonly number[]): Tensor {
    return this.call("transpose", [], perm === undefined ? {} : { perm });
  }
  softmax(axis = -1): Tensor {
    return this.call("softmax", [], { axis });
  }
}
