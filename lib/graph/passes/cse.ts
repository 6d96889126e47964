/**
 * Common subexpression elimination: two nodes calling the same operator on the same values
 * with the same (normalized) attributes compute the same tensor, so the later one is
 * replaced by the earlier one's output. Params with equal data are not merged (comparing
 * weights costs a pass over them; frontends rarely duplicate them).
 */
import type { Graph, Value } from "../ir.ts";
import { copyNode, rewrite } from "../rewrite.ts";

/** Attributes as a key: infinities kept apart (JSON writes both as null). */
const attrKey = (v: unknown) =>
  JSON.stringify(v, (_, x) => (typeof x === "number" && !Number.isFinite(x) ? String(x) : x));

export function eliminateCommonSubexpressions(g: Graph): Graph {
  const ids = new Map<Value, number>();
  const id = (v: Value) => {
    if (!ids.has(v)) ids.set(v, ids.size);
    return ids.get(v)!;
  };
  const seen = new Map<string, Value>();
  return rewrite(g, {
    node(n, ins, b) {
      const key = `${n.op}|${ins.map(id).join(",")}|${attrKey(n.attrs)}`;
      const hit = seen.get(key);
      if (hit) return hit;
      const v = copyNode(n, ins, b);
      seen.set(key, v);
      return v;
    },
  }).graph;
}
