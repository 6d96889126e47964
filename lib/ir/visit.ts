/**
 * The one mutator every pass builds on (Halide's IRMutator idea, as plain functions): rebuild
 * a node from its mapped children, keeping the node itself when nothing changed so that
 * passes are cheap and sharing is preserved. Substitution and free-variable collection are
 * the two uses nearly every pass needs, so they live here too.
 */
import {
  Binary,
  Buffer,
  BufferLoad,
  Call,
  Cast,
  Cmp,
  type Expr,
  Logical,
  Neg,
  Not,
  Reduce,
  Select,
  TensorRead,
  type Var,
} from "./expr.ts";
import {
  Allocate,
  BufferStore,
  ExternCall,
  For,
  IfThenElse,
  LetStmt,
  Seq,
  type Stmt,
} from "./stmt.ts";

const same = (a: readonly unknown[], b: readonly unknown[]) => a.every((x, i) => x === b[i]);

/** Rebuilds `e` with `f` applied to each direct child expression. */
export function mapChildren(e: Expr, f: (x: Expr) => Expr): Expr {
  switch (e.kind) {
    case "const":
    case "var":
      return e;
    case "binary": {
      const a = f(e.a), b = f(e.b);
      return a === e.a && b === e.b ? e : new Binary(e.op, a, b, e.dtype);
    }
    case "cmp": {
      const a = f(e.a), b = f(e.b);
      return a === e.a && b === e.b ? e : new Cmp(e.op, a, b);
    }
    case "logical": {
      const a = f(e.a), b = f(e.b);
      return a === e.a && b === e.b ? e : new Logical(e.op, a, b);
    }
    case "not": {
      const a = f(e.a);
      return a === e.a ? e : new Not(a);
    }
    case "neg": {
      const a = f(e.a);
      return a === e.a ? e : new Neg(a);
    }
    case "call": {
      const args = e.args.map(f);
      return same(args, e.args) ? e : new Call(e.op, args, e.dtype);
    }
    case "select": {
      const c = f(e.cond), t = f(e.t), fl = f(e.f);
      return c === e.cond && t === e.t && fl === e.f ? e : new Select(c, t, fl);
    }
    case "cast": {
      const v = f(e.value);
      return v === e.value ? e : new Cast(e.dtype, v);
    }
    case "tensorRead": {
      const idx = e.indices.map(f);
      return same(idx, e.indices) ? e : new TensorRead(e.tensor, idx);
    }
    case "bufferLoad": {
      const idx = e.indices.map(f);
      return same(idx, e.indices) ? e : new BufferLoad(e.buffer, idx);
    }
    case "reduce": {
      const ss = e.sources.map(f), c = f(e.condition);
      return same(ss, e.sources) && c === e.condition
        ? e
        : new Reduce(e.combiner, ss[e.valueIndex], e.axis, c, e.valueIndex, ss);
    }
  }
}

/** Bottom-up rewrite: children first, then `f` on the rebuilt node. */
export function rewriteExpr(e: Expr, f: (x: Expr) => Expr): Expr {
  return f(mapChildren(e, (c) => rewriteExpr(c, f)));
}

/** Replaces variables by expressions (one pass; the replacements are not substituted again). */
export function substitute(e: Expr, map: ReadonlyMap<Var, Expr>): Expr {
  if (map.size === 0) return e;
  const go = (x: Expr): Expr => (x.kind === "var" ? map.get(x) ?? x : mapChildren(x, go));
  return go(e);
}

/** Calls `f` on every node of `e`, parents before children. */
export function walkExpr(e: Expr, f: (x: Expr) => void): void {
  f(e);
  mapChildren(e, (c) => {
    walkExpr(c, f);
    return c;
  });
}

export function freeVars(e: Expr): Set<Var> {
  const out = new Set<Var>();
  walkExpr(e, (x) => {
    if (x.kind === "var") out.add(x);
  });
  return out;
}

export function usesVar(e: Expr, vs: ReadonlySet<Var>): boolean {
  let hit = false;
  walkExpr(e, (x) => {
    if (x.kind === "var" && vs.has(x)) hit = true;
  });
  return hit;
}

/** Maps every expression directly held by a statement, and every child statement. */
export function mapStmt(s: Stmt, fe: (e: Expr) => Expr, fs: (s: Stmt) => Stmt): Stmt {
  switch (s.kind) {
    case "for": {
      const min = fe(s.min), ext = fe(s.extent), body = fs(s.body);
      return min === s.min && ext === s.extent && body === s.body
        ? s
        : new For(s.loopVar, min, ext, s.forKind, body, s.threadTag, s.pragmas);
    }
    case "store": {
      const idx = s.indices.map(fe), v = fe(s.value);
      return same(idx, s.indices) && v === s.value ? s : new BufferStore(s.buffer, idx, v);
    }
    case "if": {
      const c = fe(s.cond), t = fs(s.then), o = s.otherwise ? fs(s.otherwise) : null;
      return c === s.cond && t === s.then && o === s.otherwise ? s : new IfThenElse(c, t, o);
    }
    case "allocate": {
      const b = fs(s.body);
      return b === s.body ? s : new Allocate(s.buffer, b, s.note);
    }
    case "let": {
      const v = fe(s.value), b = fs(s.body);
      return v === s.value && b === s.body ? s : new LetStmt(s.v, v, b);
    }
    case "barrier":
      return s;
    case "extern": {
      // Buffers stay (a pass that renames buffers maps them itself); values are expressions.
      const args = s.args.map((a) => a instanceof Buffer ? a : fe(a));
      const shapes = s.shapes.map((sh) => sh.map(fe));
      return same(args, s.args) && shapes.every((sh, k) => same(sh, s.shapes[k]))
        ? s
        : new ExternCall(s.fname, args, s.ins, s.outs, shapes, s.impl);
    }
    case "seq": {
      const xs = s.stmts.map(fs);
      return same(xs, s.stmts) ? s : new Seq(xs);
    }
  }
}

/** Applies `fe` to every expression in a statement tree (each expression's root only). */
export function mapStmtExprs(s: Stmt, fe: (e: Expr) => Expr): Stmt {
  const go = (x: Stmt): Stmt => mapStmt(x, fe, go);
  return go(s);
}

export function walkStmt(s: Stmt, f: (s: Stmt) => void): void {
  f(s);
  mapStmt(s, (e) => e, (c) => {
    walkStmt(c, f);
    return c;
  });
}

/** Calls `fe` on every expression a statement tree holds (each expression's root only). */
export function walkStmtExprs(s: Stmt, fe: (e: Expr) => void): void {
  walkStmt(s, (x) =>
    mapStmt(x, (e) => {
      fe(e);
      return e;
    }, (c) => c));
}
