/**
 * Compute definitions as a person writes them on paper: `C[i, j] = Σ_k A[i, k] · B[k, j]`.
 * The TVMScript printer is exact and Python-shaped; this is the short, readable form for a
 * tensor's summary, in plain text for terminals and in HTML (escaped names, sub- and
 * superscripts) for notebooks. One formatter serves both through a small `Style`.
 */
import type { Expr } from "../ir/expr.ts";
import { escapeHtml, type Html, rawHtml } from "./html.ts";

interface Style {
  name(s: string): string;
  /** `base` with `s` (already formatted) as a subscript / superscript. */
  sub(base: string, s: string): string;
  sup(base: string, s: string): string;
}

const TEXT: Style = {
  name: (s) => s,
  sub: (b, s) => `${b}_${/^\w+$/.test(s) ? s : `{${s}}`}`,
  sup: (b, s) => `${b}^${/^\w+$/.test(s) ? s : `(${s})`}`,
};

const HTML: Style = {
  name: escapeHtml,
  sub: (b, s) => `${b}<sub>${s}</sub>`,
  sup: (b, s) => `${b}<sup>${s}</sup>`,
};

const ATOM = 10, UNARY = 8, MUL = 7, ADD = 6, CMP = 4, NOT = 3, AND = 2, OR = 1, LOW = 0;

const CMP_SYM = { lt: "<", le: "≤", gt: ">", ge: "≥", eq: "=", ne: "≠" } as const;
const BIG_OP: Record<string, string> = { sum: "Σ", prod: "Π", max: "max", min: "min" };

function num(v: number, dtype: string): string {
  if (dtype === "bool") return v ? "true" : "false";
  if (dtype === "int32") return String(v);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  const s = String(Number(v.toPrecision(6)));
  return /[.e]/.test(s) ? s : `${s}.0`;
}

function fmt(e: Expr, st: Style): [string, number] {
  const go = (x: Expr) => fmt(x, st)[0];
  /** `x` parenthesized when it binds looser than `p` (or equally, when `strict`). */
  const op = (x: Expr, p: number, strict = false) => {
    const [s, q] = fmt(x, st);
    return q < p || (strict && q === p) ? `(${s})` : s;
  };
  const infix = (a: Expr, sym: string, b: Expr, p: number): [string, number] => [
    `${op(a, p)} ${sym} ${op(b, p, true)}`,
    p,
  ];
  const fn = (name: string, ...args: Expr[]): [string, number] => [
    `${name}(${args.map(go).join(", ")})`,
    ATOM,
  ];
  switch (e.kind) {
    case "const": {
      const s = num(e.value, e.dtype);
      return [s, s.startsWith("-") ? UNARY : ATOM];
    }
    case "var":
      return [st.name(e.name), ATOM];
    case "binary": {
      const int = e.dtype === "int32";
      switch (e.op) {
        case "add":
          return infix(e.a, "+", e.b, ADD);
        case "sub":
          return infix(e.a, "-", e.b, ADD);
        case "mul":
          return infix(e.a, "·", e.b, MUL);
        case "div":
          return int
            ? [`trunc(${op(e.a, MUL)} / ${op(e.b, MUL, true)})`, ATOM]
            : infix(e.a, "/", e.b, MUL);
        case "floordiv":
          return [`⌊${op(e.a, MUL)} / ${op(e.b, MUL, true)}⌋`, ATOM];
        case "floormod":
          return infix(e.a, "mod", e.b, MUL);
        case "mod":
          return infix(e.a, "rem", e.b, MUL);
        case "min":
        case "max":
          return fn(e.op, e.a, e.b);
        case "pow":
          return [st.sup(op(e.a, ATOM, true), go(e.b)), ATOM];
      }
      break;
    }
    case "cmp":
      return infix(e.a, CMP_SYM[e.op], e.b, CMP);
    case "logical":
      return e.op === "and" ? infix(e.a, "∧", e.b, AND) : infix(e.a, "∨", e.b, OR);
    case "not":
      return [`¬${op(e.a, NOT + 5)}`, NOT];
    case "neg":
      return [`-${op(e.a, UNARY, true)}`, UNARY];
    case "call":
      switch (e.op) {
        case "abs":
          return [`|${go(e.args[0])}|`, ATOM];
        case "floor":
          return [`⌊${go(e.args[0])}⌋`, ATOM];
        case "ceil":
          return [`⌈${go(e.args[0])}⌉`, ATOM];
        case "sqrt":
          return [`√(${go(e.args[0])})`, ATOM];
        case "rsqrt":
          return [`1 / √(${go(e.args[0])})`, MUL];
        case "sigmoid":
          return fn("σ", e.args[0]);
        default:
          return fn(e.op, ...e.args);
      }
    case "select":
      return [`${op(e.cond, OR)} ? ${op(e.t, OR)} : ${op(e.f, OR)}`, LOW];
    case "cast":
      return fn(e.dtype, e.value);
    case "tensorRead":
      return [`${st.name(e.tensor.name)}[${e.indices.map(go).join(", ")}]`, ATOM];
    case "bufferLoad":
      return [`${st.name(e.buffer.name)}[${e.indices.map(go).join(", ")}]`, ATOM];
    case "reduce": {
      const big = BIG_OP[e.combiner.name] ?? st.name(e.combiner.name);
      const cond = e.condition.kind === "const" && e.condition.value === 1
        ? ""
        : `, ${go(e.condition)}`;
      const axes = e.axis.map((v) => st.name(v.name)).join(", ");
      return [`${st.sub(big, axes + cond)} ${op(e.source, ADD)}`, LOW];
    }
  }
}

export function mathText(e: Expr): string {
  return fmt(e, TEXT)[0];
}

export function mathHtml(e: Expr): Html {
  return rawHtml(fmt(e, HTML)[0]);
}

/** `[min, min + extent)` of an axis, as text. */
export function rangeOf(min: Expr, extent: Expr): string {
  if (min.kind === "const" && min.value === 0) return `[0, ${mathText(extent)})`;
  if (min.kind === "const" && extent.kind === "const") {
    return `[${min.value}, ${min.value + extent.value})`;
  }
  const [ext, p] = fmt(extent, TEXT);
  return `[${mathText(min)}, ${mathText(min)} + ${p <= ADD ? `(${ext})` : ext})`;
}
