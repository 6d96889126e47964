/**
 * Double buffering (`s.stage(AS).doubleBuffer()`, TVM's InjectDoubleBuffer): a tile attached
 * inside a serial loop is loaded afresh every iteration and used right after, so on a GPU
 * every iteration waits for its own load. Here the tile is allocated twice, outside the loop,
 * and the copies ping-pong: the first tile is loaded before the loop, and each iteration first
 * loads the next tile into the other copy, then computes on this one. The loop runs two
 * iterations per trip (one on each copy, so every access names one buffer and the barrier
 * planning of the WGSL backend sees that the load and the compute touch different memory):
 *
 *     fill(min) -> A0; barrier
 *     for p in [0, floor(n / 2)):          k = min + 2p
 *       fill(k + 1) -> A1; body(k) on A0; barrier
 *       fill(min(k + 2, end - 1)) -> A0; body(k + 1) on A1; barrier
 *     if n is odd: body(end - 1) on A0
 *
 * which is one barrier per iteration where the single tile needed two (one before the fill
 * overwrites what the last step read, one before the step reads the fill): each barrier here
 * orders a step's reads of one copy before the next fill of it, and that fill (issued a step
 * earlier) before the reads of the step after. The barriers are explicit so that the WGSL
 * backend's planning, which sees only whole buffers, finds nothing left to order. It is the same computation in any order a single
 * thread runs it, so the interpreter and C (where barriers are no-ops) compute what they did.
 * A fill may read only what the loop does not write (its producer computed inside the same
 * loop would not be there yet for the next tile); that, and a stage that is not attached
 * inside a serial loop, is refused, naming the stage and the loop.
 */
import { TesseraError } from "../../error.ts";
import { binary, Buffer, BufferLoad, compare, type Expr, intConst, Var } from "../../ir/expr.ts";
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
import { freeVars, mapStmt, rewriteExpr, substitute, walkExpr, walkStmt } from "../../ir/visit.ts";
import type { Stage } from "../../schedule/stage.ts";

/** A double-buffered stage: its buffers and the loop they ping-pong across. */
export interface DoubleBufferTarget {
  readonly stage: string;
  readonly buffers: readonly Buffer[];
  readonly loop: Var;
  /** The loop's name and owner, for messages. */
  readonly where: string;
}

/**
 * The stages marked `doubleBuffer()`, checked: each is attached inside a serial loop of its
 * consumer and has buffers of its own (not an argument written in place).
 */
export function doubleBufferTargets(
  stages: readonly Stage[],
  buffersOf: (st: Stage) => readonly Buffer[],
  isArgument: (st: Stage) => boolean,
): DoubleBufferTarget[] {
  const out: DoubleBufferTarget[] = [];
  for (const st of stages) {
    if (!st.doubleBuffered) continue;
    const who = `doubleBuffer(stage '${st.name}')`;
    if (st.attach.type !== "scope") {
      throw new TesseraError(
        `${who}: the stage is ${
          st.attach.type === "root" ? "computed at the root" : "inlined"
        }, so there is no loop whose next tile it could load early; attach it inside a serial ` +
          `loop of its consumer (computeAt(s.stage(C), ko), ko a reduction's outer loop)`,
      );
    }
    const { stage: owner, axis } = st.attach;
    const where = `loop '${axis.name}' of '${owner.name}'`;
    const attr = owner.attrs.get(axis);
    const kind = attr?.threadTag ? `bound to ${attr.threadTag}` : attr?.forKind ?? "serial";
    if (kind !== "serial") {
      throw new TesseraError(
        `${who}: it is attached at ${where}, which is ${kind}; double buffering loads the next ` +
          `iteration's tile while this one computes, which needs a serial loop (attach it at ` +
          `one, or leave the loop serial)`,
      );
    }
    if (isArgument(st)) {
      throw new TesseraError(
        `${who}: '${st.name}' is an argument of the kernel, written in place, so it has no ` +
          `allocation to double; leave it out of the arguments or drop doubleBuffer()`,
      );
    }
    out.push({ stage: st.name, buffers: buffersOf(st), loop: axis, where });
  }
  return out;
}

