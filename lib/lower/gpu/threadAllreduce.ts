/**
 * Cross-thread reduction, TVM's LowerThreadAllreduce in our terms: a reduction whose reduce
 * loops are bound to `threadIdx.*` cannot update one accumulator from every thread (they
 * would race), so it becomes three phases, each a run of the same thread loops with a barrier
 * between them:
 *
 * 1. each thread folds its share (the serial reduce loops) into a private accumulator and
 *    writes it to its slot of a workgroup buffer of partials;
 * 2. a tree over that buffer: for a thread count N, first the slots past the largest power of
 *    two p <= N fold into the first N - p, then steps p/2, p/4, ..., 1 each fold the upper
 *    half into the lower one;
 * 3. one thread (by default the one with every reduce thread index 0; the stage's store
 *    predicate where the user set one) stores slot 0.
 *
 * In each step a thread writes only a slot below the step and reads one at or above it, so
 * running the threads one after another, as the interpreter and C do, computes the same as
 * running them at once: the IR means one thing on every target. Which thread combines what
 * changes only the association order, which a `commReducer` allows.
 *
 * A tuple reducer (argmax, say) keeps one partials buffer per component and folds them
 * together: every component's new value is computed from the old ones before any is stored.
 *
 * Subgroup operations are not used yet (the adapter here, llvmpipe, has no `subgroups`
 * feature to test them on); the tree in workgroup memory is the portable form.
 */
import {
  binary,
  Buffer,
  BufferLoad,
  type CommReducer,
  compare,
  type Expr,
  intConst,
  logical,
  Var,
} from "../../ir/expr.ts";
import {
  Allocate,
  Barrier,
  BufferStore,
  For,
  IfThenElse,
  LetStmt,
  seq,
  type Stmt,
} from "../../ir/stmt.ts";
import { substitute } from "../../ir/visit.ts";

/** A reduce loop bound to a thread index, with its constant extent. */
export interface ThreadLoop {
  readonly v: Var;
  readonly extent: number;
  readonly tag: string;
  /** Wraps the loop's body (stages attached at this loop); phase 1 only. */
  readonly attach?: (body: Stmt) => Stmt;
}

/** The reducer's combine, one expression per component, of the old values `a` and new `b`. */
export function combineWith(c: CommReducer): (a: Expr[], b: Expr[]) => Expr[] {
  return (a, b) =>
    c.result.map((r) =>
      substitute(
        r,
        new Map<Var, Expr>([
          ...c.lhs.map((v, k) => [v, a[k]] as const),
          ...c.rhs.map((v, k) => [v, b[k]] as const),
        ]),
      )
    );
}

/**
 * Stores `values` (one per component) at `index` of each buffer. With several components the
 * values are bound first, since each may read a buffer that an earlier store would change.
 */
function storeAll(bufs: readonly Buffer[], index: Expr[], values: Expr[]): Stmt {
  if (bufs.length === 1) return new BufferStore(bufs[0], index, values[0]);
  const vs = values.map((_, k) => new Var(`${bufs[k].name}_new`, bufs[k].dtype));
  let s: Stmt = seq(bufs.map((b, k) => new BufferStore(b, index, vs[k])));
  for (let k = vs.length - 1; k >= 0; k--) s = new LetStmt(vs[k], values[k], s);
  return s;
}

const loadAll = (bufs: readonly Buffer[], index: Expr[]) =>
  bufs.map((b) => new BufferLoad(b, index));

/** The thread loops around `body(lin)`, `lin` the threads' linear index (first loop slowest). */
function threadNest(
  threads: readonly ThreadLoop[],
  body: (lin: Expr) => Stmt,
  attach = false,
): Stmt {
  let s = body(threads.length ? linear(threads) : intConst(0));
  for (const t of [...threads].reverse()) {
    s = new For(
      t.v,
      intConst(0),
      intConst(t.extent),
      "threadBinding",
      attach && t.attach ? t.attach(s) : s,
      t.tag,
    );
  }
  return s;
}

function linear(threads: readonly ThreadLoop[]): Expr {
  let acc: Expr = threads[0].v;
  for (const t of threads.slice(1)) acc = binary("add", binary("mul", acc, t.extent), t.v);
  return acc;
}

