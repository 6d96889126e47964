/**
 * Barrier planning for one shader (TVM's ThreadSync, in small): where a multi-thread shader
 * needs `workgroupBarrier()` / `storageBarrier()`, placed as explicit, planned `Barrier`
 * statements that the WGSL printer then prints as they are.
 *
 * Every invocation runs the whole shader, and the interpreter runs thread loops one after
 * another; to keep its meaning, the shader's uniform skeleton (loops whose bounds no thread
 * index changes, blockIdx guards, cooperative thread loops, sequences) carries a barrier
 * before each step that touches what another thread may have touched since the last barrier:
 * it writes what another may have read or written, or reads what another may have written.
 * The steps are the leaves (statements without cooperative thread loops, which the printer
 * runs whole in each thread that needs them), the values of lets in the skeleton, and each
 * loop's next iteration (a barrier at the end of its body, unless the iteration's writes are
 * provably disjoint from the last one's: a cooperative copy in steps). A barrier lowering
 * asked for (a cross-thread reduction's, double buffering's) orders what is pending and is
 * dropped where nothing is. Private arrays never need one; storage buffers and workgroup
 * memory each have their own barrier. The walk also records what it decided on the way, for
 * the printer to print: which statements are leaves and which threads run each (conditions
 * that may differ between threads are sunk from the skeleton to its leaves, and a leaf
 * outside any loop bound to an axis the shader uses runs on thread 0 of that axis), which
 * thread loops are thread indices (threadDependence.ts), and where each allocation lives
 * (threadSlots.ts).
 */
import { toLinear } from "../../arith/linear.ts";
import { simplify } from "../../arith/simplify.ts";
import { exprKey } from "../../arith/structural.ts";
import { Binary, type Buffer, Cmp, type Expr, type Var } from "../../ir/expr.ts";
import {
  Allocate,
  Barrier,
  BufferStore,
  For,
  IfThenElse,
  LetStmt,
  Seq,
  seq,
  type Stmt,
} from "../../ir/stmt.ts";
import { freeVars, walkExpr, walkStmt } from "../../ir/visit.ts";
import { accesses, cooperative, hasCooperative, threadDependent } from "./threadDependence.ts";
import { allocationHome, type Home } from "./threadSlots.ts";

/**
 * A shader's statement with its barriers, and the decisions the walk made that the printer
 * prints: which statements are leaves, which thread loops are thread indices, and where each
 * allocation lives. Each is a statement of `body` itself (made afresh, so a subtree shared
 * between two places is decided in each).
 */
export interface SyncedShader {
  readonly body: Stmt;
  /**
   * Statements of the skeleton that each thread that needs them runs whole, with the threads
   * that do: where the conditions sunk to them hold, and on thread 0 of each axis the shader
   * uses that no enclosing loop binds.
   */
  readonly leaves: ReadonlyMap<Stmt, LeafGuard>;
  /** Thread-bound loops that are a thread (or workgroup) index. */
  readonly indices: ReadonlySet<For>;
  /** Where each allocation in the skeleton lives (one not listed is a private array). */
  readonly homes: ReadonlyMap<Allocate, Home>;
}

export interface LeafGuard {
  readonly conds: readonly Expr[];
  readonly firstThread: readonly number[];
}

/**
 * Plans `root`, one shader's statement. `wg` is its workgroup size per axis; `isStorage(b)`
 * says whether `b` is a storage buffer (else workgroup or private).
 */
export function planShader(
  root: Stmt,
  wg: readonly number[],
  isStorage: (b: Buffer) => boolean,
): SyncedShader {
  const p = new Planner(wg, isStorage);
  const body = wg.some((n) => n > 1) ? p.stmt(root) : p.oneThread(root);
  return { body, leaves: p.leaves, indices: p.indices, homes: p.homes };
}

/** `root` with the barriers it needs (planShader's body). */
export function planBarriers(
  root: Stmt,
  wg: readonly number[],
  isStorage: (b: Buffer) => boolean,
): Stmt {
  return planShader(root, wg, isStorage).body;
}

