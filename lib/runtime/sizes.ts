/**
 * Sizes at call time, computed exactly. A kernel's size variables are bound from its
 * arguments' shapes (directly from a dimension `n`, or by solving a dimension linear in one
 * unbound variable, such as `n*2 + 1`), every declared dimension is then checked against the
 * argument's, and every loop bound and temporary that depends only on sizes is checked
 * against the limits it must respect: loop variables are int32, and a temporary must fit in
 * this machine's memory. All of it is evaluated in exact integers (JavaScript numbers, exact
 * to 2^53), never wrapped like int32 arithmetic: a wrapped size is the silent wrong result
 * (or the wrongly sized native buffer) this file exists to prevent.
 */
import { evalExact } from "../arith/exact.ts";
import type { Expr, Var } from "../ir/expr.ts";
import type { PrimFunc, Stmt } from "../ir/stmt.ts";
import { freeVars, walkStmt } from "../ir/visit.ts";

/** The largest dimension, extent or loop bound: loop variables and size parameters are int32. */
export const MAX_DIM = 0x7fffffff;

/** Whether `e` is `a*v + b` with `a`, `b` free of `v` (only add, sub, neg and mul reach `v`). */
function linearIn(e: Expr, v: Var): boolean {
  if (!freeVars(e).has(v)) return true;
  if (e.kind === "var") return e === v;
  if (e.kind === "neg") return linearIn(e.a, v);
  if (e.kind !== "binary") return false;
  if (e.op === "add" || e.op === "sub") return linearIn(e.a, v) && linearIn(e.b, v);
  if (e.op === "mul") {
    return (!freeVars(e.a).has(v) && linearIn(e.b, v)) ||
      (!freeVars(e.b).has(v) && linearIn(e.a, v));
  }
  return false;
}

/** A dimension of a parameter (its index in `func.params`), and the argument's value for it. */
export interface Dim {
  readonly expr: Expr;
  readonly actual: number;
  readonly param: number;
  readonly dim: number;
}

/**
 * Binds every size variable of `func` from `dims` (all parameters' dimensions) and checks
 * every dimension. `fail` throws; its message names the argument (`argName` of its index in
 * `func.params`: "argument 1 'A'") and the dimension.
 */
export function bindSizes(
  func: PrimFunc,
  dims: readonly Dim[],
  fail: (msg: string) => never,
  argName: (param: number) => string,
): Map<Var, number> {
  const sizes = new Map<Var, number>();
  const from = new Map<Var, number>();
  const at = (d: Dim) => `${argName(d.param)} dimension ${d.dim}`;
  const bind = (v: Var, value: number, d: Dim) => {
    if (!Number.isInteger(value) || value < 0 || value > MAX_DIM) {
      fail(
        `${at(d)} gives size variable '${v.name}' = ${value}; ` +
          `sizes are integers in [0, ${MAX_DIM}]`,
      );
    }
    sizes.set(v, value);
    from.set(v, d.param);
  };
  // A dimension that is a variable binds it directly.
  for (const d of dims) {
    if (d.expr.kind === "var" && !sizes.has(d.expr)) bind(d.expr, d.actual, d);
  }
  // A dimension linear in one unbound variable (`n*2`, `n + m`) is solved for it, repeatedly,
  // since each binding may leave another dimension with one unknown.
  for (let progress = true; progress;) {
    progress = false;
    for (const d of dims) {
      const unknown = [...freeVars(d.expr)].filter((v) => !sizes.has(v));
      if (unknown.length !== 1 || !linearIn(d.expr, unknown[0])) continue;
      const v = unknown[0];
      const valueAt = (x: number) => evalExact(d.expr, new Map([...sizes, [v, x]]));
      const b = valueAt(0), a1 = valueAt(1);
      if (b === null || a1 === null || a1 === b) continue;
      const value = (d.actual - b) / (a1 - b);
      if (!Number.isInteger(value) || value < 0 || value > MAX_DIM) {
        fail(
          `${at(d)} is ${d.actual}, but the parameter requires ${String(d.expr)}, and no ` +
            `size ${v.name} in [0, ${MAX_DIM}] gives that`,
        );
      }
      bind(v, value, d);
      progress = true;
    }
  }
  for (const v of func.sizeVars) {
    if (sizes.has(v)) continue;
    const uses = dims.filter((d) => freeVars(d.expr).has(v));
    if (uses.length === 0) {
      fail(
        `size variable '${v.name}' does not appear in any dimension of any parameter, so it ` +
          `cannot be bound from the arguments' shapes`,
      );
    }
    const why = uses.map((d) => {
      const others = [...freeVars(d.expr)].filter((u) => u !== v && !sizes.has(u));
      return others.length > 0
        ? `${at(d)} (${String(d.expr)}) also has unbound ${others.map((u) => u.name).join(", ")}`
        : `${at(d)} (${String(d.expr)}) is not linear in ${v.name}`;
    });
    fail(
      `size variable '${v.name}' cannot be bound from the arguments' shapes: ${why.join("; ")}; ` +
        `give it a dimension of its own (or one linear in it alone, such as ${v.name}*2 + 1)`,
    );
  }
  for (const d of dims) {
    if (d.expr.kind === "var") {
      if (sizes.get(d.expr) !== d.actual) {
        fail(
          `${at(d)} is ${d.actual} but ${d.expr.name} = ${sizes.get(d.expr)} from ` +
            argName(from.get(d.expr)!),
        );
      }
      continue;
    }
    const want = evalExact(d.expr, sizes);
    if (want === null) fail(`${at(d)} (${String(d.expr)}) cannot be evaluated`);
    if (want !== d.actual) {
      fail(
        `${at(d)} is ${d.actual} but the parameter requires ${want}` +
          (d.expr.kind === "const" ? "" : ` (${String(d.expr)})`),
      );
    }
  }
  return sizes;
}

