/**
 * The one way to make a `Graph`. A frontend (nn.Module, ONNX import) and every pass build
 * graphs here, so every graph has been checked the same way: value names unique, each node's
 * attributes normalized and its output type inferred the moment it is added (a shape error
 * names the node and the shapes), params' data matching their shapes and dtypes, and values
 * from one builder never leaking into another.
 */
import { TesseraError } from "../error.ts";
import { type DType, parseDType } from "../ir/dtype.ts";
import { checkStorage } from "../runtime/ndarray.ts";
import { typedInfo } from "../runtime/typed.ts";
import { type Dim, Graph, Node, type Param, type ParamData, Value } from "./ir.ts";
import { inferOp, type OpAttrs, type OpName } from "./ops.ts";

const DTYPE_OF_ARRAY: Record<string, DType> = {
  Float32Array: "float32",
  Float64Array: "float64",
  Float16Array: "float16",
  Int32Array: "int32",
  Int8Array: "int8",
  Uint8Array: "uint8",
  BigInt64Array: "int64",
};

export class GraphBuilder {
  #names = new Set<string>();
  #values = new Set<Value>();
  #inputs: Value[] = [];
  #outputs: Value[] = [];
  #nodes: Node[] = [];
  #params = new Map<string, Param>();
  #paramValues = new Map<string, Value>();
  #counter = 0;

  constructor(readonly name: string = "main") {}

  /** A graph input. Dimensions are non-negative integers or symbol names ("n"). */
  input(name: string, shape: readonly Dim[], dtype: DType = "float32"): Value {
    const where = `graph input ${JSON.stringify(name)}`;
    this.#claim(name, where);
    const v = new Value(name, checkDims(shape, where), parseDType(dtype, where), "input");
    this.#values.add(v);
    this.#inputs.push(v);
    return v;
  }

  /**
   * A weight or constant. `data` is row-major storage of `dtype` (taken from the array's
   * type when left out; give "bool" or "float16" explicitly) holding exactly the shape's
   * element count. The graph keeps the array itself (no copy): do not change it afterwards.
   */
  param(name: string, data: ParamData, shape: readonly number[], dtype?: DType): Value {
    const where = `param ${JSON.stringify(name)}`;
    this.#claim(name, where);
    const dims = checkDims(shape, where);
    const sym = dims.find((d) => typeof d === "string");
    if (sym !== undefined) {
      throw new TesseraError(`${where}: shape has the symbol "${sym}"; a param's shape is known`);
    }
    const type = typedInfo(data)?.type;
    const dt = dtype === undefined
      ? DTYPE_OF_ARRAY[type ?? ""] ??
        (() => {
          throw new TesseraError(
            `${where}: data is a ${type ?? typeof data}; give a typed array (Float32Array, ...)`,
          );
        })()
      : parseDType(dtype, where);
    const n = (dims as number[]).reduce((a, b) => a * b, 1);
    checkStorage(data, dt, n, `${where} data`);
    const v = new Value(name, dims, dt, "param");
    this.#values.add(v);
    this.#params.set(name, { data, shape: dims as number[], dtype: dt });
    this.#paramValues.set(name, v);
    return v;
  }

  /**
   * Adds a node `op(inputs, attrs)` and returns its output. Its attributes are checked and
   * normalized and its output type inferred now; a mistake is a TesseraError naming the node.
   * `name` names the output (made unique); otherwise it is `lv<k>`, as in Relax.
   */
  call<K extends OpName>(
    op: K,
    inputs: readonly Value[],
    attrs?: OpAttrs[K],
    name?: string,
  ): Value {
    const outName = this.#fresh(name);
    const where = `node ${outName} = ${String(op)}(${
      Array.isArray(inputs) ? inputs.map((v) => v?.name).join(", ") : "?"
    })`;
    if (!Array.isArray(inputs)) {
      throw new TesseraError(`${where}: inputs must be an array of values`);
    }
    inputs.forEach((v, i) => this.#own(v, `${where}: input ${i}`));
    const { attrs: norm, out } = inferOp(op, inputs, attrs, where);
    this.#names.add(outName);
    const v = new Value(outName, out.shape, out.dtype, "node");
    const node = new Node(outName, op, [...inputs], norm, [v]);
    v.producer = node;
    this.#values.add(v);
    this.#nodes.push(node);
    return v;
  }

  /** The param a value of kind "param" of this builder stands for. */
  paramOf(v: Value): Param {
    this.#own(v, "paramOf");
    const p = v.kind === "param" ? this.#params.get(v.name) : undefined;
    if (!p) throw new TesseraError(`paramOf: value ${v.name} is not a param`);
    return p;
  }

  /** Marks values as the graph's outputs, in order. */
  output(...values: Value[]): void {
    values.forEach((v, i) => this.#own(v, `graph output ${this.#outputs.length + i}`));
    this.#outputs.push(...values);
  }

  /** The graph. The builder should not be used afterwards. */
  build(): Graph {
    if (this.#outputs.length === 0) {
      throw new TesseraError(`graph ${this.name}: no outputs; call output(...) before build()`);
    }
    return new Graph(
      [...this.#inputs],
      [...this.#outputs],
      [...this.#nodes],
      new Map(this.#params),
      new Map(this.#paramValues),
      this.name,
    );
  }

  #claim(name: string, where: string): void {
    if (typeof name !== "string" || name.length === 0) {
      throw new TesseraError(`${where}: a name must be a non-empty string`);
    }
    if (this.#names.has(name)) {
      throw new TesseraError(`${where}: the name is already used in graph ${this.name}`);
    }
    this.#names.add(name);
  }

  #fresh(name?: string): string {
    if (name !== undefined && (typeof name !== "string" || name.length === 0)) {
      throw new TesseraError(`a node name must be a non-empty string, got ${String(name)}`);
    }
    if (name !== undefined && !this.#names.has(name)) return name;
    const base = name ?? "lv";
    let s: string;
    do s = `${base}${name === undefined ? "" : "_"}${this.#counter++}`; while (this.#names.has(s));
    return s;
  }

  #own(v: Value, where: string): void {
    if (!(v instanceof Value) || !this.#values.has(v)) {
      throw new TesseraError(
        `${where} is not a value of this graph builder (${
          v instanceof Value ? `value ${v.name} comes from another graph` : String(v)
        })`,
      );
    }
  }
}

function checkDims(shape: readonly Dim[], where: string): Dim[] {
  if (!Array.isArray(shape)) {
    throw new TesseraError(`${where}: shape must be an array, got ${String(shape)}`);
  }
  return shape.map((d, i) => {
    const ok = (typeof d === "number" && Number.isInteger(d) && d >= 0) ||
      (typeof d === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(d));
    if (!ok) {
      throw new TesseraError(
        `${where}: shape[${i}] is ${JSON.stringify(d)}; a dimension is a non-negative ` +
          `integer or a symbol name (letters, digits, _), such as "n"`,
      );
    }
    return d;
  });
}
