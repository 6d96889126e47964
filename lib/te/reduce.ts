/**
 * Reductions: `te.sum`, `te.max`, `te.min`, `te.prod` and user-defined ones made with
 * `te.commReducer`, in the shape of TVM's `comm_reducer`. A reducer is a commutative,
 * associative combine with an identity; the identity depends on the dtype being reduced, so
 * the combiner is instantiated at each use with variables of that dtype.
 */
import { TesseraError } from "../error.ts";
import { type DType, intRange, isFloat } from "../ir/dtype.ts";
import {
  binary,
  type CommReducer,
  constOf,
  type Expr,
  type ExprLike,
  Reduce,
  toExpr,
  Var,
} from "../ir/expr.ts";
import { IterVar } from "./tensor.ts";

export type Reducer = (source: ExprLike, axes: IterVar | IterVar[], where?: ExprLike) => Expr;

/** Builds a reducer from a combine function and an identity (a value or a function of dtype). */
export function commReducer(
  combine: (a: Expr, b: Expr) => ExprLike,
  identity: ExprLike | ((dtype: DType) => ExprLike),
  name = "reduce",
): Reducer {
  return (source, axes, where) => {
    const src = toExpr(source);
    const list = Array.isArray(axes) ? axes : [axes];
    if (list.length === 0) throw new TesseraError(`te.${name}: give at least one reduce axis`);
    for (const k of list) {
      if (!(k instanceof IterVar) || k.iterType !== "reduce") {
        throw new TesseraError(
          `te.${name}: axes must be made by te.reduceAxis, got ${String(k)}`,
        );
      }
    }
    if (new Set(list).size !== list.length) {
      throw new TesseraError(`te.${name}: a reduce axis is listed twice`);
    }
    const lhs = new Var("x", src.dtype), rhs = new Var("y", src.dtype);
    const result = toExpr(combine(lhs, rhs), src.dtype);
    const id = toExpr(typeof identity === "function" ? identity(src.dtype) : identity, src.dtype);
    if (result.dtype !== src.dtype || id.dtype !== src.dtype) {
      throw new TesseraError(
        `te.${name}: the combiner and identity must keep the dtype ${src.dtype}`,
      );
    }
    const cond = where === undefined ? constOf(true, "bool") : toExpr(where, "bool");
    if (cond.dtype !== "bool") {
      throw new TesseraError(`te.${name}: 'where' must be a bool expression`);
    }
    const combiner: CommReducer = { name, lhs, rhs, result, identity: id };
    return new Reduce(combiner, src, list, cond);
  };
}

const lowest = (t: DType) => (isFloat(t) ? -Infinity : t === "bool" ? 0 : intRange(t)[0]);
// int64's largest value is no double: it is written as the smallest minus one, which wraps.
const highest = (t: DType): ExprLike =>
  isFloat(t)
    ? Infinity
    : t === "bool"
    ? 1
    : t === "int64"
    ? constOf(-(2 ** 63), t).sub(1)
    : intRange(t)[1];

export const sum: Reducer = commReducer((a, b) => a.add(b), 0, "sum");
export const prod: Reducer = commReducer((a, b) => a.mul(b), 1, "prod");
const maxReduce = commReducer((a, b) => binary("max", a, b), lowest, "max");
const minReduce = commReducer((a, b) => binary("min", a, b), highest, "min");

const isAxes = (x: unknown): x is IterVar | IterVar[] =>
  Array.isArray(x) || (x instanceof IterVar && x.iterType === "reduce");

/** `te.max(expr, [k])` reduces; `te.max(a, b)` of two expressions is elementwise. */
export function max(a: ExprLike, b: ExprLike | IterVar[], where?: ExprLike): Expr {
  if (isAxes(b)) return maxReduce(a, b, where);
  return binary("max", a, b as ExprLike);
}

export function min(a: ExprLike, b: ExprLike | IterVar[], where?: ExprLike): Expr {
  if (isAxes(b)) return minReduce(a, b, where);
  return binary("min", a, b as ExprLike);
}
