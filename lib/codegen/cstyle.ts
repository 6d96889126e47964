/**
 * The part of code generation that C and WGSL share, in the spirit of tinygrad's renderers:
 * one printer over the loop IR that knows expressions, precedence, names and the shape of
 * statements, with small hooks a target overrides where the languages differ (type names,
 * constants, intrinsics, loops, allocations, barriers). Both languages take the usual
 * C operators with C precedence, so the base prints exactly the parentheses needed.
 *
 * Names: nothing a user wrote reaches generated code as is. Every variable is spelled
 * `v_<name>` and every buffer `b_<name>` (characters outside `[A-Za-z0-9_]` become `_`, and a
 * suffix keeps them distinct), and the exported C kernel `k_<name>`; everything the runtime
 * emits itself is spelled `tsr_...` or is a fixed word such as `lid` or `main`. No keyword or
 * macro of C, its headers or WGSL starts with `v_`, `b_` or `k_`, so a user name can never be
 * one (`HUGE_VAL` as a C parameter would expand to a function call) or shadow a helper; no
 * list of forbidden words is needed. The one exception is the function an extern stage calls
 * (`te.externCall("cblas_sgemm", ...)`): it must be the library's own symbol, so it is printed
 * as the user wrote it, after lib/te/extern.ts checked that it is a C identifier, no keyword
 * and none of these prefixes.
 */
import type { DType } from "../ir/dtype.ts";
import type { Buffer, CmpOp, Expr, Var } from "../ir/expr.ts";
import type { For, Stmt } from "../ir/stmt.ts";

// Precedence, higher binds tighter (C's table; WGSL's agrees where both have an operator).
export const P = {
  select: 2,
  or: 3,
  and: 4,
  eq: 8,
  rel: 9,
  add: 11,
  mul: 12,
  unary: 14,
  atom: 16,
} as const;

export const CMP_SYM: Record<CmpOp, string> = {
  lt: "<",
  le: "<=",
  gt: ">",
  ge: ">=",
  eq: "==",
  ne: "!=",
};

/** Gives each Var and Buffer a safe, unique identifier of the target language. */
export class Names {
  private readonly names = new Map<Var | Buffer, string>();
  private readonly used = new Set<string>();

  of(x: Var | Buffer): string {
    if ("aliasOf" in x && x.aliasOf) return this.of(x.aliasOf);
    const had = this.names.get(x);
    if (had !== undefined) return had;
    const prefix = "aliasOf" in x ? "b_" : "v_";
    const n = this.fresh(prefix + x.name.replace(/[^A-Za-z0-9_]/g, "_"));
    this.names.set(x, n);
    return n;
  }

  /** A new identifier spelled like `base` (already safe: a name from `of` plus a suffix). */
  fresh(base: string): string {
    let n = base;
    for (let k = 1; this.used.has(n); k++) n = `${base}_${k}`;
    this.used.add(n);
    return n;
  }
}

/** Text of an expression and the precedence of its outermost operator. */
export type Printed = readonly [string, number];

export abstract class CStylePrinter {
  protected readonly lines: string[] = [];
  protected depth = 0;

  constructor(protected readonly names: Names) {}

  // --- what a target must say ---
  abstract typeName(t: DType): string;
  abstract constant(value: number, t: DType): Printed;
  /** Everything but + - * on numbers and the comparisons, which the base prints. */
  abstract binaryCall(e: Expr & { kind: "binary" }): Printed;
  abstract call(e: Expr & { kind: "call" }): Printed;
  abstract cast(e: Expr & { kind: "cast" }): Printed;
  abstract select(e: Expr & { kind: "select" }): Printed;
  abstract load(e: Expr & { kind: "bufferLoad" }): Printed;
  abstract forLoop(s: For): void;
  abstract allocate(s: Stmt & { kind: "allocate" }): void;
  abstract store(s: Stmt & { kind: "store" }): void;
  abstract letStmt(s: Stmt & { kind: "let" }): void;
  abstract barrier(s: Stmt & { kind: "barrier" }): void;
  abstract externCall(s: Stmt & { kind: "extern" }): void;

