/**
 * The checked build (`te.build(..., { checked: true })`): every load index that cannot be
 * proven inside its buffer, under the loops and guards around it, gets a `checkIndex`, so
 * that C and WebGPU report a read outside the declared shape (a gather by bad data, a
 * symbolic size the caller got wrong) as an error instead of reading neighbouring memory or
 * zeros. Without it only what lowering proved, and reads of attached producers, are checked
 * on those targets (as in TVM and Halide without their bounds checkers); the interpreter
 * checks every access always. A pass over the loop IR, like TVM's InstrumentBoundCheckers:
 * every load is wrapped here and dropProvenChecks.ts removes what it proves; the printers
 * only print the calls.
 */
import { BufferLoad, type Expr } from "../ir/expr.ts";
import type { PrimFunc } from "../ir/stmt.ts";
import { mapStmtExprs, rewriteExpr } from "../ir/visit.ts";
import { checkIndex } from "./checkBounds.ts";
import { dropProvenChecks } from "./dropProvenChecks.ts";

export function injectBoundsChecks(f: PrimFunc): PrimFunc {
  const wrap = (e: Expr) =>
    rewriteExpr(e, (x) => {
      if (x.kind !== "bufferLoad") return x;
      const indices = x.indices.map((i, d) =>
        i.kind === "call" && i.op === "checkIndex" ? i : checkIndex(i, x.buffer.shape[d], d)
      );
      return new BufferLoad(x.buffer, indices);
    });
  const body = dropProvenChecks(mapStmtExprs(f.body, wrap));
  return f.withBody(body);
}
