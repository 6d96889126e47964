/**
 * `te.extern`: a stage computed by a C function the user names (TVM's `te.extern` with a
 * `call_packed` body), for a library routine such as `cblas_sgemm` or a function in C source
 * the user passes. The call is described, not run: `te.externCall(fname, ...args)` lists
 * whole inputs and outputs (pointers to their data), int expressions and scalars; lowering
 * turns it into an `ExternCall` statement that the C printer prints as a plain call and the
 * interpreter runs through the TypeScript implementation the user gives (`interpret`).
 *
 * The function name is the one user name that reaches generated C unmangled (it must be the
 * library's symbol), so it is checked here: a C identifier, no keyword, no prefix Tessera
 * keeps for its own names (`v_`, `b_`, `k_`, `tsr_`).
 */
import { TesseraError } from "../error.ts";
import type { DType } from "../ir/dtype.ts";
import { type Expr, type ExprLike, toExpr } from "../ir/expr.ts";
import { walkExpr } from "../ir/visit.ts";
import type { NDArray } from "../runtime/ndarray.ts";
import { checkName, type ExternArg, ExternOp, isTensor, type Tensor, tensorOf } from "./tensor.ts";

/** An input or output of an extern call as the call sees it: a pointer to its whole data. */
export class ExternBuffer {
  constructor(
    readonly io: "in" | "out",
    readonly index: number,
    readonly name: string,
    readonly shape: Expr[],
    readonly dtype: DType,
  ) {}
  toString(): string {
    return `${this.io}s[${this.index}] (${this.name})`;
  }
}

/** What `te.externCall` returns and the body of `te.extern` must return. */
export class ExternCallSpec {
  constructor(readonly fname: string, readonly args: ExternArg[]) {}
}

export interface ExternOptions {
  name?: string;
  /** The outputs' dtypes (one for all, or one each); default: the first input's, or float32. */
  dtype?: DType | DType[];
  /** C source defining the function (compiled beside the kernel on the C target). */
  cSource?: string;
  /** Libraries to link: names such as "openblas" (`-lopenblas`) or absolute paths to .so files. */
  libs?: string[];
  /**
   * What the interpreter runs: the inputs and outputs as arrays (write the outputs), then the
   * call's other arguments (dimensions and scalars) as numbers, in the call's order.
   */
  interpret?: (ins: NDArray[], outs: NDArray[], ...scalars: number[]) => void;
}

const C_KEYWORDS = new Set(
  ("auto break case char const continue default do double else enum extern float for goto if " +
    "inline int long register restrict return short signed sizeof static struct switch typedef " +
    "union unsigned void volatile while main").split(" "),
);

function checkFunctionName(fname: unknown): string {
  const where = "te.externCall";
  if (typeof fname !== "string" || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(fname)) {
    throw new TesseraError(
      `${where}: function name ${JSON.stringify(fname)} is not a C identifier; give the ` +
        `function's symbol, letters, digits and '_' (e.g. "cblas_sgemm")`,
    );
  }
  if (C_KEYWORDS.has(fname) || /^(v_|b_|k_|tsr_|__)/.test(fname)) {
    throw new TesseraError(
      `${where}: function name '${fname}' is a C keyword or uses a prefix Tessera keeps for ` +
        `generated names (v_, b_, k_, tsr_, __); rename the C function`,
    );
  }
  return fname;
}

/**
 * `te.externCall(fname, ...args)`: a call of C function `fname`. Each argument is an input or
 * output handle (`ins[k]`, `outs[k]`: a pointer to its data), an int expression (a dimension,
 * `int32_t`, or `int64_t` after `te.cast("int64", ...)`) or a scalar: a number (an integer is
 * `int32_t`, a fraction `float`; write `te.const(1, "float32")` for a whole float) or a
 * `te.var` listed in the kernel's arguments.
 */
export function externCall(fname: string, ...args: Array<ExternBuffer | ExprLike>): ExternCallSpec {
  const name = checkFunctionName(fname);
  const out = args.map((a, k): ExternArg => {
    const where = `te.externCall("${name}"): argument ${k}`;
    if (a instanceof ExternBuffer) return { io: a.io, index: a.index };
    if (typeof a === "boolean" || a === undefined || a === null || isTensor(a)) {
      throw new TesseraError(
        `${where} is ${String(a)}; pass ins[k] / outs[k], an int expression, or a number`,
      );
    }
    const e = typeof a === "number"
      ? toExpr(a, Number.isInteger(a) ? "int32" : "float32", where)
      : toExpr(a, "int32", where);
    walkExpr(e, (x) => {
      if (x.kind === "tensorRead" || x.kind === "reduce") {
        throw new TesseraError(
          `${where} reads a tensor; pass the tensor itself as an input (ins[k]) and index it in C`,
        );
      }
    });
    if (e.dtype === "bool" || e.dtype === "float16") {
      throw new TesseraError(`${where} has dtype ${e.dtype}; cast it to int32 or float32`);
    }
    return e;
  });
  return new ExternCallSpec(name, out);
}

