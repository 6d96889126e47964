/**
 * Tensors, operations and iteration variables: the dataflow graph a user builds with
 * `te.placeholder` and `te.compute`. An operation is either a placeholder (an input) or a
 * compute (a body expression over its axes, possibly a reduction). A tensor is a callable
 * handle on an operation's output, so `A(i, k)` builds a read. Schedules never mutate these;
 * primitives that change a stage's computation (cacheWrite, rfactor) make new operations.
 */
import { TesseraError } from "../error.ts";
import type { DType } from "../ir/dtype.ts";
import { type Expr, type ExprLike, TensorRead, toExpr, Var } from "../ir/expr.ts";
import { walkExpr } from "../ir/visit.ts";

export type IterType = "data" | "reduce";

export interface Range {
  readonly min: Expr;
  readonly extent: Expr;
}

/** A loop variable of a stage: an axis of a compute, a reduce axis, or one made by a split. */
export class IterVar extends Var {
  constructor(
    name: string,
    readonly dom: Range | null,
    readonly iterType: IterType,
  ) {
    super(name, "int32");
  }
  override toString(): string {
    return `IterVar(${this.name}, ${this.iterType})`;
  }
}

export class PlaceholderOp {
  readonly kind = "placeholder";
  /** Inputs have no loops; empty so that `t.op.axis` type-checks for any tensor. */
  readonly axis: IterVar[] = [];
  readonly reduceAxis: IterVar[] = [];
  constructor(readonly name: string, readonly shape: Expr[], readonly dtype: DType) {}
  get output(): Tensor {
    return tensorOf(this);
  }
}

/**
 * A compute: a body per output over its axes. Several outputs (`te.compute(shape, f)` where
 * `f` returns an array, or a tuple reduction such as argmax) share one loop nest, which
 * stores every output; `body` is output 0's.
 */
export class ComputeOp {
  readonly kind = "compute";
  readonly bodies: Expr[];
  readonly outputNames: string[];
  constructor(
    readonly name: string,
    readonly axis: IterVar[],
    readonly reduceAxis: IterVar[],
    body: Expr | Expr[],
    readonly tag: string = "",
    outputNames?: string[],
  ) {
    this.bodies = Array.isArray(body) ? body : [body];
    this.outputNames = outputNames ??
      (this.bodies.length === 1 ? [name] : this.bodies.map((_, k) => `${name}_v${k}`));
  }
  get body(): Expr {
    return this.bodies[0];
  }
  get shape(): Expr[] {
    return this.axis.map((a) => a.dom!.extent);
  }
  get dtype(): DType {
    return this.body.dtype;
  }
  get output(): Tensor {
    return tensorOf(this);
  }
  /** Every output, in order (TVM's `op.output(k)` is `op.outputs[k]`). */
  get outputs(): Tensor[] {
    return this.bodies.map((_, k) => tensorOf(this, k));
  }
  get numOutputs(): number {
    return this.bodies.length;
  }
}

/**
 * One state of a recurrence made by `te.scan` (lib/te/scan.ts): rows below the init's are the
 * init's, each later row `t` is the update's row `t`, which reads earlier rows through the
 * state placeholder. The states of one scan share a `ScanGroup` and one serial loop; each is
 * an operation (and a stage) of its own, so that every output is a plain tensor.
 */
export class ScanOp {
  readonly kind = "scan";
  /** A scan has no loops of its own to schedule: its update stages have them. */
  readonly axis: IterVar[] = [];
  readonly reduceAxis: IterVar[] = [];
  constructor(readonly name: string, readonly group: ScanGroup, readonly index: number) {}
  get shape(): Expr[] {
    return this.group.state[this.index].shape;
  }
  get dtype(): DType {
    return this.group.state[this.index].dtype;
  }
  get output(): Tensor {
    return tensorOf(this);
  }
}

export interface ScanGroup {
  readonly init: Tensor[];
  readonly update: Tensor[];
  readonly state: Tensor[];
  readonly members: ScanOp[];
}

/**
 * A call to a C function the user names (`te.extern`, lib/te/extern.ts): it reads its inputs
 * whole and writes its outputs whole. Like a scan it has no loops of its own to schedule.
 */
export class ExternOp {
  readonly kind = "extern";
  readonly axis: IterVar[] = [];
  readonly reduceAxis: IterVar[] = [];
  constructor(
    readonly name: string,
    readonly inputs: Tensor[],
    readonly shapes: Expr[][],
    readonly dtypes: DType[],
    readonly outputNames: string[],
    /** What lowering turns into the call statement (lib/te/extern.ts). */
    readonly spec: ExternSpec,
  ) {}
  get shape(): Expr[] {
    return this.shapes[0];
  }
  get dtype(): DType {
    return this.dtypes[0];
  }
  get output(): Tensor {
    return tensorOf(this);
  }
  get outputs(): Tensor[] {
    return this.shapes.map((_, k) => tensorOf(this, k));
  }
  get numOutputs(): number {
    return this.shapes.length;
  }
}

