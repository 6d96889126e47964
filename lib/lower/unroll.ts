/**
 * Loop unrolling as a pass, like TVM's UnrollLoop: a loop marked `unroll` with a constant
 * extent becomes that many copies of its body, each with the loop variable replaced by its
 * value and simplified. The C target leaves unrolling to GCC (`#pragma GCC unroll`); WGSL has
 * no such pragma, and unrolling there matters more than speed alone: a private array indexed
 * by an unrolled loop's variable gets constant indices, so the shader compiler can keep it
 * in registers instead of memory (a thread's tile of accumulators, say).
 */
import { simplify, simplifyStmt } from "../arith/simplify.ts";
import { intConst } from "../ir/expr.ts";
import { seq, type Stmt } from "../ir/stmt.ts";
import { mapStmt, mapStmtExprs, substitute, walkStmt } from "../ir/visit.ts";

/** Loops with more iterations than this stay loops (the code would grow too much). */
const MAX_UNROLL = 64;
/** Nor is a loop unrolled when its copies would hold more statements than this in all. */
const MAX_STATEMENTS = 1024;

function size(s: Stmt): number {
  let n = 0;
  walkStmt(s, () => n++);
  return n;
}

export function unrollLoops(s: Stmt): Stmt {
  const go = (x: Stmt): Stmt => {
    const y = mapStmt(x, (e) => e, go);
    if (
      y.kind !== "for" || y.forKind !== "unrolled" || y.min.kind !== "const" ||
      y.extent.kind !== "const" || y.extent.value > MAX_UNROLL ||
      y.extent.value * size(y.body) > MAX_STATEMENTS
    ) return y;
    const copies: Stmt[] = [];
    for (let k = 0; k < y.extent.value; k++) {
      const m = new Map([[y.loopVar, intConst(y.min.value + k)]]);
      copies.push(mapStmtExprs(y.body, (e) => simplify(substitute(e, m))));
    }
    return seq(copies);
  };
  return simplifyStmt(go(s));
}