class Planner {
  private readonly threadVars = new Set<Var>();
  private readonly threadVar: Array<Var | null> = [null, null, null];
  private readonly threadLoop: Array<For | null> = [null, null, null];
  /** Buffers accessed since the last barrier that other threads can see. */
  private pendingReads = new Set<Buffer>();
  private pendingWrites = new Set<Buffer>();
  /** Whether each buffer allocated around here is private to its thread. */
  private readonly priv = new Map<Buffer, boolean>();
  readonly leaves = new Map<Stmt, LeafGuard>();
  /** Conditions that may differ between threads, sunk from the skeleton to its leaves. */
  private pending: Expr[] = [];
  readonly indices = new Set<For>();
  readonly homes = new Map<Allocate, Home>();

  constructor(
    private readonly wg: readonly number[],
    private readonly isStorage: (b: Buffer) => boolean,
  ) {}

  /** A statement of the skeleton, with its barriers. */
  stmt(s: Stmt): Stmt {
    switch (s.kind) {
      case "seq":
        return new Seq(s.stmts.map((x) => this.stmt(x)));
      case "if": {
        if (!hasCooperative(s, this.threadLoop)) return this.leaf(s);
        // Rare: an `else` stays a real branch, no condition sunk through it.
        if (s.otherwise) {
          return new IfThenElse(s.cond, this.stmt(s.then), this.stmt(s.otherwise));
        }
        // The condition is sunk to the leaves.
        this.pending.push(s.cond);
        const then = this.stmt(s.then);
        this.pending.pop();
        return new IfThenElse(s.cond, then);
      }
      case "for":
        return this.forLoop(s);
      case "store":
        return this.leaf(s);
      case "allocate": {
        const b = s.buffer;
        const home = allocationHome(s, {
          wg: this.wg,
          threadVar: this.threadVar,
          threadLoop: this.threadLoop,
          skeleton: true,
        });
        const saved = this.priv.get(b);
        this.priv.set(b, home.private);
        const body = this.stmt(s.body);
        if (saved !== undefined) this.priv.set(b, saved);
        else this.priv.delete(b);
        const out = new Allocate(b, body, s.note);
        this.homes.set(out, home);
        return out;
      }
      case "let": {
        // Every thread evaluates the value (a tuple reduction's operands): it must see what
        // other threads wrote before it, as a leaf's reads do.
        const reads = new Set<Buffer>();
        walkExpr(s.value, (x) => {
          if (x.kind === "bufferLoad") reads.add(x.buffer.aliasOf ?? x.buffer);
        });
        const hazards = [...reads].filter((b) => this.visible(b) && this.pendingWrites.has(b));
        const sync = hazards.length ? this.barrierFor(hazards) : null;
        reads.forEach((b) => this.visible(b) && this.pendingReads.add(b));
        const out = new LetStmt(s.v, s.value, this.stmt(s.body));
        return sync ? seq([sync, out]) : out;
      }
      case "barrier":
        return this.barrierFor([...this.pendingReads, ...this.pendingWrites]) ?? s;
      case "extern":
        return s; // the WebGPU target refuses these before planning
    }
  }

  private forLoop(s: For): Stmt {
    if (s.forKind === "threadBinding" && s.threadTag && cooperative(s, this.threadLoop)) {
      return this.index(s, (x) => this.stmt(x));
    }
    // A loop without thread loops inside, or one whose bounds differ between threads (no
    // barrier may sit in it), runs whole in each thread that needs it.
    if (!hasCooperative(s, this.threadLoop) || threadDependent(s, this.threadVars)) {
      return this.leaf(s);
    }
    const before = [new Set(this.pendingReads), new Set(this.pendingWrites)];
    let body = this.stmt(s.body);
    // The next iteration must not touch what this one's other threads may still use.
    const sync = this.syncBefore(s.body, this.injectiveWrites(s));
    if (sync) body = seq([body, sync]);
    // After the loop: what the last iteration left, or (no iteration) what was there.
    before[0].forEach((b) => this.pendingReads.add(b));
    before[1].forEach((b) => this.pendingWrites.add(b));
    return this.withBody(s, body);
  }

