/**
 * A schedule: one stage per operation of the dataflow graph, producers first, plus the three
 * primitives that change the graph itself — `cacheRead` and `cacheWrite` add a copy stage,
 * `rfactor` splits a reduction into a partial and a final one. As in TVM, they never mutate
 * operations: they make new ones and point the stage at them (`stage.op`), while the user's
 * original tensor handles keep finding their stage.
 */
import { TesseraError } from "../error.ts";
import {
  binary,
  compare,
  constOf,
  type Expr,
  intConst,
  logical,
  Reduce,
  select,
  TensorRead,
  Var,
} from "../ir/expr.ts";
import type { SizeRequirement } from "../ir/stmt.ts";
import { rewriteExpr, substitute } from "../ir/visit.ts";
import {
  checkName,
  ComputeOp,
  inputOps,
  isTensor,
  IterVar,
  type Operation,
  postOrder,
  type Tensor,
  tensorOf,
} from "../te/tensor.ts";
import { passDownExtents, passUpOffsets } from "./relations.ts";
import { type Scope, SCOPES, Stage } from "./stage.ts";

export class Schedule {
  readonly stages: Stage[] = [];
  /** Facts about the sizes that symbolic split factors need, checked at every call. */
  readonly requirements: SizeRequirement[] = [];
  readonly outputs: Operation[];
  private readonly byOp = new Map<Operation, Stage>();

  constructor(outputs: Tensor | Tensor[]) {
    const list = Array.isArray(outputs) ? outputs : [outputs];
    if (list.length === 0 || !list.every(isTensor)) {
      throw new TesseraError("te.createSchedule: expects a tensor or an array of tensors");
    }
    this.outputs = list.map((t) => t.op);
    for (const op of postOrder(this.outputs)) {
      const st = new Stage(this, op, op, this.outputs.includes(op));
      this.stages.push(st);
      this.byOp.set(op, st);
    }
  }

  /** The stage computing `t` (found from the original or any replacement operation). */
  stage(t: Tensor | Operation): Stage {
    const op = isTensor(t) ? t.op : t;
    const st = this.byOp.get(op);
    if (!st) {
      throw new TesseraError(
        `schedule.stage: '${op?.name ?? String(t)}' is not part of this schedule (stages: ${
          this.stages.map((s) => s.name).join(", ")
        })`,
      );
    }
    return st;
  }

  get(t: Tensor | Operation): Stage {
    return this.stage(t);
  }

  /** The stage an operation read inside a body refers to. */
  stageOfOp(op: Operation): Stage | undefined {
    return this.byOp.get(op);
  }

  /** Stages whose current operation reads `producer`'s output directly. */
  readers(producer: Stage): Stage[] {
    return this.stages.filter((s) => inputOps(s.op).some((op) => this.byOp.get(op) === producer));
  }

  /** Whether `consumer` reads `producer`, directly or through other stages. */
  consumes(consumer: Stage, producer: Stage): boolean {
    const seen = new Set<Stage>();
    const go = (s: Stage): boolean => {
      if (seen.has(s)) return false;
      seen.add(s);
      return inputOps(s.op).some((op) => {
        const p = this.byOp.get(op);
        return p === producer || (p !== undefined && go(p));
      });
    };
    return go(consumer);
  }

  private uniqueName(base: string): string {
    const taken = new Set(this.stages.map((s) => s.name));
    let name = base, n = 1;
    while (taken.has(name)) name = `${base}_${n++}`;
    return checkName(name, "schedule");
  }

  private insertBefore(st: Stage, before: Stage): void {
    this.stages.splice(this.stages.indexOf(before), 0, st);
    this.byOp.set(st.op, st);
  }

  private replaceOp(st: Stage, op: ComputeOp, resetLoops: boolean): void {
    if (resetLoops) st.resetOp(op);
    else st.op = op;
    this.byOp.set(op, st);
  }

  private checkScope(prim: string, scope: unknown): Scope {
    if (!SCOPES.includes(scope as Scope)) {
      throw new TesseraError(
        `${prim}: scope ${JSON.stringify(scope)} is not one of ${SCOPES.join(", ")}`,
      );
    }
    return scope as Scope;
  }

