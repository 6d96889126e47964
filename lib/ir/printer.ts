/**
 * Shows loop IR the way TVM users already read it: as TVMScript-like Python. This is what
 * `String(func)` gives, what lowering tests compare against and what a user looks at to see
 * what a schedule did, so it aims to be unambiguous above all: expressions get exactly the
 * parentheses Python precedence needs, float constants round-trip, and distinct variables
 * or buffers that happen to share a name are told apart with `_1`, `_2`, ... suffixes (a view
 * made by storage flattening prints with the name of the buffer it aliases).
 */
import type { DType } from "./dtype.ts";
import { Binary, type Buffer, Const, type Expr, exprPrinterHook, type Var } from "./expr.ts";
import { type For, type PrimFunc, printerHook, type Stmt } from "./stmt.ts";

/** Gives each distinct Var or Buffer a name no other object in the same printout has. */
class Namer {
  private readonly names = new Map<Var | Buffer, string>();
  private readonly used = new Set<string>();

  name(x: Var | Buffer): string {
    // A view prints as the buffer whose storage it shares: one name, not two.
    if ("aliasOf" in x && x.aliasOf) return this.name(x.aliasOf);
    let n = this.names.get(x);
    if (n !== undefined) return n;
    n = x.name;
    if (this.used.has(n)) {
      let k = 1;
      while (this.used.has(`${x.name}_${k}`)) k++;
      n = `${x.name}_${k}`;
    }
    this.used.add(n);
    this.names.set(x, n);
    return n;
  }
}

// Python precedence levels (higher binds tighter).
const P_OR = 1, P_AND = 2, P_NOT = 3, P_CMP = 4, P_ADD = 6, P_MUL = 7, P_UNARY = 8, P_ATOM = 10;

