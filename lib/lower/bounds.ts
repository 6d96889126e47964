/**
 * Bound inference: how much of each stage must be computed, and where its loops run. A
 * stage at the root computes its whole domain. A stage attached at a consumer's loop `x`
 * computes, per iteration of `x`, the region that its readers touch in that iteration: the
 * readers' index expressions are evaluated over intervals, keeping the loops outside and at
 * `x` symbolic and relaxing every loop inside it (TVM's InferBound, Halide's bounds
 * inference). When an index cannot be bounded the region falls back to the whole domain,
 * which is always correct. The region's min is subtracted from indices into the stage's
 * buffer, whose size is the region extent with every loop relaxed.
 */
import { evalInterval, type Interval } from "../arith/interval.ts";
import { simplify } from "../arith/simplify.ts";
import { TesseraError } from "../error.ts";
import { binary, type Expr, intConst, type Var } from "../ir/expr.ts";
import { substitute, walkExpr } from "../ir/visit.ts";
import { passDownExtents, passUpOffsets } from "../schedule/relations.ts";
import type { Schedule } from "../schedule/schedule.ts";
import type { Stage } from "../schedule/stage.ts";
import type { ComputeOp, IterVar, Range, Tensor } from "../te/tensor.ts";
import { inferScope } from "./gpu/inferScope.ts";

export interface StageBounds {
  /** Range of every root axis (data and reduce). */
  readonly rootRange: Map<IterVar, Range>;
  /** Extent of every loop variable the stage has (roots, splits, fuses). */
  readonly ext: Map<IterVar, Expr>;
  /** Offset of every variable from its min, in terms of the leaf loop variables. */
  readonly offsets: Map<IterVar, Expr>;
  /** For attached stages: per data dimension, the region min subtracted from indices. */
  readonly regionMin: Expr[] | null;
  /** Buffer extent per data dimension (independent of any loop variable). */
  readonly allocShape: Expr[];
  /** An attached stage passed as an argument: it stores at whole-tensor indices, no offset. */
  readonly inPlace?: boolean;
}

/** The loops enclosing a stage's own loops: its attach chain, innermost first. */
export function enclosingLoops(st: Stage): IterVar[] {
  const out: IterVar[] = [];
  for (let s = st; s.attach.type === "scope";) {
    const { stage, axis } = s.attach;
    out.push(...stage.leafIterVars.slice(0, stage.leafIterVars.indexOf(axis) + 1).reverse());
    s = stage;
  }
  return out;
}

export function inferBounds(
  s: Schedule,
  bodies: ReadonlyMap<Stage, Expr[]>,
): Map<Stage, StageBounds> {
  const result = new Map<Stage, StageBounds>();
  // Every loop variable seen so far, as the interval it ranges over.
  const loopRange = new Map<Var, Interval>();
  const computed = s.stages.filter((st) => st.op.kind === "compute" && st.attach.type !== "inline");
  for (const st of [...computed].reverse()) {
    const op = st.op as ComputeOp;
    const rootRange = new Map<IterVar, Range>();
    let regionMin: Expr[] | null = null;
    let allocShape = op.axis.map((a) => a.dom!.extent);
    if (st.attach.type === "scope") {
      const region = attachedRegion(s, st, bodies, result, loopRange);
      regionMin = region.map((r) => r.min);
      allocShape = region.map((r, d) => {
        const relaxed = evalInterval(r.extent, loopRange);
        const ub = relaxed ? simplify(relaxed.max) : null;
        return ub && !mentionsAny(ub, loopRange) ? ub : op.axis[d].dom!.extent;
      });
      op.axis.forEach((a, d) => rootRange.set(a, region[d]));
    } else {
      for (const a of op.axis) rootRange.set(a, a.dom!);
    }
    for (const r of op.reduceAxis) rootRange.set(r, r.dom!);
    const rootExt = new Map<IterVar, Expr>();
    for (const [a, r] of rootRange) rootExt.set(a, r.extent);
    const ext = passDownExtents(st.relations, rootExt);
    for (const [v, e] of ext) ext.set(v, simplify(e));
    const leafValue = new Map<IterVar, Expr>(st.leafIterVars.map((v) => [v, v]));
    const offsets = passUpOffsets(st.relations, leafValue, ext);
    for (const v of st.leafIterVars) {
      loopRange.set(v, { min: intConst(0), max: simplify(binary("sub", ext.get(v)!, 1)) });
    }
    result.set(st, { rootRange, ext, offsets, regionMin, allocShape });
  }
  return result;
}

function mentionsAny(e: Expr, vars: ReadonlyMap<Var, unknown>): boolean {
  let hit = false;
  walkExpr(e, (x) => {
    if (x.kind === "var" && vars.has(x)) hit = true;
  });
  return hit;
}

/** The value of each root axis of a stage in terms of its leaf loop variables. */
export function rootValues(st: Stage, b: StageBounds): Map<Var, Expr> {
  const op = st.op as ComputeOp;
  const map = new Map<Var, Expr>();
  for (const a of [...op.axis, ...op.reduceAxis]) {
    map.set(a, binary("add", b.rootRange.get(a)!.min, b.offsets.get(a)!));
  }
  return map;
}

