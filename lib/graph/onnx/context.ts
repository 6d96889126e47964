/**
 * What ONNX import keeps while it walks the nodes: for each ONNX name, either a graph value
 * or a compile-time constant. A constant (an initializer, a Constant node, or a folded
 * Shape/Gather/Cast/... chain) stays a host tensor until a real operator reads it; only then
 * does it become a graph param. Constants of integer type may hold symbolic sizes ("n") in
 * their entries, which is how `Shape(x)` of a dynamic input folds into a Reshape's shape.
 * Attribute reading with ONNX's defaults lives here too.
 */
import { TesseraError } from "../../error.ts";
import { type DType, isFloat } from "../../ir/dtype.ts";
import type { GraphBuilder } from "../builder.ts";
import type { Dim, ParamData, Value } from "../ir.ts";
import { ATTR, type AttributeProto, type NodeProto } from "./schema.ts";
import { type HostTensor, readTensor } from "./tensor.ts";

/** A compile-time constant: known shape, entries known as numbers or symbolic sizes. */
export class Const {
  #values: Dim[] | null;
  #data: ParamData | null;
  materialized: Value | null = null;

  constructor(
    readonly shape: number[],
    readonly dtype: DType,
    source: { data: ParamData } | { values: Dim[] },
  ) {
    this.#data = "data" in source ? source.data : null;
    this.#values = "values" in source ? source.values : null;
  }

