/**
 * What a tuning run tunes: one of the bench module's standard workloads (its tensors from
 * lib/tune/workloads.ts, its inputs and float64 reference from lib/bench/workload.ts), or a
 * program of the user's in a module, so that any kernel can be tuned. Both the tuner and the
 * measuring process load the task from the same description (the measuring process is a
 * separate Deno process, so a task travels as data: the workload's fields or the module's
 * path). A module task exports `task`, an object or a function returning one:
 *
 *   export const task = { args: [A, B, C] };   // inputs (placeholders) first, then outputs
 *
 * Its inputs get deterministic float32 data and its outputs are checked against the
 * interpreter running the unscheduled program (the definition of correctness), or, for a
 * program of more than INTERPRETER_REFERENCE_FLOPS operations, the unscheduled C kernel.
 */
import { TesseraError } from "../error.ts";
import { te } from "../te/te.ts";
import { isTensor, type Tensor } from "../te/tensor.ts";
import { NDArray } from "../runtime/ndarray.ts";
import {
  bytesOf,
  checkWorkload,
  flopsOf,
  inputsOf,
  labelOf,
  reference,
  type Workload,
} from "../bench/workload.ts";
import { definition } from "./workloads.ts";
import { stageWork } from "../lower/stageWork.ts";
import { evalExact } from "../arith/exact.ts";
import { type GroupData, groupDataProgram } from "../graph/groupData.ts";

/** A task as data: exactly one of the three. */
export interface TaskSpec {
  workload?: Workload;
  /** A module's absolute path or URL; it exports `task` (see the file's comment). */
  module?: string;
  /** A model's fused group (lib/graph/groupData.ts), as `tune.model` extracts them. */
  group?: GroupData;
}

export interface Program {
  label: string;
  /** The kernel's arguments: inputs, then outputs. */
  args: Tensor[];
  inputs: Tensor[];
  outputs: Tensor[];
  /** The workload's FLOPs and compulsory bytes per call (standard workloads only). */
  flops: number | null;
  bytes: number | null;
  /** The operation, for seeding from neighbouring shapes (standard workloads only). */
  op: string | null;
  /** What records say the task is. */
  record: Record<string, number | string>;
}

const OPS: readonly string[] = [
  "matmul",
  "batch_matmul",
  "conv2d",
  "softmax",
  "layernorm",
  "elementwise",
];

const count = (t: Tensor) => t.shape.reduce((p, e) => p * (e.kind === "const" ? e.value : NaN), 1);

/** Loads the program a task describes; a bad module is a TesseraError saying what is wrong. */
export async function loadProgram(spec: TaskSpec): Promise<Program> {
  if (spec.workload) {
    const w = spec.workload;
    if (!OPS.includes(w?.op)) {
      throw new TesseraError(
        `tune: '${w?.op}' is not a standard workload; one of ${OPS.join(", ")} ` +
          "(or tune a module that exports the program: tune.tuneModule)",
      );
    }
    checkWorkload(w);
    const args = definition(w);
    const outputs = [args[args.length - 1]];
    return {
      label: labelOf(w),
      args,
      inputs: args.slice(0, -1),
      outputs,
      flops: flopsOf(w),
      bytes: bytesOf(w),
      op: w.op,
      record: Object.fromEntries(Object.entries(w)) as Record<string, number | string>,
    };
  }
  if (spec.group) return groupTask(spec.group);
  const path = spec.module;
  if (typeof path !== "string" || path === "") {
    throw new TesseraError("tune: a task is a standard workload or a module path");
  }
  const url = path.includes("://") ? path : new URL(`file://${path}`).href;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (e) {
    throw new TesseraError(`tune: cannot load the task module ${path}: ${(e as Error).message}`);
  }
  const exported = mod.task;
  const task = typeof exported === "function" ? await exported() : exported;
  const args = (task as { args?: unknown })?.args;
  const where = `tune: the task module ${path}`;
  if (!Array.isArray(args) || args.length < 2 || !args.every(isTensor)) {
    throw new TesseraError(
      `${where} must export task = { args: [inputs..., outputs...] } (tensors), or a function ` +
        "returning it",
    );
  }
  const tensors = args as Tensor[];
  const isInput = (t: Tensor) => t.op.kind === "placeholder";
  const inputs = tensors.filter(isInput), outputs = tensors.filter((t) => !isInput(t));
  if (outputs.length === 0 || tensors.findIndex((t) => !isInput(t)) < inputs.length) {
    throw new TesseraError(`${where}: list the placeholders first, then the computed outputs`);
  }
  for (const t of tensors) {
    if (t.dtype !== "float32" || !Number.isFinite(count(t))) {
      throw new TesseraError(
        `${where}: ${t.op.name} is ${t.dtype} of shape [${t.shape}]; tuning takes float32 ` +
          "tensors of constant shape",
      );
    }
  }
  return {
    label: path.split("/").pop()!,
    args: tensors,
    inputs,
    outputs,
    flops: null,
    bytes: null,
    op: null,
    record: { module: path },
  };
}

/** A fused group's program: float32 tensors only (its data comes like a module's). */
function groupTask(data: GroupData): Program {
  const { inputs, outputs } = groupDataProgram(data);
  for (const t of [...inputs, ...outputs]) {
    if (t.dtype !== "float32") {
      throw new TesseraError(
        `tune: the fused group ${data.name} has a ${t.dtype} tensor ${t.op.name}; tuning takes ` +
          "float32 programs",
      );
    }
  }
  return {
    label: data.name,
    args: [...inputs, ...outputs],
    inputs,
    outputs,
    flops: null,
    bytes: null,
    op: null,
    record: { group: data.name },
  };
}

/**
 * Above this many operations a program's reference is its unscheduled C kernel, not the
 * interpreter: the interpreter takes about 30 s for one of ResNet-18's 231 MFLOP convolutions,
 * and a worker prepares every task it measures, so tuning a model spent most of its minutes
 * on references. The unscheduled kernel is the lowering without any schedule primitive, the
 * form every C test checks against the interpreter; what the tuner guards against is a wrong
 * schedule, and that it still catches.
 */
export const INTERPRETER_REFERENCE_FLOPS = 2e7;

/** Operations one call of the unscheduled program performs, or null if uncountable. */
function programFlops(p: Program): number | null {
  let total = 0;
  for (const w of stageWork(te.createSchedule(p.outputs))) {
    const n = w.flops && evalExact(w.flops, new Map());
    if (n === null || n === undefined) return null;
    total += n;
  }
  return total;
}

/** Deterministic inputs in [-0.5, 0.5) and the outputs a correct kernel writes. */
export async function dataOf(
  spec: TaskSpec,
  p: Program,
): Promise<{ inputs: Float32Array[]; want: Float32Array[] }> {
  if (spec.workload) {
    const inputs = inputsOf(spec.workload);
    return { inputs, want: [reference(spec.workload, inputs)] };
  }
  let x = 12345;
  const inputs = p.inputs.map((t) =>
    Float32Array.from({ length: count(t) }, () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return x / 2147483648 - 0.5;
    })
  );
  const flops = programFlops(p);
  const target = flops !== null && flops > INTERPRETER_REFERENCE_FLOPS ? "c" : "interpreter";
  const f = await te.build(te.createSchedule(p.outputs), p.args, { target });
  const arrays = p.args.map((t, i) =>
    new NDArray(t.shape.map((e) => (e as { value: number }).value), "float32", inputs[i])
  );
  await f(...arrays);
  return { inputs, want: arrays.slice(p.inputs.length).map((a) => a.data as Float32Array) };
}
