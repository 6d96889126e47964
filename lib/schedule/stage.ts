/**
 * A stage: one operation of the schedule and the decisions about how to run it — its loop
 * variables after splits and fuses, their order, their kinds (unrolled, vectorized,
 * parallel, bound to a GPU thread), where it is attached (root, inlined, or inside a loop of
 * a consumer) and its buffer's memory scope. Each primitive checks its arguments and says
 * what is allowed when they are wrong; primitives that return nothing else return the stage
 * so calls chain.
 */
import { innerReductions } from "../te/compute.ts";
import { z } from "zod";
import { simplify } from "../arith/simplify.ts";
import { TesseraError } from "../error.ts";
import { warn } from "../warn.ts";
import { type Expr, type ExprLike, isExpr, toExpr } from "../ir/expr.ts";
import type { ForKind } from "../ir/stmt.ts";
import { IterVar, type Operation, type Tensor } from "../te/tensor.ts";
import type { Relation } from "./relations.ts";
import type { Schedule } from "./schedule.ts";

export type Scope = "global" | "shared" | "local";
export const SCOPES: readonly Scope[] = ["global", "shared", "local"];
export const THREAD_TAGS = [
  "blockIdx.x",
  "blockIdx.y",
  "blockIdx.z",
  "threadIdx.x",
  "threadIdx.y",
  "threadIdx.z",
] as const;
export type ThreadTag = typeof THREAD_TAGS[number];

/** The pragma keys `pragma` accepts, with what each does (lib/lower/pragmaUnroll.ts). */
export const PRAGMA_KEYS: Readonly<Record<string, string>> = {
  auto_unroll_max_step:
    "unroll each serial loop of constant extent inside this one, this one included, whose unrolled steps (its inner loops' counted) are at most the value",
};

export interface IterAttr {
  forKind: ForKind;
  threadTag: ThreadTag | "vthread" | null;
  pragmas: Array<[string, string | number]>;
}

export type Attach =
  | { readonly type: "root" }
  | { readonly type: "inline" }
  | { readonly type: "scope"; readonly stage: Stage; readonly axis: IterVar };

/** `at`: values of outer loops (by name) picking the tile; `sizes`: values of symbolic sizes. */
export interface ShowOptions {
  at?: Record<string, number>;
  sizes?: Record<string, number>;
}

/** Set by lib/display: a stage's bundle and diagram, so that core never imports Jupyter code. */
export const stageDisplayHook: {
  bundle: (st: Stage) => Record<string, unknown>;
  show: (st: Stage, opts: ShowOptions) => object;
} = {
  bundle: (st) => ({ "text/plain": String(st) }),
  show: (st) => {
    throw new TesseraError(`show(stage '${st.name}'): import mod.ts, which installs lib/display`);
  },
};

const factorSchema = z.union([
  z.object({ factor: z.union([z.number().int().positive(), z.custom<Expr>(isExpr)]) }).strict(),
  z.object({ nparts: z.union([z.number().int().positive(), z.custom<Expr>(isExpr)]) }).strict(),
]);

export class Stage {
  /** All loop variables the stage has had: roots, then everything splits and fuses made. */
  readonly allIterVars: IterVar[];
  leafIterVars: IterVar[];
  relations: Relation[] = [];
  readonly attrs = new Map<IterVar, IterAttr>();
  attach: Attach = { type: "root" };
  scope: Scope = "global";
  /** Whether the user (setScope, cacheRead, cacheWrite) chose the scope; else inferred. */
  scopeExplicit = false;
  storePredicate: Expr | null = null;
  /** Whether the stage's buffer ping-pongs between two copies (doubleBuffer). */
  doubleBuffered = false;
  readonly storageAligns = new Map<IterVar, { factor: number; offset: number }>();
  /** Loop variables of operations that cacheWrite or rfactor replaced. */
  private readonly retired = new Set<IterVar>();

  constructor(
    readonly schedule: Schedule,
    public op: Operation,
    readonly origOp: Operation,
    readonly isOutput: boolean,
  ) {
    this.allIterVars = op.kind === "compute" ? [...op.axis, ...op.reduceAxis] : [];
    this.leafIterVars = [...this.allIterVars];
  }

  get name(): string {
    return this.op.name;
  }

