/**
 * Reads outside a tensor's declared shape, found before anything runs. Each compute's own
 * body (as the user wrote it, before inlining or attachment rewrite what is read) is swept
 * over its full domain and reduce axes; a read whose index provably leaves `[0, extent)` is
 * a TesseraError naming the reader, the tensor, the dimension, the index and its range.
 * "Provably" is meant strictly: only indices that are affine in the loop variables are
 * judged, because for them the interval's ends are values the index really takes; anything
 * else (a data-dependent gather, `floormod`, a symbolic size the arithmetic cannot compare)
 * is classified "unknown" and left to run-time checks (the interpreter always, C and WebGPU
 * in a checked build). A read under a `select`, a `where` or the right side of `and`/`or` is
 * judged over the part of the domain its guard allows when the guard is a plain comparison
 * of a loop variable, and not judged at all otherwise.
 */
import { evalInterval, type Interval } from "../arith/interval.ts";
import { toLinear } from "../arith/linear.ts";
import { ConstBounds } from "../arith/const_bound.ts";
import { simplify } from "../arith/simplify.ts";
import { TesseraError } from "../error.ts";
import { Binary, Call, type Expr, intConst, TensorRead, type Var } from "../ir/expr.ts";
import { mapChildren } from "../ir/visit.ts";
import type { ComputeOp } from "../te/tensor.ts";

export type ReadVerdict =
  | { kind: "in" }
  | { kind: "unknown"; dims: number[] }
  | { kind: "out"; dim: number; range: Interval };

type Ranges = Map<Var, Interval>;
const IN: ReadVerdict = { kind: "in" };

const int = (op: Binary["op"], a: Expr, b: Expr) => new Binary(op, a, b, "int32");
const NUM = new ConstBounds(new Map());
/** Numeric bounds of an expression of size variables only (they may be anything). */
const num = (e: Expr) => NUM.of(simplify(e));

/** The full domain of a compute: data axes and reduce axes as inclusive intervals. */
export function domainOf(op: ComputeOp): Ranges {
  const out: Ranges = new Map();
  for (const a of [...op.axis, ...op.reduceAxis]) {
    const min = simplify(a.dom!.min);
    out.set(a, { min, max: simplify(int("sub", int("add", min, a.dom!.extent), intConst(1))) });
  }
  return out;
}

/**
 * Every tensor read in `body` with its verdict over `domain` (the reads inside another
 * read's index included). A domain that is provably empty reads nothing: every read is "in".
 */
export function classifyReads(
  body: Expr,
  domain: Ranges,
): Array<{ read: TensorRead; verdict: ReadVerdict }> {
  const out: Array<{ read: TensorRead; verdict: ReadVerdict }> = [];
  const empty = [...domain.values()].some((r) => num(int("sub", r.max, r.min)).hi < 0);
  const visit = (e: Expr, ranges: Ranges | null) => {
    switch (e.kind) {
      case "tensorRead":
        out.push({ read: e, verdict: empty ? IN : judge(e, ranges) });
        e.indices.forEach((x) => visit(x, ranges));
        return;
      case "select":
        visit(e.cond, ranges);
        visit(e.t, narrow(e.cond, true, ranges));
        visit(e.f, narrow(e.cond, false, ranges));
        return;
      case "logical":
        visit(e.a, ranges);
        visit(e.b, narrow(e.a, e.op === "and", ranges));
        return;
      case "reduce":
        visit(e.condition, ranges);
        visit(e.source, narrow(e.condition, true, ranges));
        return;
      default:
        for (const c of children(e)) visit(c, ranges);
    }
  };
  visit(body, domain);
  return out;
}

function children(e: Expr): Expr[] {
  switch (e.kind) {
    case "binary":
    case "cmp":
    case "logical":
      return [e.a, e.b];
    case "not":
    case "neg":
      return [e.a];
    case "call":
      return e.args;
    case "cast":
      return [e.value];
    case "bufferLoad":
    case "tensorRead":
      return e.indices;
    default:
      return [];
  }
}

/**
 * `ranges` under the assumption that `cond` is `truth`, or null when the guard is not a
 * comparison of a loop variable with a loop-free bound (or when the narrowed range may be
 * empty: a read that never runs must not be judged).
 */
export function narrow(cond: Expr, truth: boolean, ranges: Ranges | null): Ranges | null {
  if (!ranges) return null;
  if (cond.kind === "const") return cond.value !== 0 === truth ? ranges : null;
  if (cond.kind === "not") return narrow(cond.a, !truth, ranges);
  if (cond.kind === "logical" && (cond.op === "and") === truth) {
    const a = narrow(cond.a, truth, ranges);
    return a && narrow(cond.b, truth, a);
  }
  if (cond.kind !== "cmp" || cond.a.dtype !== "int32") return null;
  let op = truth ? cond.op : ({ lt: "ge", le: "gt", gt: "le", ge: "lt", eq: "ne", ne: "eq" }[
    cond.op
  ] as typeof cond.op);
  let v = cond.a, b = cond.b;
  if (!(v.kind === "var" && ranges.has(v))) {
    [v, b] = [b, v];
    op = ({ lt: "gt", le: "ge", gt: "lt", ge: "le", eq: "eq", ne: "ne" } as const)[op];
  }
  if (v.kind !== "var" || !ranges.has(v) || mentions(b, ranges)) return null;
  const r = ranges.get(v)!;
  let min = r.min, max = r.max;
  if (op === "lt") max = int("min", max, int("sub", b, intConst(1)));
  else if (op === "le") max = int("min", max, b);
  else if (op === "gt") min = int("max", min, int("add", b, intConst(1)));
  else if (op === "ge") min = int("max", min, b);
  else if (op === "eq") [min, max] = [b, b];
  else return null;
  min = simplify(min);
  max = simplify(max);
  if (num(int("sub", max, min)).lo < 0) return null;
  if (op === "eq" && (num(int("sub", b, r.min)).lo < 0 || num(int("sub", r.max, b)).lo < 0)) {
    return null;
  }
  return new Map(ranges).set(v, { min, max });
}