  /** A thread loop that is its thread (or workgroup) index, its body walked by `walk`. */
  private index(s: For, walk: (x: Stmt) => Stmt): For {
    if (s.threadTag!.startsWith("blockIdx")) {
      const out = this.withBody(s, walk(s.body));
      this.indices.add(out);
      return out;
    }
    const d = "xyz".indexOf(s.threadTag!.slice(-1));
    const savedVar = this.threadVar[d], savedLoop = this.threadLoop[d];
    const savedPending = this.pending;
    // A loop nested in another bound to the same index is the same hardware index (as in
    // TVM): thread t runs iteration t of the inner loop. In the interpreter the inner loop
    // ran in full for every valid outer index, so the outer loop's guards do not apply.
    if (savedVar) this.pending = this.pending.filter((c) => !freeVars(c).has(savedVar));
    if (!(s.extent.kind === "const" && s.extent.value === this.wg[d])) {
      const hi = s.min.kind === "const" && s.min.value === 0
        ? s.extent
        : simplify(new Binary("add", s.min, s.extent, "int32"));
      this.pending = [...this.pending, new Cmp("lt", s.loopVar, hi)];
    }
    this.threadVar[d] = s.loopVar;
    this.threadLoop[d] = s;
    this.threadVars.add(s.loopVar);
    const body = walk(s.body);
    this.threadVars.delete(s.loopVar);
    this.threadVar[d] = savedVar;
    this.threadLoop[d] = savedLoop;
    this.pending = savedPending;
    const out = this.withBody(s, body);
    this.indices.add(out);
    return out;
  }

  /**
   * A shader of one thread: no barriers and no leaves, but its thread loops are still its
   * (single) thread index where they are cooperative.
   */
  oneThread(s: Stmt): Stmt {
    const go = (x: Stmt): Stmt => this.oneThread(x);
    switch (s.kind) {
      case "seq":
        return new Seq(s.stmts.map(go));
      case "if":
        return new IfThenElse(s.cond, go(s.then), s.otherwise ? go(s.otherwise) : null);
      case "for":
        if (s.forKind === "threadBinding" && s.threadTag && cooperative(s, this.threadLoop)) {
          return this.index(s, go);
        }
        return this.withBody(s, go(s.body));
      case "allocate":
        return new Allocate(s.buffer, go(s.body), s.note);
      case "let":
        return new LetStmt(s.v, s.value, go(s.body));
      default:
        return s;
    }
  }

  private withBody(s: For, body: Stmt): For {
    return new For(s.loopVar, s.min, s.extent, s.forKind, body, s.threadTag, s.pragmas);
  }

  /** A leaf: the barrier it needs before it, then what it touches is pending. */
  private leaf(s: Stmt): Stmt {
    const sync = this.syncBefore(s);
    const { reads, writes } = accesses(s);
    reads.forEach((b) => this.visible(b) && this.pendingReads.add(b));
    writes.forEach((b) => this.visible(b) && this.pendingWrites.add(b));
    const out = fresh(s);
    this.leaves.set(out, {
      conds: [...this.pending],
      firstThread: [0, 1, 2].filter((d) => this.wg[d] > 1 && this.threadVar[d] === null),
    });
    return sync ? seq([sync, out]) : out;
  }

  /** Buffers other threads can see: storage, and workgroup memory. */
  private visible(b: Buffer): boolean {
    return !this.priv.get(b);
  }

