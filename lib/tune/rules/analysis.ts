/**
 * What the default-schedule rules ask of a program before deciding anything: constant loop
 * extents, which loop variables each tensor read uses, whether a reduction is "matmul-like"
 * (two operands, each missing one of two data axes, so a register tile reuses both), and
 * which stages belong to a scan (left alone: the scan's lowering owns their loops). The
 * rules read the plain schedule here and write through a recording one, so that only the
 * primitives they apply end up in the trace.
 */
import type { Expr, Var } from "../../ir/expr.ts";
import { substitute, walkExpr } from "../../ir/visit.ts";
import type { Schedule } from "../../schedule/schedule.ts";
import type { Stage } from "../../schedule/stage.ts";
import type { ComputeOp, IterVar, Tensor } from "../../te/tensor.ts";

/** The extent of a loop variable when it is a constant. */
export function constExtent(v: IterVar): number | null {
  const e = v.dom?.extent;
  return e?.kind === "const" ? e.value : null;
}

/** The product of the extents, or null when one is symbolic. */
export function constProduct(vs: IterVar[]): number | null {
  let p = 1;
  for (const v of vs) {
    const e = constExtent(v);
    if (e === null) return null;
    p *= e;
  }
  return p;
}

export interface Read {
  tensor: Tensor;
  indices: Expr[];
  /** Loop variables appearing anywhere in the indices. */
  uses: Set<Var>;
}

function varsOf(e: Expr, into: Set<Var>): void {
  walkExpr(e, (x) => {
    if (x.kind === "var") into.add(x);
  });
}

/**
 * Every tensor read in the operation's bodies (conditions included). Given the schedule `s`,
 * a read of an inlined compute stage is replaced by the reads of its body, its axes bound to
 * the read's indices: what a root stage reads once inlining has happened (the GELU epilogue of
 * a matmul reads the matmul through an inlined bias add).
 */
export function readsOf(op: ComputeOp, s?: Schedule): Read[] {
  const out: Read[] = [];
  const visit = (e: Expr, bind: ReadonlyMap<Var, Expr>) => {
    walkExpr(e, (x) => {
      if (x.kind !== "tensorRead") return;
      const t = x.tensor as Tensor;
      const indices = bind.size > 0 ? x.indices.map((i) => substitute(i, bind)) : x.indices;
      if (s?.stageOfOp(t.op)?.attach.type === "inline" && t.op.kind === "compute") {
        const inner = new Map<Var, Expr>(t.op.axis.map((v, d) => [v, indices[d]]));
        for (const body of t.op.bodies) visit(body, inner);
        return;
      }
      const uses = new Set<Var>();
      indices.forEach((i) => varsOf(i, uses));
      out.push({ tensor: t, indices, uses });
    });
  };
  for (const body of op.bodies) visit(body, new Map());
  return out;
}

/** Whether the loop variable `v` appears in `e`. */
export function usesVar(e: Expr, v: Var): boolean {
  let found = false;
  walkExpr(e, (x) => {
    if (x === v) found = true;
  });
  return found;
}

/** Arithmetic nodes and math calls in the bodies: what inlining would repeat per read. */
export function bodyCost(op: ComputeOp): { nodes: number; calls: number } {
  let nodes = 0, calls = 0;
  for (const body of op.bodies) {
    walkExpr(body, (e) => {
      nodes++;
      if (e.kind === "call") calls++;
    });
  }
  return { nodes, calls };
}

/**
 * The two data axes of a register tile for a one-output reduction, `b` the innermost data
 * axis (the vector lanes) and `a` an axis that the reads using `b` do not use but some other
 * read does: matmul's (i, j), batch matmul's (i, j), a convolution's (output channel,
 * output column). Null when no read is free of `b`, or no such `a` exists, or an extent is
 * symbolic or too small to tile.
 */
export function registerTile(op: ComputeOp): { a: IterVar; b: IterVar } | null {
  if (op.numOutputs !== 1 || op.reduceAxis.length === 0 || op.axis.length < 2) return null;
  const b = op.axis[op.axis.length - 1];
  const reads = readsOf(op);
  const withB = reads.filter((r) => r.uses.has(b));
  const withoutB = reads.filter((r) => !r.uses.has(b));
  if (withB.length === 0 || withoutB.length === 0) return null;
  // The reduction must reach both sides, or there is nothing to reuse across the tile.
  const usesReduce = (r: Read) => op.reduceAxis.some((k) => r.uses.has(k));
  if (!withB.some(usesReduce) || !withoutB.some(usesReduce)) return null;
  for (let i = op.axis.length - 2; i >= 0; i--) {
    const a = op.axis[i];
    if (withB.some((r) => r.uses.has(a)) || !withoutB.some((r) => r.uses.has(a))) continue;
    const ea = constExtent(a), eb = constExtent(b);
    if (ea === null || eb === null || ea < 2 || eb < 2) return null;
    return { a, b };
  }
  return null;
}

/**
 * Stages a scan owns or reaches into: its states, inits and updates, and every stage that
 * reads a state (they run per scan step). The rules neither schedule nor inline them, nor
 * inline anything into them.
 */
export function scanStages(s: Schedule): Set<Stage> {
  const out = new Set<Stage>();
  for (const st of s.stages) {
    if (st.op.kind !== "scan") continue;
    out.add(st);
    const g = st.op.group;
    for (const t of [...g.init, ...g.update]) out.add(s.stage(t));
    for (const state of g.state) {
      const ph = s.stageOfOp(state.op);
      if (!ph) continue;
      for (const other of s.stages) {
        if (other.op.kind === "compute" && s.consumes(other, ph)) out.add(other);
      }
    }
  }
  return out;
}

/** Compute stages the rules may schedule: not inlined, not a scan's, at the root. */
export function schedulable(s: Schedule, skip: Set<Stage>): Stage[] {
  return s.stages.filter((st) =>
    st.op.kind === "compute" && st.attach.type === "root" && !skip.has(st)
  );
}