  /** Adds a stage copying `tensor` into `scope`, and makes `readers` read the copy. */
  cacheRead(tensor: Tensor, scope: Scope, readers: Array<Tensor | Stage>): Tensor {
    const where = `cacheRead(${tensor?.name ?? String(tensor)})`;
    const producer = this.stage(tensor);
    this.checkScope(where, scope);
    if (!Array.isArray(readers) || readers.length === 0) {
      throw new TesseraError(`${where}: give the reading stages as a non-empty array`);
    }
    const readerStages = readers.map((r) => (r instanceof Stage ? r : this.stage(r)));
    for (const r of readerStages) {
      if (!inputOps(r.op).some((op) => this.byOp.get(op) === producer)) {
        throw new TesseraError(`${where}: stage '${r.name}' does not read '${producer.name}'`);
      }
    }
    const src = producer.op.output;
    const name = this.uniqueName(`${producer.name}_${scope}`);
    const axis = src.shape.map((d, i) =>
      new IterVar(`ax${i}`, { min: intConst(0), extent: d }, "data")
    );
    const copy = new ComputeOp(name, axis, [], new TensorRead(src, axis));
    const st = new Stage(this, copy, copy, false);
    st.scope = scope;
    st.scopeExplicit = true;
    this.stages.splice(this.stages.indexOf(producer) + 1, 0, st);
    this.byOp.set(copy, st);
    const cacheT = tensorOf(copy);
    for (const r of readerStages) {
      const op = r.op as ComputeOp;
      const newBody = rewriteExpr(
        op.body,
        (e) =>
          e.kind === "tensorRead" && this.byOp.get((e.tensor as Tensor).op) === producer
            ? new TensorRead(cacheT, e.indices)
            : e,
      );
      this.replaceOp(r, new ComputeOp(op.name, op.axis, op.reduceAxis, newBody, op.tag), false);
    }
    return cacheT;
  }

  /** Computes `tensor` into a `scope` buffer first; its stage becomes a copy out of it. */
  cacheWrite(tensor: Tensor, scope: Scope): Tensor {
    const where = `cacheWrite(${tensor?.name ?? String(tensor)})`;
    const st = this.stage(tensor);
    this.checkScope(where, scope);
    if (st.op.kind !== "compute") throw new TesseraError(`${where}: '${st.name}' is a placeholder`);
    if (st.relations.length > 0 || st.attrs.size > 0) {
      throw new TesseraError(
        `${where}: call cacheWrite before splitting or annotating '${st.name}'; it replaces the stage's loops`,
      );
    }
    const op = st.op;
    const map = new Map<Var, Expr>();
    const axis = op.axis.map((a) => fresh(a, map));
    const reduceAxis = op.reduceAxis.map((a) => fresh(a, map));
    const name = this.uniqueName(`${op.name}_${scope}`);
    const inner = new ComputeOp(
      name,
      axis,
      reduceAxis,
      substituteBody(op.body, map, reduceAxis),
      op.tag,
    );
    const cst = new Stage(this, inner, inner, false);
    cst.scope = scope;
    cst.scopeExplicit = true;
    this.insertBefore(cst, st);
    const outAxis = op.axis.map((a) => new IterVar(a.name, a.dom, "data"));
    this.replaceOp(
      st,
      new ComputeOp(op.name, outAxis, [], new TensorRead(tensorOf(inner), outAxis), op.tag),
      true,
    );
    return tensorOf(inner);
  }