  /**
   * The barrier `s` needs before it runs: when it writes what another thread may have read
   * or written since the last barrier, or reads what another may have written.
   */
  private syncBefore(s: Stmt, disjointWrites: ReadonlySet<Buffer> = new Set()): Barrier | null {
    const { reads, writes } = accesses(s);
    const hazards = [...writes].filter((b) =>
      this.visible(b) &&
      (this.pendingReads.has(b) || (this.pendingWrites.has(b) && !disjointWrites.has(b)))
    ).concat([...reads].filter((b) => this.visible(b) && this.pendingWrites.has(b)));
    return hazards.length ? this.barrierFor(hazards) : null;
  }

  /**
   * Buffers that loop `s` writes at a different element in every (iteration, thread) pair:
   * each store's index is a sum of the loop's, the threads' and inner loops' variables with
   * constant coefficients that form a mixed radix (each coefficient exceeds the span of the
   * smaller ones). Writes of one iteration then never collide with another's, so the
   * iterations need no barrier between them for those writes (a cooperative copy in steps).
   */
  private injectiveWrites(s: For): Set<Buffer> {
    const range = new Map<Var, number>();
    this.threadVar.forEach((v, d) => v && range.set(v, this.wg[d]));
    const out = new Set<Buffer>();
    if (s.extent.kind !== "const") return out;
    range.set(s.loopVar, s.extent.value);
    walkStmt(s.body, (x) => {
      if (x.kind !== "for") return;
      const d = "xyz".indexOf(x.threadTag?.slice(-1) ?? "-");
      if (x.forKind === "threadBinding" && x.threadTag?.startsWith("threadIdx")) {
        range.set(x.loopVar, this.wg[d]);
      } else if (x.extent.kind === "const") range.set(x.loopVar, x.extent.value);
    });
    const indices = new Map<Buffer, Set<string>>();
    const ok = new Map<Buffer, boolean>();
    walkStmt(s.body, (x) => {
      if (x.kind !== "store") return;
      const b = x.buffer.aliasOf ?? x.buffer;
      const idx = simplify(x.indices[0]);
      if (!indices.has(b)) indices.set(b, new Set());
      indices.get(b)!.add(exprKey(idx));
      ok.set(b, (ok.get(b) ?? true) && mixedRadix(idx, range));
    });
    for (const [b, keys] of indices) if (keys.size === 1 && ok.get(b)) out.add(b);
    return out;
  }

  /** A barrier ordering `bufs` (and everything pending: all of it is then done). */
  private barrierFor(bufs: Buffer[]): Barrier | null {
    this.pendingReads.clear();
    this.pendingWrites.clear();
    if (bufs.length === 0) return null;
    // Both are control barriers; each orders its own address space.
    return new Barrier({
      storage: bufs.some((b) => this.isStorage(b)),
      workgroup: bufs.some((b) => !this.isStorage(b)),
    });
  }
}

/** A copy of `s` as a node of its own (its children shared). */
function fresh(s: Stmt): Stmt {
  switch (s.kind) {
    case "for":
      return new For(s.loopVar, s.min, s.extent, s.forKind, s.body, s.threadTag, s.pragmas);
    case "if":
      return new IfThenElse(s.cond, s.then, s.otherwise);
    case "store":
      return new BufferStore(s.buffer, s.indices, s.value);
    default:
      return s;
  }
}

/**
 * Whether `e` takes a different value for every assignment of the variables in `range`
 * (each in [0, extent)), the other atoms held fixed: it must be linear in those variables,
 * with coefficients that, sorted by size, each exceed the span of all smaller ones.
 */
export function mixedRadix(e: Expr, range: ReadonlyMap<Var, number>): boolean {
  const terms: Array<[number, number]> = [];
  for (const t of toLinear(e).terms.values()) {
    if (t.atom.kind === "var" && range.has(t.atom)) {
      terms.push([Math.abs(t.coeff), range.get(t.atom)!]);
    } else if ([...freeVars(t.atom)].some((v) => range.has(v))) return false;
  }
  terms.sort((a, b) => a[0] - b[0]);
  let span = 0;
  for (const [c, n] of terms) {
    if (n > 1 && c <= span) return false;
    span += c * (n - 1);
  }
  return true;
}