  // --- shared ---
  emit(line: string): void {
    this.lines.push("  ".repeat(this.depth) + line);
  }

  /** `e` as an operand of an operator of precedence `p` (right operands pass p + 1). */
  operand(e: Expr, p: number): string {
    const [s, q] = this.ex(e);
    return q >= p ? s : `(${s})`;
  }

  /** A comparison, C's way; a target whose compiler may assume no NaNs overrides it. */
  compare(e: Expr & { kind: "cmp" }): Printed {
    const p = e.op === "eq" || e.op === "ne" ? P.eq : P.rel;
    return [`${this.operand(e.a, p)} ${CMP_SYM[e.op]} ${this.operand(e.b, p + 1)}`, p];
  }

  expr(e: Expr): string {
    return this.ex(e)[0];
  }

  ex(e: Expr): Printed {
    switch (e.kind) {
      case "const":
        return this.constant(e.value, e.dtype);
      case "var":
        return [this.names.of(e), P.atom];
      case "binary": {
        const sym = { add: "+", sub: "-", mul: "*" }[e.op as string];
        if (sym === undefined) return this.binaryCall(e);
        const p = sym === "*" ? P.mul : P.add;
        return this.arith(`${this.operand(e.a, p)} ${sym} ${this.operand(e.b, p + 1)}`, p, e.dtype);
      }
      case "cmp":
        return this.compare(e);
      case "logical": {
        const p = e.op === "and" ? P.and : P.or;
        // Both targets want explicit parentheses when && and || mix (WGSL requires them).
        const side = (x: Expr) =>
          x.kind === "logical" && x.op !== e.op ? `(${this.expr(x)})` : this.operand(x, p);
        return [`${side(e.a)} ${e.op === "and" ? "&&" : "||"} ${side(e.b)}`, p];
      }
      case "not":
        return [`!${this.operand(e.a, P.unary)}`, P.unary];
      case "neg":
        return this.arith(`-${this.operand(e.a, P.unary + 1)}`, P.unary, e.dtype);
      case "call":
        return this.call(e);
      case "select":
        return this.select(e);
      case "cast":
        return this.cast(e);
      case "bufferLoad":
        return this.load(e);
      default:
        throw new Error(`code generation: unexpected ${e.kind} after lowering`);
    }
  }

  /** Lets a target round narrow types after arithmetic (C's _Float16); identity by default. */
  arith(text: string, p: number, _t: DType): Printed {
    return [text, p];
  }

  stmt(s: Stmt): void {
    switch (s.kind) {
      case "for":
        return this.forLoop(s);
      case "store":
        return this.store(s);
      case "if":
        this.emit(`if (${this.expr(s.cond)}) {`);
        this.block(s.then);
        if (s.otherwise) {
          this.emit("} else {");
          this.block(s.otherwise);
        }
        this.emit("}");
        return;
      case "allocate":
        return this.allocate(s);
      case "let":
        return this.letStmt(s);
      case "barrier":
        return this.barrier(s);
      case "extern":
        return this.externCall(s);
      case "seq":
        for (const x of s.stmts) this.stmt(x);
    }
  }

  /** Prints `s` one level deeper. */
  block(s: Stmt): void {
    this.depth++;
    this.stmt(s);
    this.depth--;
  }
}

/** Shortest decimal that reads back as exactly `v` after rounding with `round`. */
export function shortestFloat(v: number, round: (x: number) => number): string {
  let s = String(v);
  for (let p = 1; p <= 17; p++) {
    const t = String(Number(v.toPrecision(p)));
    if (round(Number(t)) === v) {
      s = t;
      break;
    }
  }
  return /[.e]/.test(s) ? s : s + ".0";
}
