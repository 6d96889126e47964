/**
 * The loop IR: statements over buffers, the output of lowering and the input of every
 * backend and of the interpreter. Like TVM's TIR it is small: loops with a kind (serial,
 * parallel, vectorized, unrolled, thread-bound), stores, conditionals, allocations with a
 * memory scope, barriers and sequences. A `PrimFunc` is one kernel: its parameter buffers
 * (in the order the caller passes arrays), its symbolic sizes and its body.
 */
import type { Buffer, Expr, Var } from "./expr.ts";

export type ForKind = "serial" | "parallel" | "vectorized" | "unrolled" | "threadBinding";

export class For {
  readonly kind = "for";
  constructor(
    readonly loopVar: Var,
    readonly min: Expr,
    readonly extent: Expr,
    readonly forKind: ForKind,
    readonly body: Stmt,
    readonly threadTag: string | null = null,
    readonly pragmas: ReadonlyArray<readonly [string, string | number]> = [],
  ) {}
}

export class BufferStore {
  readonly kind = "store";
  constructor(readonly buffer: Buffer, readonly indices: Expr[], readonly value: Expr) {}
}

export class IfThenElse {
  readonly kind = "if";
  constructor(readonly cond: Expr, readonly then: Stmt, readonly otherwise: Stmt | null = null) {}
}

/** Declares `buffer` (its scope says where it lives) for the extent of `body`. */
export class Allocate {
  readonly kind = "allocate";
  constructor(
    readonly buffer: Buffer,
    readonly body: Stmt,
    /** Why the buffer lives where it does, when lowering chose it (shown by the printer). */
    readonly note: string | null = null,
  ) {}
}

/** `let v = value` for the extent of `body`. */
export class LetStmt {
  readonly kind = "let";
  constructor(readonly v: Var, readonly value: Expr, readonly body: Stmt) {}
}

/**
 * A workgroup barrier (`__syncthreads` / `workgroupBarrier`); a no-op on one thread. `memory`
 * is null where lowering asks for one; barrier planning for a shader
 * (lib/lower/gpu/threadSync.ts) places its own, saying which memory each orders (storage
 * buffers, workgroup memory or both), and those are what the WGSL printer prints.
 */
export class Barrier {
  readonly kind = "barrier";
  constructor(readonly memory: BarrierMemory | null = null) {}
}

export interface BarrierMemory {
  readonly storage: boolean;
  readonly workgroup: boolean;
}

export class Seq {
  readonly kind = "seq";
  constructor(readonly stmts: Stmt[]) {}
}

/**
 * A call of a C function the user named (`te.extern`): `args` in call order, each a whole
 * buffer (a pointer to its data) or a value. `ins`/`outs` are the same buffers in the
 * extern's own order and `shapes` their logical shapes (kept through storage flattening), for
 * the interpreter, which runs `impl.interpret` instead; the C target compiles and links
 * `impl.cSource` and `impl.libs`.
 */
export class ExternCall {
  readonly kind = "extern";
  constructor(
    readonly fname: string,
    readonly args: ReadonlyArray<Buffer | Expr>,
    readonly ins: Buffer[],
    readonly outs: Buffer[],
    readonly shapes: Expr[][],
    readonly impl: ExternImpl,
  ) {}
}

export interface ExternImpl {
  /** The extern stage's name, for messages. */
  readonly stage: string;
  readonly cSource: string | null;
  readonly libs: readonly string[];
  readonly interpret: ((...a: never[]) => void) | null;
}

export type Stmt =
  | For
  | BufferStore
  | IfThenElse
  | Allocate
  | LetStmt
  | Barrier
  | Seq
  | ExternCall;

/** Builds a sequence, flattening nested ones and dropping empties. */
export function seq(stmts: Stmt[]): Stmt {
  const out: Stmt[] = [];
  for (const s of stmts) {
    if (s.kind === "seq") out.push(...s.stmts);
    else out.push(s);
  }
  return out.length === 1 ? out[0] : new Seq(out);
}

/**
 * What the sizes of a call must satisfy for the kernel to mean what the schedule says:
 * `value`, an expression of the size variables, must be at least 1 (a symbolic split factor,
 * say). Every target checks it before anything runs; `what` says where it comes from.
 */
export interface SizeRequirement {
  readonly value: Expr;
  readonly what: string;
}

/**
 * One lowered kernel. `params` are its array parameters, `sizeVars` the sizes bound from
 * their shapes, `scalars` the values the caller passes as numbers (a bias, a scale: a
 * `te.var` listed in the arguments that is no size). `signature` is the order the caller
 * passes them in: arrays and scalars (and any size variable listed, checked against the
 * shapes).
 */
export class PrimFunc {
  constructor(
    readonly name: string,
    readonly params: Buffer[],
    readonly sizeVars: Var[],
    readonly body: Stmt,
    /** Which params the kernel writes (outputs); the rest are read-only inputs. */
    readonly outputs: Buffer[],
    readonly requires: readonly SizeRequirement[] = [],
    readonly scalars: readonly Var[] = [],
    readonly signature: ReadonlyArray<Buffer | Var> = params,
  ) {}
  /** The same kernel with another body (passes that rewrite only the body use this). */
  withBody(body: Stmt): PrimFunc {
    return new PrimFunc(
      this.name,
      this.params,
      this.sizeVars,
      body,
      this.outputs,
      this.requires,
      this.scalars,
      this.signature,
    );
  }
  toString(): string {
    return printerHook.print(this);
  }
  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return primFuncDisplayHook.bundle(this);
  }
}

/** Set by lib/display: the Jupyter MIME bundle of a function, without an import of it here. */
export const primFuncDisplayHook: { bundle: (f: PrimFunc) => Record<string, unknown> } = {
  bundle: (f) => ({ "text/plain": String(f) }),
};

/** Set by the printer module, so that `String(func)` works without an import cycle. */
export const printerHook: { print: (f: PrimFunc) => string } = {
  print: () => "<PrimFunc>",
};
