/**
 * Scalar expressions: the one expression language shared by tensor expressions (`te`) and
 * the loop IR. Nodes are small immutable values in the spirit of Halide's IR; every node
 * carries its dtype, and the chaining methods (`a.add(b).mul(2)`) build new nodes with the
 * usual promotion rules (a plain number takes the other operand's type; int meets float as
 * float). Tensor reads at the `te` level are `TensorRead`s; after lowering they are
 * `BufferLoad`s. `Reduce` only appears at the top of a compute body (`te.compute` lifts a
 * reduction written inside an expression into a stage of its own).
 */
import { TesseraError } from "../error.ts";
import { type DType, intRange, isBool, isFloat, isInt, parseDType } from "./dtype.ts";

export type ExprLike = Expr | number | boolean;

export type BinaryOp =
  | "add"
  | "sub"
  | "mul"
  | "div" // float: true division; int: truncates toward zero, like C
  | "mod" // int: truncated remainder, sign of the dividend, like C's %
  | "floordiv" // rounds toward -inf, like Python's //
  | "floormod" // sign of the divisor, like Python's %
  | "min"
  | "max"
  | "pow";
export type CmpOp = "lt" | "le" | "gt" | "ge" | "eq" | "ne";
export type LogicalOp = "and" | "or";
export const INTRINSICS = [
  "exp",
  "log",
  "sqrt",
  "rsqrt",
  "tanh",
  "sigmoid",
  "abs",
  "floor",
  "ceil",
  "round",
  "erf",
  "sin",
  "cos",
  "tan",
  "atan",
  "atan2",
  "exp2",
  "log2",
  "log1p",
  "expm1",
  "sinh",
  "cosh",
  "isnan",
  "isinf",
] as const;
export type Intrinsic = typeof INTRINSICS[number];
/**
 * What a `Call` may be: a math intrinsic, or `checkIndex(index, extent, dim)`, which lowering
 * puts around an index it cannot prove lies in `[0, extent)` (lib/lower/checkBounds.ts): it
 * is the index when it does and a run-time error otherwise (the C and WebGPU code record the
 * error and read element 0 instead). `dim` is the dimension, for the message.
 */
export type CallOp = Intrinsic | "checkIndex";

let nextId = 0;

/** Set by the printer module, so that `String(expr)` shows Python-like text without a cycle. */
export const exprPrinterHook: { print: (e: Expr) => string } = { print: (e) => e.kind };

/** Methods every expression has, so that `A(i, k).mul(B(k, j))` reads like math. */
export abstract class ExprBase {
  abstract readonly kind: string;
  abstract readonly dtype: DType;
  toString(): string {
    return exprPrinterHook.print(this as unknown as Expr);
  }
  add(o: ExprLike): Expr {
    return binary("add", this as unknown as Expr, o);
  }
  sub(o: ExprLike): Expr {
    return binary("sub", this as unknown as Expr, o);
  }
  mul(o: ExprLike): Expr {
    return binary("mul", this as unknown as Expr, o);
  }
  div(o: ExprLike): Expr {
    return binary("div", this as unknown as Expr, o);
  }
  mod(o: ExprLike): Expr {
    return binary("mod", this as unknown as Expr, o);
  }
  floordiv(o: ExprLike): Expr {
    return binary("floordiv", this as unknown as Expr, o);
  }
  floormod(o: ExprLike): Expr {
    return binary("floormod", this as unknown as Expr, o);
  }
  max(o: ExprLike): Expr {
    return binary("max", this as unknown as Expr, o);
  }
  min(o: ExprLike): Expr {
    return binary("min", this as unknown as Expr, o);
  }
  pow(o: ExprLike): Expr {
    return binary("pow", this as unknown as Expr, o);
  }
  neg(): Expr {
    const a = this as unknown as Expr;
    if (isBool(a.dtype)) throw new TesseraError("neg: cannot negate a bool expression; use .not()");
    return new Neg(a);
  }
  lt(o: ExprLike): Expr {
    return compare("lt", this as unknown as Expr, o);
  }
  le(o: ExprLike): Expr {
    return compare("le", this as unknown as Expr, o);
  }
  gt(o: ExprLike): Expr {
    return compare("gt", this as unknown as Expr, o);
  }
  ge(o: ExprLike): Expr {
    return compare("ge", this as unknown as Expr, o);
  }
  eq(o: ExprLike): Expr {
    return compare("eq", this as unknown as Expr, o);
  }
  ne(o: ExprLike): Expr {
    return compare("ne", this as unknown as Expr, o);
  }
  and(o: ExprLike): Expr {
    return logical("and", this as unknown as Expr, o);
  }
  or(o: ExprLike): Expr {
    return logical("or", this as unknown as Expr, o);
  }
  not(): Expr {
    const a = this as unknown as Expr;
    if (!isBool(a.dtype)) {
      throw new TesseraError(`not: expects a bool expression, got ${a.dtype}; compare first`);
    }
    return new Not(a);
  }
}

