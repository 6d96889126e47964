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
  Var,
} from "../ir/expr.ts";
import { Allocate, ExternCall, PrimFunc, seq, type Stmt } from "../ir/stmt.ts";
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
  type Range,
  type ScanGroup,
  type Tensor,
} from "../te/tensor.ts";
import { bodyOps } from "../te/scan.ts";
import { checkScanBody, checkScanSchedule, scanLoop, scanParts, scanRequirement } from "./scan.ts";
import { passDownExtents, passUpOffsets } from "../schedule/relations.ts";
import { inferBounds, readsStage, type StageBounds } from "./bounds.ts";
import { checkBounds, checkReads } from "./checkBounds.ts";
import { dropProvenChecks } from "./dropProvenChecks.ts";
import { inlineBodies } from "./inline.ts";
import { partitionLoops } from "./partition.ts";
import { markStage } from "./profileMarks.ts";
import { pragmaUnroll } from "./pragmaUnroll.ts";
import { inferScope } from "./gpu/inferScope.ts";
import { injectVirtualThreads } from "./gpu/injectVirtualThread.ts";
import { doubleBufferTargets, injectDoubleBuffer } from "./gpu/injectDoubleBuffer.ts";
import { stageNest } from "./stageNest.ts";

export interface LowerOptions {
  name?: string;
  /** Mark each root stage for the profiler (lib/lower/profileMarks.ts). */
  profile?: boolean;
}

/** A kernel argument: a tensor (an array at the call) or a `te.var` (a number at the call). */
export type LowerArg = Tensor | Var;

