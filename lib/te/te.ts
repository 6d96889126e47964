/**
 * The `te` namespace users import: tensor expressions, reductions, math functions, schedules,
 * lowering, the interpreter and `build`. It only gathers names; each lives in its own module.
 */
import type { DType } from "../ir/dtype.ts";
import { call, cast as castExpr, type Expr, type ExprLike, select } from "../ir/expr.ts";
import { evaluate } from "../ir/interpret.ts";
import "../ir/printer.ts";
import { lower } from "../lower/lower.ts";
import { createSchedule } from "../schedule/schedule.ts";
import { build } from "../runtime/build.ts";
import { compute, constant, innerReductions, placeholder, reduceAxis, sizeVar } from "./compute.ts";
import { scan } from "./scan.ts";
import { extern, externCall } from "./extern.ts";
import { argmax, argmin, commReducer, max, min, prod, sum } from "./reduce.ts";

const unary = (op: Parameters<typeof call>[0]) => (x: ExprLike): Expr => call(op, x);

export const te = {
  var: sizeVar,
  const: constant,
  placeholder,
  compute,
  scan,
  extern,
  externCall,
  reduceAxis,
  sum,
  prod,
  max,
  min,
  commReducer,
  argmax,
  argmin,
  innerReductions,
  exp: unary("exp"),
  log: unary("log"),
  sqrt: unary("sqrt"),
  rsqrt: unary("rsqrt"),
  tanh: unary("tanh"),
  sigmoid: unary("sigmoid"),
  abs: unary("abs"),
  floor: unary("floor"),
  ceil: unary("ceil"),
  round: unary("round"),
  erf: unary("erf"),
  sin: unary("sin"),
  cos: unary("cos"),
  tan: unary("tan"),
  atan: unary("atan"),
  atan2: (y: ExprLike, x: ExprLike): Expr => call("atan2", y, x),
  exp2: unary("exp2"),
  log2: unary("log2"),
  log1p: unary("log1p"),
  expm1: unary("expm1"),
  sinh: unary("sinh"),
  cosh: unary("cosh"),
  isnan: unary("isnan"),
  isinf: unary("isinf"),
  /** `min(max(x, lo), hi)`: keeps x's type (a NaN x stays NaN). */
  clamp: (x: ExprLike, lo: ExprLike, hi: ExprLike): Expr => min(max(x, lo as ExprLike), hi),
  pow: (x: ExprLike, y: ExprLike): Expr => {
    const b = typeof x === "number" ? castExpr("float32", x) : x;
    return castExpr("float32", b).pow(y);
  },
  select,
  ifThenElse: select,
  cast: (dtype: DType, x: ExprLike): Expr => castExpr(dtype, x),
  createSchedule,
  lower,
  evaluate,
  build,
};