  /** Resets the loop structure after the operation was replaced (cacheWrite, rfactor). */
  resetOp(op: Operation): void {
    const kept = op.kind === "compute" ? [...op.axis, ...op.reduceAxis] : [];
    this.allIterVars.forEach((v) => kept.includes(v) || this.retired.add(v));
    this.op = op;
    this.allIterVars.length = 0;
    this.allIterVars.push(...kept);
    this.leafIterVars = [...this.allIterVars];
    this.relations = [];
    this.attrs.clear();
  }

  private where(prim: string, axis?: IterVar): string {
    return `${prim}(stage '${this.name}'${axis ? `, axis '${axis.name}'` : ""})`;
  }

  private computeOnly(prim: string): void {
    if (this.op.kind !== "compute") {
      throw new TesseraError(
        `${this.where(prim)}: '${this.name}' is ${
          this.op.kind === "scan"
            ? "a scan; schedule its update stage's axes (the scan axis stays a serial loop)"
            : this.op.kind === "extern"
            ? "an extern call; its loops are inside the C function, which computes its outputs " +
              "whole at the root: schedule the stages around it"
            : "a placeholder (an input); only computes can be scheduled"
        }`,
      );
    }
  }

  /** Checks that `axis` is a current loop of this stage; explains what it is otherwise. */
  leaf(prim: string, axis: unknown): IterVar {
    this.computeOnly(prim);
    if (!(axis instanceof IterVar)) {
      throw new TesseraError(
        `${
          this.where(prim)
        }: expected an axis of this stage (e.g. s.stage(T).op.axis[0] or one returned by split/fuse), got ${
          String(axis)
        }`,
      );
    }
    if (this.leafIterVars.includes(axis)) return axis;
    const owner = this.schedule.stages.find((s) => s !== this && s.allIterVars.includes(axis));
    if (owner) {
      throw new TesseraError(
        `${
          this.where(prim, axis)
        }: the axis belongs to stage '${owner.name}', not '${this.name}'; use s.stage(${this.name}).op.axis or the axes its own primitives returned`,
      );
    }
    if (this.retired.has(axis)) {
      throw new TesseraError(
        `${
          this.where(prim, axis)
        }: the axis is from the operation that cacheWrite/rfactor replaced; use s.stage(${this.name}).op.axis (loops now: ${this.leafNames()})`,
      );
    }
    const rel = this.relations.find((r) =>
      r.kind === "split" ? r.parent === axis : r.outer === axis || r.inner === axis
    );
    if (rel) {
      const into = rel.kind === "split"
        ? `split into '${rel.outer.name}' and '${rel.inner.name}'`
        : `fused into '${rel.fused.name}'`;
      throw new TesseraError(
        `${
          this.where(prim, axis)
        }: the axis was ${into} and is no longer a loop; use the new axes (loops now: ${this.leafNames()})`,
      );
    }
    throw new TesseraError(
      `${
        this.where(prim, axis)
      }: the axis is not a loop of this stage (loops: ${this.leafNames()})`,
    );
  }

  leafNames(): string {
    return this.leafIterVars.map((v) => v.name).join(", ");
  }

  split(axis: IterVar, by: { factor: ExprLike } | { nparts: ExprLike }): [IterVar, IterVar] {
    const parent = this.leaf("split", axis);
    const p = factorSchema.safeParse(by);
    if (!p.success) {
      throw new TesseraError(
        `${
          this.where("split", parent)
        }: expected { factor: n } or { nparts: n } with n a positive integer, got ${
          JSON.stringify(by)
        }`,
      );
    }
    const what = "factor" in p.data ? "factor" : "nparts";
    const e = simplify(
      toExpr(("factor" in p.data ? p.data.factor : p.data.nparts) as ExprLike, "int32"),
    );
    if (e.dtype !== "int32") {
      throw new TesseraError(`${this.where("split", parent)}: ${what} must be int32`);
    }
    // Zero or fewer parts would silently compute nothing: refuse a constant now, and check a
    // symbolic one at every call, before anything runs.
    if (e.kind === "const" && e.value < 1) {
      throw new TesseraError(
        `${this.where("split", parent)}: ${what} is ${e.value}; it must be a positive integer`,
      );
    }
    if (e.kind !== "const") {
      this.schedule.requirements.push({
        value: e,
        what: `${this.where("split", parent)} ${what} ${String(e)}`,
      });
    }
    const outer = new IterVar(`${parent.name}_outer`, null, parent.iterType);
    const inner = new IterVar(`${parent.name}_inner`, null, parent.iterType);
    this.relations.push({
      kind: "split",
      parent,
      outer,
      inner,
      factor: "factor" in p.data ? e : null,
      nparts: "nparts" in p.data ? e : null,
    });
    this.allIterVars.push(outer, inner);
    const at = this.leafIterVars.indexOf(parent);
    this.leafIterVars.splice(at, 1, outer, inner);
    return [outer, inner];
  }

