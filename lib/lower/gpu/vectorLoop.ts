/**
 * Which vectorized loops a shader computes as one vector operation, and the proof behind
 * each vector load: the vectorization decision of the WGSL backend, made on the loop IR so
 * that the printer only spells it. A vectorized loop of 2 to 4 float32 lanes whose body is
 * one store to consecutive elements becomes one `vecN<f32>` value: loads of consecutive
 * elements are vectors of their lanes, values that do not depend on the loop are splatted,
 * arithmetic and the builtins that take vectors apply lane-wise. Consecutive loads whose
 * first lane is provably a multiple of the width (lib/arith/modular.ts) may instead be one
 * real vector load through a `vecN` view of the binding (the printer decides whether a view
 * is at hand: a read-only float32 binding, within the adapter's binding count). Anything
 * else (a guard in the body, a strided access, an integer, a helper function, a lane that
 * reads the stored buffer at another lane's element) is no vector loop: scalar code.
 */
import { isMultipleOf } from "../../arith/modular.ts";
import { simplify } from "../../arith/simplify.ts";
import { exprKey } from "../../arith/structural.ts";
import { Binary, type Buffer, BufferLoad, type Expr, intConst } from "../../ir/expr.ts";
import type { For } from "../../ir/stmt.ts";
import { freeVars, substitute, walkExpr } from "../../ir/visit.ts";

/** How the vector value is computed. */
export type VectorValue =
  /** The same value in every lane (it does not depend on the loop). */
  | { readonly kind: "splat"; readonly value: Expr }
  /** Each lane's own load, gathered into a vector. */
  | { readonly kind: "lanes"; readonly loads: readonly Expr[] }
  /**
   * Consecutive loads starting at a multiple of the width: word `word` of `buffer` seen as
   * vectors, where such a view exists; else `loads`, lane by lane.
   */
  | {
    readonly kind: "aligned";
    readonly buffer: Buffer;
    readonly word: Expr;
    readonly loads: readonly Expr[];
  }
  | {
    readonly kind: "binary";
    readonly op: "+" | "-" | "*" | "/" | "min" | "max";
    readonly a: VectorValue;
    readonly b: VectorValue;
  }
  | { readonly kind: "neg"; readonly a: VectorValue }
  /** A WGSL builtin that applies lane-wise. */
  | { readonly kind: "call"; readonly fn: string; readonly a: VectorValue };

export interface VectorLoop {
  readonly lanes: 2 | 3 | 4;
  /** The stored buffer (the one it aliases, for flat views) and each lane's index. */
  readonly buffer: Buffer;
  readonly indices: readonly Expr[];
  readonly value: VectorValue;
}

const BUILTINS: Readonly<Record<string, string>> = {
  exp: "exp",
  log: "log",
  sqrt: "sqrt",
  rsqrt: "inverseSqrt",
  abs: "abs",
  floor: "floor",
  ceil: "ceil",
  round: "round",
};

/** The vector form of a vectorized loop `s`, or null when it stays scalar code. */
export function vectorLoop(s: For): VectorLoop | null {
  const n = s.extent.kind === "const" ? s.extent.value : 0;
  const body = s.body;
  if (n < 2 || n > 4 || s.min.kind !== "const" || body.kind !== "store") return null;
  if (body.buffer.dtype !== "float32") return null;
  const v = s.loopVar, min = s.min.value;
  const lane = (e: Expr, k: number) => simplify(substitute(e, new Map([[v, intConst(min + k)]])));
  const lanes = (e: Expr) => Array.from({ length: n }, (_, k) => lane(e, k));
  const step = (e: Expr) => {
    const d = simplify(new Binary("sub", lane(e, 1), lane(e, 0), "int32"));
    return d.kind === "const" ? d.value : null;
  };
  const go = (e: Expr): VectorValue | null => {
    if (!freeVars(e).has(v) && e.dtype === "float32") return { kind: "splat", value: lane(e, 0) };
    switch (e.kind) {
      case "bufferLoad": {
        if (e.dtype !== "float32" || step(e.indices[0]) !== 1) return null;
        const loads = lanes(e.indices[0]).map((i) => new BufferLoad(e.buffer, [i]));
        const first = lane(e.indices[0], 0);
        if (n !== 3 && isMultipleOf(first, n)) {
          const word = simplify(new Binary("floordiv", first, intConst(n), "int32"));
          return { kind: "aligned", buffer: e.buffer.aliasOf ?? e.buffer, word, loads };
        }
        return { kind: "lanes", loads };
      }
      case "binary": {
        // A constant divisor stays scalar, where tsr_fdiv spells out division by zero.
        if (e.dtype !== "float32" || (e.op === "div" && e.b.kind === "const")) return null;
        const op = ({ add: "+", sub: "-", mul: "*", div: "/", min: "min", max: "max" } as const)[
          e.op as "add"
        ];
        if (!op) return null;
        const a = go(e.a), b = go(e.b);
        return a === null || b === null ? null : { kind: "binary", op, a, b };
      }
      case "neg": {
        const a = go(e.a);
        return a === null ? null : { kind: "neg", a };
      }
      case "call": {
        const fn = BUILTINS[e.op];
        const a = e.dtype === "float32" && fn ? go(e.args[0]) : null;
        return a === null ? null : { kind: "call", fn, a };
      }
      default:
        return null;
    }
  };
  if (step(body.indices[0]) !== 1) return null;
  // Lanes run together: a lane may read the stored buffer only at its own element.
  const root = body.buffer.aliasOf ?? body.buffer;
  let overlaps = false;
  walkExpr(body.value, (x) => {
    if (
      x.kind === "bufferLoad" && (x.buffer.aliasOf ?? x.buffer) === root &&
      exprKey(x.indices[0]) !== exprKey(body.indices[0])
    ) overlaps = true;
  });
  if (overlaps) return null;
  const value = go(body.value);
  if (value === null) return null;
  return { lanes: n as 2 | 3 | 4, buffer: root, indices: lanes(body.indices[0]), value };
}
