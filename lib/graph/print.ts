/**
 * The graph as text, in the spirit of a Relax listing: the function signature with each
 * input's tensor type, the params as a commented block, one binding per node with its output
 * type and normalized attributes, and the outputs. It is what `display(graph)` shows first
 * and what tests compare, so it is deterministic.
 */
import { bytesOf } from "../ir/dtype.ts";
import { type Graph, type Node, showShape, type TensorType, type Value } from "./ir.ts";

const tensor = (t: TensorType) => `R.Tensor(${showShape(t.shape)}, "${t.dtype}")`;

function showAttr(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(showAttr).join(", ")}]`;
  if (typeof v === "string") return JSON.stringify(v);
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  return String(v);
}

function showCall(n: Node): string {
  const args = n.inputs.map((v: Value) => v.name);
  for (const [k, v] of Object.entries(n.attrs)) args.push(`${k}=${showAttr(v)}`);
  return `R.${n.op}(${args.join(", ")})`;
}

/** Bytes as "814.1 KB" (powers of 1024, one decimal). */
export function showBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** A Relax-like listing of the graph. */
export function printGraph(g: Graph): string {
  const lines: string[] = [];
  if (g.params.size > 0) {
    let elems = 0, bytes = 0;
    for (const p of g.params.values()) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      elems += n;
      bytes += n * bytesOf(p.dtype);
    }
    lines.push(`# params: ${g.params.size} tensors, ${elems} elements, ${showBytes(bytes)}`);
    for (const [name, p] of g.params) lines.push(`#   ${name}: ${tensor(p)}`);
  }
  const sig = g.inputs.map((v) => `${v.name}: ${tensor(v)}`).join(", ");
  const ret = g.outputs.length === 1
    ? tensor(g.outputs[0])
    : `R.Tuple(${g.outputs.map(tensor).join(", ")})`;
  lines.push("@R.function");
  lines.push(`def ${g.name}(${sig}) -> ${ret}:`);
  lines.push("    with R.dataflow():");
  for (const n of g.nodes) {
    const outs = n.outputs.map((v) => `${v.name}: ${tensor(v)}`).join(", ");
    lines.push(`        ${outs} = ${showCall(n)}`);
  }
  const outNames = g.outputs.map((v) => v.name).join(", ");
  lines.push(`        R.output(${outNames})`);
  lines.push(`    return ${g.outputs.length === 1 ? outNames : `(${outNames})`}`);
  return lines.join("\n");
}