export function lower(s: Schedule, allArgs: LowerArg[], opts: LowerOptions = {}): PrimFunc {
  const name = checkName(opts.name ?? "main", "te.lower");
  if (!Array.isArray(allArgs) || !allArgs.every((a) => isTensor(a) || isScalarVar(a))) {
    throw new TesseraError(
      "te.lower: args must be an array of tensors and te.var scalars (inputs and outputs, " +
        "in call order)",
    );
  }
  const args = allArgs.filter(isTensor);
  const listedVars = allArgs.filter(isScalarVar);
  if (new Set(args).size !== args.length) {
    throw new TesseraError("te.lower: a tensor appears twice in args");
  }
  if (new Set(listedVars).size !== listedVars.length) {
    throw new TesseraError("te.lower: a te.var appears twice in args");
  }
  for (const v of listedVars) {
    if (v.dtype !== "int32" && v.dtype !== "float32") {
      throw new TesseraError(
        `te.lower: scalar argument '${v.name}' has dtype ${v.dtype}; scalar arguments are ` +
          `int32 or float32 (te.var("${v.name}", "float32"))`,
      );
    }
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
    if (!st.isOutput) continue;
    // Every output of a multi-output stage is an argument: the nest stores all of them.
    const given = args.filter((t) => s.stageOfOp(t.op) === st).map((t) => t.valueIndex);
    const missing = outputTensors(st).filter((_, k) => !given.includes(k));
    if (missing.length > 0) {
      throw new TesseraError(
        `te.lower: output '${
          missing.map((t) => t.name).join("', '")
        }' is missing from args; add it where the caller passes it`,
      );
    }
  }
  // The program as written is judged: cacheRead, cacheWrite and rfactor rewrite what stages
  // read, and an error should name the program's tensors, not copies the schedule made.
  const parts = scanParts(s);
  checkScanSchedule(s, parts);
  // A scan's update is judged by the interpreter: it reads row t - 1, which lowering never
  // asks of row 0.
  const updates = new Set<Operation>(
    s.stages.flatMap((st) => st.op.kind === "scan" ? bodyOps(st.op.group) : []),
  );
  for (const st of s.stages) if (st.op.kind === "scan") checkScanBody(s, st.op.group);
  for (const op of postOrder(s.outputs)) {
    if (op.kind === "compute" && !updates.has(op)) checkBounds(op);
  }
  const bodies = inlineBodies(s);
  for (const st of s.stages) {
    if (st.op.kind !== "placeholder" || parts.has(st) && !argStages.includes(st)) continue;
    if (parts.has(st)) {
      throw new TesseraError(
        `te.lower: '${st.name}' is the state placeholder of scan '${parts.get(st)!.name}'; ` +
          `pass the scan's output instead`,
      );
    }
    if (argStages.includes(st)) continue;
    const read = [...bodies].some(([c, b]) => c.attach.type !== "inline" && readsStage(s, b, st)) ||
      externReaders(s, st).length > 0;
    if (read) {
      throw new TesseraError(
        `te.lower: input '${st.name}' is read but not in args; add it to args`,
      );
    }
  }
  checkExternInputs(s);
  const bounds = inferBounds(s, bodies);
  // An intermediate passed as an argument is accepted, as TVM does, and written: an attached
  // stage writes its region straight into the argument (TVM's behaviour); an inlined one stays
  // inlined in its readers and is also computed at the root into the argument (TVM leaves that
  // argument unwritten, a silent wrong result).
  const inlinedArgs = argStages.filter((st) => st.attach.type === "inline");
  for (const st of inlinedArgs) bounds.set(st, argRootBounds(s, st, bodies.get(st)!));
  for (const st of argStages) {
    const b = bounds.get(st);
    if (st.attach.type === "scope" && b) bounds.set(st, { ...b, inPlace: true });
  }
  // Reads of attached producers are checked against the producer's declared shape where it
  // is not proven: its buffer holds only the region inferred from these very reads.
  for (const [st, b] of bodies) {
    const attached = (t: TensorRead) =>
      s.stageOfOp(t.tensor.op as Operation)?.attach.type === "scope";
    bodies.set(st, b.map((e) => checkReads(st.op as ComputeOp, e, attached)));
  }

  // One buffer per output of each stage that holds data.
  const buffers = new Map<Stage, Buffer[]>();
  const params = args.map((arg) => {
    const st = s.stageOfOp(arg.op);
    const t = st ? outputTensors(st)[arg.valueIndex] : arg;
    const buf = new Buffer(t.name, t.dtype, [...t.shape], "global");
    if (st) {
      if (!buffers.has(st)) buffers.set(st, []);
      buffers.get(st)![arg.valueIndex] = buf;
    }
    return buf;
  });
  for (const st of s.stages) {
    if (st.op.kind === "scan" && !buffers.has(st)) {
      buffers.set(st, [new Buffer(st.name, st.op.dtype, [...st.op.shape], "global")]);
    }
    if (st.op.kind === "extern" && !buffers.has(st)) {
      buffers.set(
        st,
        st.op.outputs.map((t) => new Buffer(t.name, t.dtype, [...t.shape], "global")),
      );
    }
  }
  for (const [part, owner] of parts) buffers.set(part, buffers.get(owner)!);
  for (const [st, b] of bounds) {
    if (!buffers.has(st)) buffers.set(st, outputTensors(st).map((t) => allocBuffer(st, t, b)));
  }

  const doubled = doubleBufferTargets(
    s.stages,
    (st) => buffers.get(st)!,
    (st) => argStages.includes(st),
  );

  const toLoads = (e: Expr): Expr =>
    rewriteExpr(e, (x) => {
      if (x.kind !== "tensorRead") return x;
      const p = s.stageOfOp((x.tensor as Tensor).op)!;
      const pb = bounds.get(p);
      const min = pb?.inPlace ? null : pb?.regionMin;
      // A region min may itself read a tensor (a gather attached at the reader's loop).
      const idx = min ? x.indices.map((i, d) => binary("sub", i, toLoads(min[d]))) : x.indices;
      return new BufferLoad(buffers.get(p)![(x.tensor as Tensor).valueIndex], idx);
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
              (acc, a) =>
                argStages.includes(a)
                  ? acc
                  : allocate(buffers.get(a)!, acc, inferScope(a).note ?? undefined),
              body,
            ),
        };
      },
    });

  const roots = s.stages.filter((st) =>
    (st.op.kind === "compute" && (st.attach.type === "root" || inlinedArgs.includes(st)) &&
      !parts.has(st)) ||
    st.op.kind === "scan" || st.op.kind === "extern"
  );
  // A scan's loop runs once, where its first state comes; the other states share it.
  const scanned = new Set<ScanGroup>();
  const requires = [...s.requirements];
  const buildRoot = (st: Stage): Stmt => {
    if (st.op.kind === "extern") {
      const op = st.op;
      const ins = op.inputs.map((t) => buffers.get(s.stageOfOp(t.op)!)![t.valueIndex]);
      const outs = buffers.get(st)!;
      const args = op.spec.args.map((a) => "io" in a ? (a.io === "in" ? ins : outs)[a.index] : a);
      const shapes = [...op.inputs.map((t) => t.shape), ...op.shapes];
      const { cSource, libs, interpret } = op.spec;
      return new ExternCall(op.spec.fname, args, ins, outs, shapes, {
        stage: st.name,
        cSource,
        libs,
        interpret,
      });
    }
    if (st.op.kind !== "scan") return build(st);
    if (scanned.has(st.op.group)) return seq([]);
    scanned.add(st.op.group);
    requires.push(scanRequirement(st.op.group));
    return scanLoop(s, st.op.group, build);
  };
  let body: Stmt = seq(
    roots.map((st) => opts.profile ? markStage(buildRoot(st), st.name) : buildRoot(st)),
  );
  for (const st of [...roots].reverse()) {
    if (!argStages.includes(st)) body = allocate(buffers.get(st)!, body);
  }
  body = simplifyStmt(injectDoubleBuffer(injectVirtualThreads(body), doubled));

  const sizeVars = collectSizeVars(params);
  const scalars = listedVars.filter((v) => !sizeVars.includes(v));
  checkClosed(name, body, sizeVars, scalars);
  body = pragmaUnroll(dropProvenChecks(partitionLoops(body, sizeVars)));
  const outputs = params.filter((_, i) => {
    const kind = s.stageOfOp(args[i].op)?.op.kind;
    return kind !== undefined && kind !== "placeholder";
  });
  const signature = allArgs.map((a) => isTensor(a) ? params[args.indexOf(a)] : a);
  return new PrimFunc(
    name,
    params,
    sizeVars,
    body,
    outputs,
    requires,
    scalars,
    signature,
  );
}

