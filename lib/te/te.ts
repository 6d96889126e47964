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
import { argmax, argmin, commReducer, max, min, prod, sum } from "./reduce.ts";

const unary = (op: Parameters<typeof call>[0]) => (x: ExprLike): Expr => call(op, x);

export const te = {
  var: sizeVar,
  const: constant,
  placeholder,
  compute,
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
