/**
 * `te.build(outputs, args, { records: "file.jsonl" })`: TVM's "apply history best". The
 * program's workload key and this machine's target key pick the fastest correct record in
 * the file, whose trace is replayed onto a fresh schedule of the outputs. With no matching
 * record (another machine, another shape, an empty file) the build falls back to the
 * default schedule and says so on the warning channel; a bad line in the file is a warning
 * too, never an error.
 */
import { TesseraError } from "../error.ts";
import { warn } from "../warn.ts";
import { Schedule } from "../schedule/schedule.ts";
import { isTensor, type Tensor } from "../te/tensor.ts";
import { defaultSchedule, isUnscheduled } from "./default.ts";
import { targetKey, workloadKey } from "./key.ts";
import { best, readRecords } from "./records.ts";
import { targetFacts } from "./target.ts";
import { applyTrace } from "./trace.ts";

export async function fromRecords(
  given: Schedule | Tensor | Tensor[],
  target: string,
  path: string,
  keep: Tensor[] = [],
): Promise<Schedule> {
  if (target !== "c" && target !== "webgpu") {
    throw new TesseraError(
      `te.build: { records } applies schedules tuned for a machine target ("c" or "webgpu"), ` +
        `not '${target}'`,
    );
  }
  let outputs: Tensor[];
  if (given instanceof Schedule) {
    if (!isUnscheduled(given)) {
      throw new TesseraError(
        "te.build: { records } schedules the program itself, but the schedule already has " +
          "primitives applied; pass the output tensors or a fresh te.createSchedule(outputs)",
      );
    }
    outputs = given.outputs.flatMap((op) => "outputs" in op ? op.outputs : [op.output]);
  } else outputs = Array.isArray(given) ? given : [given];
  if (outputs.length === 0 || !outputs.every(isTensor)) {
    throw new TesseraError("te.build: { records } expects the output tensor(s) or a schedule");
  }
  const { records, warnings } = await readRecords(path);
  for (const m of warnings) warn(`te.build: ${m}`);
  const wkey = workloadKey(outputs);
  const top = best(records, wkey, targetKey(await targetFacts(target)));
  if (top) {
    try {
      return applyTrace(new Schedule(outputs), top.trace);
    } catch (e) {
      warn(
        `te.build: the best record in ${path} for this program did not replay ` +
          `(${(e as Error).message}); using the default schedule`,
      );
    }
  } else {
    warn(
      `te.build: no record in ${path} for this program (workload ${wkey}) on this ${target} ` +
        `machine; using the default schedule (tune it with tune.tune or deno task tune)`,
    );
  }
  return (await defaultSchedule(outputs, target, { keep })).schedule;
}