/**
 * Bounds of an inlined stage passed as an argument, computed over its whole domain at the
 * root. Its body (producers inlined) may not read a stage attached at some consumer's loop:
 * that buffer exists only inside the loop.
 */
function argRootBounds(s: Schedule, st: Stage, body: Expr[]): StageBounds {
  for (const p of s.stages) {
    if (p.attach.type === "scope" && readsStage(s, body, p)) {
      throw new TesseraError(
        `te.lower: '${st.name}' is inlined and passed as an argument, so it is also computed at the root, but it reads '${p.name}', which is attached at a loop of '${p.attach.stage.name}'; computeRoot '${p.name}' or leave '${st.name}' out of args`,
      );
    }
  }
  const op = st.op as ComputeOp;
  const rootRange = new Map<IterVar, Range>();
  for (const a of [...op.axis, ...op.reduceAxis]) rootRange.set(a, a.dom!);
  const rootExt = new Map<IterVar, Expr>([...rootRange].map(([a, r]) => [a, r.extent]));
  const ext = passDownExtents(st.relations, rootExt);
  for (const [v, e] of ext) ext.set(v, simplify(e));
  const offsets = passUpOffsets(st.relations, new Map(st.leafIterVars.map((v) => [v, v])), ext);
  return { rootRange, ext, offsets, regionMin: null, allocShape: op.shape };
}

/** The output tensors of a stage's current operation. */
function outputTensors(st: Stage): Tensor[] {
  return st.op.kind === "compute" || st.op.kind === "extern" ? st.op.outputs : [st.op.output];
}

/** The extern stages that read `st`'s data. */
function externReaders(s: Schedule, st: Stage): Stage[] {
  return s.stages.filter((e) =>
    e.op.kind === "extern" && e.op.inputs.some((t) => s.stageOfOp(t.op) === st)
  );
}

/**
 * A C function reads its inputs whole, from memory laid out row-major: each computed stage an
 * extern reads is computed at the root, into a buffer of its whole shape.
 */
function checkExternInputs(s: Schedule): void {
  for (const st of s.stages) {
    const readers = externReaders(s, st);
    if (readers.length === 0 || st.op.kind === "placeholder") continue;
    const why = `'${st.name}' is read by extern stage '${readers[0].name}', whose C function ` +
      `reads it whole`;
    if (st.attach.type !== "root") {
      throw new TesseraError(
        `te.lower: ${why}, so it must be computed at the root (it is ${
          st.attach.type === "inline" ? "inlined" : "attached to a loop"
        }); remove its computeInline/computeAt`,
      );
    }
    if (st.storageAligns.size > 0) {
      throw new TesseraError(
        `te.lower: ${why} as a row-major array, so it cannot be padded by storageAlign`,
      );
    }
    if (st.scope !== "global") {
      throw new TesseraError(`te.lower: ${why}, so it must be in global scope, not ${st.scope}`);
    }
  }
}

function allocate(bufs: Buffer[], body: Stmt, note?: string): Stmt {
  return bufs.reduceRight((acc: Stmt, b) => new Allocate(b, acc, note), body);
}

function allocBuffer(st: Stage, t: Tensor, b: StageBounds): Buffer {
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
  return new Buffer(
    st.op.kind === "compute" && st.op.numOutputs > 1 ? t.name : st.name,
    t.dtype,
    shape,
    inferScope(st).scope,
    strides,
  );
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

/** A `te.var` (not a loop variable) given in args: a scalar passed as a number at the call. */
function isScalarVar(a: unknown): a is Var {
  return a instanceof Var && !(a instanceof IterVar);
}

/**
 * Every variable the body uses must be a loop variable, a let, a size of an argument or a
 * scalar argument.
 */
function checkClosed(name: string, body: Stmt, sizeVars: Var[], scalars: Var[]): void {
  const bound = new Set<Var>([...sizeVars, ...scalars]);
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
      case "extern":
        st.args.forEach((a) => "shape" in a || see(a));
        break;
    }
  });
  const unbound = [...free];
  const value = unbound.find((v) => v.dtype !== "int32");
  if (value) {
    throw new TesseraError(
      `te.lower(${name}): scalar '${value.name}' (${value.dtype}) is used but not passed; ` +
        `list it in the arguments where the caller passes its value, e.g. ` +
        `te.build(s, [A, ${value.name}, C]) called as f(a, 0.5, c)`,
    );
  }
  if (unbound.length > 0) {
    const names = unbound.map((v) => v.name).join(", ");
    throw new TesseraError(
      `te.lower(${name}): variable(s) ${names} are used but are neither a dimension of any ` +
        `argument nor listed in the arguments; pass a tensor whose shape has them, or list ` +
        `them in args (e.g. [A, ${unbound[0].name}, C]) to pass each as a number at the call`,
    );
  }
}
