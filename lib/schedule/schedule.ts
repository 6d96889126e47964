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
import { freeVars, rewriteExpr, substitute, walkExpr } from "../ir/visit.ts";
import {
  checkName,
  ComputeOp,
  inputOps,
  isTensor,
  IterVar,
  type Operation,
  PlaceholderOp,
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

  constructor(outputs: Tensor | Operation | Array<Tensor | Operation>) {
    const list = Array.isArray(outputs) ? outputs : [outputs];
    // TVM's spelling passes operations (`create_schedule(C.op)`): take those too.
    const bad = list.findIndex((t) => !isTensor(t) && !isComputeOp(t));
    if (list.length === 0 || bad >= 0) {
      throw new TesseraError(
        `te.createSchedule: expects the output tensor(s) to compute (C or [C, D]; C.op works too), got ${
          list.length === 0 ? "an empty array" : describe(list[bad])
        }`,
      );
    }
    this.outputs = list.map((t) => (isTensor(t) ? t.op : t));
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
      if (r.op.kind === "scan") {
        throw new TesseraError(
          `${where}: stage '${r.name}' is a scan, which reads through its init and update ` +
            `stages; name the one that reads '${producer.name}'`,
        );
      }
      if (!inputOps(r.op).some((op) => this.byOp.get(op) === producer)) {
        throw new TesseraError(`${where}: stage '${r.name}' does not read '${producer.name}'`);
      }
      if (r.op.kind !== "compute") {
        throw new TesseraError(
          `${where}: stage '${r.name}' is ${
            r.op.kind === "extern" ? "an extern call, which reads its inputs whole" : "a scan"
          }; only compute stages read through a cache`,
        );
      }
    }
    // One output of a multi-output producer is copied; reads of the others stay.
    const src = producer.op.kind === "compute" || producer.op.kind === "extern"
      ? producer.op.outputs[tensor.valueIndex]
      : producer.op.output;
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
      const newBodies = op.bodies.map((body) =>
        rewriteExpr(
          body,
          (e) =>
            e.kind === "tensorRead" && this.byOp.get((e.tensor as Tensor).op) === producer &&
              (e.tensor as Tensor).valueIndex === tensor.valueIndex
              ? new TensorRead(cacheT, e.indices)
              : e,
        )
      );
      this.replaceOp(
        r,
        new ComputeOp(op.name, op.axis, op.reduceAxis, newBodies, op.tag, op.outputNames),
        false,
      );
    }
    return cacheT;
  }

  /** Computes `tensor` into a `scope` buffer first; its stage becomes a copy out of it. */
  cacheWrite(tensor: Tensor, scope: Scope): Tensor {
    const where = `cacheWrite(${tensor?.name ?? String(tensor)})`;
    const st = this.stage(tensor);
    this.checkScope(where, scope);
    if (st.op.kind !== "compute") {
      throw new TesseraError(`${where}: '${st.name}' is ${kindWords(st.op.kind)}, not a compute`);
    }
    if (st.relations.length > 0 || st.attrs.size > 0) {
      throw new TesseraError(
        `${where}: call cacheWrite before splitting or annotating '${st.name}'; it replaces the stage's loops`,
      );
    }
    // As in TVM, names the user already holds keep working: the stage's copy loop keeps the
    // original data axes (`C.op.axis`), and the cache keeps the original reduce axes, so
    // `s.stage(CL).split(k, ...)` takes the `k` the user defined.
    const op = st.op;
    const map = new Map<Var, Expr>();
    const axis = op.axis.map((a) => fresh(a, map));
    const name = this.uniqueName(`${op.name}_${scope}`);
    const inner = new ComputeOp(
      name,
      axis,
      op.reduceAxis,
      substituteBodies(op.bodies, map, op.reduceAxis),
      op.tag,
      op.numOutputs > 1 ? op.outputNames.map((n) => `${n}_${scope}`) : undefined,
    );
    const cst = new Stage(this, inner, inner, false);
    cst.scope = scope;
    cst.scopeExplicit = true;
    this.insertBefore(cst, st);
    // Each output becomes a copy of the matching output of the cache stage.
    const copies = inner.outputs.map((t) => new TensorRead(t, op.axis));
    this.replaceOp(st, new ComputeOp(op.name, op.axis, [], copies, op.tag, op.outputNames), true);
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
    const srcs = op.body.sources.map((x) => substitute(x, map));
    cond = substitute(cond, map);
    const rfAxis = [...dataAxis];
    rfAxis.splice(factorAxis, 0, factored);
    const rfName = this.uniqueName(`${op.name}_rf`);
    const combiner = op.body.combiner;
    // A tuple reduction (argmax) factors component by component, the components together.
    const rfBodies = srcs.map((src, c) =>
      otherReduce.length > 0
        ? new Reduce(combiner, src, otherReduce, cond, c, srcs)
        : select(cond, src, combiner.identity[c])
    );
    const many = op.numOutputs > 1;
    const rf = new ComputeOp(
      rfName,
      rfAxis,
      otherReduce,
      rfBodies,
      op.tag,
      many ? op.outputNames.map((n) => `${n}_rf`) : undefined,
    );
    const rfStage = new Stage(this, rf, rf, false);
    this.insertBefore(rfStage, st);
    // The stage now reduces the factored dimension; it keeps its data axes (as cacheWrite).
    const outAxis = op.axis;
    const k = new IterVar(axis.name, factored.dom, "reduce");
    const idx: Expr[] = [...outAxis];
    idx.splice(factorAxis, 0, k);
    const partials = rf.outputs.map((t) => new TensorRead(t, idx));
    const yes = constOf(true, "bool");
    const finalBodies = partials.map((x, c) => new Reduce(combiner, x, [k], yes, c, partials));
    this.replaceOp(
      st,
      new ComputeOp(op.name, outAxis, [k], finalBodies, op.tag, op.outputNames),
      true,
    );
    return tensorOf(rf);
  }

  /**
   * Computes `tensor` with its data axis `axis` in blocks of `factor` moved innermost (TVM's
   * NCHW[x]c: C[i, j] as C_blocked[i, j / f, j % f]), and makes the stage a copy of that back
   * to the original layout. Every tensor the stage reads with `axis` alone as one of its
   * indices (a weight's output channels, a matmul's columns) is read through a packed copy
   * with that dimension blocked the same way: W[k, c, y, x] as W_pack[k / f, c, y, x, k % f].
   * Returns the blocked tensor, then the packed copies (in reading order).
   */
  pack(tensor: Tensor, axis: IterVar, factor: number): Tensor[] {
    const st = this.stage(tensor);
    const where = `pack(${tensor?.name ?? String(tensor)}, axis '${axis?.name ?? String(axis)}')`;
    if (st.op.kind !== "compute" || st.op.numOutputs !== 1) {
      throw new TesseraError(
        `${where}: '${st.name}' is ${
          st.op.kind === "compute" ? "a tuple computation" : kindWords(st.op.kind)
        }; pack takes a compute stage with one output`,
      );
    }
    if (st.relations.length > 0 || st.attrs.size > 0 || st.op !== st.origOp) {
      throw new TesseraError(
        `${where}: call pack before splitting, annotating or caching '${st.name}'; it replaces the stage's loops`,
      );
    }
    const op = st.op;
    if (!(axis instanceof IterVar) || !op.axis.includes(axis)) {
      throw new TesseraError(
        `${where}: give one of the stage's data axes (${op.axis.map((a) => a.name).join(", ")})`,
      );
    }
    const extent = axis.dom!.extent;
    const ext = extent.kind === "const" ? Number(extent.value) : null;
    if (!Number.isInteger(factor) || factor < 1 || ext === null || ext % factor !== 0) {
      throw new TesseraError(
        `${where}: the factor must be a positive integer dividing the axis's constant extent (${
          ext ?? "symbolic"
        }), got ${String(factor)}`,
      );
    }
    // Tensors read with the axis alone as one index (the same one in every read), in order.
    const dims = new Map<Tensor, number | null>();
    for (const body of op.bodies) {
      walkExpr(body, (e) => {
        if (e.kind !== "tensorRead") return;
        const t = e.tensor as Tensor;
        const d = packedDim(t, e.indices, axis);
        const prev = dims.get(t);
        dims.set(t, d < 0 || (prev !== undefined && prev !== d) ? null : d);
      });
    }
    const co = new IterVar(`${axis.name}_outer`, {
      min: intConst(0),
      extent: intConst(ext / factor),
    }, "data");
    const ci = new IterVar(
      `${axis.name}_inner`,
      { min: intConst(0), extent: intConst(factor) },
      "data",
    );
    const packs = new Map<Tensor, Tensor>();
    for (const [t, d] of dims) {
      if (d === null) continue;
      const o = new IterVar("ax0", { min: intConst(0), extent: intConst(ext / factor) }, "data");
      const l = new IterVar(
        `ax${t.shape.length}`,
        { min: intConst(0), extent: intConst(factor) },
        "data",
      );
      const rest = t.shape.flatMap((n, k) =>
        k === d
          ? []
          : [new IterVar(`ax${k + (k < d ? 1 : 0)}`, { min: intConst(0), extent: n }, "data")]
      );
      const idx: Expr[] = [...rest];
      idx.splice(d, 0, binary("add", binary("mul", o, intConst(factor)), l));
      const copy = new ComputeOp(
        this.uniqueName(`${t.name}_pack`),
        [o, ...rest, l],
        [],
        new TensorRead(t, idx),
      );
      const cs = new Stage(this, copy, copy, false);
      this.stages.splice(this.stages.indexOf(this.stage(t)) + 1, 0, cs);
      this.byOp.set(copy, cs);
      packs.set(t, tensorOf(copy));
    }
    // The blocked computation: packed reads first (their indices still name the old axes),
    // then every axis renamed, and the blocked one as outer * factor + inner.
    const packed = op.bodies.map((body) =>
      rewriteExpr(body, (e) => {
        if (e.kind !== "tensorRead" || !packs.has(e.tensor as Tensor)) return e;
        const d = dims.get(e.tensor as Tensor)!;
        return new TensorRead(packs.get(e.tensor as Tensor)!, [
          co,
          ...e.indices.filter((_, k) => k !== d),
          ci,
        ]);
      })
    );
    const map = new Map<Var, Expr>();
    const axes = op.axis.map((a) => (a === axis ? co : fresh(a, map)));
    map.set(axis, binary("add", binary("mul", co, intConst(factor)), ci));
    const blocked = new ComputeOp(
      this.uniqueName(`${op.name}_blocked`),
      [...axes, ci],
      op.reduceAxis,
      substituteBodies(packed, map, op.reduceAxis),
      op.tag,
    );
    this.insertBefore(new Stage(this, blocked, blocked, false), st);
    const at = op.axis.indexOf(axis);
    const back = op.axis.map((a, k): Expr =>
      k === at ? binary("floordiv", a, intConst(factor)) : a
    );
    back.push(binary("floormod", axis, intConst(factor)));
    this.replaceOp(
      st,
      new ComputeOp(op.name, op.axis, [], [new TensorRead(tensorOf(blocked), back)], op.tag),
      true,
    );
    return [tensorOf(blocked), ...packs.values()];
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

/** `bodies` with `map` applied; a reduction (a tuple's components together) gets `reduceAxis`. */
function substituteBodies(bodies: Expr[], map: Map<Var, Expr>, reduceAxis: IterVar[]): Expr[] {
  const b0 = bodies[0];
  if (b0.kind !== "reduce") return bodies.map((b) => substitute(b, map));
  const sources = b0.sources.map((x) => substitute(x, map));
  const cond = substitute(b0.condition, map);
  return sources.map((x, c) => new Reduce(b0.combiner, x, reduceAxis, cond, c, sources));
}

/**
 * The dimension of `tensor` that a read at `indices` indexes by `axis` alone, where `pack`
 * can block it: the axis is that index and in no other, and the dimension is the axis's whole
 * constant extent. -1 when there is none.
 */
export function packedDim(tensor: Tensor, indices: readonly Expr[], axis: IterVar): number {
  const d = indices.findIndex((i) => i === axis);
  if (d < 0 || indices.some((i, k) => k !== d && freeVars(i).has(axis))) return -1;
  const size = tensor.shape[d], ext = axis.dom?.extent;
  return size.kind === "const" && ext?.kind === "const" && size.value === ext.value ? d : -1;
}

function isComputeOp(x: unknown): x is ComputeOp {
  return x instanceof ComputeOp;
}

function describe(x: unknown): string {
  if (x instanceof PlaceholderOp) return `the placeholder operation '${x.name}' (an input)`;
  if (Array.isArray(x)) return "a nested array";
  return typeof x === "object" && x !== null ? Object.prototype.toString.call(x) : String(x);
}

export function createSchedule(
  outputs: Tensor | Operation | Array<Tensor | Operation>,
): Schedule {
  return new Schedule(outputs);
}

/** How a message names a stage that is not a compute. */
export function kindWords(kind: Operation["kind"]): string {
  return {
    placeholder: "a placeholder (an input)",
    scan: "a scan",
    extern: "an extern call",
    compute: "a compute",
  }[kind];
}
