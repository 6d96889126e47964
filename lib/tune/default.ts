/**
 * Default schedules: the rules of lib/tune/rules/ applied with fixed, sensible decisions and
 * no search, for programs nobody has scheduled (TVM's DLight does this for unscheduled
 * functions). The rules write through a recording schedule (lib/tune/trace.ts), so a
 * default schedule is also a trace: it replays, prints as the code a user would write, and
 * can seed a search. Rules leave alone what they cannot handle (scans and what reads their
 * states); such stages keep the unscheduled program's loops, which are always correct.
 */
import { TesseraError } from "../error.ts";
import { cpuFeatures, lanes, widestVector } from "../bench/cpu.ts";
import { Schedule } from "../schedule/schedule.ts";
import type { Stage } from "../schedule/stage.ts";
import { isTensor, postOrder, type Tensor } from "../te/tensor.ts";
import { recording, type Trace } from "./trace.ts";
import { scanStages } from "./rules/analysis.ts";
import { type CpuFacts, cpuRules } from "./rules/cpu.ts";
import { type GpuFacts, gpuRules } from "./rules/gpu.ts";
import { inlineElementwise } from "./rules/inline.ts";
import { packLayouts } from "./rules/pack.ts";
import { type Decide, fallbackDecide } from "./decisions.ts";

export type Facts = CpuFacts & GpuFacts;

/** Decisions that do not depend on the machine; `lanes` and `cores` are asked of it. */
const FIXED = {
  // A stage of fewer loop iterations runs on one core. Low: a join on the pool costs a few
  // microseconds, and ResNet-18's per-layer pads and epilogues (50k-200k elements) ran 8%
  // of the inference serially at 1 << 18 (BERT layer 11%; Zen 5, 2 cores, scratch A/B).
  minParallelWork: 1 << 13,
  maxUnroll: 8,
  threads: 64,
  side: 8,
  reg: 4,
  fewOutputs: 1024,
  longReduction: 1024,
};

/** The machine's facts the rules use, asked once per process. */
let hostFacts: Promise<Facts> | null = null;
export function defaultFacts(): Promise<Facts> {
  hostFacts ??= cpuFeatures().then(({ flags }) => ({
    ...FIXED,
    lanes: lanes(widestVector(flags)),
    cores: navigator.hardwareConcurrency || 1,
  }));
  return hostFacts;
}

/** Whether no primitive has touched `s` (the only schedules "auto" applies to). */
export function isUnscheduled(s: Schedule): boolean {
  return s.requirements.length === 0 &&
    s.stages.length === postOrder(s.outputs).length &&
    s.stages.every((st) =>
      st.attach.type === "root" && st.relations.length === 0 && st.attrs.size === 0 &&
      st.scope === "global" && st.storageAligns.size === 0 && st.op === st.origOp
    );
}

/**
 * Applies the default rules for `target` ("webgpu" gets the GPU rules; "c" and the
 * interpreter the CPU rules) to `s`, an unscheduled schedule, and returns the trace of what
 * was applied. `keep`: intermediates the caller passes as arguments, never inlined.
 * `decide` makes the rules' choices (the search samples them; by default the rules' own).
 */
export function applyDefault(
  s: Schedule,
  target: string,
  facts: Facts,
  keep: Tensor[] = [],
  decide: Decide = fallbackDecide,
): Trace {
  if (!isUnscheduled(s)) {
    throw new TesseraError(
      "defaultSchedule: the schedule already has primitives applied; default rules apply to " +
        "an unscheduled program (pass te.createSchedule(outputs) fresh, or the output tensors)",
    );
  }
  const { schedule: rs, trace } = recording(s);
  const skip = scanStages(s);
  const kept = new Set<Stage>(keep.flatMap((t) => {
    const st = s.stageOfOp(t.op);
    return st ? [st] : [];
  }));
  inlineElementwise(s, rs, kept, skip, decide, target !== "webgpu");
  if (target === "webgpu") gpuRules(s, rs, skip, facts, decide);
  else {
    packLayouts(s, rs, skip, facts, decide);
    cpuRules(s, rs, skip, facts, decide, kept);
  }
  return trace;
}

/**
 * `tune.defaultSchedule(C, "c")`: a fresh schedule of the outputs with the default rules
 * applied, and its trace. Takes the output tensor(s) or an unscheduled schedule (whose
 * outputs are used; the schedule itself is left untouched).
 */
export async function defaultSchedule(
  outputs: Tensor | Tensor[] | Schedule,
  target: string = "c",
  opts: { facts?: Partial<Facts>; keep?: Tensor[] } = {},
): Promise<{ schedule: Schedule; trace: Trace }> {
  let s: Schedule;
  if (outputs instanceof Schedule) {
    if (!isUnscheduled(outputs)) {
      throw new TesseraError(
        "defaultSchedule: the schedule already has primitives applied; default rules apply " +
          "to an unscheduled program (pass the output tensors, or build your own schedule " +
          'without schedule: "auto")',
      );
    }
    s = new Schedule(outputs.outputs);
  } else {
    const list = Array.isArray(outputs) ? outputs : [outputs];
    if (list.length === 0 || !list.every(isTensor)) {
      throw new TesseraError(
        "defaultSchedule: expects the output tensor(s) (C or [C, D]) or an unscheduled schedule",
      );
    }
    s = new Schedule(list);
  }
  const facts = { ...(await defaultFacts()), ...opts.facts };
  const trace = applyDefault(s, target, facts, opts.keep);
  return { schedule: s, trace };
}
