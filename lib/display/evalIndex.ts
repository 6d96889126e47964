/**
 * Index arithmetic on concrete numbers, fast enough to run once per point of an iteration
 * space. An expression is compiled once into nested closures over a slot array (one slot per
 * loop or axis variable), with the same scalar semantics as the interpreter
 * (`lib/ir/scalar.ts`). Anything that is not index arithmetic — a tensor read, a reduction —
 * makes compilation return null, so callers can tell data-dependent indices apart.
 */
import type { Expr, Var } from "../ir/expr.ts";
import { evalBinary, evalCall, evalCast, evalCmp, fit } from "../ir/scalar.ts";

export type Compiled = (env: Float64Array) => number;

/**
 * `slot` places loop variables in the env array; `value` gives every other variable a fixed
 * number (symbolic sizes), or undefined when it has none (the expression is then null).
 */
export function compile(
  e: Expr,
  slot: ReadonlyMap<Var, number>,
  value: (v: Var) => number | undefined,
): Compiled | null {
  const go = (x: Expr): Compiled | null => compile(x, slot, value);
  switch (e.kind) {
    case "const": {
      const v = e.value;
      return () => v;
    }
    case "var": {
      const s = slot.get(e);
      if (s !== undefined) return (env) => env[s];
      const v = value(e);
      return v === undefined ? null : () => v;
    }
    case "binary": {
      const a = go(e.a), b = go(e.b);
      if (!a || !b) return null;
      const { op, dtype } = e;
      return (env) => evalBinary(op, dtype, a(env), b(env));
    }
    case "cmp": {
      const a = go(e.a), b = go(e.b);
      if (!a || !b) return null;
      const op = e.op;
      return (env) => evalCmp(op, a(env), b(env));
    }
    case "logical": {
      const a = go(e.a), b = go(e.b);
      if (!a || !b) return null;
      return e.op === "and"
        ? (env) => (a(env) && b(env) ? 1 : 0)
        : (env) => (a(env) || b(env) ? 1 : 0);
    }
    case "not": {
      const a = go(e.a);
      return a ? (env) => (a(env) ? 0 : 1) : null;
    }
    case "neg": {
      const a = go(e.a), dtype = e.dtype;
      return a ? (env) => fit(dtype, -a(env)) : null;
    }
    case "call": {
      const args = e.args.map(go);
      if (args.some((x) => !x)) return null;
      const { op, dtype } = e;
      return (env) => evalCall(op, dtype, args.map((f) => f!(env)));
    }
    case "select": {
      const c = go(e.cond), t = go(e.t), f = go(e.f);
      if (!c || !t || !f) return null;
      return (env) => (c(env) ? t(env) : f(env));
    }
    case "cast": {
      const a = go(e.value), to = e.dtype, from = e.value.dtype;
      return a ? (env) => Number(evalCast(to, from, a(env))) : null;
    }
    case "tensorRead":
    case "bufferLoad":
    case "reduce":
      return null;
  }
}
