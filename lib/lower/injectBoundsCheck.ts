/**
 * The checked build (`te.build(..., { checked: true })`): every load index that the
 * simplifier cannot prove inside its buffer, under the ranges of the loops around it, gets a
 * `checkIndex`, so that C and WebGPU report a read outside the declared shape (a gather by
 * bad data, a symbolic size the caller got wrong) as an error instead of reading neighbouring
 * memory or zeros. Without it only what lowering proved, and reads of attached producers, are
 * checked on those targets (as in TVM and Halide without their bounds checkers); the
 * interpreter checks every access always. A pass over the loop IR, like TVM's
 * InstrumentBoundCheckers: the printers only print the calls.
 */
import { proveTrue } from "../arith/simplify.ts";
import { BufferLoad, compare, type Expr, intConst, type Var } from "../ir/expr.ts";
import { PrimFunc, type Stmt } from "../ir/stmt.ts";
import { mapChildren, mapStmt } from "../ir/visit.ts";
import { checkIndex } from "./checkBounds.ts";

export function injectBoundsChecks(f: PrimFunc): PrimFunc {
  const body = stmt(f.body, new Map());
  return new PrimFunc(f.name, f.params, f.sizeVars, body, f.outputs);
}

type MutRanges = Map<Var, { min: Expr; extent: Expr }>;

function stmt(s: Stmt, ranges: MutRanges): Stmt {
  if (s.kind === "for") {
    const inner = new Map(ranges).set(s.loopVar, { min: s.min, extent: s.extent });
    return mapStmt(s, (e) => expr(e, ranges), (b) => stmt(b, inner));
  }
  if (s.kind === "let" && s.value.dtype === "int32") {
    const inner = new Map(ranges).set(s.v, { min: s.value, extent: intConst(1) });
    return mapStmt(s, (e) => expr(e, ranges), (b) => stmt(b, inner));
  }
  return mapStmt(s, (e) => expr(e, ranges), (b) => stmt(b, ranges));
}

function expr(e: Expr, ranges: MutRanges): Expr {
  const m = mapChildren(e, (x) => expr(x, ranges));
  if (m.kind !== "bufferLoad") return m;
  const indices = m.indices.map((x, d) => {
    if (x.kind === "call" && x.op === "checkIndex") return x;
    const extent = m.buffer.shape[d];
    const inside = proveTrue(compare("ge", x, 0), ranges) &&
      proveTrue(compare("lt", x, extent), ranges);
    return inside ? x : checkIndex(x, extent, d);
  });
  return new BufferLoad(m.buffer, indices);
}