/** Loop bounds and temporaries of `func` whose sizes depend on size variables only. */
interface SizeUses {
  loops: Array<{ name: string; min: Expr; extent: Expr }>;
  temps: Array<{ name: string; shape: Expr[]; bytes: number }>;
  /** No size variable or int32 scalar: every call checks the same constants. */
  fixed: boolean;
  /** A fixed function whose checks passed once, and so pass on every call. */
  passed: boolean;
}

const usesCache = new WeakMap<PrimFunc, SizeUses>();

function sizeUses(func: PrimFunc): SizeUses {
  const hit = usesCache.get(func);
  if (hit) return hit;
  // int32 scalar arguments are known at the call too, so loops over them are checked alike.
  const sizeVars = new Set<Var>([
    ...func.sizeVars,
    ...func.scalars.filter((v) => v.dtype === "int32"),
  ]);
  const onlySizes = (e: Expr) => [...freeVars(e)].every((v) => sizeVars.has(v));
  const out: SizeUses = { loops: [], temps: [], fixed: sizeVars.size === 0, passed: false };
  walkStmt(func.body, (s: Stmt) => {
    if (s.kind === "for" && onlySizes(s.min) && onlySizes(s.extent)) {
      out.loops.push({ name: s.loopVar.name, min: s.min, extent: s.extent });
    }
    if (s.kind === "allocate" && !s.buffer.aliasOf && s.buffer.shape.every(onlySizes)) {
      const b = s.buffer;
      const bytes = b.dtype === "float16" ? 2 : b.dtype === "bool" ? 1 : 4;
      out.temps.push({ name: b.name, shape: b.shape, bytes });
    }
  });
  usesCache.set(func, out);
  return out;
}

/**
 * Bytes of memory on this machine, or null where the runtime may not ask. Asked once: the
 * question reads /proc/meminfo, about 25 µs, which was most of a small kernel's call.
 */
let memoryTotal: number | null | undefined;
function machineMemory(): number | null {
  if (memoryTotal === undefined) {
    try {
      memoryTotal = Deno.systemMemoryInfo().total;
    } catch {
      memoryTotal = null;
    }
  }
  return memoryTotal;
}

/**
 * Checks what `func` will do with these sizes before anything runs: every loop variable
 * stays within int32, and every temporary fits in this machine's memory (a native
 * allocation past it could succeed under overcommit and kill the process when touched).
 */
export function checkSizes(
  func: PrimFunc,
  sizes: ReadonlyMap<Var, number>,
  fail: (msg: string) => never,
): void {
  const uses = sizeUses(func);
  if (uses.passed) return;
  for (const l of uses.loops) {
    const min = evalExact(l.min, sizes), extent = evalExact(l.extent, sizes);
    if (min === null || extent === null) continue;
    if (extent > 0 && (min + extent - 1 > MAX_DIM || min < -MAX_DIM - 1)) {
      fail(
        `loop '${l.name}' would run from ${min} to ${min + extent - 1} (extent ` +
          `${String(l.extent)}), past int32; loop variables are int32, so a loop (a fused ` +
          `one, say) may not pass ${MAX_DIM}: fuse fewer axes or split the loop`,
      );
    }
    // The kernel computes a loop's bounds in int32: if that wraps, it runs the wrong loop.
    const wrapped = evalExact(l.extent, sizes, true)!;
    if (extent <= 0 && wrapped <= 0) continue; // runs no iteration either way
    for (const [what, e, v] of [["start", l.min, min], ["extent", l.extent, extent]] as const) {
      if (evalExact(e, sizes, true) !== v) {
        fail(
          `the ${what} of loop '${l.name}', ${String(e)} = ${v}, overflows int32 on the way ` +
            `(a split factor near 2^31, say); use smaller factors or sizes`,
        );
      }
    }
  }
  const memory = uses.temps.length > 0 ? machineMemory() : null;
  for (const t of uses.temps) {
    const dims = t.shape.map((d) => evalExact(d, sizes));
    if (dims.some((d) => d === null)) continue;
    const count = (dims as number[]).reduce((a, b) => a * b, 1);
    const bad = (dims as number[]).findIndex((d) => d < 0 || d > MAX_DIM);
    if (bad >= 0) {
      fail(
        `temporary '${t.name}' would have dimension ${bad} = ${dims[bad]}, outside [0, ${MAX_DIM}]`,
      );
    }
    const bytes = count * t.bytes;
    if (!Number.isSafeInteger(bytes) || (memory !== null && bytes > memory)) {
      fail(
        `temporary '${t.name}' of shape [${dims.join(", ")}] needs ${bytes} bytes, more than ` +
          `${memory === null ? "can be addressed" : `this machine's ${memory} bytes of memory`}; ` +
          `use smaller sizes or a schedule that keeps less of it (computeAt)`,
      );
    }
  }
  uses.passed = uses.fixed;
}