  tile(
    x: IterVar,
    y: IterVar,
    xFactor: ExprLike,
    yFactor: ExprLike,
  ): [IterVar, IterVar, IterVar, IterVar] {
    const [xo, xi] = this.split(x, { factor: xFactor });
    const [yo, yi] = this.split(y, { factor: yFactor });
    this.reorder(xo, yo, xi, yi);
    return [xo, yo, xi, yi];
  }

  /** Fuses consecutive loops, outermost first, into one. */
  fuse(...axes: IterVar[]): IterVar {
    if (axes.length === 0) throw new TesseraError(`${this.where("fuse")}: give at least one axis`);
    const list = axes.map((a) => this.leaf("fuse", a));
    const pos = list.map((a) => this.leafIterVars.indexOf(a));
    for (let i = 1; i < pos.length; i++) {
      if (pos[i] !== pos[i - 1] + 1) {
        throw new TesseraError(
          `${
            this.where("fuse", list[i])
          }: fused axes must be adjacent loops given outermost first; loops are: ${this.leafNames()}`,
        );
      }
      if (list[i].iterType !== list[0].iterType) {
        throw new TesseraError(
          `${this.where("fuse", list[i])}: cannot fuse a reduction axis with a data axis`,
        );
      }
    }
    let acc = list[0];
    for (let i = 1; i < list.length; i++) {
      const fused = new IterVar(`${acc.name}_${list[i].name}_fused`, null, acc.iterType);
      this.relations.push({ kind: "fuse", outer: acc, inner: list[i], fused });
      this.allIterVars.push(fused);
      const at = this.leafIterVars.indexOf(acc);
      this.leafIterVars.splice(at, 2, fused);
      acc = fused;
    }
    return acc;
  }

  /** Puts the given loops in this order, in the positions they occupy now. */
  reorder(...axes: IterVar[]): this {
    const list = axes.map((a) => this.leaf("reorder", a));
    if (new Set(list).size !== list.length) {
      throw new TesseraError(`${this.where("reorder")}: an axis is listed twice`);
    }
    const pos = list.map((a) => this.leafIterVars.indexOf(a)).sort((a, b) => a - b);
    // Halide lists loops innermost first, so its reorder(y, x) ported as is keeps the order.
    if (list.length > 1 && pos.every((p, i) => this.leafIterVars[p] === list[i])) {
      warn(
        `${this.where("reorder")}: ${
          list.map((a) => a.name).join(", ")
        } is already the loop order, so this reorder changes nothing; Tessera, like TVM, lists loops outermost first (Halide lists them innermost first: its reorder(${
          list.map((a) => a.name).join(", ")
        }) is reorder(${[...list].reverse().map((a) => a.name).join(", ")}) here)`,
      );
    }
    pos.forEach((p, i) => (this.leafIterVars[p] = list[i]));
    return this;
  }

  private attr(axis: IterVar): IterAttr {
    let a = this.attrs.get(axis);
    if (!a) this.attrs.set(axis, a = { forKind: "serial", threadTag: null, pragmas: [] });
    return a;
  }

  private setKind(prim: string, axis: IterVar, kind: ForKind): this {
    const v = this.leaf(prim, axis);
    const a = this.attr(v);
    if (a.forKind !== "serial" && a.forKind !== kind) {
      throw new TesseraError(`${this.where(prim, v)}: the loop is already ${a.forKind}`);
    }
    a.forKind = kind;
    return this;
  }

  unroll(axis: IterVar): this {
    return this.setKind("unroll", axis, "unrolled");
  }

  vectorize(axis: IterVar): this {
    const v = this.leaf("vectorize", axis);
    if (v.iterType === "reduce") {
      throw new TesseraError(
        `${
          this.where("vectorize", v)
        }: a reduction axis cannot be vectorized (lanes would race on the accumulator); vectorize a data axis, or rfactor first`,
      );
    }
    return this.setKind("vectorize", v, "vectorized");
  }

  parallel(axis: IterVar): this {
    const v = this.leaf("parallel", axis);
    if (v.iterType === "reduce") {
      throw new TesseraError(
        `${
          this.where("parallel", v)
        }: a reduction axis cannot run in parallel (threads would race on the accumulator); parallelize a data axis, or rfactor first`,
      );
    }
    return this.setKind("parallel", v, "parallel");
  }

