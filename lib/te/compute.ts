/**
 * The constructors of the dataflow graph: `placeholder`, `compute`, `reduceAxis`, `var`,
 * `const`. This is the API boundary where user input is checked (shapes, names, dtypes,
 * the shape of a compute body) so that nothing malformed reaches scheduling or lowering.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";
import { type DType, parseDType } from "../ir/dtype.ts";
import {
  constOf,
  type Expr,
  type ExprLike,
  isExpr,
  Reduce,
  TensorRead,
  toExpr,
  Var,
} from "../ir/expr.ts";
import { mapChildren, substitute, walkExpr } from "../ir/visit.ts";
import {
  checkName,
  ComputeOp,
  isTensor,
  IterVar,
  PlaceholderOp,
  type Tensor,
  tensorOf,
} from "./tensor.ts";

export type ShapeLike = ReadonlyArray<number | Expr>;

const dimSchema = z.number().int().nonnegative();

/**
 * Every dimension and extent is an int32 (loop variables and the C kernel's size parameters
 * are); products of them (element counts, strides, flat offsets) may pass 2^31 and are
 * computed exactly, but not past 2^53, where a JavaScript number stops being exact.
 */
export const MAX_DIM = 0x7fffffff;
export const MAX_ELEMENTS = Number.MAX_SAFE_INTEGER;

function toShape(shape: unknown, where: string): Expr[] {
  if (!Array.isArray(shape)) {
    throw new TesseraError(`${where}: shape must be an array of sizes, got ${String(shape)}`);
  }
  const dims = shape.map((d, i) => {
    if (typeof d === "number") {
      if (!dimSchema.safeParse(d).success) {
        throw new TesseraError(
          `${where}: dimension ${i} is ${d}; sizes must be non-negative integers or te.var`,
        );
      }
      if (d > MAX_DIM) {
        throw new TesseraError(
          `${where}: dimension ${i} is ${d}, more than the largest size ${MAX_DIM} (2^31 - 1); ` +
            `dimensions are int32`,
        );
      }
      return constOf(d, "int32");
    }
    if (isExpr(d) && d.dtype === "int32") return d;
    throw new TesseraError(
      `${where}: dimension ${i} must be a number or an int32 te.var, got ${String(d)}`,
    );
  });
  const count = dims.reduce((n, d) => n * (d.kind === "const" ? d.value : 1), 1);
  if (count > MAX_ELEMENTS) {
    throw new TesseraError(
      `${where}: shape [${shape.join(", ")}] has ${count} elements, more than ${MAX_ELEMENTS} ` +
        `(2^53 - 1), past which sizes cannot be computed exactly`,
    );
  }
  return dims;
}

export function sizeVar(name: string, dtype: DType = "int32"): Var {
  checkName(name, "te.var");
  return new Var(name, parseDType(dtype, `te.var(${name})`));
}

export function constant(value: number | boolean, dtype: DType = "float32"): Expr {
  return constOf(value, parseDType(dtype, "te.const"));
}

export function placeholder(shape: ShapeLike, dtype: DType = "float32", name = "placeholder") {
  checkName(name, "te.placeholder");
  const where = `te.placeholder(${name})`;
  return tensorOf(new PlaceholderOp(name, toShape(shape, where), parseDType(dtype, where)));
}

export function reduceAxis(dom: readonly [ExprLike, ExprLike] | ExprLike, name = "k"): IterVar {
  checkName(name, "te.reduceAxis");
  const [min, extent] = Array.isArray(dom) ? dom : [0, dom];
  checkIntArg(min, `te.reduceAxis(${name}): min`, -MAX_DIM - 1, MAX_DIM);
  checkIntArg(extent, `te.reduceAxis(${name}): extent`, 0, MAX_DIM);
  if (typeof min === "number" && typeof extent === "number" && min + extent - 1 > MAX_DIM) {
    throw new TesseraError(
      `te.reduceAxis(${name}): the axis runs from ${min} to ${min + extent - 1}, past ` +
        `${MAX_DIM} (2^31 - 1); loop variables are int32`,
    );
  }
  const m = toExpr(min as ExprLike, "int32"), e = toExpr(extent as ExprLike, "int32");
  if (m.dtype !== "int32" || e.dtype !== "int32") {
    throw new TesseraError(`te.reduceAxis(${name}): min and extent must be int32`);
  }
  if (e.kind === "const" && e.value < 0) {
    throw new TesseraError(`te.reduceAxis(${name}): extent is ${e.value}; it must be >= 0`);
  }
  return new IterVar(name, { min: m, extent: e }, "reduce");
}

/** A number given where an int32 is meant must be an integer in [lo, hi], not wrap into it. */
function checkIntArg(x: unknown, what: string, lo: number, hi: number): void {
  if (typeof x !== "number") return;
  if (!Number.isInteger(x) || x < lo || x > hi) {
    throw new TesseraError(`${what} is ${x}; it must be an integer in [${lo}, ${hi}] (int32)`);
  }
}

