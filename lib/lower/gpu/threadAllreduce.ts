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
  type Var,
} from "../../ir/expr.ts";
import { Allocate, Barrier, BufferStore, For, IfThenElse, seq, type Stmt } from "../../ir/stmt.ts";
import { substitute } from "../../ir/visit.ts";

/** A reduce loop bound to a thread index, with its constant extent. */
export interface ThreadLoop {
  readonly v: Var;
  readonly extent: number;
  readonly tag: string;
  /** Wraps the loop's body (stages attached at this loop); phase 1 only. */
  readonly attach?: (body: Stmt) => Stmt;
}

export function combineWith(c: CommReducer): (a: Expr, b: Expr) => Expr {
  // One component: lowering refuses tuple reductions across threads before this.
  return (a, b) => substitute(c.result[0], new Map<Var, Expr>([[c.lhs[0], a], [c.rhs[0], b]]));
}

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
 * Phase 2: folds the `n` partials in `red` (slot = linear thread index) into `red[0]`, each
 * step a thread loop followed by a barrier.
 */
export function treeReduce(
  red: Buffer,
  threads: readonly ThreadLoop[],
  combine: (a: Expr, b: Expr) => Expr,
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
        new BufferStore(
          red,
          [lin],
          combine(
            new BufferLoad(red, [lin]),
            new BufferLoad(red, [binary("add", lin, by)]),
          ),
        ),
      )),
    new Barrier(),
  ]));
}

export interface AllreduceParts {
  /** The output buffer and the index of the element this reduction produces. */
  out: Buffer;
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
  /** The value folded in at each point and the condition under which it is. */
  source: Expr;
  cond: Expr | null;
  /** Which thread stores the result; default: every reduce thread index is 0. */
  storePredicate: Expr | null;
}

/** The three phases for one output element, with the partials buffer allocated around them. */
export function lowerAllreduce(p: AllreduceParts): Stmt {
  const { out, threads } = p;
  const combine = combineWith(p.combiner);
  const n = threads.reduce((a, t) => a * t.extent, 1);
  const acc = new Buffer(`${out.name}_acc`, out.dtype, [intConst(1)], "local");
  const red = new Buffer(`${out.name}_red`, out.dtype, [intConst(n)], "shared");
  const acc0 = new BufferLoad(acc, [intConst(0)]);
  let update: Stmt = new BufferStore(acc, [intConst(0)], combine(acc0, p.source));
  if (p.cond) update = new IfThenElse(p.cond, update);
  if (p.inOrder) {
    const lin = linear(threads);
    const slot = new BufferLoad(red, [lin]);
    let inPlace: Stmt = new BufferStore(red, [lin], combine(slot, p.source));
    if (p.cond) inPlace = new IfThenElse(p.cond, inPlace);
    const init = threadNest(threads, (l) => new BufferStore(red, [l], p.combiner.identity[0]));
    return new Allocate(
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
  const partial = threadNest(threads, (lin) =>
    new Allocate(
      acc,
      seq([
        new BufferStore(acc, [intConst(0)], p.combiner.identity[0]),
        p.serial(update),
        new BufferStore(red, [lin], acc0),
      ]),
    ), true);
  return new Allocate(
    red,
    seq([partial, new Barrier(), treeReduce(red, threads, combine), final(p, red)]),
  );
}

/** Phase 3: one thread stores slot 0. */
function final(p: AllreduceParts, red: Buffer): Stmt {
  const pred = p.storePredicate ??
    p.threads.map((t) => compare("eq", t.v, 0)).reduce((a, b) => logical("and", a, b));
  return threadNest(
    p.threads,
    () => new IfThenElse(pred, new BufferStore(p.out, p.index, new BufferLoad(red, [intConst(0)]))),
  );
}