  bind(axis: IterVar, tag: ThreadTag | "vthread"): this {
    const v = this.leaf("bind", axis);
    if (tag === "vthread") {
      // Virtual threads (lib/lower/gpu/injectVirtualThread.ts): several may be bound.
      if (v.iterType === "reduce") {
        throw new TesseraError(
          `${
            this.where("bind", v)
          }: a reduction axis cannot be a virtual thread (each would hold its own partial); bind a data axis`,
        );
      }
      this.attr(v).threadTag = "vthread";
      return this;
    }
    if (!THREAD_TAGS.includes(tag)) {
      throw new TesseraError(
        `${this.where("bind", v)}: unknown thread tag ${JSON.stringify(tag)}; use one of ${
          THREAD_TAGS.join(", ")
        }`,
      );
    }
    if (v.iterType === "reduce" && !tag.startsWith("threadIdx")) {
      throw new TesseraError(
        `${
          this.where("bind", v)
        }: a reduction axis can be bound to threadIdx.* (the threads of one workgroup combine their partials), not to ${tag} (workgroups cannot wait for each other); rfactor it and bind the factored data axis to ${tag}`,
      );
    }
    for (const [other, a] of this.attrs) {
      if (other !== v && a.threadTag === tag && this.leafIterVars.includes(other)) {
        throw new TesseraError(
          `${this.where("bind", v)}: '${tag}' is already bound to '${other.name}'`,
        );
      }
    }
    this.setKind("bind", v, "threadBinding");
    this.attr(v).threadTag = tag;
    return this;
  }

