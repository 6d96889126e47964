/**
 * The `tune` namespace users import from mod.ts: default schedules, traces, the search and
 * its records. Each lives in its own module.
 */
import { defaultSchedule } from "./default.ts";
import { applyTrace, printTrace, recording, traceOfCode } from "./trace.ts";
import { tuneModule, tuneWorkload } from "./search.ts";
import { best, readRecords } from "./records.ts";
import { definition } from "./workloads.ts";
import { tuneModel } from "./model.ts";
import { validateModel } from "./validate.ts";

export const tune = {
  defaultSchedule,
  recording,
  applyTrace,
  printTrace,
  traceOfCode,
  tuneWorkload,
  tuneModule,
  /** A whole graph's fused groups under one trial budget (lib/tune/model.ts). */
  model: tuneModel,
  /** A model's records kept only where they beat the defaults inside it (lib/tune/validate.ts). */
  validateModel,
  readRecords,
  best,
  /** A standard workload's tensors (inputs, then the output), to build with `{ records }`. */
  definition,
};
export type { Step, Trace } from "./trace.ts";
export type { TuneOptions, TuneResult } from "./search.ts";
export type { ModelTask, ModelTuneOptions, ModelTuneResult } from "./model.ts";
export type { ValidatedGroup, ValidateOptions, ValidateResult } from "./validate.ts";
export type { TuneRecord } from "./records.ts";
