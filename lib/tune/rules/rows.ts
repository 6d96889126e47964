/**
 * Row groups for the CPU rules (a compute-location rule in Ansor's sense): stages that are
 * read only row by row, by one final stage and by each other (a softmax's max, exponentials
 * and sum; a layer norm's sums), are computed inside the final stage's row loop instead of
 * each in a pass of its own over all rows, as bench/schedules/softmax.ts does by hand. A row
 * then comes from memory once and the rest of its passes hit L1, and the intermediates shrink
 * to a row. This file finds the groups; cpu.ts schedules each member without a parallel loop
 * of its own and attaches it at the final stage's parallel row loop.
 */
import type { Schedule } from "../../schedule/schedule.ts";
import type { Stage } from "../../schedule/stage.ts";
import type { ComputeOp } from "../../te/tensor.ts";
import { constExtent, readsOf, registerTile } from "./analysis.ts";

/**
 * For each final stage that has one, the stages to compute inside its row loop (in stage
 * order). A member is not an output or a kept intermediate, not a register tile, has rows
 * as many as the final stage, and every stage that reads it (inlined stages looked through)
 * is the final stage or another member reading it at the reader's own row.
 */
export function rowGroups(
  s: Schedule,
  stages: Stage[],
  keep: ReadonlySet<Stage>,
): Map<Stage, Stage[]> {
  const reads = new Map(stages.map((r) => [r, readsOf(r.op as ComputeOp, s)]));
  const readers = new Map<Stage, Stage[]>();
  for (const r of stages) {
    for (const x of reads.get(r)!) {
      const p = s.stageOfOp(x.tensor.op);
      if (!p || p === r) continue;
      const list = readers.get(p) ?? [];
      if (!list.includes(r)) list.push(r);
      readers.set(p, list);
    }
  }
  const rows = (st: Stage) => {
    const op = st.op as ComputeOp;
    return op.axis.length > 0 && registerTile(op) === null ? constExtent(op.axis[0]) : null;
  };
  // Every read of p by r takes r's own row: its first index is r's first axis.
  const aligned = (r: Stage, p: Stage) =>
    reads.get(r)!.every((x) =>
      s.stageOfOp(x.tensor.op) !== p || x.indices[0] === (r.op as ComputeOp).axis[0]
    );
  const groups = new Map<Stage, Stage[]>();
  const taken = new Set<Stage>();
  for (let y = stages.length - 1; y >= 0; y--) {
    const final = stages[y];
    const n = rows(final);
    if (taken.has(final) || n === null) continue;
    const members = new Set<Stage>();
    for (let p = y - 1; p >= 0; p--) {
      const st = stages[p];
      if (taken.has(st) || keep.has(st) || s.outputs.includes(st.origOp) || rows(st) !== n) {
        continue;
      }
      const by = readers.get(st) ?? [];
      if (by.length > 0 && by.every((r) => (r === final || members.has(r)) && aligned(r, st))) {
        members.add(st);
      }
    }
    if (members.size === 0) continue;
    groups.set(final, stages.filter((st) => members.has(st)));
    taken.add(final);
    members.forEach((m) => taken.add(m));
  }
  return groups;
}