  pragma(axis: IterVar, key: string, value: string | number = 1): this {
    const v = this.leaf("pragma", axis);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new TesseraError(
        `${this.where("pragma", v)}: pragma key ${JSON.stringify(key)} must be an identifier`,
      );
    }
    // A key no pass reads would be ignored by every target: refuse it and say what exists.
    if (!Object.hasOwn(PRAGMA_KEYS, key)) {
      throw new TesseraError(
        `${this.where("pragma", v)}: unknown pragma key ${JSON.stringify(key)}; known keys: ${
          Object.entries(PRAGMA_KEYS).map(([k, what]) => `${k} (${what})`).join("; ")
        }`,
      );
    }
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
      throw new TesseraError(
        `${this.where("pragma", v)}: pragma ${key} takes an integer >= 0, got ${
          JSON.stringify(value)
        }`,
      );
    }
    this.attr(v).pragmas.push([key, value]);
    return this;
  }

  /** Pads the row pitch of `axis`'s dimension in this stage's buffer to `factor*k + offset`. */
  storageAlign(axis: IterVar, factor: number, offset: number): this {
    this.computeOnly("storageAlign");
    const op = this.op as { axis: IterVar[] };
    if (!op.axis.includes(axis)) {
      throw new TesseraError(
        `${
          this.where("storageAlign", axis)
        }: storageAlign takes one of the stage's own axes (op.axis), not a split or reduce axis`,
      );
    }
    if (
      !Number.isInteger(factor) || factor <= 0 || !Number.isInteger(offset) || offset < 0 ||
      offset >= factor
    ) {
      throw new TesseraError(
        `${
          this.where("storageAlign", axis)
        }: need an integer factor > 0 and 0 <= offset < factor, got factor ${factor}, offset ${offset}`,
      );
    }
    this.storageAligns.set(axis, { factor, offset });
    return this;
  }

  computeAt(parent: Stage | Tensor, axis: IterVar): this {
    const p = parent instanceof Stage ? parent : this.schedule.stage(parent);
    const where = `computeAt(stage '${this.name}', at '${p.name}'.${axis?.name ?? String(axis)})`;
    this.computeOnly("computeAt");
    if (p === this) throw new TesseraError(`${where}: a stage cannot be computed at its own loop`);
    if (this.isOutput) {
      throw new TesseraError(
        `${where}: '${this.name}' is an output of the schedule; outputs are computed at the root`,
      );
    }
    p.leaf("computeAt", axis);
    if (p.attach.type === "inline") {
      throw new TesseraError(`${where}: '${p.name}' is inlined and has no loops`);
    }
    if (!this.schedule.consumes(p, this)) {
      throw new TesseraError(
        `${where}: '${p.name}' does not read '${this.name}', so its loops cannot hold it; attach a stage at a consumer's loop`,
      );
    }
    this.attach = { type: "scope", stage: p, axis };
    return this;
  }

  computeInline(): this {
    this.computeOnly("computeInline");
    const where = `computeInline(stage '${this.name}')`;
    if (this.isOutput) {
      throw new TesseraError(`${where}: an output of the schedule cannot be inlined`);
    }
    if ((this.op as { reduceAxis: IterVar[] }).reduceAxis.length > 0) {
      throw new TesseraError(
        `${where}: a reduction cannot be inlined into its consumers; use computeAt`,
      );
    }
    for (const s of this.schedule.stages) {
      if (s.attach.type === "scope" && s.attach.stage === this) {
        throw new TesseraError(`${where}: stage '${s.name}' is computed at one of its loops`);
      }
    }
    this.attach = { type: "inline" };
    return this;
  }

  computeRoot(): this {
    this.computeOnly("computeRoot");
    this.attach = { type: "root" };
    return this;
  }

  /**
   * Only iterations where `cond` holds store (TVM's set_store_predicate). On a reduction
   * across threads it says which thread stores the result (default: reduce thread index 0).
   */
  setStorePredicate(cond: Expr): this {
    this.computeOnly("setStorePredicate");
    if (!isExpr(cond) || cond.dtype !== "bool") {
      throw new TesseraError(
        `${
          this.where("setStorePredicate")
        }: expected a bool expression of the stage's loops (e.g. te.eq(k, 0)), got ${String(cond)}`,
      );
    }
    this.storePredicate = cond;
    return this;
  }

  /**
   * Allocates this stage's buffer twice and ping-pongs between the copies (TVM's
   * double_buffer): attached inside a serial loop of a consumer, the tile of the next
   * iteration is loaded before this iteration's tile is used, so the load overlaps the
   * compute (lib/lower/gpu/injectDoubleBuffer.ts). Where it cannot apply (the stage is not
   * attached inside a serial loop) lowering says so.
   */
  doubleBuffer(): this {
    this.computeOnly("doubleBuffer");
    this.doubleBuffered = true;
    return this;
  }

  setScope(scope: Scope): this {
    if (!SCOPES.includes(scope)) {
      throw new TesseraError(
        `setScope(stage '${this.name}'): scope must be one of ${SCOPES.join(", ")}`,
      );
    }
    this.scope = scope;
    this.scopeExplicit = true;
    return this;
  }

  cacheRead(tensor: Tensor, scope: Scope, readers: Array<Tensor | Stage>): Tensor {
    return this.schedule.cacheRead(tensor, scope, readers);
  }

  cacheWrite(scope: Scope): Tensor {
    return this.schedule.cacheWrite(this.op.output, scope);
  }

  rfactor(axis: IterVar, factorAxis = 0): Tensor {
    return this.schedule.rfactor(this.op.output, axis, factorAxis);
  }

  pack(axis: IterVar, factor: number): Tensor[] {
    return this.schedule.pack(this.op.output, axis, factor);
  }

  /**
   * The stage of the `k`-th reduction that `te.compute` lifted out of this stage's definition
   * (`te.sum(...).mul(scale)`; `te.innerReductions(T)` lists their tensors), to schedule it.
   */
  inner(k = 0): Stage {
    const lifted = this.origOp.kind === "compute" ? innerReductions(this.origOp.output) : [];
    if (!Number.isInteger(k) || k < 0 || k >= lifted.length) {
      throw new TesseraError(
        `inner(stage '${this.name}', ${k}): the stage has ${lifted.length} inline reduction(s)` +
          (lifted.length > 0 ? `; k must be in [0, ${lifted.length - 1}]` : ""),
      );
    }
    return this.schedule.stage(lifted[k]);
  }

  /** The iteration-space diagram: tiles, the one `at` selects, and what it reads. */
  show(opts: ShowOptions = {}): object {
    return stageDisplayHook.show(this, opts);
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return stageDisplayHook.bundle(this);
  }

  toString(): string {
    const at = this.attach.type === "scope"
      ? `computeAt ${this.attach.stage.name}.${this.attach.axis.name}`
      : this.attach.type;
    return `stage ${this.name} [${at}, ${this.scope}]: ${
      this.leafIterVars.map((v) => {
        const a = this.attrs.get(v);
        return a && a.forKind !== "serial" ? `${v.name}:${a.threadTag ?? a.forKind}` : v.name;
      }).join(", ")
    }`;
  }
}
