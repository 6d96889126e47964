/**
 * Where a buffer allocated inside a shader lives, and which copy a thread uses: the per-thread
 * slots of the WGSL backend. A buffer allocated inside loops bound to thread axes S exists
 * once per thread of S, as in the interpreter (once per iteration). When every axis the shader
 * uses is in S it is private to the thread: a private array. Otherwise other threads read it (a
 * fill on thread 0, a cooperative fill that re-binds an axis), so it lives in workgroup memory,
 * one copy per thread of S, each at a slot found from the thread's index: copy number
 * sum over d in S of lid.d * (product of the workgroup sizes of the axes of S before d). A
 * `shared` buffer is always in workgroup memory; outside the uniform part of a multi-thread
 * shader (one thread runs the code) everything is private.
 */
import type { Var } from "../../ir/expr.ts";
import type { Allocate, For } from "../../ir/stmt.ts";
import { walkStmt } from "../../ir/visit.ts";
import { accesses, cooperative } from "./threadDependence.ts";

/** The thread loops around a statement of a shader. */
export interface ThreadScope {
  /** Threads per axis (x, y, z) in the shader (1: the axis is unused). */
  readonly wg: readonly number[];
  /** The loop variable an enclosing loop binds to each threadIdx axis, or null. */
  readonly threadVar: ReadonlyArray<Var | null>;
  /** That loop. */
  readonly threadLoop: ReadonlyArray<For | null>;
  /** Whether the statement is in the uniform part of a multi-thread shader. */
  readonly skeleton: boolean;
}

export interface Home {
  /** A private array of the thread; else workgroup memory. */
  readonly private: boolean;
  /** The axes whose threads each have their own copy, in slot order (workgroup only). */
  readonly slotAxes: readonly number[];
  /** The number of copies (the product of the workgroup sizes of `slotAxes`). */
  readonly copies: number;
}

export function allocationHome(a: Allocate, t: ThreadScope): Home {
  const b = a.buffer;
  // Only a cooperative loop that touches this buffer makes it shared along its axis.
  const rebound = new Set<number>();
  walkStmt(a.body, (x) => {
    if (x.kind !== "for" || x.forKind !== "threadBinding" || !cooperative(x, t.threadLoop)) return;
    const d = "xyz".indexOf(x.threadTag!.slice(-1));
    if (!x.threadTag!.startsWith("threadIdx") || t.threadVar[d] === null) return;
    const { reads, writes } = accesses(x);
    if (reads.has(b) || writes.has(b)) rebound.add(d);
  });
  const used = [0, 1, 2].filter((d) => t.wg[d] > 1);
  const slotAxes = used.filter((d) => t.threadVar[d] !== null && !rebound.has(d));
  const hasInner = used.some((d) => t.threadVar[d] === null) || rebound.size > 0;
  if (!t.skeleton || (b.scope !== "shared" && !hasInner)) {
    return { private: true, slotAxes: [], copies: 1 };
  }
  return { private: false, slotAxes, copies: slotAxes.reduce((n, d) => n * t.wg[d], 1) };
}