/** Applies double buffering to the loops of `targets` in `body`. */
export function injectDoubleBuffer(body: Stmt, targets: readonly DoubleBufferTarget[]): Stmt {
  if (targets.length === 0) return body;
  const byLoop = new Map<Var, DoubleBufferTarget[]>();
  for (const t of targets) byLoop.set(t.loop, [...(byLoop.get(t.loop) ?? []), t]);
  const done = new Set<DoubleBufferTarget>();
  const go = (x: Stmt): Stmt => {
    const y = mapStmt(x, (e) => e, go);
    const here = y.kind === "for" ? byLoop.get(y.loopVar) : undefined;
    if (y.kind !== "for" || !here) return y;
    // A reduction's init nest runs over the same loop variables: only the loop that holds
    // the allocation is the one the stage is attached at.
    const out = doubleLoop(y, here);
    if (out === null) return y;
    here.forEach((t) => done.add(t));
    return out;
  };
  const out = go(body);
  for (const t of targets) {
    if (!done.has(t)) {
      throw new TesseraError(
        `doubleBuffer(stage '${t.stage}'): ${t.where} is not in the lowered code (it was ` +
          `partitioned or removed); attach the stage at a loop that remains`,
      );
    }
  }
  return out;
}

type Wrapper = IfThenElse | LetStmt | Allocate;

/** The double-buffered form of `loop`, or null when the allocations are not in it. */
function doubleLoop(loop: For, targets: readonly DoubleBufferTarget[]): Stmt | null {
  const who = targets.map((t) => `doubleBuffer(stage '${t.stage}')`).join(", ");
  const where = targets[0].where;
  // The loop's body: guards, lets and the allocations of stages attached here, around a
  // sequence of the attached stages' fills and the rest of the body.
  const wrappers: Wrapper[] = [];
  let inner = loop.body;
  while (
    inner.kind === "allocate" || inner.kind === "let" ||
    (inner.kind === "if" && inner.otherwise === null)
  ) {
    wrappers.push(inner);
    inner = inner.kind === "if" ? inner.then : inner.body;
  }
  const doubled = new Set(targets.flatMap((t) => t.buffers));
  const allocs = wrappers.filter((w): w is Allocate =>
    w.kind === "allocate" && doubled.has(w.buffer)
  );
  if (allocs.length === 0) return null;
  if (allocs.length !== doubled.size) {
    throw new TesseraError(`${who}: its allocation is not directly inside ${where}`);
  }
  const stmts = inner.kind === "seq" ? inner.stmts : [inner];
  const isFill = stmts.map((s) => [...written(s)].some((b) => doubled.has(b)));
  const fills = stmts.filter((_, i) => isFill[i]);
  const rest = stmts.filter((_, i) => !isFill[i]);
  const loopWrites = new Set<Buffer>();
  for (const s of stmts) written(s).forEach((b) => loopWrites.add(b));
  for (const f of fills) {
    const own = written(f);
    const extra = [...own].filter((b) => !doubled.has(b));
    if (extra.length) {
      throw new TesseraError(
        `${who}: the statement filling the tile at ${where} also writes ` +
          `'${extra[0].name}'; only a stage's own tile can be double-buffered`,
      );
    }
    const early = [...readBy(f, wrappers)].find((b) => loopWrites.has(b) && !own.has(b));
    if (early) {
      throw new TesseraError(
        `${who}: the tile reads '${early.name}', which is written inside ${where} too, so the ` +
          `next iteration's tile cannot be loaded before this iteration runs; compute ` +
          `'${early.name}' outside that loop, or drop doubleBuffer()`,
      );
    }
  }
  for (const b of doubled) {
    if (b.shape.some((d) => freeVars(d).has(loop.loopVar))) {
      throw new TesseraError(
        `${who}: the size of '${b.name}' depends on ${where}; its copies live outside the loop`,
      );
    }
  }

  // One step or none: nothing to load ahead (and a second copy nobody uses would still be
  // given memory).
  if (loop.extent.kind === "const" && loop.extent.value <= 1) return loop;
  const pong = new Map(
    [...doubled].map((b) => [b, new Buffer(`${b.name}_1`, b.dtype, b.shape, b.scope, b.strides)]),
  );
  const ping = new Map([...doubled].map((b) => [b, b]));
  const ko = loop.loopVar;
  const end = binary("add", loop.min, loop.extent);
  // A step of the original loop at k: its wrappers (guards, lets, the other allocations)
  // around `stmts`, on the copies `copies`.
  const at = (k: Expr, part: Stmt[], copies: Map<Buffer, Buffer>, allocations: boolean) => {
    let s = seq(part);
    for (let i = wrappers.length - 1; i >= 0; i--) {
      const w = wrappers[i];
      if (w.kind === "allocate") {
        if (allocations && !doubled.has(w.buffer)) s = new Allocate(w.buffer, s, w.note);
      } else if (w.kind === "let") s = new LetStmt(w.v, w.value, s);
      else s = new IfThenElse(w.cond, s);
    }
    return onCopies(substituteStmt(s, new Map([[ko, k]])), copies);
  };
  const fillAt = (k: Expr, copies: Map<Buffer, Buffer>) => at(k, fills, copies, false);
  const bodyAt = (k: Expr, copies: Map<Buffer, Buffer>) => at(k, rest, copies, true);
  const p = new Var(`${ko.name}_pair`, "int32");
  const k0 = binary("add", loop.min, binary("mul", p, 2));
  const last = binary("sub", end, 1);
  // Two steps a trip, over the whole pairs; the step k + 1 always exists. The load two steps
  // ahead is clamped to the last tile (a repeated load in the last trip when the count is
  // even) rather than guarded: a guard the simplifier cannot see through would leave the
  // fill's own bounds unproven, and the loops that copy it split in pieces.
  const pairs = new For(
    p,
    intConst(0),
    binary("floordiv", loop.extent, 2),
    "serial",
    seq([
      fillAt(binary("add", k0, 1), pong),
      bodyAt(k0, ping),
      new Barrier(),
      fillAt(binary("min", binary("add", k0, 2), last), ping),
      bodyAt(binary("add", k0, 1), pong),
      new Barrier(),
    ]),
    null,
    loop.pragmas,
  );
  let out: Stmt = seq([
    new IfThenElse(compare("gt", loop.extent, 0), fillAt(loop.min, ping)),
    new Barrier(),
    pairs,
    // An odd count leaves the last step, whose tile the last trip loaded into the first copy.
    new IfThenElse(
      compare("eq", binary("floormod", loop.extent, 2), 1),
      bodyAt(last, ping),
    ),
  ]);
  for (const a of [...allocs].reverse()) {
    out = new Allocate(
      pong.get(a.buffer)!,
      out,
      `the second copy of '${a.buffer.name}' (doubleBuffer across '${ko.name}')`,
    );
    out = new Allocate(a.buffer, out, a.note);
  }
  return out;
}