const CMP_SYM = { lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=" } as const;

/** Shortest decimal that reads back as the same value of `dtype`, looking like a float. */
function formatFloat(v: number, dtype: DType): string {
  if (Number.isNaN(v)) return `T.${dtype}(nan)`;
  if (!Number.isFinite(v)) return `T.${dtype}(${v > 0 ? "inf" : "-inf"})`;
  if (Object.is(v, -0)) return dtype === "float32" ? "-0.0" : `T.${dtype}(-0.0)`;
  const round = dtype === "float16"
    ? (Math as unknown as { f16round?: (x: number) => number }).f16round ?? ((x: number) => x)
    : Math.fround;
  const target = round(v);
  let s = String(target);
  for (let p = 1; p <= 17; p++) {
    const t = String(Number(target.toPrecision(p)));
    if (round(Number(t)) === target) {
      s = t;
      break;
    }
  }
  if (!/[.e]/.test(s)) s += ".0";
  return dtype === "float32" ? s : `T.${dtype}(${s})`;
}

class Printer {
  constructor(readonly namer: Namer = new Namer()) {}

  /** Returns [text, precedence]. */
  private ex(e: Expr): [string, number] {
    switch (e.kind) {
      case "const": {
        if (e.dtype === "bool") return [e.value ? "True" : "False", P_ATOM];
        if (e.dtype === "int32") return [String(e.value), e.value < 0 ? P_UNARY : P_ATOM];
        const s = formatFloat(e.value, e.dtype);
        return [s, s.startsWith("-") ? P_UNARY : P_ATOM];
      }
      case "var":
        return [this.namer.name(e), P_ATOM];
      case "binary": {
        const { op, a, b } = e;
        const fn = (name: string): [string, number] => [
          `T.${name}(${this.expr(a)}, ${this.expr(b)})`,
          P_ATOM,
        ];
        switch (op) {
          case "add":
            return this.infix(a, "+", b, P_ADD);
          case "sub":
            return this.infix(a, "-", b, P_ADD);
          case "mul":
            return this.infix(a, "*", b, P_MUL);
          case "div":
            return e.dtype === "int32" ? fn("truncdiv") : this.infix(a, "/", b, P_MUL);
          case "mod":
            return e.dtype === "int32" ? fn("truncmod") : fn("fmod");
          case "floordiv":
            return this.infix(a, "//", b, P_MUL);
          case "floormod":
            return this.infix(a, "%", b, P_MUL);
          case "min":
          case "max":
          case "pow":
            return fn(op);
        }
        break;
      }
      case "cmp":
        return this.infix(e.a, CMP_SYM[e.op], e.b, P_CMP, true);
      case "logical":
        return e.op === "and"
          ? this.infix(e.a, "and", e.b, P_AND)
          : this.infix(e.a, "or", e.b, P_OR);
      case "not":
        return [`not ${this.operand(e.a, P_NOT, false)}`, P_NOT];
      case "neg":
        return [`-${this.operand(e.a, P_UNARY, true)}`, P_UNARY];
      case "call":
        return [`T.${e.op}(${e.args.map((x) => this.expr(x)).join(", ")})`, P_ATOM];
      case "select":
        return [
          `T.if_then_else(${this.expr(e.cond)}, ${this.expr(e.t)}, ${this.expr(e.f)})`,
          P_ATOM,
        ];
      case "cast":
        return [`T.Cast("${e.dtype}", ${this.expr(e.value)})`, P_ATOM];
      case "bufferLoad":
        return [`${this.namer.name(e.buffer)}${this.subscript(e.indices)}`, P_ATOM];
      case "tensorRead":
        return [`${e.tensor.name}${this.subscript(e.indices)}`, P_ATOM];
      case "reduce": {
        const axis = e.axis.map((v) => this.namer.name(v)).join(", ");
        const cond = e.condition.kind === "const" && e.condition.value === 1
          ? ""
          : `, where=${this.expr(e.condition)}`;
        // A tuple reduction's component k: every source, then which output this is.
        const src = e.sources.length > 1
          ? `(${e.sources.map((x) => this.expr(x)).join(", ")})`
          : this.expr(e.source);
        const pick = e.sources.length > 1 ? `[${e.valueIndex}]` : "";
        return [`T.reduce("${e.combiner.name}", ${src}, axis=[${axis}]${cond})${pick}`, P_ATOM];
      }
    }
  }

  /** Parenthesizes `e` when it binds looser than `prec` (or equally, when `strict`). */
  private operand(e: Expr, prec: number, strict: boolean): string {
    const [s, p] = this.ex(e);
    return p < prec || (strict && p === prec) ? `(${s})` : s;
  }

  /**
   * Left-associative infix. Comparisons chain in Python (`a < b < c` is not `(a < b) < c`),
   * so with `nonAssoc` a comparison operand on either side is parenthesized.
   */
  private infix(a: Expr, sym: string, b: Expr, prec: number, nonAssoc = false): [string, number] {
    return [`${this.operand(a, prec, nonAssoc)} ${sym} ${this.operand(b, prec, true)}`, prec];
  }

  private subscript(indices: Expr[]): string {
    return indices.length === 0 ? "[()]" : `[${indices.map((x) => this.expr(x)).join(", ")}]`;
  }

  expr(e: Expr): string {
    return this.ex(e)[0];
  }

  tuple(xs: Expr[]): string {
    const parts = xs.map((x) => this.expr(x));
    return parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(", ")})`;
  }

  private loopHead(s: For): string {
    const zero = s.min.kind === "const" && s.min.value === 0;
    let end: Expr;
    if (s.min.kind === "const" && s.extent.kind === "const") {
      end = new Const(s.min.value + s.extent.value, s.min.dtype);
    } else end = new Binary("add", s.min, s.extent, s.min.dtype);
    const range = zero ? this.expr(s.extent) : `${this.expr(s.min)}, ${this.expr(end)}`;
    const v = this.namer.name(s.loopVar);
    let iter: string;
    switch (s.forKind) {
      case "serial":
        iter = `range(${range})`;
        break;
      case "parallel":
        iter = `T.parallel(${range})`;
        break;
      case "vectorized":
        iter = `T.vectorized(${range})`;
        break;
      case "unrolled":
        iter = `T.unroll(${range})`;
        break;
      case "threadBinding":
        iter = `T.thread_binding(${range}, thread="${s.threadTag ?? "?"}")`;
        break;
    }
    const pragmas = s.pragmas.length
      ? `  # pragma ${s.pragmas.map(([k, val]) => `${k}=${val}`).join(", ")}`
      : "";
    return `for ${v} in ${iter}:${pragmas}`;
  }

  stmt(s: Stmt, indent: number, out: string[]): void {
    const pad = "    ".repeat(indent);
    switch (s.kind) {
      case "for":
        out.push(pad + this.loopHead(s));
        this.stmt(s.body, indent + 1, out);
        return;
      case "store":
        out.push(
          `${pad}${this.namer.name(s.buffer)}${this.subscript(s.indices)} = ${this.expr(s.value)}`,
        );
        return;
      case "if":
        out.push(`${pad}if ${this.expr(s.cond)}:`);
        this.stmt(s.then, indent + 1, out);
        if (s.otherwise) {
          out.push(`${pad}else:`);
          this.stmt(s.otherwise, indent + 1, out);
        }
        return;
      case "allocate": {
        const b = s.buffer;
        const args = [this.tuple(b.shape)];
        if (b.dtype !== "float32") args.push(`"${b.dtype}"`);
        if (b.strides) args.push(`strides=${this.tuple(b.strides)}`);
        if (b.scope !== "global") args.push(`scope="${b.scope}"`);
        const note = s.note ? `  # ${s.note}` : "";
        out.push(`${pad}${this.namer.name(b)} = T.alloc_buffer(${args.join(", ")})${note}`);
        this.stmt(s.body, indent, out);
        return;
      }
      case "let":
        out.push(`${pad}${this.namer.name(s.v)}: T.${s.v.dtype} = ${this.expr(s.value)}`);
        this.stmt(s.body, indent, out);
        return;
      case "barrier":
        // A planned barrier (lib/lower/gpu/threadSync.ts) says which memory it orders.
        if (s.memory?.storage) out.push(`${pad}T.tvm_storage_sync("global")`);
        if (!s.memory || s.memory.workgroup) out.push(`${pad}T.tvm_storage_sync("shared")`);
        return;
      case "extern": {
        // The function's own name: it is the C symbol, never mangled (lib/te/extern.ts).
        const args = s.args.map((a) => "shape" in a ? `${this.namer.name(a)}.data` : this.expr(a));
        out.push(`${pad}T.call_extern("${s.fname}", ${args.join(", ")})`);
        return;
      }
      case "seq":
        if (s.stmts.length === 0) out.push(`${pad}pass`);
        for (const x of s.stmts) this.stmt(x, indent, out);
        return;
    }
  }

  func(f: PrimFunc): string {
    // Name the header's objects first so that they keep their own names.
    const params = f.signature.map((p) => {
      const name = this.namer.name(p);
      if (!("shape" in p)) return `${name}: T.${p.dtype}`; // a scalar argument
      const args = [this.tuple(p.shape), `"${p.dtype}"`];
      if (p.strides) args.push(`strides=${this.tuple(p.strides)}`);
      if (p.scope !== "global") args.push(`scope="${p.scope}"`);
      return `${name}: T.Buffer(${args.join(", ")})`;
    });
    const out = ["@T.prim_func", `def ${f.name}(${params.join(", ")}):`];
    for (const v of f.sizeVars) {
      if (!f.signature.includes(v)) out.push(`    ${this.namer.name(v)} = T.${v.dtype}()`);
    }
    this.stmt(f.body, 1, out);
    return out.join("\n");
  }
}

/** The function as TVMScript-like text: header, size variables, then the body. */
export function printFunc(f: PrimFunc): string {
  return new Printer().func(f);
}

/** A statement as indented lines (4 spaces per `indent` level), without a trailing newline. */
export function printStmt(s: Stmt, indent = 0): string {
  const out: string[] = [];
  new Printer().stmt(s, indent, out);
  return out.join("\n");
}

/** An expression in Python syntax with only the parentheses precedence requires. */
export function printExpr(e: Expr): string {
  return new Printer().expr(e);
}

printerHook.print = printFunc;
exprPrinterHook.print = printExpr;