function attachedRegion(
  s: Schedule,
  st: Stage,
  bodies: ReadonlyMap<Stage, Expr[]>,
  done: ReadonlyMap<Stage, StageBounds>,
  loopRange: ReadonlyMap<Var, Interval>,
): Range[] {
  const at = st.attach as { stage: Stage; axis: IterVar };
  const op = st.op as ComputeOp;
  const where = `lower: stage '${st.name}' computed at '${at.stage.name}'.${at.axis.name}`;
  if (!at.stage.leafIterVars.includes(at.axis)) {
    throw new TesseraError(
      `${where}: '${at.axis.name}' is no longer a loop of '${at.stage.name}' (it was split or fused after computeAt); attach at one of: ${at.stage.leafNames()}`,
    );
  }
  // Loops that stay symbolic: the attach loop and everything outside it.
  const kept = new Set<Var>([
    ...at.stage.leafIterVars.slice(0, at.stage.leafIterVars.indexOf(at.axis) + 1),
    ...enclosingLoops(at.stage),
  ]);
  // A shared buffer serves every thread of a block, a global one every block too.
  for (const v of [...kept]) {
    const tag = findStage(s, v)?.attrs.get(v as IterVar)?.threadTag;
    if (!tag) continue;
    const scope = inferScope(st).scope;
    if (scope === "shared" && tag.startsWith("threadIdx")) kept.delete(v);
    if (scope === "global") kept.delete(v);
  }
  const relax = new Map<Var, Interval>();
  for (const [v, r] of loopRange) if (!kept.has(v)) relax.set(v, r);
  const lo: Array<Expr | null> = op.axis.map(() => null);
  const hi: Array<Expr | null> = op.axis.map(() => null);
  const full = op.axis.map(() => false);
  for (const reader of s.stages) {
    const body = bodies.get(reader);
    if (!body || reader === st || reader.attach.type === "inline") continue;
    if (!readsStage(s, body, st)) continue;
    if (reader !== at.stage && !insideLoop(reader, at.stage, at.axis)) {
      throw new TesseraError(
        `${where}: stage '${reader.name}' also reads '${st.name}' but runs outside that loop; attach '${st.name}' at a loop that encloses every reader, or computeRoot it`,
      );
    }
    const rb = done.get(reader)!;
    const values = rootValues(reader, rb);
    for (const e0 of body) {
      walkExpr(e0, (e) => {
        if (e.kind !== "tensorRead" || s.stageOfOp((e.tensor as Tensor).op) !== st) return;
        e.indices.forEach((idx, d) => {
          if (full[d]) return;
          const there = substitute(idx, values);
          // An index read from a stage not yet computed where `st` is (a gather index cached
          // deeper in the nest) says nothing here: `st` needs its whole extent.
          if (readsUnavailable(s, there, at)) {
            full[d] = true;
            return;
          }
          const iv = evalInterval(there, relax);
          if (!iv) {
            full[d] = true;
            return;
          }
          lo[d] = lo[d] ? binary("min", lo[d]!, iv.min) : iv.min;
          hi[d] = hi[d] ? binary("max", hi[d]!, iv.max) : iv.max;
        });
      });
    }
  }
  return op.axis.map((a, d) => {
    if (full[d] || !lo[d]) return a.dom!;
    const min = simplify(lo[d]!);
    return { min, extent: simplify(binary("add", binary("sub", hi[d]!, min), 1)) };
  });
}

/**
 * Whether `e` reads a stage whose values do not exist yet at loop `at.axis` of `at.stage`:
 * one attached inside that loop (or at it, whose order beside the attached stage is not
 * fixed), or under another stage's loops. Root stages and inputs are always there.
 */
function readsUnavailable(s: Schedule, e: Expr, at: { stage: Stage; axis: IterVar }): boolean {
  let hit = false;
  walkExpr(e, (x) => {
    if (x.kind !== "tensorRead") return;
    const r = s.stageOfOp((x.tensor as Tensor).op);
    if (!r || r.attach.type !== "scope") return;
    const { stage, axis } = r.attach;
    const before = stage === at.stage &&
      stage.leafIterVars.indexOf(axis) < stage.leafIterVars.indexOf(at.axis);
    if (!before) hit = true;
  });
  return hit;
}

function findStage(s: Schedule, v: Var): Stage | undefined {
  return s.stages.find((st) => st.leafIterVars.includes(v as IterVar));
}

export function readsStage(s: Schedule, bodies: Expr[], st: Stage): boolean {
  let hit = false;
  for (const body of bodies) {
    walkExpr(body, (e) => {
      if (e.kind === "tensorRead" && s.stageOfOp((e.tensor as Tensor).op) === st) hit = true;
    });
  }
  return hit;
}

/** Whether `reader`'s loops run inside loop `axis` of `stage`. */
function insideLoop(reader: Stage, stage: Stage, axis: IterVar): boolean {
  for (let r = reader; r.attach.type === "scope";) {
    const { stage: p, axis: x } = r.attach;
    if (p === stage) return p.leafIterVars.indexOf(x) >= p.leafIterVars.indexOf(axis);
    r = p;
  }
  return false;
}
