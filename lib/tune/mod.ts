/**
 * The `tune` namespace users import from mod.ts: default schedules and traces (the pieces of
 * the tuner that exist so far). Each lives in its own module.
 */
import { defaultSchedule } from "./default.ts";
import { applyTrace, printTrace, recording, traceOfCode } from "./trace.ts";

export const tune = { defaultSchedule, recording, applyTrace, printTrace, traceOfCode };
export type { Step, Trace } from "./trace.ts";
