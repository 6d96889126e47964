/**
 * Which thread loops of a shader are thread indices, and which run whole in each thread: the
 * thread-dependence analysis of the WGSL backend. As in TVM, a loop bound to a threadIdx axis
 * is that axis's index; one nested in another bound to the same axis is the same index too (a
 * cooperative fill: thread t copies element t) when nothing in it depends on the outer loop's
 * value — not the outer index, not a variable derived from it, and not a buffer allocated
 * inside the outer loop whose contents depend on it (a per-thread accumulator it initializes,
 * say). Otherwise each thread runs it as an ordinary loop, as the interpreter does. The
 * printer, the barrier planning and the loop budget all ask these questions, so they agree.
 */
import type { Buffer, Expr, Var } from "../../ir/expr.ts";
import type { For, Stmt } from "../../ir/stmt.ts";
import { freeVars, walkExpr, walkStmt, walkStmtExprs } from "../../ir/visit.ts";

/** Buffers a statement reads and writes (by the buffer they alias, for flat views). */
export function accesses(s: Stmt): { reads: Set<Buffer>; writes: Set<Buffer> } {
  const reads = new Set<Buffer>(), writes = new Set<Buffer>();
  walkStmt(s, (x) => {
    if (x.kind === "store") writes.add(x.buffer.aliasOf ?? x.buffer);
  });
  walkStmtExprs(s, (e) =>
    walkExpr(e, (x) => {
      if (x.kind === "bufferLoad") reads.add(x.buffer.aliasOf ?? x.buffer);
    }));
  return { reads, writes };
}

/** The variables a statement tree uses, memoized: the printer asks about the same subtrees often. */
const usedVars = new WeakMap<Stmt, Set<Var>>();

export function mentions(s: Stmt, v: Var): boolean {
  let vars = usedVars.get(s);
  if (!vars) {
    const found = new Set<Var>();
    walkStmtExprs(s, (e) => freeVars(e).forEach((x) => found.add(x)));
    usedVars.set(s, found);
    vars = found;
  }
  return vars.has(v);
}

/** What differs between the iterations of a loop, inside it (see `varyingIn`). */
export interface Varying {
  vars: Set<Var>;
  buffers: Set<Buffer>;
}

const varyingCache = new WeakMap<For, Varying>();

/**
 * The variables inside `loop` whose value depends on its index, and the buffers allocated
 * inside it whose contents do: stored at an index or with a value that depends on it, or in
 * a loop whose bounds do. Each iteration has its own copy of those buffers (the interpreter
 * allocates them afresh), so no other iteration may fill them. Conditions do not count: the
 * ones lowering makes say which iterations exist (a partial tile), and an iteration that
 * exists fills its copy as any other would.
 */
export function varyingIn(loop: For): Varying {
  const cached = varyingCache.get(loop);
  if (cached) return cached;
  const vars = new Set<Var>([loop.loopVar]);
  const buffers = new Set<Buffer>();
  const inside = new Set<Buffer>();
  walkStmt(loop.body, (x) => {
    if (x.kind === "allocate") inside.add(x.buffer);
  });
  const depends = (e: Expr) => {
    let found = [...freeVars(e)].some((v) => vars.has(v));
    walkExpr(e, (x) => {
      if (x.kind === "bufferLoad" && buffers.has(x.buffer.aliasOf ?? x.buffer)) found = true;
    });
    return found;
  };
  let changed = true;
  const mark = <T>(set: Set<T>, x: T) => {
    if (!set.has(x)) {
      set.add(x);
      changed = true;
    }
  };
  // `varies`: whether how often the statement runs depends on the loop's index.
  const visit = (x: Stmt, varies: boolean): void => {
    switch (x.kind) {
      case "for": {
        const v = varies || depends(x.min) || depends(x.extent);
        if (v) mark(vars, x.loopVar);
        return visit(x.body, v);
      }
      case "if":
        visit(x.then, varies);
        if (x.otherwise) visit(x.otherwise, varies);
        return;
      case "let":
        if (varies || depends(x.value)) mark(vars, x.v);
        return visit(x.body, varies);
      case "allocate":
        return visit(x.body, varies);
      case "seq":
        return x.stmts.forEach((y) => visit(y, varies));
      case "store": {
        const b = x.buffer.aliasOf ?? x.buffer;
        if (inside.has(b) && (varies || depends(x.value) || x.indices.some(depends))) {
          mark(buffers, b);
        }
      }
    }
  };
  while (changed) {
    changed = false;
    visit(loop.body, false);
  }
  const out = { vars, buffers };
  varyingCache.set(loop, out);
  return out;
}

/**
 * Whether `inner`, bound to the threadIdx axis that `outer` (the enclosing loop that is that
 * axis's index, or null) already binds, is that same index (a cooperative fill) rather than
 * an ordinary loop each thread runs whole (see the top of this file). The loop budget
 * asks the same question, so both agree on which loops a thread runs serially.
 */
export function rebindsAsThread(outer: For | null, inner: For): boolean {
  if (outer === null) return true;
  const { vars, buffers } = varyingIn(outer);
  if ([...vars].some((v) => mentions(inner, v))) return false;
  const { reads, writes } = accesses(inner);
  return ![...reads, ...writes].some((b) => buffers.has(b));
}

/**
 * Whether thread loop `s` runs as a thread index, given the enclosing loop that is the index
 * of each threadIdx axis (x, y, z; null where none is): a blockIdx loop always does.
 */
export function cooperative(s: For, threadLoop: ReadonlyArray<For | null>): boolean {
  if (!s.threadTag?.startsWith("threadIdx")) return true;
  return rebindsAsThread(threadLoop["xyz".indexOf(s.threadTag.slice(-1))], s);
}

/** Whether a loop's bounds depend on a thread index (so threads run different trips). */
export function threadDependent(s: For, threadVars: ReadonlySet<Var>): boolean {
  return [...freeVars(s.min), ...freeVars(s.extent)].some((x) => threadVars.has(x));
}

/** Whether `s` holds a thread loop that runs as a thread index (so it needs uniform control). */
export function hasCooperative(s: Stmt, threadLoop: ReadonlyArray<For | null>): boolean {
  let found = false;
  walkStmt(s, (x) => {
    if (x.kind === "for" && x.forKind === "threadBinding" && cooperative(x, threadLoop)) {
      found = true;
    }
  });
  return found;
}