/** An argument of an extern call: a whole input or output (by position), or a value. */
export type ExternArg = { readonly io: "in" | "out"; readonly index: number } | Expr;

export interface ExternSpec {
  readonly fname: string;
  readonly args: readonly ExternArg[];
  readonly cSource: string | null;
  readonly libs: readonly string[];
  readonly interpret: ((...a: never[]) => void) | null;
}

export type Operation = PlaceholderOp | ComputeOp | ScanOp | ExternOp;

/** The callable handle users hold. `A(i, j)` reads element (i, j). */
export interface Tensor {
  (...indices: ExprLike[]): Expr;
  readonly op: Operation;
  readonly valueIndex: number;
  readonly shape: Expr[];
  readonly dtype: DType;
  readonly ndim: number;
  /** The tensor's name (a function's own `name` is shadowed by this). */
  readonly name: string;
}

const tensors = new WeakMap<Operation, Tensor[]>();

/** Set by lib/display: a tensor's Jupyter MIME bundle, so that core never imports Jupyter code. */
export const tensorDisplayHook: { bundle: (t: Tensor) => Record<string, unknown> } = {
  bundle: (t) => ({ "text/plain": String(t) }),
};

/** The handle on output `k` of `op` (one per output, made once). */
export function tensorOf(op: Operation, k = 0): Tensor {
  const cached = tensors.get(op)?.[k];
  if (cached) return cached;
  const shape = op.kind === "extern" ? op.shapes[k] : op.shape;
  const name = op.kind === "compute" || op.kind === "extern" ? op.outputNames[k] : op.name;
  const dtype = op.kind === "compute"
    ? op.bodies[k].dtype
    : op.kind === "extern"
    ? op.dtypes[k]
    : op.dtype;
  const t = function (...indices: ExprLike[]): Expr {
    if (indices.length !== shape.length) {
      throw new TesseraError(
        `${name}(...): tensor has ${shape.length} dimension(s) but ${indices.length} index(es) were given`,
      );
    }
    return new TensorRead(
      t,
      indices.map((x, d) => toExpr(x, "int32", `${name}(...): index ${d}`)).map((e, d) => {
        if (e.dtype !== "int32") {
          throw new TesseraError(
            `${name}(...): index ${d} has dtype ${e.dtype}; indices must be int32 (use te.cast)`,
          );
        }
        return e;
      }),
    );
  } as Tensor;
  Object.defineProperties(t, {
    name: { value: name },
    op: { value: op },
    valueIndex: { value: k },
    shape: { value: shape },
    dtype: { value: dtype },
    ndim: { value: shape.length },
    toString: { value: () => `Tensor(${name}, [${shape.map(String)}], ${t.dtype})` },
    [Symbol.for("Jupyter.display")]: { value: () => tensorDisplayHook.bundle(t) },
  });
  if (!tensors.has(op)) tensors.set(op, []);
  tensors.get(op)![k] = t;
  return t;
}

export function isTensor(x: unknown): x is Tensor {
  return typeof x === "function" && "op" in x && "valueIndex" in x;
}

/** Names reach generated C and WGSL, so they must be plain identifiers. */
export function checkName(name: unknown, where: string): string {
  if (typeof name !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) {
    throw new TesseraError(
      `${where}: name ${
        JSON.stringify(name)
      } is not allowed; use letters, digits and '_' (starting with a letter or '_', at most 64 characters)`,
    );
  }
  return name;
}

/** Every operation reachable from `outputs`, producers before consumers. */
export function postOrder(outputs: Operation[]): Operation[] {
  const seen = new Set<Operation>();
  const order: Operation[] = [];
  const visit = (op: Operation) => {
    if (seen.has(op)) return;
    seen.add(op);
    for (const p of inputOps(op)) visit(p);
    order.push(op);
  };
  outputs.forEach(visit);
  return order;
}

/** The operations whose outputs `op` reads directly. */
export function inputOps(op: Operation): Operation[] {
  if (op.kind === "placeholder") return [];
  if (op.kind === "extern") return [...new Set(op.inputs.map((t) => t.op))];
  if (op.kind === "scan") {
    // The other states too: they are computed in the same loop, whichever is asked for.
    const g = op.group;
    return [...g.init.map((t) => t.op), ...g.update.map((t) => t.op), ...g.members]
      .filter((o) => o !== op);
  }
  const out: Operation[] = [];
  for (const body of op.bodies) {
    walkExpr(body, (e) => {
      if (e.kind === "tensorRead") {
        const p = (e.tensor as Tensor).op;
        if (!out.includes(p)) out.push(p);
      }
    });
  }
  return out;
}

export function newVar(name: string): Var {
  return new Var(name, "int32");
}