  /**
   * Factors a reduction over the loop `axis` (a reduction loop of the stage) into a new stage
   * `T_rf` with that loop as a data dimension at `factorAxis`, reducing over the other
   * reduction loops; the stage then reduces `T_rf` over the factored dimension.
   */
  rfactor(tensor: Tensor, axis: IterVar, factorAxis = 0): Tensor {
    const st = this.stage(tensor);
    const where = `rfactor(stage '${st.name}', axis '${axis?.name ?? String(axis)}')`;
    st.leaf("rfactor", axis);
    const op = st.op as ComputeOp;
    if (op.body.kind !== "reduce" || axis.iterType !== "reduce") {
      throw new TesseraError(`${where}: rfactor takes a reduction loop of a reduction stage`);
    }
    if (!Number.isInteger(factorAxis) || factorAxis < 0 || factorAxis > op.axis.length) {
      throw new TesseraError(`${where}: factorAxis must be an integer in [0, ${op.axis.length}]`);
    }
    const reduceRoots = new Set<IterVar>(op.reduceAxis);
    const involved = (v: IterVar) => v.iterType === "reduce";
    for (const r of st.relations) {
      const vars = r.kind === "split" ? [r.parent] : [r.outer, r.inner];
      if (!vars.some(involved)) continue;
      if (vars.some((v) => !involved(v))) {
        throw new TesseraError(`${where}: reduction and data loops are mixed`);
      }
    }
    const rootExt = new Map<IterVar, Expr>();
    for (const a of [...op.axis, ...op.reduceAxis]) rootExt.set(a, a.dom!.extent);
    const ext = passDownExtents(st.relations, rootExt);
    const reduceLeaves = st.leafIterVars.filter(involved);
    // New loop variables of the factored stage: the factored loop becomes a data axis.
    const map = new Map<Var, Expr>();
    const dataAxis = op.axis.map((a) => fresh(a, map));
    const factored = new IterVar(axis.name, { min: intConst(0), extent: ext.get(axis)! }, "data");
    const otherReduce = reduceLeaves.filter((v) => v !== axis).map((v) =>
      new IterVar(v.name, { min: intConst(0), extent: ext.get(v)! }, "reduce")
    );
    const leafValue = new Map<IterVar, Expr>([[axis, factored]]);
    reduceLeaves.filter((v) => v !== axis).forEach((v, i) => leafValue.set(v, otherReduce[i]));
    const offsets = passUpOffsets(
      st.relations.filter((r) => r.kind === "split" ? involved(r.parent) : involved(r.outer)),
      leafValue,
      ext,
    );
    let cond: Expr = substitute(op.body.condition, map);
    for (const k of reduceRoots) {
      const v = binary("add", k.dom!.min, offsets.get(k)!);
      map.set(k, v);
    }
    // Non-dividing splits of reduction loops would double count: guard every split parent.
    for (const r of st.relations) {
      if (r.kind === "split" && involved(r.parent)) {
        cond = logical("and", cond, compare("lt", offsets.get(r.parent)!, ext.get(r.parent)!));
      }
    }
    const src = substitute(op.body.source, map);
    cond = substitute(cond, map);
    const rfAxis = [...dataAxis];
    rfAxis.splice(factorAxis, 0, factored);
    const rfName = this.uniqueName(`${op.name}_rf`);
    const combiner = op.body.combiner;
    const rfBody = otherReduce.length > 0
      ? new Reduce(combiner, src, otherReduce, cond)
      : select(cond, src, combiner.identity);
    const rf = new ComputeOp(rfName, rfAxis, otherReduce, rfBody, op.tag);
    const rfStage = new Stage(this, rf, rf, false);
    this.insertBefore(rfStage, st);
    // The stage now reduces the factored dimension.
    const outAxis = op.axis.map((a) => new IterVar(a.name, a.dom, "data"));
    const k = new IterVar(axis.name, factored.dom, "reduce");
    const idx: Expr[] = [...outAxis];
    idx.splice(factorAxis, 0, k);
    const finalBody = new Reduce(
      combiner,
      new TensorRead(tensorOf(rf), idx),
      [k],
      constOf(true, "bool"),
    );
    this.replaceOp(st, new ComputeOp(op.name, outAxis, [k], finalBody, op.tag), true);
    return tensorOf(rf);
  }

  toString(): string {
    return this.stages.map(String).join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return scheduleDisplayHook.bundle(this);
  }
}

/** Set by lib/display: a schedule's Jupyter MIME bundle, so that core never imports Jupyter code. */
export const scheduleDisplayHook: { bundle: (s: Schedule) => Record<string, unknown> } = {
  bundle: (s) => ({ "text/plain": String(s) }),
};

function fresh(a: IterVar, map: Map<Var, Expr>): IterVar {
  const v = new IterVar(a.name, a.dom, a.iterType);
  map.set(a, v);
  return v;
}

function substituteBody(body: Expr, map: Map<Var, Expr>, reduceAxis: IterVar[]): Expr {
  if (body.kind !== "reduce") return substitute(body, map);
  return new Reduce(
    body.combiner,
    substitute(body.source, map),
    reduceAxis,
    substitute(body.condition, map),
  );
}

export function createSchedule(outputs: Tensor | Tensor[]): Schedule {
  return new Schedule(outputs);
}