/** Buffers a statement stores to, except those it allocates itself. */
function written(s: Stmt): Set<Buffer> {
  const out = new Set<Buffer>(), own = new Set<Buffer>();
  walkStmt(s, (x) => {
    if (x.kind === "store") out.add(x.buffer);
    if (x.kind === "allocate") own.add(x.buffer);
  });
  own.forEach((b) => out.delete(b));
  return out;
}

/** Buffers read by `s` and by the conditions and lets around it. */
function readBy(s: Stmt, wrappers: readonly Wrapper[]): Set<Buffer> {
  const out = new Set<Buffer>();
  const see = (e: Expr) =>
    walkExpr(e, (x) => {
      if (x.kind === "bufferLoad") out.add(x.buffer);
    });
  walkStmt(s, (x) => {
    mapStmt(x, (e) => (see(e), e), (c) => c);
  });
  for (const w of wrappers) {
    if (w.kind === "if") see(w.cond);
    if (w.kind === "let") see(w.value);
  }
  return out;
}

function substituteStmt(s: Stmt, m: ReadonlyMap<Var, Expr>): Stmt {
  const go = (x: Stmt): Stmt => mapStmt(x, (e) => substitute(e, m), go);
  return go(s);
}

/** `s` with every access of a doubled buffer on the copy `copies` gives. */
function onCopies(s: Stmt, copies: ReadonlyMap<Buffer, Buffer>): Stmt {
  const load = (e: Expr) =>
    rewriteExpr(
      e,
      (x) =>
        x.kind === "bufferLoad" && copies.has(x.buffer)
          ? new BufferLoad(copies.get(x.buffer)!, x.indices)
          : x,
    );
  const go = (x: Stmt): Stmt => {
    const y = mapStmt(x, load, go);
    return y.kind === "store" && copies.has(y.buffer)
      ? new BufferStore(copies.get(y.buffer)!, y.indices, y.value)
      : y;
  };
  return go(s);
}