export class Const extends ExprBase {
  readonly kind = "const";
  readonly value: number;
  constructor(value: number, readonly dtype: DType) {
    super();
    // An integer has no -0 (JavaScript arithmetic on bounds and folds can produce one).
    this.value = isFloat(dtype) ? value : value + 0;
  }
}

/** A scalar variable: a symbolic size, a loop variable or a compute axis. Identity is the object. */
export class Var extends ExprBase {
  readonly kind = "var";
  readonly id = nextId++;
  constructor(readonly name: string, readonly dtype: DType = "int32") {
    super();
  }
}

export class Binary extends ExprBase {
  readonly kind = "binary";
  constructor(
    readonly op: BinaryOp,
    readonly a: Expr,
    readonly b: Expr,
    readonly dtype: DType,
  ) {
    super();
  }
}

export class Cmp extends ExprBase {
  readonly kind = "cmp";
  readonly dtype: DType = "bool";
  constructor(readonly op: CmpOp, readonly a: Expr, readonly b: Expr) {
    super();
  }
}

export class Logical extends ExprBase {
  readonly kind = "logical";
  readonly dtype: DType = "bool";
  constructor(readonly op: LogicalOp, readonly a: Expr, readonly b: Expr) {
    super();
  }
}

export class Not extends ExprBase {
  readonly kind = "not";
  readonly dtype: DType = "bool";
  constructor(readonly a: Expr) {
    super();
  }
}

export class Neg extends ExprBase {
  readonly kind = "neg";
  readonly dtype: DType;
  constructor(readonly a: Expr) {
    super();
    this.dtype = a.dtype;
  }
}

export class Call extends ExprBase {
  readonly kind = "call";
  constructor(readonly op: CallOp, readonly args: Expr[], readonly dtype: DType) {
    super();
  }
}

/**
 * `cond ? t : f`, evaluated lazily like C's ternary: only the taken branch is evaluated,
 * so `select(i.ge(1), A(i.sub(1)), 0)` never reads A[-1]. Backends must keep that.
 */
export class Select extends ExprBase {
  readonly kind = "select";
  readonly dtype: DType;
  constructor(readonly cond: Expr, readonly t: Expr, readonly f: Expr) {
    super();
    this.dtype = t.dtype;
  }
}

export class Cast extends ExprBase {
  readonly kind = "cast";
  constructor(readonly dtype: DType, readonly value: Expr) {
    super();
  }
}

/** What a tensor read refers to; implemented by `te` tensors. Kept abstract to avoid a cycle. */
export interface TensorRef {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly Expr[];
  readonly op: { readonly name: string };
  readonly valueIndex: number;
}

/** A read of a `te` tensor element: `A(i, k)`. Replaced by `BufferLoad` during lowering. */
export class TensorRead extends ExprBase {
  readonly kind = "tensorRead";
  readonly dtype: DType;
  constructor(readonly tensor: TensorRef, readonly indices: Expr[]) {
    super();
    this.dtype = tensor.dtype;
  }
}

/**
 * A named memory region in the loop IR. `strides` is set when rows are padded. A buffer with
 * `aliasOf` allocates nothing: it is a view (with its own shape, e.g. a flat one) of the
 * storage of the buffer it aliases.
 */
export class Buffer {
  readonly id = nextId++;
  constructor(
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Expr[],
    readonly scope: "global" | "shared" | "local" = "global",
    readonly strides: Expr[] | null = null,
    readonly aliasOf: Buffer | null = null,
  ) {}
}

export class BufferLoad extends ExprBase {
  readonly kind = "bufferLoad";
  readonly dtype: DType;
  constructor(readonly buffer: Buffer, readonly indices: Expr[]) {
    super();
    this.dtype = buffer.dtype;
  }
}

