/**
 * Horizontal fusion, TVM's CombineParallelMatmul: matmuls that share their left operand and
 * whose right operands are 2-D params with the same row count (the Q, K and V projections of
 * attention) become one matmul against the params concatenated along columns, followed by a
 * slice per original matmul. An `add` of a 1-D param bias right after each is combined the
 * same way when every branch has one. The concatenated weights are params made here, so the
 * pass costs no run-time concatenation.
 */
import type { Graph, Node, ParamData, Value } from "../ir.ts";
import { isOp } from "../ir.ts";
import { rewrite } from "../rewrite.ts";

/** Columns of params `vs` (each rows x cols_i) side by side. */
function concatColumns(g: Graph, vs: readonly Value[]): Float32Array {
  const rows = vs[0].shape[0] as number;
  const cols = vs.map((v) => v.shape[1] as number);
  const total = cols.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * total);
  let off = 0;
  vs.forEach((v, k) => {
    const d = g.params.get(v.name)!.data as Float32Array;
    for (let r = 0; r < rows; r++) {
      out.set(d.subarray(r * cols[k], (r + 1) * cols[k]), r * total + off);
    }
    off += cols[k];
  });
  return out;
}

export function combineParallelMatmul(g: Graph): Graph {
  const users = g.users();
  const outputs = new Set(g.outputs);
  const weight = (n: Node) => n.inputs[1];
  const eligible = (n: Node) =>
    isOp(n, "matmul") && weight(n).kind === "param" && weight(n).shape.length === 2 &&
    weight(n).dtype === "float32" && n.inputs[0].shape.length >= 2;
  // Branches by shared left operand and weight row count.
  const branches = new Map<string, Node[]>();
  for (const n of g.nodes) {
    if (!eligible(n)) continue;
    const key = `${n.inputs[0].name}|${weight(n).shape[0]}`;
    if (!branches.has(key)) branches.set(key, []);
    branches.get(key)!.push(n);
  }
  const groups = [...branches.values()].filter((l) => l.length > 1);
  if (groups.length === 0) return g;
  /** The bias add after a matmul: its only reader, adding a 1-D float32 param. */
  const biasOf = (n: Node): Node | null => {
    const r = users.get(n.outputs[0]) ?? [];
    if (r.length !== 1 || outputs.has(n.outputs[0]) || !isOp(r[0], "add")) return null;
    const other = r[0].inputs[0] === n.outputs[0] ? r[0].inputs[1] : r[0].inputs[0];
    const ok = other.kind === "param" && other.shape.length === 1 && other.dtype === "float32" &&
      other.shape[0] === weight(n).shape[1];
    return ok ? r[0] : null;
  };
  const firstOf = new Map<Node, Node[]>(); // the first matmul of each group -> the group
  for (const l of groups) firstOf.set(l[0], l);
  const results = new Map<Node, Value>(); // the node whose output a slice replaces -> slice
  return rewrite(g, {
    node(n, ins, b) {
      const hit = results.get(n);
      if (hit) return hit;
      const group = firstOf.get(n);
      if (!group) return undefined;
      const ws = group.map(weight);
      const cols = ws.map((w) => w.shape[1] as number);
      const total = cols.reduce((a, c) => a + c, 0);
      const wv = b.param(`${n.name}.combined_w`, concatColumns(g, ws), [
        ws[0].shape[0] as number,
        total,
      ]);
      let y = b.call("matmul", [ins[0], wv], {}, `${n.name}_combined`);
      const biases = group.map(biasOf);
      const withBias = biases.every((x) => x !== null);
      if (withBias) {
        const bs = biases.map((a, k) =>
          a!.inputs[0] === group[k].outputs[0] ? a!.inputs[1] : a!.inputs[0]
        );
        const data = new Float32Array(total);
        let off = 0;
        bs.forEach((v, k) => {
          data.set(g.params.get(v.name)!.data as Float32Array, off);
          off += cols[k];
        });
        const bv = b.param(`${n.name}.combined_b`, data as ParamData, [total]);
        y = b.call("add", [y, bv], {}, `${n.name}_combined_bias`);
      }
      let off = 0;
      const last = y.shape.length - 1;
      group.forEach((m, k) => {
        const s = b.call(
          "slice",
          [y],
          { starts: [off], ends: [off + cols[k]], axes: [last] },
          m.name,
        );
        off += cols[k];
        // The slice stands for the bias add's output when the bias was combined.
        results.set(withBias ? biases[k]! : m, s);
        if (withBias) results.set(m, s); // the matmul's own output is then unread
      });
      return results.get(n)!;
    },
  }).graph;
}
