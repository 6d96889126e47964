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
  select,
  toExpr,
  Var,
} from "../ir/expr.ts";
import { IterVar } from "./tensor.ts";

export type Reducer = (source: ExprLike, axes: IterVar | IterVar[], where?: ExprLike) => Expr;
/** A tuple reducer: one source per component in, one `Reduce` per component out. */
export type TupleReducer = (
  sources: ExprLike[],
  axes: IterVar | IterVar[],
  where?: ExprLike,
) => Expr[];

/**
 * Builds a reducer from a combine function and an identity (a value or a function of dtype).
 * Given arrays (a combine of two tuples returning a tuple, identities per component) it makes
 * a tuple reducer, as TVM's `comm_reducer` does: `argmax([k, A(i, k)], [k])` is one reduction
 * whose components become the outputs of one compute.
 */
export function commReducer(
  combine: (a: Expr, b: Expr) => ExprLike,
  identity: ExprLike | ((dtype: DType) => ExprLike),
  name?: string,
): Reducer;
export function commReducer(
  combine: (a: Expr[], b: Expr[]) => ExprLike[],
  identity: ExprLike[] | ((dtypes: DType[]) => ExprLike[]),
  name?: string,
): TupleReducer;
export function commReducer(
  // deno-lint-ignore no-explicit-any
  combine: (a: any, b: any) => ExprLike | ExprLike[],
  // deno-lint-ignore no-explicit-any
  identity: any,
  name = "reduce",
  // deno-lint-ignore no-explicit-any
): any {
  if (typeof combine !== "function") {
    throw new TesseraError(`te.commReducer(${name}): combine must be a function (a, b) => value`);
  }
  return (source: ExprLike | ExprLike[], axes: IterVar | IterVar[], where?: ExprLike) => {
    const tuple = Array.isArray(source);
    const what = `te.${name}`;
    const srcs = (tuple ? source : [source]).map((x, k) =>
      toExpr(x, undefined, `${what}: source ${k}`)
    );
    if (srcs.length === 0) throw new TesseraError(`${what}: give at least one source`);
    const list = Array.isArray(axes) ? axes : [axes];
    if (list.length === 0) throw new TesseraError(`${what}: give at least one reduce axis`);
    for (const k of list) {
      if (!(k instanceof IterVar) || k.iterType !== "reduce") {
        throw new TesseraError(
          `${what}: axes must be made by te.reduceAxis, got ${String(k)}`,
        );
      }
    }
    if (new Set(list).size !== list.length) {
      throw new TesseraError(`${what}: a reduce axis is listed twice`);
    }
    const dtypes = srcs.map((e) => e.dtype);
    const lhs = dtypes.map((t, k) => new Var(tuple ? `x${k}` : "x", t));
    const rhs = dtypes.map((t, k) => new Var(tuple ? `y${k}` : "y", t));
    const shape = (x: unknown, part: string): ExprLike[] => {
      if (Array.isArray(x) !== tuple || (tuple && (x as unknown[]).length !== srcs.length)) {
        throw new TesseraError(
          tuple
            ? `${what}: ${srcs.length} sources were given, so the ${part} must be an array of ${srcs.length} values (one per component), got ${
              String(x)
            }`
            : `${what}: the ${part} must be one value for one source, got ${String(x)}; ` +
              `pass the sources as an array for a tuple reduction`,
        );
      }
      return (tuple ? x : [x]) as ExprLike[];
    };
    // The identity first: a plain reducer given a tuple fails there, before its combine runs.
    const ids = shape(
      typeof identity === "function" ? identity(tuple ? dtypes : dtypes[0]) : identity,
      "identity",
    ).map((r, k) => toExpr(r, dtypes[k]));
    const result = shape(tuple ? combine(lhs, rhs) : combine(lhs[0], rhs[0]), "combine's result")
      .map((r, k) => toExpr(r, dtypes[k]));
    dtypes.forEach((t, k) => {
      if (result[k].dtype !== t || ids[k].dtype !== t) {
        throw new TesseraError(
          `${what}: the combiner and identity must keep the dtype ${t}` +
            (tuple ? ` of component ${k}` : "") +
            ` (got ${result[k].dtype} and ${ids[k].dtype})`,
        );
      }
    });
    const cond = where === undefined ? constOf(true, "bool") : toExpr(where, "bool");
    if (cond.dtype !== "bool") {
      throw new TesseraError(`${what}: 'where' must be a bool expression`);
    }
    const combiner: CommReducer = { name, lhs, rhs, result, identity: ids };
    const out = srcs.map((src, k) => new Reduce(combiner, src, list, cond, k, srcs));
    return tuple ? out : out[0];
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

/**
 * `te.argmax(expr, [k])` is `[index, value]`: the first index of the largest value, as numpy's
 * argmax (ties go to the lowest index; a NaN counts as the largest, so the first NaN wins),
 * one tuple reduction over a single axis. Its outputs are a compute's two outputs:
 * `const [idx, val] = te.compute([m], (i) => te.argmax(A(i, k), [k]), "T")`. Over an empty
 * axis the index is -1 and the value the dtype's lowest (highest for argmin).
 */
export function argmax(source: ExprLike, axis: IterVar | IterVar[], where?: ExprLike): Expr[] {
  return argReduce("argmax", source, axis, where);
}

/** `te.argmin`: the first index of the smallest value; NaN counts as the smallest. */
export function argmin(source: ExprLike, axis: IterVar | IterVar[], where?: ExprLike): Expr[] {
  return argReduce("argmin", source, axis, where);
}

function argReduce(
  name: "argmax" | "argmin",
  source: ExprLike,
  axis: IterVar | IterVar[],
  where?: ExprLike,
): Expr[] {
  const list = Array.isArray(axis) ? axis : [axis];
  if (list.length !== 1 || !(list[0] instanceof IterVar) || list[0].iterType !== "reduce") {
    throw new TesseraError(
      `te.${name}: give exactly one reduce axis (made by te.reduceAxis), got ${list.length}; ` +
        `for several, fuse them into one axis and index with floordiv/floormod`,
    );
  }
  const k = list[0];
  const isNan = (v: Expr) => v.ne(v);
  // Whether tuple a = [index, value] beats b: a total order (NaN first, then the better value,
  // then the lower index; index -1 marks the identity), so the fold's order never matters.
  const beats = (a: Expr[], b: Expr[]) => {
    const better = name === "argmax" ? a[1].gt(b[1]) : a[1].lt(b[1]);
    const an = isNan(a[1]), bn = isNan(b[1]);
    const firstIdx = a[0].le(b[0]);
    const ordered = an.and(bn.not().or(firstIdx))
      .or(an.not().and(bn.not()).and(better.or(a[1].eq(b[1]).and(firstIdx))));
    return a[0].ge(0).and(b[0].lt(0).or(ordered));
  };
  const r = commReducer(
    (a: Expr[], b: Expr[]) => {
      const pick = beats(a, b);
      return [select(pick, a[0], b[0]), select(pick, a[1], b[1])];
    },
    (dts: DType[]) => [-1, name === "argmax" ? lowest(dts[1]) : highest(dts[1])],
    name,
  );
  return r([k, toExpr(source)], [k], where);
}