/**
 * Phase 2: folds the `n` partials in `red` (slot = linear thread index; one buffer per
 * component) into slot 0, each step a thread loop followed by a barrier.
 */
export function treeReduce(
  red: readonly Buffer[],
  threads: readonly ThreadLoop[],
  combine: (a: Expr[], b: Expr[]) => Expr[],
): Stmt {
  const n = threads.reduce((a, t) => a * t.extent, 1);
  const steps: Array<{ below: number; by: number }> = [];
  let p = 1;
  while (p * 2 <= n) p *= 2;
  if (p < n) steps.push({ below: n - p, by: p });
  for (let s = p / 2; s >= 1; s /= 2) steps.push({ below: s, by: s });
  return seq(steps.flatMap(({ below, by }) => [
    threadNest(threads, (lin) =>
      new IfThenElse(
        compare("lt", lin, below),
        storeAll(
          red,
          [lin],
          combine(loadAll(red, [lin]), loadAll(red, [binary("add", lin, by)])),
        ),
      )),
    new Barrier(),
  ]));
}

export interface AllreduceParts {
  /** The output buffers (one per component) and the index of the element produced. */
  out: readonly Buffer[];
  index: Expr[];
  combiner: CommReducer;
  threads: readonly ThreadLoop[];
  /** The serial reduce loops around `update` (phase 1), given the accumulator's update. */
  serial: (update: Stmt) => Stmt;
  /**
   * Where a thread loop is inside a serial reduce loop (something attached needs that order):
   * every reduce loop in leaf order around `update`, which then folds into the thread's slot
   * of the partials buffer itself (no accumulator can live across the thread loop).
   */
  inOrder: ((update: Stmt) => Stmt) | null;
  /** The values folded in at each point (one per component) and the condition. */
  source: Expr[];
  cond: Expr | null;
  /** Which thread stores the result; default: every reduce thread index is 0. */
  storePredicate: Expr | null;
}

/** The three phases for one output element, with the partials buffers allocated around them. */
export function lowerAllreduce(p: AllreduceParts): Stmt {
  const { out, threads } = p;
  const combine = combineWith(p.combiner);
  const n = threads.reduce((a, t) => a * t.extent, 1);
  const acc = out.map((o) => new Buffer(`${o.name}_acc`, o.dtype, [intConst(1)], "local"));
  const red = out.map((o) => new Buffer(`${o.name}_red`, o.dtype, [intConst(n)], "shared"));
  const zero = [intConst(0)];
  const within = (bufs: Buffer[], s: Stmt) => bufs.reduceRight((b, buf) => new Allocate(buf, b), s);
  const guarded = (s: Stmt) => p.cond ? new IfThenElse(p.cond, s) : s;
  if (p.inOrder) {
    const lin = linear(threads);
    const inPlace = guarded(storeAll(red, [lin], combine(loadAll(red, [lin]), p.source)));
    const init = threadNest(threads, (l) => storeAll(red, [l], [...p.combiner.identity]));
    return within(
      red,
      seq([
        init,
        new Barrier(),
        p.inOrder(inPlace),
        new Barrier(),
        treeReduce(red, threads, combine),
        final(p, red),
      ]),
    );
  }
  const update = guarded(storeAll(acc, zero, combine(loadAll(acc, zero), p.source)));
  const partial = threadNest(threads, (lin) =>
    within(
      acc,
      seq([
        storeAll(acc, zero, [...p.combiner.identity]),
        p.serial(update),
        storeAll(red, [lin], loadAll(acc, zero)),
      ]),
    ), true);
  return within(
    red,
    seq([partial, new Barrier(), treeReduce(red, threads, combine), final(p, red)]),
  );
}

/** Phase 3: one thread stores slot 0 of each component. */
function final(p: AllreduceParts, red: readonly Buffer[]): Stmt {
  const pred = p.storePredicate ??
    p.threads.map((t) => compare("eq", t.v, 0)).reduce((a, b) => logical("and", a, b));
  return threadNest(
    p.threads,
    () => new IfThenElse(pred, storeAll(p.out, p.index, loadAll(red, [intConst(0)]))),
  );
}