  static of(t: HostTensor): Const {
    return new Const([...t.shape], t.dtype, { data: t.data });
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The entries as numbers or symbols (int64 as numbers; exact to 2^53). */
  values(): Dim[] {
    if (!this.#values) {
      const d = this.#data!;
      if (this.dtype === "float16") {
        throw new TesseraError(
          "ONNX import: a float16 constant cannot be folded at import; only its operators can read it",
        );
      }
      this.#values = d instanceof BigInt64Array
        ? Array.from(d, Number)
        : Array.from(d as ArrayLike<number>);
    }
    return this.#values;
  }

  /** True when every entry is a known number. */
  get known(): boolean {
    return this.#data !== null || this.#values!.every((v) => typeof v === "number");
  }

  /** Row-major storage of the entries; a symbolic entry is an error naming `where`. */
  data(where: string): ParamData {
    if (this.#data) return this.#data;
    const vals = this.#values!;
    const sym = vals.find((v) => typeof v === "string");
    if (sym !== undefined) {
      throw new TesseraError(
        `${where}: the constant depends on the symbolic size "${sym}" and cannot be a ` +
          `tensor; give the input a fixed size (importOnnx options.shapes)`,
      );
    }
    const nums = vals as number[];
    switch (this.dtype) {
      case "float32":
        return this.#data = Float32Array.from(nums);
      case "float64":
        return this.#data = Float64Array.from(nums);
      case "int32":
        return this.#data = Int32Array.from(nums);
      case "int64":
        return this.#data = BigInt64Array.from(nums, (v) => BigInt(Math.trunc(v)));
      case "int8":
        return this.#data = Int8Array.from(nums);
      case "uint8":
      case "bool":
        return this.#data = Uint8Array.from(nums);
      case "float16":
        throw new TesseraError(`${where}: a folded float16 constant cannot be stored`);
    }
  }
}

export type Entry = Value | Const;

/** The state of one import. */
export class ImportContext {
  readonly env = new Map<string, Entry>();
  #fresh = 0;
  #params = new Set<string>();

  constructor(
    readonly builder: GraphBuilder,
    readonly opset: number,
    /** Every name the model uses, so that made-up names do not collide. */
    readonly taken: Set<string>,
  ) {}

  /** A name for something import makes up (`base`, or `base_k`). */
  freshName(base: string): string {
    let s = base;
    while (this.taken.has(s)) s = `${base}_${this.#fresh++}`;
    this.taken.add(s);
    return s;
  }

  /** The entry of an ONNX name. */
  get(name: string, where: string): Entry {
    const e = this.env.get(name);
    if (!e) {
      throw new TesseraError(
        `${where}: input ${JSON.stringify(name)} is not defined before it is used (not a ` +
          `graph input, an initializer or an earlier node's output)`,
      );
    }
    return e;
  }

  /** A graph value for an entry: a constant becomes a param (once), named `name`. */
  value(e: Entry, name: string, where: string): Value {
    if (!(e instanceof Const)) return e;
    if (!e.materialized) {
      // ONNX names are unique, so a constant's own name is free unless import made it up.
      const own = this.#params.has(name) ? this.freshName(name) : name;
      this.#params.add(own);
      e.materialized = this.builder.param(own, e.data(where), e.shape, e.dtype);
    }
    return e.materialized;
  }

  /** A scalar param of `dtype` (e.g. Gemm's alpha). */
  scalar(value: number, dtype: DType, name: string): Value {
    if (!isFloat(dtype) && !Number.isInteger(value)) {
      throw new TesseraError(`${name}: ${value} is not a ${dtype}`);
    }
    const c = new Const([], dtype, { values: [value] });
    return this.value(c, this.freshName(name), name);
  }
}

// ---- attributes -------------------------------------------------------------------------

const utf8 = new TextDecoder();

/**
 * ONNX float attributes are float32: 1e-5 arrives as 0.000009999999747378752. The shortest
 * decimal that rounds to the same float32 is what the exporter meant (and prints as given).
 */
export function shortestFloat32(f: number): number {
  if (!Number.isFinite(f)) return f;
  for (let p = 1; p <= 9; p++) {
    const v = Number(f.toPrecision(p));
    if (Math.fround(v) === f) return v;
  }
  return f;
}

/** A node's attributes by name, read with their ONNX types checked. */
export class Attrs {
  readonly #map = new Map<string, AttributeProto>();
  readonly #used = new Set<string>();

  constructor(node: NodeProto, readonly where: string) {
    for (const a of node.attribute ?? []) {
      if (a.refAttrName) {
        throw new TesseraError(`${where}: attribute ${a.name} refers to a function attribute`);
      }
      this.#map.set(a.name ?? "", a);
    }
  }

  #get(name: string, type: number, what: string): AttributeProto | undefined {
    const a = this.#map.get(name);
    if (!a) return undefined;
    this.#used.add(name);
    if (a.type !== undefined && a.type !== type) {
      throw new TesseraError(`${this.where}: attribute ${name} must be ${what}`);
    }
    return a;
  }

  has(name: string): boolean {
    return this.#map.has(name);
  }

  int(name: string, def: number): number;
  int(name: string, def?: number): number | undefined;
  int(name: string, def?: number): number | undefined {
    const a = this.#get(name, ATTR.INT, "an int");
    return a ? Number(a.i ?? 0) : def;
  }

  float(name: string, def: number): number {
    const a = this.#get(name, ATTR.FLOAT, "a float");
    return a ? shortestFloat32(a.f ?? 0) : def;
  }

  string(name: string, def: string): string {
    const a = this.#get(name, ATTR.STRING, "a string");
    return a ? utf8.decode(a.s ?? new Uint8Array()) : def;
  }

  ints(name: string): number[] | undefined {
    const a = this.#get(name, ATTR.INTS, "a list of ints");
    return a ? (a.ints ?? []).map(Number) : undefined;
  }

  floats(name: string): number[] | undefined {
    const a = this.#get(name, ATTR.FLOATS, "a list of floats");
    return a ? (a.floats ?? []).map(shortestFloat32) : undefined;
  }

  tensor(name: string): HostTensor | undefined {
    const a = this.#get(name, ATTR.TENSOR, "a tensor");
    return a?.t ? readTensor(a.t, `${this.where}: attribute ${name}`) : undefined;
  }

  /** Attributes present that no converter read: refused, so none is silently ignored. */
  unread(): string[] {
    return [...this.#map.keys()].filter((k) => !this.#used.has(k));
  }
}
