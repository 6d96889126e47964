/**
 * The graph IR: a whole model as a dataflow graph of typed tensor values and operator calls,
 * the level above `te` (as Relax is above TIR). A `Value` is a named tensor with a shape and
 * a dtype; a dimension is a number or a string, the string being a symbolic size such as a
 * batch "n". A `Node` calls one operator of the closed set in ops.ts on values and produces
 * values. A `Graph` holds its inputs, its outputs, its nodes in topological order and its
 * params (weights and constants, referenced by values of kind "param"). Graphs are immutable
 * once built: every pass makes a new one, through a `GraphBuilder` (builder.ts), which infers
 * and checks each node's output shapes as it is added.
 */
import type { DType } from "../ir/dtype.ts";
import type { NDData } from "../runtime/ndarray.ts";
import type { NormAttrs, OpName } from "./ops.ts";

/** One dimension: a known size, or the name of a symbolic size ("n"). */
export type Dim = number | string;
export type Shape = readonly Dim[];

/** A tensor's type: its shape and element type. */
export interface TensorType {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** Where a value comes from: a graph input, a param, or a node's output. */
export type ValueKind = "input" | "param" | "node";

/**
 * A tensor value. Values are compared by identity; `name` is unique within its graph (the
 * builder makes it so) and is what listings and errors show.
 */
export class Value implements TensorType {
  /** The node producing this value; set for kind "node" only. */
  producer: Node | null = null;
  constructor(
    readonly name: string,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly kind: ValueKind,
  ) {}
}

/** A param's storage: an NDArray-style typed array (int64 as a BigInt64Array). */
export type ParamData = NDData | BigInt64Array;

/** A weight or constant: its data, row-major, with its (fully known) shape and dtype. */
export interface Param {
  readonly data: ParamData;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** An operator call `outputs = op(inputs, attrs)`. Attributes are normalized (defaults filled). */
export class Node<K extends OpName = OpName> {
  constructor(
    readonly name: string,
    readonly op: K,
    readonly inputs: readonly Value[],
    readonly attrs: Readonly<NormAttrs<K>>,
    readonly outputs: readonly Value[],
  ) {}
}

/** A dataflow graph: nodes in topological order, params by name. */
export class Graph {
  constructor(
    readonly inputs: readonly Value[],
    readonly outputs: readonly Value[],
    readonly nodes: readonly Node[],
    readonly params: ReadonlyMap<string, Param>,
    /** Values of kind "param", by param name (the same Value object everywhere it is used). */
    readonly paramValues: ReadonlyMap<string, Value>,
    /** A name for the whole graph ("main" unless given). */
    readonly name: string = "main",
  ) {}

  /** The graph's symbolic dimension names, in the order they first appear among the inputs. */
  get symbols(): string[] {
    const out: string[] = [];
    for (const v of this.inputs) {
      for (const d of v.shape) if (typeof d === "string" && !out.includes(d)) out.push(d);
    }
    return out;
  }

  /** For each value, the nodes that read it (outputs of the graph are not counted). */
  users(): Map<Value, Node[]> {
    const m = new Map<Value, Node[]>();
    for (const n of this.nodes) {
      for (const v of n.inputs) {
        const l = m.get(v);
        if (l) {
          if (!l.includes(n)) l.push(n);
        } else m.set(v, [n]);
      }
    }
    return m;
  }
}

/** The element count of a shape, or null when a dimension is symbolic. */
export function numel(shape: Shape): number | null {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number") return null;
    n *= d;
  }
  return n;
}

/** A shape as text: `(n, 784)`. */
export function showShape(shape: Shape): string {
  return `(${shape.join(", ")}${shape.length === 1 ? "," : ""})`;
}

/** A tensor type as text: `(n, 784) float32`. */
export function showType(t: TensorType): string {
  return `${showShape(t.shape)} ${t.dtype}`;
}

/** Narrows a node to one operator, so that its attributes have that operator's type. */
export function isOp<K extends OpName>(n: Node, op: K): n is Node<K> {
  return n.op === op;
}
