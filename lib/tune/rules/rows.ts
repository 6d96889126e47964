/**
 * Row groups for the CPU rules (a compute-location rule in Ansor's sense): stages that are
 * read only row by row, by one final stage and by each other (a softmax's max, exponentials
 * and sum; a layer norm's sums), are computed inside the final stage's row loop instead of
 * each in a pass of its own over all rows, as bench/schedules/softmax.ts does by hand. A row
 * then comes from memory once and the rest of its passes hit L1, and the intermediates shrink
 * to a row. A row is the final stage's leading `depth` axes, the deepest prefix that gives a
 * group: a [1, 12, 128, 128] attention softmax over its last axis has rows of (1, 12, 128).
 * This file finds the groups; cpu.ts schedules each member without a parallel loop of its own
 * and attaches it at the final stage's innermost row loop.
 */
import type { Schedule } from "../../schedule/schedule.ts";
import type { Stage } from "../../schedule/stage.ts";
import type { ComputeOp } from "../../te/tensor.ts";
import { constExtent, readsOf, registerTile } from "./analysis.ts";

export interface RowGroup {
  /** The stages computed inside the final stage's row loop, in stage order. */
  members: Stage[];
  /** How many leading axes of the final stage (and of each member) make a row. */
  depth: number;
}

/**
 * For each final stage that has one, its row group. A member is not an output or a kept
 * intermediate, not a register tile, has the final stage's leading `depth` extents, and
 * every stage that reads it (inlined stages looked through) is the final stage or another
 * member, reading it at the reader's own row (its first `depth` indices are the reader's
 * first `depth` axes).
 */
export function rowGroups(
  s: Schedule,
  stages: Stage[],
  keep: ReadonlySet<Stage>,
): Map<Stage, RowGroup> {
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
  // The extents of a stage's first `depth` axes, joined (null: not a row-shaped stage).
  const rows = (st: Stage, depth: number) => {
    const op = st.op as ComputeOp;
    if (op.axis.length < depth || registerTile(op) !== null) return null;
    const ext = op.axis.slice(0, depth).map(constExtent);
    return ext.every((e) => e !== null) ? ext.join("x") : null;
  };
  // Every read of p by r takes r's own row: its first `depth` indices are r's first axes.
  const aligned = (r: Stage, p: Stage, depth: number) =>
    reads.get(r)!.every((x) =>
      s.stageOfOp(x.tensor.op) !== p ||
      (r.op as ComputeOp).axis.slice(0, depth).every((a, d) => x.indices[d] === a)
    );
  const groups = new Map<Stage, RowGroup>();
  const taken = new Set<Stage>();
  const membersAt = (y: number, depth: number) => {
    const final = stages[y];
    const n = rows(final, depth);
    const members = new Set<Stage>();
    if (n === null) return members;
    for (let p = y - 1; p >= 0; p--) {
      const st = stages[p];
      if (
        taken.has(st) || keep.has(st) || s.outputs.includes(st.origOp) || rows(st, depth) !== n
      ) continue;
      const by = readers.get(st) ?? [];
      if (
        by.length > 0 && by.every((r) => (r === final || members.has(r)) && aligned(r, st, depth))
      ) {
        members.add(st);
      }
    }
    return members;
  };
  for (let y = stages.length - 1; y >= 0; y--) {
    const final = stages[y];
    if (taken.has(final)) continue;
    const op = final.op as ComputeOp;
    // A map's row leaves at least its last axis to the row; a reduction's may be all its axes.
    const deepest = op.reduceAxis.length > 0 ? op.axis.length : op.axis.length - 1;
    for (let depth = deepest; depth >= 1; depth--) {
      const members = membersAt(y, depth);
      if (members.size === 0) continue;
      groups.set(final, { members: stages.filter((st) => members.has(st)), depth });
      taken.add(final);
      members.forEach((m) => taken.add(m));
      break;
    }
  }
  return groups;
}
