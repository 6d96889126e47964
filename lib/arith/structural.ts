/**
 * Structural identity of expressions. Nodes are immutable and rebuilt freely by passes, so
 * object identity says little: two separately built `i*4 + j` are the same value. The
 * simplifier needs that notion to merge like terms (`x - x`) and to decide `min(a, a)`, so
 * every expression gets a canonical string key, memoized per node because the same subtree
 * is asked about many times during one simplification.
 */
import type { Expr } from "../ir/expr.ts";

const keys = new WeakMap<Expr, string>();
// Tensors and combiners have no id of their own; number them on first sight.
const objectIds = new WeakMap<object, number>();
let nextObjectId = 0;

function objectId(o: object): number {
  let id = objectIds.get(o);
  if (id === undefined) {
    id = nextObjectId++;
    objectIds.set(o, id);
  }
  return id;
}

// -0 and NaN must stay distinct from 0 and from each other's keys; String() would merge -0.
function numKey(v: number): string {
  return Object.is(v, -0) ? "-0" : String(v);
}

/** A string that is equal for two expressions exactly when they are structurally equal. */
export function exprKey(e: Expr): string {
  const hit = keys.get(e);
  if (hit !== undefined) return hit;
  let k: string;
  switch (e.kind) {
    case "const":
      k = `${numKey(e.value)}:${e.dtype}`;
      break;
    case "var":
      k = `$${e.id}`;
      break;
    case "binary":
      k = `(${e.op} ${exprKey(e.a)} ${exprKey(e.b)}):${e.dtype}`;
      break;
    case "cmp":
    case "logical":
      k = `(${e.op} ${exprKey(e.a)} ${exprKey(e.b)})`;
      break;
    case "not":
      k = `(not ${exprKey(e.a)})`;
      break;
    case "neg":
      k = `(neg ${exprKey(e.a)})`;
      break;
    case "call":
      k = `(${e.op} ${e.args.map(exprKey).join(" ")}):${e.dtype}`;
      break;
    case "select":
      k = `(select ${exprKey(e.cond)} ${exprKey(e.t)} ${exprKey(e.f)})`;
      break;
    case "cast":
      k = `(cast ${exprKey(e.value)}):${e.dtype}`;
      break;
    case "tensorRead":
      k = `(T${objectId(e.tensor)} ${e.indices.map(exprKey).join(" ")})`;
      break;
    case "bufferLoad":
      k = `(B${e.buffer.id} ${e.indices.map(exprKey).join(" ")})`;
      break;
    case "reduce":
      k = `(reduce R${objectId(e.combiner)} ${exprKey(e.source)} ${
        e.axis.map((v) => v.id).join(",")
      } ${exprKey(e.condition)})`;
      break;
  }
  keys.set(e, k);
  return k;
}

export function exprEqual(a: Expr, b: Expr): boolean {
  return a === b || exprKey(a) === exprKey(b);
}