/**
 * A commutative, associative combiner with an identity, as in TVM's `comm_reducer`. It folds
 * tuples: component k of the new value is `result[k]`, a function of every `lhs` (the
 * accumulated values) and every `rhs` (the incoming ones). A plain reducer is a 1-tuple.
 */
export interface CommReducer {
  readonly name: string;
  readonly lhs: Var[];
  readonly rhs: Var[];
  readonly result: Expr[];
  readonly identity: Expr[];
}

/**
 * A reduction over `axis` (IterVars of kind "reduce"); `condition` filters the iterations.
 * A tuple reduction (argmax) is one `Reduce` per component, sharing `sources`; this one is
 * component `valueIndex`, whose own source is `source`.
 */
export class Reduce extends ExprBase {
  readonly kind = "reduce";
  readonly dtype: DType;
  readonly sources: Expr[];
  constructor(
    readonly combiner: CommReducer,
    readonly source: Expr,
    readonly axis: Var[],
    readonly condition: Expr,
    readonly valueIndex = 0,
    sources?: Expr[],
  ) {
    super();
    this.dtype = source.dtype;
    this.sources = sources ?? [source];
  }
}

export type Expr =
  | Const
  | Var
  | Binary
  | Cmp
  | Logical
  | Not
  | Neg
  | Call
  | Select
  | Cast
  | TensorRead
  | BufferLoad
  | Reduce;

export function isExpr(x: unknown): x is Expr {
  return x instanceof ExprBase;
}

/** A value as a user would recognize it in a message ("5" quoted, 1n with its n). */
function show(x: unknown): string {
  if (typeof x === "string") return JSON.stringify(x);
  if (typeof x === "bigint") return `${x}n (a BigInt)`;
  if (Array.isArray(x)) return `an array [${String(x)}]`;
  if (typeof x === "object" && x !== null) return "an object";
  return String(x);
}

/**
 * The one conversion of a JavaScript literal into a constant; every number that becomes an
 * expression comes through here. Only numbers and booleans are literals, and an integer
 * literal must fit its type: an int32 that wrapped would read `A(2**40)` as `A(0)`, and one
 * that did not would mean one thing in C and another in the interpreter.
 */
export function constOf(value: unknown, dtype: DType, where = "te.const"): Const {
  if (typeof value === "boolean") return new Const(value ? 1 : 0, "bool");
  if (typeof value !== "number") {
    throw new TesseraError(
      `${where}: ${show(value)} is not a number or a boolean; pass a JavaScript number ` +
        `(e.g. 5, not "5" or 5n)`,
    );
  }
  if (isInt(dtype)) {
    if (!Number.isInteger(value)) {
      throw new TesseraError(`${where}: ${value} is not an integer but the dtype is ${dtype}`);
    }
    // int64's upper end 2^63 - 1 is no double: the test is `< 2^63`.
    const [lo, hi] = intRange(dtype);
    if (value < lo || (dtype === "int64" ? value >= 2 ** 63 : value > hi)) {
      throw new TesseraError(
        `${where}: ${value} does not fit ${dtype} (${lo} to ${
          dtype === "int64" ? "2^63 - 1" : hi
        }); write it as te.const(${value}, "float32") if a float is meant, or cast the ` +
          `other operand to a wider type`,
      );
    }
    return new Const(value, dtype);
  }
  if (isBool(dtype)) return new Const(value ? 1 : 0, "bool");
  return new Const(value, dtype);
}

export const intConst = (v: number): Const => new Const(v, "int32");

/** Turns a number or boolean into an expression; numbers take `hint`'s type when given. */
export function toExpr(x: ExprLike, hint?: DType, where = "literal"): Expr {
  if (isExpr(x)) return x;
  if (typeof x === "number" && hint !== undefined && !isBool(hint)) {
    // A fraction next to an int is a float, as in C: `i.add(0.5)` is float32 (float64
    // next to an int64, the type int64 meets a float as).
    if (isInt(hint) && !Number.isInteger(x)) {
      return constOf(x, hint === "int64" ? "float64" : "float32", where);
    }
    return constOf(x, hint, where);
  }
  if (typeof x === "number" && Number.isNaN(x)) {
    throw new TesseraError(`${where}: NaN has no type here; write te.const(NaN, "float32")`);
  }
  const t = typeof x === "number" && !Number.isInteger(x) ? "float32" : "int32";
  return constOf(x, t, where);
}

const FLOAT_RANK: Record<string, number> = { float16: 0, float32: 1, float64: 2 };

