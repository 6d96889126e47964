/**
 * A fused group as plain data, so that its `te` program can be rebuilt in another process
 * (the tuner's measuring process, lib/tune/worker.ts, which gets its task as a JSON line).
 * What a group's program depends on is all here: the shapes and dtypes of the values it
 * reads, and each member node's operator, attributes, inputs and output types; names do not
 * travel (the workload key ignores them). Non-finite attribute numbers (a clip's bounds)
 * are spelled as strings, since JSON has no Infinity.
 */
import type { DType } from "../ir/dtype.ts";
import { TesseraError } from "../error.ts";
import { type GroupProgram, groupProgram } from "./fusedProgram.ts";
import { Node, Value } from "./ir.ts";
import type { OpName } from "./ops.ts";
import type { FusedGroup } from "./passes/fuseOps.ts";

interface TypeData {
  shape: number[];
  dtype: DType;
}

/** A reference to a value: input `i` of the group, or output `k` of member node `n`. */
type Ref = { in: number } | { node: number; out: number };

export interface GroupData {
  name: string;
  /** `param`: a weight or constant (the tuner's cold timing evicts these, not activations). */
  inputs: (TypeData & { param?: true })[];
  nodes: { op: OpName; attrs: Record<string, unknown>; inputs: Ref[]; outputs: TypeData[] }[];
  outputs: Ref[];
}

const typeOf = (v: Value, where: string): TypeData => {
  if (!v.shape.every((d) => typeof d === "number")) {
    throw new TesseraError(`${where}: ${v.name} has a symbolic shape; bind the sizes first`);
  }
  return { shape: v.shape as number[], dtype: v.dtype };
};

const encodeNumbers = (_k: string, x: unknown) =>
  typeof x === "number" && !Number.isFinite(x) ? String(x) : x;

/** The group as JSON-safe data. */
export function groupData(group: FusedGroup): GroupData {
  const where = `fused group ${group.id} (${group.name})`;
  const refs = new Map<Value, Ref>(group.inputs.map((v, i) => [v, { in: i }]));
  // Nodes are in topological order: what a node reads is numbered before it.
  const nodes = group.nodes.map((n, j) => {
    const inputs = n.inputs.map((v) => refs.get(v)!);
    n.outputs.forEach((v, k) => refs.set(v, { node: j, out: k }));
    return {
      op: n.op,
      attrs: JSON.parse(JSON.stringify(n.attrs, encodeNumbers)),
      inputs,
      outputs: n.outputs.map((v) => typeOf(v, where)),
    };
  });
  return {
    name: group.name,
    inputs: group.inputs.map((v) => ({
      ...typeOf(v, where),
      ...(v.kind === "param" ? { param: true as const } : {}),
    })),
    nodes,
    outputs: group.outputs.map((v) => refs.get(v)!),
  };
}

const NUMBER_WORDS: Record<string, number> = { Infinity, "-Infinity": -Infinity, NaN };

function decodeNumbers(x: unknown): unknown {
  if (typeof x === "string" && x in NUMBER_WORDS) return NUMBER_WORDS[x];
  if (Array.isArray(x)) return x.map(decodeNumbers);
  if (x && typeof x === "object") {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, decodeNumbers(v)]));
  }
  return x;
}

/** The group's program rebuilt from its data (the same workload key as the original's). */
export function groupDataProgram(data: GroupData): GroupProgram {
  const inputs = data.inputs.map((t, i) => new Value(`in${i}`, t.shape, t.dtype, "input"));
  const made: Value[][] = [];
  const value = (r: Ref): Value => {
    const v = "in" in r ? inputs[r.in] : made[r.node]?.[r.out];
    if (!v) throw new TesseraError(`group data ${data.name}: a bad reference ${JSON.stringify(r)}`);
    return v;
  };
  const nodes = data.nodes.map((n, j) => {
    const outs = n.outputs.map((t, k) => new Value(`v${j}_${k}`, t.shape, t.dtype, "node"));
    made.push(outs);
    const attrs = decodeNumbers(n.attrs) as never;
    const node = new Node(`n${j}`, n.op, n.inputs.map(value), attrs, outs);
    for (const v of outs) v.producer = node;
    return node;
  });
  return groupProgram({
    id: 0,
    name: data.name,
    nodes,
    inputs,
    outputs: data.outputs.map(value),
    pattern: "opaque",
  });
}
