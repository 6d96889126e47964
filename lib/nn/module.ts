/**
 * `nn.Module`, TVM's (and PyTorch's) way to write a model: a class whose fields are layers
 * and parameters and whose `forward` says how they combine. `exportGraph` runs `forward` once
 * on symbolic tensors of the given specs and returns the graph it traced, with the parameters
 * (given data, or filled from a seed) as the graph's params under their qualified names.
 */
import { TesseraError } from "../error.ts";
import { type DType, parseDType } from "../ir/dtype.ts";
import { GraphBuilder } from "../graph/builder.ts";
import type { Dim, Graph, Param } from "../graph/ir.ts";
import type { ParamData } from "../graph/ir.ts";
import { describeModule, moduleBundle } from "./describe.ts";
import { Parameter } from "./parameter.ts";
import { ExportContext, Tensor } from "./tensor.ts";

/** The type of one input of `forward`: `spec.tensor(["n", 784], "float32")`. */
export interface TensorSpec {
  readonly kind: "tensor";
  readonly shape: readonly Dim[];
  readonly dtype: DType;
}

export const spec = {
  /** A tensor input; a dimension given as a string ("n") is a symbolic size. */
  tensor(shape: readonly Dim[], dtype: DType = "float32"): TensorSpec {
    if (!Array.isArray(shape)) {
      throw new TesseraError(`nn.spec.tensor: shape must be an array, got ${String(shape)}`);
    }
    return { kind: "tensor", shape: [...shape], dtype: parseDType(dtype, "nn.spec.tensor") };
  },
};

/** What `exportGraph` returns: the traced graph and its params (the same map as graph.params). */
export interface ExportedModel {
  readonly graph: Graph;
  readonly params: ReadonlyMap<string, Param>;
}

export interface ExportOptions {
  /** Fills parameters that have no data (default 0). */
  seed?: number;
}

export abstract class Module {
  /** The traced computation; layers call their submodules' `forward`. */
  abstract forward(...xs: Tensor[]): Tensor | Tensor[];

  /** The settings shown in the module's repr (PyTorch's extra_repr), e.g. "in_features=784". */
  extraRepr(): string {
    return "";
  }

  /** PyTorch's repr: the layer tree with each layer's settings. */
  toString(): string {
    return describeModule(this, isModule);
  }

  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return moduleBundle(this, isModule);
  }

  /** Every parameter reachable through fields, by qualified name, in field order. */
  namedParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    const walk = (m: Module, prefix: string, path: Set<Module>) => {
      if (path.has(m)) {
        throw new TesseraError(`nn: module ${prefix || "(root)"} contains itself`);
      }
      path.add(m);
      for (const [key, val] of Object.entries(m)) {
        const items: [string, unknown][] = Array.isArray(val)
          ? val.map((x, i) => [`${key}.${i}`, x])
          : [[key, val]];
        for (const [k, x] of items) {
          if (x instanceof Parameter && !seen.has(x)) {
            seen.add(x);
            out.push([prefix + k, x]);
          } else if (x instanceof Module) walk(x, `${prefix}${k}.`, path);
        }
      }
      path.delete(m);
    };
    walk(this, "", new Set());
    return out;
  }

  /** The parameter with qualified name `name`. */
  parameter(name: string): Parameter {
    const p = this.namedParameters().find(([n]) => n === name);
    if (!p) {
      const names = this.namedParameters().map(([n]) => n);
      throw new TesseraError(
        `nn: no parameter ${JSON.stringify(name)}; the module has ${names.join(", ") || "none"}`,
      );
    }
    return p[1];
  }

  /** Gives parameters data by qualified name; every name must exist. */
  loadParams(data: Readonly<Record<string, ParamData>>): this {
    for (const [name, d] of Object.entries(data)) {
      this.parameter(name).assign(d, `nn: loadParams ${name}`);
    }
    return this;
  }

  /**
   * Traces `forward` on symbolic tensors of `specs.forward` (its inputs, by name, in order)
   * and returns the graph, named "forward", with its params.
   */
  exportGraph(
    specs: { forward: Readonly<Record<string, TensorSpec>> },
    options: ExportOptions = {},
  ): ExportedModel {
    const fwd = specs?.forward;
    if (fwd === null || typeof fwd !== "object") {
      throw new TesseraError(
        'nn: exportGraph needs { forward: { x: spec.tensor([n, 784], "float32"), ... } }',
      );
    }
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) {
      throw new TesseraError(`nn: exportGraph seed must be an integer, got ${String(seed)}`);
    }
    const b = new GraphBuilder("forward");
    const ctx = new ExportContext(
      b,
      new Map(this.namedParameters().map(([n, p]) => [p, n])),
      seed,
    );
    const inputs = Object.entries(fwd).map(([name, s]) => {
      if (s?.kind !== "tensor") {
        throw new TesseraError(
          `nn: exportGraph input ${name} must be a spec.tensor(shape, dtype), got ${String(s)}`,
        );
      }
      return new Tensor(b.input(name, s.shape, s.dtype), ctx);
    });
    const result = this.forward(...inputs);
    const outs = Array.isArray(result) ? result : [result];
    for (const [i, o] of outs.entries()) {
      if (!(o instanceof Tensor) || o.ctx !== ctx) {
        throw new TesseraError(
          `nn: forward returned ${String(o)} as output ${i}; it must return tensors it computed`,
        );
      }
    }
    b.output(...outs.map((o) => o.value));
    const graph = b.build();
    return { graph, params: graph.params };
  }
}

const isModule = (x: unknown): x is Module => x instanceof Module;