/**
 * The type two operands of different types meet as (numpy's rules, but for int32 with
 * float16/float32, which stays that float as in C and TVM): the wider float; the wider int,
 * int8 with uint8 as int32 (there is no int16); int meets float as the float, except that
 * int64 meets float16/float32 as float64.
 */
export function promoteTypes(op: string, a: DType, b: DType): DType {
  if (a === b) return a;
  if (isBool(a) || isBool(b)) {
    throw new TesseraError(`${op}: cannot combine ${a} with ${b}; use te.cast to convert the bool`);
  }
  if (isFloat(a) && isFloat(b)) return FLOAT_RANK[a] > FLOAT_RANK[b] ? a : b;
  if (isFloat(a) || isFloat(b)) {
    const [f, i] = isFloat(a) ? [a, b] : [b, a];
    return i === "int64" ? "float64" : f;
  }
  if (a === "int64" || b === "int64") return "int64";
  return "int32"; // int32 with anything narrower, or int8 with uint8
}

function promote(op: string, a: Expr, b: Expr): [Expr, Expr] {
  const t = promoteTypes(op, a.dtype, b.dtype);
  return [a.dtype === t ? a : new Cast(t, a), b.dtype === t ? b : new Cast(t, b)];
}

function operands(op: string, x: ExprLike, y: ExprLike): [Expr, Expr] {
  const a = isExpr(x) ? x : toExpr(x, isExpr(y) ? y.dtype : undefined);
  const b = isExpr(y) ? y : toExpr(y, a.dtype);
  return promote(op, a, b);
}

export function binary(op: BinaryOp, x: ExprLike, y: ExprLike): Expr {
  const [a, b] = operands(op, x, y);
  if (isBool(a.dtype)) {
    throw new TesseraError(`${op}: arithmetic on bool is not defined; use .and/.or or te.cast`);
  }
  if (op === "mod" && isFloat(a.dtype)) {
    throw new TesseraError("mod: truncated remainder is for integers; use floormod for floats");
  }
  return new Binary(op, a, b, a.dtype);
}

export function compare(op: CmpOp, x: ExprLike, y: ExprLike): Expr {
  const [a, b] = operands(op, x, y);
  return new Cmp(op, a, b);
}

export function logical(op: LogicalOp, x: ExprLike, y: ExprLike): Expr {
  const a = toExpr(x, "bool");
  const b = toExpr(y, "bool");
  if (!isBool(a.dtype) || !isBool(b.dtype)) {
    throw new TesseraError(
      `${op}: expects bool operands, got ${a.dtype} and ${b.dtype}; compare first (e.g. x.gt(0))`,
    );
  }
  return new Logical(op, a, b);
}

/**
 * A math function: integer arguments convert to float32 (int64 to float64), several
 * arguments meet as one type; `abs` keeps an integer type and `isnan`/`isinf` give bool.
 */
export function call(op: Intrinsic, ...xs: ExprLike[]): Expr {
  const hint = xs.find(isExpr)?.dtype;
  const args = xs.map((x) => toExpr(x, hint !== undefined && !isBool(hint) ? hint : "float32"));
  for (const a of args) {
    if (isBool(a.dtype)) throw new TesseraError(`te.${op}: argument is bool; cast it first`);
  }
  if (op === "abs" && isInt(args[0].dtype)) return new Call(op, args, args[0].dtype);
  const asFloat = (t: DType): DType => (isFloat(t) ? t : t === "int64" ? "float64" : "float32");
  const t = args.map((a) => asFloat(a.dtype)).reduce((x, y) => promoteTypes(`te.${op}`, x, y));
  const fargs = args.map((a) => (a.dtype === t ? a : new Cast(t, a)));
  return new Call(op, fargs, op === "isnan" || op === "isinf" ? "bool" : t);
}

export function select(cond: ExprLike, t: ExprLike, f: ExprLike): Expr {
  const c = toExpr(cond, "bool");
  if (!isBool(c.dtype)) {
    throw new TesseraError(`select: the condition must be bool, got ${c.dtype}`);
  }
  const [a, b] = operands("select", t, f);
  return new Select(c, a, b);
}

export function cast(dtype: DType, x: ExprLike): Expr {
  parseDType(dtype, "te.cast");
  const e = toExpr(x, dtype);
  return e.dtype === dtype ? e : new Cast(dtype, e);
}
