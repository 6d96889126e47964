/**
 * Shared helpers for the arith tests: a tiny printer so expected outputs can be written as
 * text, a reference evaluator built directly on lib/ir/scalar.ts (so the tests do not trust
 * any other part of the compiler), and random int32 expression generators.
 */
import fc from "fast-check";
import {
  Binary,
  type BinaryOp,
  Cast,
  Cmp,
  type CmpOp,
  type Expr,
  intConst,
  Logical,
  Neg,
  Not,
  Select,
  type Var,
} from "../lib/ir/expr.ts";
import { evalBinary, evalCast, evalCmp } from "../lib/ir/scalar.ts";

const INFIX: Partial<Record<BinaryOp, string>> = {
  add: "+",
  sub: "-",
  mul: "*",
  div: "/",
  mod: "%",
};
const CMP: Record<CmpOp, string> = { lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=" };

/** Prints with the usual precedence: `i*8 + j*2`, `floordiv(i, 4)`, `x < 7`. */
export function show(e: Expr, prec = 0): string {
  const wrap = (s: string, p: number) => (prec > p ? `(${s})` : s);
  switch (e.kind) {
    case "const":
      if (e.dtype === "bool") return e.value ? "true" : "false";
      return e.dtype === "int32" ? String(e.value) : `${e.value}f`;
    case "var":
      return e.name;
    case "binary": {
      const op = INFIX[e.op];
      if (!op) return `${e.op}(${show(e.a)}, ${show(e.b)})`;
      if (op === "+" || op === "-") return wrap(`${show(e.a, 1)} ${op} ${show(e.b, 2)}`, 1);
      return wrap(`${show(e.a, 2)}${op}${show(e.b, 3)}`, 2);
    }
    case "cmp":
      return wrap(`${show(e.a, 1)} ${CMP[e.op]} ${show(e.b, 1)}`, 0);
    case "logical":
      return `(${show(e.a)} ${e.op === "and" ? "&&" : "||"} ${show(e.b)})`;
    case "not":
      return `!${show(e.a, 3)}`;
    case "neg":
      return `-${show(e.a, 3)}`;
    case "select":
      return `select(${show(e.cond)}, ${show(e.t)}, ${show(e.f)})`;
    case "cast":
      return `${e.dtype}(${show(e.value)})`;
    case "call":
      return `${e.op}(${e.args.map((a) => show(a)).join(", ")})`;
    case "bufferLoad":
      return `${e.buffer.name}[${e.indices.map((a) => show(a)).join(", ")}]`;
    case "tensorRead":
      return `${e.tensor.name}(${e.indices.map((a) => show(a)).join(", ")})`;
    case "reduce":
      return `reduce(${show(e.source)}, ${show(e.condition)})`;
  }
}

export class Overflow extends Error {}

/**
 * Reference evaluation. With `checked`, any int32 result that is not the exact mathematical
 * value (overflow) throws `Overflow`, so properties can skip those cases ("overflow aside");
 * integer division by zero throws scalar.ts's own error.
 */
export function evaluate(e: Expr, env: ReadonlyMap<Var, number>, checked = false): number {
  const go = (x: Expr): number => evaluate(x, env, checked);
  switch (e.kind) {
    case "const":
      return e.value;
    case "var": {
      const v = env.get(e);
      if (v === undefined) throw new Error(`unbound variable ${e.name}`);
      return v;
    }
    case "binary": {
      const a = go(e.a), b = go(e.b);
      const r = evalBinary(e.op, e.dtype, a, b);
      if (checked && e.dtype === "int32") {
        const exact = e.op === "add"
          ? a + b
          : e.op === "sub"
          ? a - b
          : e.op === "mul"
          ? a * b
          : e.op === "div" || e.op === "floordiv"
          ? (e.op === "div" ? Math.trunc : Math.floor)(a / b)
          : r;
        if (exact !== r) throw new Overflow();
      }
      return r;
    }
    case "cmp":
      return evalCmp(e.op, go(e.a), go(e.b));
    case "logical": {
      const a = go(e.a), b = go(e.b);
      return e.op === "and" ? (a && b ? 1 : 0) : (a || b ? 1 : 0);
    }
    case "not":
      return go(e.a) ? 0 : 1;
    case "neg": {
      const a = go(e.a);
      if (e.dtype !== "int32") return -a;
      if (checked && a === -2147483648) throw new Overflow();
      return -a | 0;
    }
    case "select":
      return go(e.cond) ? go(e.t) : go(e.f);
    case "cast":
      return Number(evalCast(e.dtype, e.value.dtype, go(e.value)));
    default:
      throw new Error(`evaluate: unsupported ${e.kind}`);
  }
}

const ARITH: BinaryOp[] = ["add", "sub", "mul", "min", "max"];
const DIV: BinaryOp[] = ["div", "mod", "floordiv", "floormod"];
const CMPS: CmpOp[] = ["lt", "le", "gt", "ge", "eq", "ne"];

export interface GenOptions {
  /** Allow negative constant divisors (evalInterval gives up on some of those). */
  negativeDivisors?: boolean;
  maxDepth?: number;
}

/** Random int32 expressions over `vars`: arithmetic, divisions by constants, min/max, select. */
export function exprArb(vars: Var[], opts: GenOptions = {}): fc.Arbitrary<Expr> {
  const leaf = fc.oneof(
    fc.constantFrom(...vars) as fc.Arbitrary<Expr>,
    fc.integer({ min: -10, max: 10 }).map((v): Expr => intConst(v)),
  );
  const divisor = fc.integer({ min: opts.negativeDivisors === false ? 1 : -9, max: 9 })
    .filter((c) => c !== 0).map(intConst);
  const depth = { maxDepth: opts.maxDepth ?? 5, depthIdentifier: "expr" };
  return fc.letrec<{ e: Expr; c: Expr }>((tie) => ({
    e: fc.oneof(
      depth,
      leaf,
      leaf,
      fc.tuple(fc.constantFrom(...ARITH), tie("e"), tie("e"))
        .map(([op, a, b]): Expr => new Binary(op, a, b, "int32")),
      fc.tuple(fc.constantFrom(...ARITH), tie("e"), tie("e"))
        .map(([op, a, b]): Expr => new Binary(op, a, b, "int32")),
      fc.tuple(fc.constantFrom(...DIV), tie("e"), divisor)
        .map(([op, a, b]): Expr => new Binary(op, a, b, "int32")),
      tie("e").map((a): Expr => new Neg(a)),
      fc.tuple(tie("c"), tie("e"), tie("e")).map(([c, t, f]): Expr => new Select(c, t, f)),
      tie("c").map((c): Expr => new Cast("int32", c)),
    ),
    c: fc.oneof(
      depth,
      fc.tuple(fc.constantFrom(...CMPS), tie("e"), tie("e"))
        .map(([op, a, b]): Expr => new Cmp(op, a, b)),
      fc.tuple(fc.constantFrom("and" as const, "or" as const), tie("c"), tie("c"))
        .map(([op, a, b]): Expr => new Logical(op, a, b)),
      tie("c").map((a): Expr => new Not(a)),
    ),
  })).e;
}
