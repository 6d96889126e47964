/**
 * Storage flattening, as TVM's StorageFlatten: every multi-dimensional buffer becomes one
 * dimension of memory, and every access a single offset `sum(idx_d * stride_d)`. Lowering
 * keeps buffers multi-dimensional because that reads well (`C[i, j]`); backends (C, WGSL)
 * want flat memory. Strides are the buffer's own (storageAlign padding) or row-major.
 *
 * Parameters keep their logical shapes (callers pass arrays of those shapes, and symbolic
 * sizes are bound from them); the body reads and writes a flat view of each, a buffer with
 * `aliasOf` set to the parameter. Allocations are replaced by their flat version.
 */
import { simplify, simplifyStmt } from "../arith/simplify.ts";
import { Binary, Buffer, BufferLoad, type Expr, intConst } from "../ir/expr.ts";
import { Allocate, BufferStore, ExternCall, type PrimFunc, type Stmt } from "../ir/stmt.ts";
import { mapStmt, rewriteExpr } from "../ir/visit.ts";

const mul = (a: Expr, b: Expr): Expr => new Binary("mul", a, b, "int32");
const add = (a: Expr, b: Expr): Expr => new Binary("add", a, b, "int32");

interface Flat {
  readonly buffer: Buffer;
  readonly strides: Expr[];
}

/** The element strides of `b`: its own when set, row-major otherwise. */
function stridesOf(b: Buffer): Expr[] {
  if (b.strides) return b.strides;
  const out = new Array<Expr>(b.shape.length);
  let acc: Expr = intConst(1);
  for (let d = b.shape.length - 1; d >= 0; d--) {
    out[d] = acc;
    acc = simplify(mul(acc, b.shape[d]));
  }
  return out;
}

/** Elements the flat buffer holds: the product of the shape, or stride[0] * shape[0]. */
function flatSize(b: Buffer): Expr {
  if (b.shape.length === 0) return intConst(1);
  if (b.strides) return simplify(mul(b.strides[0], b.shape[0]));
  return simplify(b.shape.reduce((acc: Expr, d) => mul(acc, d), intConst(1)));
}

function makeFlat(b: Buffer, alias: boolean): Flat {
  const buffer = new Buffer(b.name, b.dtype, [flatSize(b)], b.scope, null, alias ? b : null);
  return { buffer, strides: stridesOf(b) };
}

function flatIndex(f: Flat, indices: Expr[]): Expr[] {
  if (indices.length === 0) return [intConst(0)];
  const sum = indices
    .map((x, d) => mul(x, f.strides[d]))
    .reduce((acc, x) => add(acc, x));
  return [simplify(sum)];
}

/**
 * Rewrites `func`'s body to one-dimensional buffers. Name, parameters, size variables and
 * outputs are kept; buffers that are neither parameters nor allocated in the body (and views
 * that already alias another buffer) are left as they are.
 */
export function flattenStorage(func: PrimFunc): PrimFunc {
  const flat = new Map<Buffer, Flat>();
  for (const p of func.params) {
    if (!p.aliasOf) flat.set(p, makeFlat(p, true));
  }
  const ex = (e: Expr): Expr =>
    rewriteExpr(e, (x) => {
      if (x.kind !== "bufferLoad") return x;
      const f = flat.get(x.buffer);
      return f ? new BufferLoad(f.buffer, flatIndex(f, x.indices)) : x;
    });
  const go = (s: Stmt): Stmt => {
    if (s.kind === "allocate") {
      let f = flat.get(s.buffer);
      if (!f && !s.buffer.aliasOf) {
        f = makeFlat(s.buffer, false);
        flat.set(s.buffer, f);
      }
      return new Allocate(f ? f.buffer : s.buffer, go(s.body), s.note);
    }
    if (s.kind === "store") {
      const f = flat.get(s.buffer);
      const idx = s.indices.map(ex), value = ex(s.value);
      return f
        ? new BufferStore(f.buffer, flatIndex(f, idx), value)
        : new BufferStore(s.buffer, idx, value);
    }
    if (s.kind === "extern") {
      // The C function gets the flat data; `shapes` keep the logical shapes.
      const to = (b: Buffer) => flat.get(b)?.buffer ?? b;
      const args = s.args.map((a) => a instanceof Buffer ? to(a) : ex(a));
      return new ExternCall(s.fname, args, s.ins.map(to), s.outs.map(to), s.shapes, s.impl);
    }
    return mapStmt(s, ex, go);
  };
  const body = simplifyStmt(go(func.body));
  return func.withBody(body);
}