function mentions(e: Expr, ranges: Ranges): boolean {
  let hit = false;
  const go = (x: Expr) => {
    if (x.kind === "var" && ranges.has(x)) hit = true;
    children(x).forEach(go);
  };
  go(e);
  return hit || e.kind === "tensorRead";
}

/** Whether `e` is a sum of loop variables and sizes with constant coefficients. */
function affine(e: Expr, ranges: Ranges): boolean {
  for (const t of toLinear(simplify(e)).terms.values()) {
    if (t.atom.kind === "var") continue;
    if (mentions(t.atom, ranges)) return false;
    let pure = true;
    const go = (x: Expr) => {
      if (x.kind === "tensorRead" || x.kind === "bufferLoad") pure = false;
      children(x).forEach(go);
    };
    go(t.atom);
    if (!pure) return false;
  }
  return true;
}

function judge(r: TensorRead, ranges: Ranges | null): ReadVerdict {
  const dims: number[] = [];
  for (let d = 0; d < r.indices.length; d++) {
    const idx = r.indices[d], extent = r.tensor.shape[d];
    const iv = ranges && evalInterval(idx, ranges);
    if (!iv) {
      dims.push(d);
      continue;
    }
    const below = num(iv.min), above = num(int("sub", iv.max, extent));
    if (below.lo >= 0 && above.hi < 0) continue;
    dims.push(d);
    if ((below.hi < 0 || above.lo >= 0) && affine(idx, ranges!)) {
      return { kind: "out", dim: d, range: iv };
    }
  }
  return dims.length === 0 ? { kind: "in" } : { kind: "unknown", dims };
}

/** Rejects the first read of `op`'s body that is provably outside its tensor's shape. */
export function checkBounds(op: ComputeOp): void {
  const domain = domainOf(op);
  for (const { read, verdict } of op.bodies.flatMap((b) => classifyReads(b, domain))) {
    if (verdict.kind !== "out") continue;
    const d = verdict.dim, t = read.tensor;
    const shape = `[${t.shape.map(String).join(", ")}]`;
    const loops = [...domain].map(([v, r]) => `${v.name} in [${r.min}, ${r.max}]`).join(", ");
    throw new TesseraError(
      `te.lower: '${op.name}' reads ${String(read)} outside the declared shape of '${t.name}': ` +
        `index ${d} (${
          read.indices[d]
        }) ranges over [${verdict.range.min}, ${verdict.range.max}] ` +
        `for ${loops}, but '${t.name}' has shape ${shape} (index ${d} must lie in [0, ${
          t.shape[d]
        })); shrink the domain, guard the read with te.select, or pad '${t.name}'`,
    );
  }
}

/**
 * `body` with `checkIndex` around every index of a read of a `checked` tensor that is not
 * proven inside its declared shape over `op`'s domain. Lowering uses it for producers attached
 * with computeAt, whose buffers hold only the region their readers were inferred to need, so
 * a wrong read would otherwise land on an element nobody computed.
 */
export function checkReads(op: ComputeOp, body: Expr, checked: (t: TensorRead) => boolean): Expr {
  // A node shared by two places keeps the weaker verdict (each dimension unproven anywhere).
  const verdicts = new Map<TensorRead, ReadVerdict>();
  for (const { read, verdict } of classifyReads(body, domainOf(op))) {
    const old = verdicts.get(read);
    if (!old || old.kind === "in") verdicts.set(read, verdict);
    else if (old.kind === "unknown" && verdict.kind === "unknown") {
      verdicts.set(read, { kind: "unknown", dims: [...new Set([...old.dims, ...verdict.dims])] });
    }
  }
  const go = (e: Expr): Expr => {
    const m = mapChildren(e, go);
    const v = verdicts.get(e as TensorRead);
    if (e.kind !== "tensorRead" || v?.kind !== "unknown" || !checked(e)) return m;
    const indices = (m as TensorRead).indices.map((x, d) =>
      v.dims.includes(d) ? checkIndex(x, e.tensor.shape[d], d) : x
    );
    return new TensorRead(e.tensor, indices);
  };
  return go(body);
}

export function checkIndex(index: Expr, extent: Expr, dim: number): Expr {
  return new Call("checkIndex", [index, extent, intConst(dim)], "int32");
}