/** Reads the parameter names of `(i, j) => ...` so loops are named as the user wrote them. */
function paramNames(f: (...args: never[]) => unknown, n: number): string[] {
  const src = Function.prototype.toString.call(f);
  const m = /^\s*(?:async\s*)?(?:function\b[^(]*)?\(([^)]*)\)/.exec(src) ??
    /^\s*([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  const names = m ? m[1].split(",").map((s) => s.trim()).filter((s) => s.length > 0) : [];
  const ok = (s: string) => /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(s);
  return Array.from(
    { length: n },
    (_, d) => (names[d] !== undefined && ok(names[d]) ? names[d] : `ax${d}`),
  );
}

/** Reduce axes already claimed by a compute; a second compute using one gets a fresh copy. */
const claimed = new WeakSet<IterVar>();

/** The stages `te.compute` lifted out of each compute's body (inline reductions), in order. */
const liftedOf = new WeakMap<ComputeOp, Tensor[]>();

export interface ComputeOptions {
  tag?: string;
}

/**
 * `te.compute(shape, f, name)`. `f` returns one expression (one tensor comes back) or an
 * array of them (one tensor per element, all outputs of one operation sharing one loop nest;
 * `name` may then be an array of names, else they are `name_v0`, `name_v1`, ...). A
 * reduction written inside an expression (`te.sum(...).mul(scale)`) is lifted into a stage of
 * its own, over the variables it uses, named `name_sum0`, ... (`te.innerReductions(T)`).
 */
export function compute(
  shape: ShapeLike,
  fcompute: (...axes: IterVar[]) => ExprLike,
  name?: string,
  opts?: ComputeOptions,
): Tensor;
export function compute(
  shape: ShapeLike,
  fcompute: (...axes: IterVar[]) => readonly ExprLike[],
  name?: string | string[],
  opts?: ComputeOptions,
): Tensor[];
export function compute(
  shape: ShapeLike,
  fcompute: (...axes: IterVar[]) => ExprLike | readonly ExprLike[],
  name: string | string[] = "compute",
  opts: ComputeOptions = {},
): Tensor | Tensor[] {
  const opName = Array.isArray(name) ? name.join("_") : name;
  checkName(opName, "te.compute");
  const where = `te.compute(${opName})`;
  const dims = toShape(shape, where);
  if (typeof fcompute !== "function") {
    throw new TesseraError(`${where}: the second argument must be a function of the indices`);
  }
  if (fcompute.length > dims.length) {
    throw new TesseraError(
      `${where}: the function takes ${fcompute.length} indices but the shape has ${dims.length} dimensions`,
    );
  }
  const names = paramNames(fcompute as (...args: never[]) => unknown, dims.length);
  const axis = dims.map((d, i) =>
    new IterVar(names[i], { min: constOf(0, "int32"), extent: d }, "data")
  );
  const value = fcompute(...axis);
  const many = Array.isArray(value);
  const list = (many ? value : [value]) as ExprLike[];
  if (list.length === 0) {
    throw new TesseraError(
      `${where}: the function returned an empty array; return at least one value`,
    );
  }
  const bodies = list.map((x, k) =>
    toExpr(x, undefined, many ? `${where}: output ${k}` : `${where}: the body`)
  );
  let outNames: string[] | undefined;
  if (Array.isArray(name)) {
    if (name.length !== bodies.length) {
      throw new TesseraError(
        `${where}: ${name.length} names were given for ${bodies.length} outputs; give one name per output`,
      );
    }
    outNames = name.map((n) => checkName(n, "te.compute"));
  }
  const op = makeCompute(where, opName, axis, bodies, opts.tag ?? "", outNames);
  return many ? op.outputs : op.output;
}

/** The tensors `te.compute` lifted out of `t`'s definition (inline reductions), in order. */
export function innerReductions(t: Tensor): Tensor[] {
  if (!isTensor(t)) {
    throw new TesseraError(`te.innerReductions: expects a tensor, got ${String(t)}`);
  }
  return t.op.kind === "compute" ? [...(liftedOf.get(t.op) ?? [])] : [];
}

/**
 * Builds the operation: lifts inner reductions into stages of their own, gives reduce axes a
 * compute already claimed fresh copies, and checks what is left.
 */
function makeCompute(
  where: string,
  name: string,
  axis: IterVar[],
  given: Expr[],
  tag: string,
  outNames?: string[],
): ComputeOp {
  // The body is one reduction (or all components of one tuple reduction, in order); every
  // other reduction is an inline one.
  const first = given[0];
  const top = first.kind === "reduce" && first.sources.length === given.length &&
    given.every((b) => b.kind === "reduce" && b.sources === first.sources) &&
    given.every((b, k) => (b as Reduce).valueIndex === k);
  const lifted: Tensor[] = [];
  const outer = [...axis, ...(top ? (first.axis as IterVar[]) : [])];
  const lift = lifter(name, outer, lifted);
  let bodies = given.map((b) => top ? liftInReduce(b as Reduce, lift) : lift(b));
  let reduceAxis: IterVar[] = [];
  if (top) {
    const r0 = bodies[0] as Reduce;
    const fresh = new Map<Var, Expr>();
    reduceAxis = (r0.axis as IterVar[]).map((k) => {
      if (!claimed.has(k)) return k;
      const c = new IterVar(k.name, k.dom, "reduce");
      fresh.set(k, c);
      return c;
    });
    reduceAxis.forEach((k) => claimed.add(k));
    if (fresh.size > 0) {
      const sources = r0.sources.map((x) => substitute(x, fresh));
      const cond = substitute(r0.condition, fresh);
      bodies = bodies.map((_, k) =>
        new Reduce(r0.combiner, sources[k], reduceAxis, cond, k, sources)
      );
    }
  }
  bodies.forEach((b) => checkBody(where, b, axis, reduceAxis));
  const op = new ComputeOp(name, axis, reduceAxis, bodies, tag, outNames);
  if (lifted.length > 0) liftedOf.set(op, lifted);
  return op;
}

/** A top-level reduction with the reductions inside its sources and condition lifted. */
function liftInReduce(r: Reduce, lift: (e: Expr) => Expr): Reduce {
  const sources = r.sources.map(lift);
  return new Reduce(
    r.combiner,
    sources[r.valueIndex],
    r.axis,
    lift(r.condition),
    r.valueIndex,
    sources,
  );
}

/**
 * Replaces each reduction inside an expression by a read of a new stage computing it, the
 * way Halide treats an inline reduction: the stage's axes are the enclosing compute's
 * variables the reduction uses (in the compute's order; a reduce axis of the enclosing
 * reduction becomes a data axis), so nothing is computed twice. The same reduction object
 * used twice is lifted once; a tuple reduction is lifted as one multi-output stage.
 */
function lifter(name: string, outer: IterVar[], lifted: Tensor[]): (e: Expr) => Expr {
  const done = new Map<Expr[], { op: ComputeOp; index: Expr[] }>();
  const go = (e: Expr): Expr => {
    if (e.kind !== "reduce") return mapChildren(e, go);
    let hit = done.get(e.sources);
    if (!hit) {
      const free = boundFree(e);
      const used = outer.filter((v) => free.has(v));
      const axes = used.map((v) =>
        new IterVar(v.name, { min: constOf(0, "int32"), extent: v.dom!.extent }, "data")
      );
      const map = new Map<Var, Expr>(
        used.map((v, d) => [v, v.iterType === "reduce" ? axes[d].add(v.dom!.min) : axes[d]]),
      );
      const sources = e.sources.map((x) => substitute(x, map));
      const cond = substitute(e.condition, map);
      const comps = sources.map((x, k) => new Reduce(e.combiner, x, e.axis, cond, k, sources));
      const base = `${name}_${e.combiner.name}${lifted.length}`;
      const own = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(base)
        ? base
        : `${name.slice(0, 50)}_r${lifted.length}`;
      const op = makeCompute(`te.compute(${own})`, own, axes, comps, "");
      hit = { op, index: used.map((v) => (v.iterType === "reduce" ? v.sub(v.dom!.min) : v)) };
      done.set(e.sources, hit);
      lifted.push(...op.outputs);
    }
    return new TensorRead(tensorOf(hit.op, e.valueIndex), hit.index);
  };
  return go;
}

/** Free variables of `e`, a reduction binding its own axes. */
function boundFree(e: Expr): Set<Var> {
  const out = new Set<Var>();
  const go = (x: Expr, bound: ReadonlySet<Var>) => {
    if (x.kind === "var") {
      if (!bound.has(x)) out.add(x);
      return;
    }
    const inner = x.kind === "reduce" ? new Set([...bound, ...x.axis]) : bound;
    mapChildren(x, (c) => {
      go(c, inner);
      return c;
    });
  };
  go(e, new Set());
  return out;
}

function checkBody(where: string, body: Expr, axis: IterVar[], reduceAxis: IterVar[]): void {
  const own = new Set<Var>([...axis, ...reduceAxis]);
  walkExpr(body, (e) => {
    if (e.kind === "reduce" && e !== body) {
      throw new TesseraError(
        `${where}: internal: a reduction inside the body was not lifted into a stage of its own`,
      );
    }
    if (e.kind === "var" && e instanceof IterVar && !own.has(e)) {
      throw new TesseraError(
        e.iterType === "reduce"
          ? `${where}: reduce axis '${e.name}' is used but not reduced over; pass it to te.sum(..., [${e.name}])`
          : `${where}: axis '${e.name}' belongs to another compute; use this compute's own indices`,
      );
    }
  });
}
