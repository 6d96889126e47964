/**
 * `te.lower`: a schedule becomes one `PrimFunc`. The steps are the classic ones — inline,
 * infer bounds, give each computed stage a buffer, build each root stage's loop nest with
 * attached stages spliced into their loops, then simplify. The arguments name the buffers the
 * caller passes (inputs and outputs, in order); every other stage gets an allocation in its
 * scope, at the function's top for root stages and inside the attach loop otherwise.
 */
import { simplify, simplifyStmt } from "../arith/simplify.ts";
import { TesseraError } from "../error.ts";
import {
  binary,
  Buffer,
  BufferLoad,
  type Expr,
  intConst,
  type TensorRead,
  type Var,
} from "../ir/expr.ts";
import { Allocate, PrimFunc, seq, type Stmt } from "../ir/stmt.ts";
import { freeVars, rewriteExpr, walkStmt } from "../ir/visit.ts";
import type { Schedule } from "../schedule/schedule.ts";
import type { Stage } from "../schedule/stage.ts";
import {
  checkName,
  type ComputeOp,
  isTensor,
  IterVar,
  type Operation,
  postOrder,
  type Tensor,
} from "../te/tensor.ts";
import { inferBounds, readsStage, type StageBounds } from "./bounds.ts";
import { checkBounds, checkReads } from "./checkBounds.ts";
import { dropProvenChecks } from "./dropProvenChecks.ts";
import { inlineBodies } from "./inline.ts";
import { partitionLoops } from "./partition.ts";
import { markStage } from "./profileMarks.ts";
import { inferScope } from "./gpu/inferScope.ts";
import { injectVirtualThreads } from "./gpu/injectVirtualThread.ts";
import { stageNest } from "./stageNest.ts";

export interface LowerOptions {
  name?: string;
  /** Mark each root stage for the profiler (lib/lower/profileMarks.ts). */
  profile?: boolean;
}

export function lower(s: Schedule, args: Tensor[], opts: LowerOptions = {}): PrimFunc {
  const name = checkName(opts.name ?? "main", "te.lower");
  if (!Array.isArray(args) || !args.every(isTensor)) {
    throw new TesseraError(
      "te.lower: args must be an array of tensors (inputs and outputs, in call order)",
    );
  }
  if (new Set(args.map((t) => t.op)).size !== args.length) {
    throw new TesseraError("te.lower: a tensor appears twice in args");
  }
  // An input the program never reads is still a parameter (the caller passes it).
  const unread = args.filter((t) => !s.stageOfOp(t.op));
  for (const t of unread) {
    if (t.op.kind !== "placeholder") {
      throw new TesseraError(`te.lower: '${t.name}' in args is not computed by this schedule`);
    }
  }
  const argStages = args.filter((t) => s.stageOfOp(t.op)).map((t) => s.stage(t));
  for (const st of s.stages) {
    if (st.isOutput && !argStages.includes(st)) {
      throw new TesseraError(
        `te.lower: output '${st.name}' is missing from args; add it where the caller passes it`,
      );
    }
  }
  // The program as written is judged: cacheRead, cacheWrite and rfactor rewrite what stages
  // read, and an error should name the program's tensors, not copies the schedule made.
  for (const op of postOrder(s.outputs)) if (op.kind === "compute") checkBounds(op);
  const bodies = inlineBodies(s);
  for (const st of s.stages) {
    if (st.op.kind !== "placeholder" || argStages.includes(st)) continue;
    const read = [...bodies].some(([c, b]) => c.attach.type !== "inline" && readsStage(s, b, st));
    if (read) {
      throw new TesseraError(
        `te.lower: input '${st.name}' is read but not in args; add it to args`,
      );
    }
  }
  for (const st of argStages) {
    if (st.attach.type !== "root") {
      throw new TesseraError(
        `te.lower: '${st.name}' is passed as an argument, so it must be computed at the root (it is ${
          st.attach.type === "inline" ? "inlined" : "attached to a loop"
        })`,
      );
    }
  }
  const bounds = inferBounds(s, bodies);
  // Reads of attached producers are checked against the producer's declared shape where it
  // is not proven: its buffer holds only the region inferred from these very reads.
  for (const [st, b] of bodies) {
    const attached = (t: TensorRead) =>
      s.stageOfOp(t.tensor.op as Operation)?.attach.type === "scope";
    bodies.set(st, checkReads(st.op as ComputeOp, b, attached));
  }

  // One buffer per stage that holds data.
  const buffers = new Map<Stage, Buffer>();
  const params = args.map((arg) => {
    const st = s.stageOfOp(arg.op);
    const t = st ? st.op.output : arg;
    const buf = new Buffer(t.name, t.dtype, [...t.shape], "global");
    if (st) buffers.set(st, buf);
    return buf;
  });
  for (const [st, b] of bounds) {
    if (!buffers.has(st)) buffers.set(st, allocBuffer(st, b));
  }

  const toLoads = (e: Expr): Expr =>
    rewriteExpr(e, (x) => {
      if (x.kind !== "tensorRead") return x;
      const p = s.stageOfOp((x.tensor as Tensor).op)!;
      const min = bounds.get(p)?.regionMin;
      // A region min may itself read a tensor (a gather attached at the reader's loop).
      const idx = min ? x.indices.map((i, d) => binary("sub", i, toLoads(min[d]))) : x.indices;
      return new BufferLoad(buffers.get(p)!, idx);
    });

  const build = (st: Stage): Stmt =>
    stageNest(st, bodies.get(st)!, bounds.get(st)!, buffers.get(st)!, {
      toLoads,
      atLoop: (v: IterVar) => {
        const here = s.stages.filter((a) =>
          a.attach.type === "scope" && a.attach.stage === st && a.attach.axis === v
        );
        return {
          pre: here.map(build),
          wrap: (body: Stmt) =>
            here.reduceRight(
              (acc, a) => new Allocate(buffers.get(a)!, acc, inferScope(a).note),
              body,
            ),
        };
      },
    });

  const roots = s.stages.filter((st) => st.op.kind === "compute" && st.attach.type === "root");
  let body: Stmt = seq(roots.map((st) => opts.profile ? markStage(build(st), st.name) : build(st)));
  for (const st of [...roots].reverse()) {
    if (!argStages.includes(st)) body = new Allocate(buffers.get(st)!, body);
  }
  body = simplifyStmt(injectVirtualThreads(body));

  const sizeVars = collectSizeVars(params);
  checkClosed(name, body, sizeVars);
  body = dropProvenChecks(partitionLoops(body, sizeVars));
  const outputs = argStages.filter((st) => st.op.kind === "compute").map((st) => buffers.get(st)!);
  return new PrimFunc(name, params, sizeVars, body, outputs, [...s.requirements]);
}

