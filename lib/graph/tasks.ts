/**
 * Task extraction, the first half of tuning a whole model (TVM's `extract_tasks`): the
 * distinct fused groups of a model as `te` programs, each with its workload key (the same
 * name-free key tuning records carry), how many times the model runs it, and its work
 * (FLOPs and compulsory bytes per run). A tuner spends one budget across these, by how much
 * each contributes; `graph.build(..., { records })` then finds the records by the same keys.
 */
import { evalExact } from "../arith/exact.ts";
import { stageWork } from "../lower/stageWork.ts";
import { Schedule } from "../schedule/schedule.ts";
import type { Tensor } from "../te/tensor.ts";
import { workloadKey } from "../tune/key.ts";
import { groupProgram } from "./fusedProgram.ts";
import type { Graph } from "./ir.ts";
import { optimize, pipeline } from "./pipeline.ts";
import { type FusedGroup, fuseOps } from "./passes/fuseOps.ts";
import { findViews } from "./passes/views.ts";

export interface Task {
  /** The workload key tuning records are filed under. */
  workload: string;
  /** The first group that runs this program, for its name and nodes. */
  group: FusedGroup;
  /** The group's program: its placeholders and outputs (kernel arguments in this order). */
  inputs: Tensor[];
  outputs: Tensor[];
  /** How many groups of the model run this same program. */
  count: number;
  /** Work of one run (null when a stage's work cannot be counted). */
  flops: number | null;
  bytes: number;
}

export interface TaskOptions {
  sizes?: Record<string, number>;
  maxGroupSize?: number;
  /**
   * The weight block graph.build packs by on the target: pass `await weightBlockFor(target)`
   * (pipeline.ts; 16 on an AVX2 CPU), or the tasks' keys will not be the build's. Default 32.
   */
  block?: number;
  /**
   * Whether activations stay channel-blocked, as graph.build does on the CPU (pipeline.ts's
   * blockedFor(target)). Default true, the C build's.
   */
  blocked?: boolean;
}

/** The model's distinct fused programs, most total work (FLOPs x count) first. */
export function extractTasks(g: Graph, opts: TaskOptions = {}): Task[] {
  const part = fuseOps(optimize(g, opts.sizes ?? {}, pipeline(opts.block, opts.blocked ?? true)), {
    maxGroupSize: opts.maxGroupSize,
  });
  const byKey = new Map<string, Task>();
  const views = findViews(part);
  for (const group of part.groups) {
    if (group.outputs.every((v) => views.has(v))) continue; // no kernel
    const prog = groupProgram(group);
    const workload = workloadKey(prog.outputs);
    const seen = byKey.get(workload);
    if (seen) {
      seen.count++;
      continue;
    }
    let flops: number | null = 0, bytes = 0;
    for (const w of stageWork(new Schedule(prog.outputs))) {
      const f = w.flops === null ? null : Number(evalExact(w.flops, new Map()));
      flops = flops === null || f === null ? null : flops + f;
      bytes += Number(evalExact(w.bytes, new Map()));
    }
    byKey.set(workload, { workload, group, ...prog, count: 1, flops, bytes });
  }
  const weight = (t: Task) => (t.flops ?? t.bytes) * t.count;
  return [...byKey.values()].sort((a, b) => weight(b) - weight(a));
}