/**
 * `te.extern(shapes, inputs, (ins, outs) => te.externCall(...), opts)`: one shape gives one
 * tensor, an array of shapes an array of tensors (TVM's convention).
 */
export function extern(
  shapes: ExprLike[] | ExprLike[][],
  inputs: Tensor[],
  body: (ins: ExternBuffer[], outs: ExternBuffer[]) => ExternCallSpec,
  opts: ExternOptions = {},
): Tensor | Tensor[] {
  const name = checkName(opts.name ?? "extern", "te.extern");
  const where = `te.extern(${name})`;
  if (!Array.isArray(shapes)) throw new TesseraError(`${where}: shapes must be an array`);
  const many = shapes.length > 0 && shapes.every(Array.isArray);
  const list = (many ? shapes : [shapes]) as ExprLike[][];
  const dims = list.map((sh, k) =>
    sh.map((d, i) => {
      const e = toExpr(d, "int32", `${where}: output ${k} dimension ${i}`);
      if (e.dtype !== "int32") {
        throw new TesseraError(`${where}: output ${k} dimension ${i} must be int32`);
      }
      return e;
    })
  );
  if (!Array.isArray(inputs) || !inputs.every(isTensor)) {
    throw new TesseraError(`${where}: inputs must be an array of tensors`);
  }
  const given = opts.dtype ?? inputs[0]?.dtype ?? "float32";
  const dtypes = list.map((_, k) => Array.isArray(given) ? given[k] : given);
  // C has no portable half type, and bool storage is Tessera's own (one byte, 0 or 1).
  const unfit = (t: DType | undefined) => t === undefined || t === "float16" || t === "bool";
  dtypes.forEach((t, k) => {
    if (unfit(t)) {
      throw new TesseraError(
        `${where}: output ${k} has dtype ${t}; give one dtype per output, not float16 or bool ` +
          `(use float32 or uint8)`,
      );
    }
  });
  inputs.forEach((t, k) => {
    if (unfit(t.dtype)) {
      throw new TesseraError(
        `${where}: input ${k} '${t.name}' is ${t.dtype}; an extern function takes no float16 ` +
          `or bool arrays: te.cast it to float32 or uint8 in a compute first`,
      );
    }
  });
  if (opts.cSource !== undefined && typeof opts.cSource !== "string") {
    throw new TesseraError(`${where}: cSource must be a string of C source`);
  }
  const libs = opts.libs ?? [];
  if (!Array.isArray(libs)) throw new TesseraError(`${where}: libs must be an array of strings`);
  for (const l of libs) {
    const ok = typeof l === "string" &&
      (/^[A-Za-z0-9_.+-]+$/.test(l) && !l.startsWith("-") || /^\/[^,\0]*$/.test(l));
    if (!ok) {
      throw new TesseraError(
        `${where}: library ${JSON.stringify(l)} is neither a library name (letters, digits, ` +
          `_ . + -, e.g. "openblas") nor an absolute path to a .so file without commas`,
      );
    }
  }
  if (opts.interpret !== undefined && typeof opts.interpret !== "function") {
    throw new TesseraError(`${where}: interpret must be a function (ins, outs, ...scalars)`);
  }
  const outNames = dims.length === 1 ? [name] : dims.map((_, k) => `${name}_v${k}`);
  const ins = inputs.map((t, k) => new ExternBuffer("in", k, t.name, t.shape, t.dtype));
  const outs = dims.map((sh, k) => new ExternBuffer("out", k, outNames[k], sh, dtypes[k]));
  const spec = typeof body === "function" ? body(ins, outs) : undefined;
  if (!(spec instanceof ExternCallSpec)) {
    throw new TesseraError(
      `${where}: the body must return te.externCall("fname", ...args), got ${String(spec)}`,
    );
  }
  for (const k of outs.keys()) {
    if (!spec.args.some((a) => "io" in a && a.io === "out" && a.index === k)) {
      throw new TesseraError(
        `${where}: the call never passes outs[${k}]; the function must write every output`,
      );
    }
  }
  const op = new ExternOp(name, inputs, dims, dtypes, outNames, {
    fname: spec.fname,
    args: spec.args,
    cSource: opts.cSource ?? null,
    libs: [...libs],
    interpret: (opts.interpret as ((...a: never[]) => void) | undefined) ?? null,
  });
  const tensors = dims.map((_, k) => tensorOf(op, k));
  return many ? tensors : tensors[0];
}