function allocBuffer(st: Stage, b: StageBounds): Buffer {
  const t = st.op.output;
  const shape = b.allocShape.map((e) => simplify(e));
  let strides: Expr[] | null = null;
  if (st.storageAligns.size > 0) {
    const axis = (st.op as { axis: IterVar[] }).axis;
    strides = new Array(shape.length);
    let acc: Expr = intConst(1);
    for (let d = shape.length - 1; d >= 0; d--) {
      const al = st.storageAligns.get(axis[d]);
      if (al && d < shape.length - 1) {
        // Round the pitch up to the next factor*k + offset.
        const k = binary(
          "floordiv",
          binary("add", binary("sub", acc, al.offset), al.factor - 1),
          al.factor,
        );
        acc = binary("add", binary("mul", k, al.factor), al.offset);
      }
      strides[d] = simplify(acc);
      acc = binary("mul", acc, shape[d]);
    }
  }
  return new Buffer(st.name, t.dtype, shape, inferScope(st).scope, strides);
}

function collectSizeVars(params: Buffer[]): Var[] {
  const out: Var[] = [];
  for (const p of params) {
    for (const d of p.shape) {
      for (const v of freeVars(d)) if (!out.includes(v)) out.push(v);
    }
  }
  return out;
}

/** Every variable the body uses must be a loop variable, a let, or a size of an argument. */
function checkClosed(name: string, body: Stmt, sizeVars: Var[]): void {
  const bound = new Set<Var>(sizeVars);
  walkStmt(body, (st) => {
    if (st.kind === "for") bound.add(st.loopVar);
    if (st.kind === "let") bound.add(st.v);
  });
  const free = new Set<Var>();
  const see = (e: Expr) => {
    for (const v of freeVars(e)) if (!bound.has(v)) free.add(v);
  };
  walkStmt(body, (st) => {
    switch (st.kind) {
      case "for":
        see(st.min);
        see(st.extent);
        break;
      case "store":
        st.indices.forEach(see);
        see(st.value);
        break;
      case "if":
        see(st.cond);
        break;
      case "let":
        see(st.value);
        break;
      case "allocate":
        st.buffer.shape.forEach(see);
        break;
    }
  });
  if (free.size > 0) {
    throw new TesseraError(
      `te.lower(${name}): symbolic size(s) ${
        [...free].map((v) => v.name).join(", ")
      } are used but are not a dimension of any argument; pass a tensor whose shape has them`,
    );
  }
}
