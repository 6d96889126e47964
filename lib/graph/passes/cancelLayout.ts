/**
 * Cancels layout operations that undo each other: a transpose of a transpose is one
 * transpose of the composed permutation, or nothing when that is the identity; a reshape of
 * a reshape is one reshape; a reshape to the shape its input already has is nothing. Frontends
 * produce such pairs around attention heads and flattening. Only when the inner operation's
 * result has no other reader (else it is computed anyway and nothing is saved).
 */
import type { Graph, Value } from "../ir.ts";
import { isOp } from "../ir.ts";
import { rewrite } from "../rewrite.ts";
import { eliminateDeadCode } from "./dce.ts";

export function cancelLayout(g: Graph): Graph {
  let cur = g;
  // Each round collapses one level of a chain; chains are short.
  for (let round = 0; round < 8; round++) {
    const next = cancelOnce(cur);
    if (next === cur) break;
    cur = next;
  }
  // The inner operations left behind have no reader now.
  return cur === g ? g : eliminateDeadCode(cur);
}

function cancelOnce(g: Graph): Graph {
  const users = g.users();
  const outputs = new Set(g.outputs);
  const single = (v: Value) => !outputs.has(v) && (users.get(v)?.length ?? 0) === 1;
  let changed = false;
  const out = rewrite(g, {
    node(n, ins, b) {
      const sameShape = (v: Value) =>
        v.shape.length === n.outputs[0].shape.length &&
        v.shape.every((d, i) => d === n.outputs[0].shape[i]);
      if (isOp(n, "reshape")) {
        if (sameShape(ins[0])) {
          changed = true;
          return ins[0];
        }
        const inner = ins[0].producer;
        if (inner && isOp(inner, "reshape") && single(n.inputs[0])) {
          changed = true;
          return b.call("reshape", [inner.inputs[0]], { shape: n.attrs.shape }, n.name);
        }
      }
      if (isOp(n, "transpose")) {
        const perm = n.attrs.perm;
        if (perm.every((p, i) => p === i)) {
          changed = true;
          return ins[0];
        }
        const inner = ins[0].producer;
        if (inner && isOp(inner, "transpose") && single(n.inputs[0])) {
          changed = true;
          // out[d] = mid[perm[d]] = x[innerPerm[perm[d]]]
          const composed = perm.map((p) => inner.attrs.perm[p]);
          if (composed.every((p, i) => p === i)) return inner.inputs[0];
          return b.call("transpose", [inner.inputs[0]], { perm: composed }, n.name);
        }
      }
      return undefined;
    },
  }).graph;
  return changed ? out : g;
}
