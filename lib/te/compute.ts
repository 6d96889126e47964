/**
 * The constructors of the dataflow graph: `placeholder`, `compute`, `reduceAxis`, `var`,
 * `const`. This is the API boundary where user input is checked (shapes, names, dtypes,
 * the shape of a compute body) so that nothing malformed reaches scheduling or lowering.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";
import { type DType, parseDType } from "../ir/dtype.ts";
import { constOf, type Expr, type ExprLike, isExpr, Reduce, toExpr, Var } from "../ir/expr.ts";
import { substitute, walkExpr } from "../ir/visit.ts";
import { checkName, ComputeOp, IterVar, PlaceholderOp, type Tensor, tensorOf } from "./tensor.ts";

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

export interface ComputeOptions {
  tag?: string;
}

export function compute(
  shape: ShapeLike,
  fcompute: (...axes: IterVar[]) => ExprLike,
  name = "compute",
  opts: ComputeOptions = {},
): Tensor {
  checkName(name, "te.compute");
  const where = `te.compute(${name})`;
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
  let body = toExpr(fcompute(...axis));
  let reduceAxis: IterVar[] = [];
  if (body.kind === "reduce") {
    const fresh = new Map<Var, Expr>();
    reduceAxis = (body.axis as IterVar[]).map((k) => {
      if (!claimed.has(k)) return k;
      const c = new IterVar(k.name, k.dom, "reduce");
      fresh.set(k, c);
      return c;
    });
    reduceAxis.forEach((k) => claimed.add(k));
    if (fresh.size > 0) {
      body = new Reduce(
        body.combiner,
        substitute(body.source, fresh),
        reduceAxis,
        substitute(body.condition, fresh),
      );
    }
  }
  checkBody(where, body, axis, reduceAxis);
  return tensorOf(new ComputeOp(name, axis, reduceAxis, body, opts.tag ?? ""));
}

function checkBody(where: string, body: Expr, axis: IterVar[], reduceAxis: IterVar[]): void {
  const own = new Set<Var>([...axis, ...reduceAxis]);
  walkExpr(body, (e) => {
    if (e.kind === "reduce" && e !== body) {
      throw new TesseraError(
        `${where}: a reduction (te.sum/max/min/prod) must be the whole body, not part of it; ` +
          `compute it in a stage of its own and read that`,
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
