/**
 * Mesa's llvmpipe, the software WebGPU adapter CI and most GPU-less machines run on, ends
 * every loop of an invocation once that invocation has run 65535 loop iterations in all
 * (LP_MAX_TGSI_LOOP_ITERATIONS, a guard against endless shaders, one counter shared by every
 * loop). Nothing reports it: the kernel simply computes a wrong result. So before a dispatch
 * on llvmpipe, the iterations one invocation runs are bounded from the loop nest, and a
 * shader that could cross the limit is refused with a `TesseraError` saying how to split it.
 *
 * The count follows the shader: a serial loop of extent e around a body costing c runs
 * e·(1 + c) iterations; loops bound to threads are not loops (each invocation takes one
 * index), except a threadIdx loop nested in another bound to the same axis that the printer
 * runs whole in each thread (`rebindsAsThread`: it depends on the outer index), which is a
 * serial loop like any other; unrolled loops are already gone; a vectorized loop of 2 to 4 lanes is one vector
 * operation. Extents that vary are bounded from the enclosing loops' ranges. Loops the
 * printer adds (cooperative loads by fewer threads than elements) are not counted, so the
 * bound can be low there — this is a guard against the common case, not a proof.
 */
import type { Expr, Var } from "../../ir/expr.ts";
import { Binary, intConst } from "../../ir/expr.ts";
import type { For, PrimFunc, Stmt } from "../../ir/stmt.ts";
import { substitute } from "../../ir/visit.ts";
import { ConstBounds } from "../../arith/const_bound.ts";
import type { Interval } from "../../arith/interval.ts";
import { simplify } from "../../arith/simplify.ts";
import { TesseraError } from "../../error.ts";
import type { Sizes } from "./plan.ts";
import { rebindsAsThread } from "../../lower/gpu/threadDependence.ts";

/** Iterations after which llvmpipe silently ends an invocation's loops. */
export const LLVMPIPE_LOOP_LIMIT = 65535;

/** The root statements of a flattened function: one shader each (as planWgsl splits it). */
function roots(f: PrimFunc): Stmt[] {
  const out: Stmt[] = [];
  const peel = (s: Stmt) => {
    if (s.kind === "allocate") peel(s.body);
    else if (s.kind === "seq") s.stmts.forEach(peel);
    else out.push(s);
  };
  peel(f.body);
  return out;
}

/** `threads`: the loop that is each threadIdx axis's index here, by tag. */
function iterations(
  s: Stmt,
  sizes: Map<Var, Expr>,
  ranges: Map<Var, Interval>,
  threads: ReadonlyMap<string, For> = new Map(),
): number {
  const go = (x: Stmt, r = ranges, t = threads) => iterations(x, sizes, r, t);
  switch (s.kind) {
    case "for": {
      const min = simplify(substitute(s.min, sizes));
      const extent = simplify(substitute(s.extent, sizes));
      const inner = new Map(ranges).set(s.loopVar, {
        min,
        max: simplify(
          new Binary("sub", new Binary("add", min, extent, "int32"), intConst(1), "int32"),
        ),
      });
      const tag = s.forKind === "threadBinding" ? s.threadTag ?? "" : "";
      const thread = tag.startsWith("threadIdx");
      const index = s.forKind === "threadBinding" &&
        (!thread || rebindsAsThread(threads.get(tag) ?? null, s));
      const body = go(s.body, inner, index && thread ? new Map(threads).set(tag, s) : threads);
      if (index) return body;
      const e = Math.max(0, new ConstBounds(ranges).of(extent).hi);
      if (s.forKind === "vectorized" && e <= 4) return body;
      return e * (1 + body);
    }
    case "seq":
      return s.stmts.reduce((a, x) => a + go(x), 0);
    case "if":
      return Math.max(go(s.then), s.otherwise ? go(s.otherwise) : 0);
    case "allocate":
    case "let":
      return go(s.body);
    default:
      return 0;
  }
}

/**
 * A check for one function: given the call's sizes, throws when some shader may run more
 * loop iterations per invocation than llvmpipe allows. Results are remembered per sizes.
 */
export function loopBudget(f: PrimFunc, who: string): (sizes: Sizes) => void {
  const shaders = roots(f);
  const checked = new Set<string>();
  return (sizes) => {
    const key = [...sizes.values()].join(",");
    if (checked.has(key)) return;
    const values = new Map<Var, Expr>([...sizes].map(([v, x]) => [v, intConst(x)]));
    shaders.forEach((root, k) => {
      const n = iterations(root, values, new Map());
      if (n > LLVMPIPE_LOOP_LIMIT) {
        throw new TesseraError(
          `${who}: shader ${k + 1} of ${shaders.length} may run ${
            Number.isFinite(n) ? n : "an unbounded number of"
          } loop iterations in one invocation; Mesa's llvmpipe (this adapter) silently ends an ` +
            `invocation's loops after ${LLVMPIPE_LOOP_LIMIT} in all and would return wrong ` +
            "results. Give each invocation less work: bind more loops to threads or blocks, " +
            "split the reduction (rfactor across threads), or unroll small inner loops; or " +
            'run on a real GPU or the "c" target.',
        );
      }
    });
    checked.add(key);
  };
}
