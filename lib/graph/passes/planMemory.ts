/**
 * Static memory planning for a fused graph: every intermediate (a group's output that the
 * graph does not return, and each kernel's temporaries kept at the root of its schedule,
 * live during that group only) gets an offset in ONE arena, and two intermediates share bytes only
 * when their lifetimes do not overlap. Lifetimes are in group steps: a value lives from the
 * group computing it to the last group reading it, both included (a group's inputs and
 * outputs are live at once, so a kernel never reads and writes the same bytes). Placement is
 * greedy by size, as TVM's StaticPlanBlockMemory and XLA's heap simulator do: largest first,
 * each at the lowest offset whose range no placed, overlapping-in-time value touches.
 *
 * Reported beside the arena: the naive sum (every intermediate its own buffer) and the
 * max-live lower bound (the most bytes live at one step), which no placement can beat.
 */
import { bytesOf } from "../../ir/dtype.ts";
import type { Value } from "../ir.ts";
import { knownShape } from "../legalize.ts";
import type { Partition } from "./fuseOps.ts";

export interface Buffer {
  readonly value: Value;
  readonly bytes: number;
  readonly offset: number;
  /** First and last group step it is live at. */
  readonly start: number;
  readonly end: number;
}

export interface MemoryPlan {
  readonly buffers: readonly Buffer[];
  /** Byte offsets in the arena, views included (at the offset of the value they view). */
  readonly offsets: ReadonlyMap<Value, number>;
  /** The arena's size: the plan's peak. */
  readonly arenaBytes: number;
  /** Every intermediate in a buffer of its own. */
  readonly naiveBytes: number;
  /** The most bytes live at any one step: a lower bound on any arena. */
  readonly maxLiveBytes: number;
  readonly alignment: number;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/**
 * `views` (passes/views.ts) maps values that share another value's storage to it: they get
 * no buffer of their own, and the value they view stays live until their last reader.
 */
export function planMemory(
  p: Partition,
  alignment = 64,
  views: ReadonlyMap<Value, Value> = new Map(),
  /** Per group id: intermediates its kernel keeps in the arena, live during that group only. */
  scratch: ReadonlyMap<number, readonly Value[]> = new Map(),
): MemoryPlan {
  const outputs = new Set(p.graph.outputs);
  const last = new Map<Value, number>();
  const first = new Map<Value, number>();
  for (const gr of p.groups) {
    for (const v of scratch.get(gr.id) ?? []) first.set(v, gr.id);
    for (const v of gr.outputs) if (!outputs.has(v) && !views.has(v)) first.set(v, gr.id);
    for (const u of gr.inputs) {
      const v = views.get(u) ?? u;
      if (first.has(v)) last.set(v, gr.id);
    }
  }
  const items = [...first].map(([value, start]) => {
    const n = knownShape(value.shape, `memory plan of ${value.name}`).reduce((a, b) => a * b, 1);
    return {
      value,
      start,
      end: last.get(value) ?? start,
      bytes: align(n * bytesOf(value.dtype), alignment),
    };
  });
  const order = [...items].sort((a, b) => b.bytes - a.bytes || a.start - b.start);
  const placed: Buffer[] = [];
  for (const it of order) {
    const busy = placed
      .filter((q) => q.start <= it.end && it.start <= q.end)
      .sort((a, b) => a.offset - b.offset);
    let offset = 0;
    for (const q of busy) {
      if (q.offset >= offset + it.bytes) break;
      offset = Math.max(offset, align(q.offset + q.bytes, alignment));
    }
    placed.push({ ...it, offset });
  }
  const buffers = placed.sort((a, b) => a.start - b.start || a.offset - b.offset);
  let maxLive = 0;
  for (let t = 0; t < p.groups.length; t++) {
    maxLive = Math.max(
      maxLive,
      buffers.filter((b) => b.start <= t && t <= b.end).reduce((a, b) => a + b.bytes, 0),
    );
  }
  const offsets = new Map(buffers.map((b) => [b.value, b.offset]));
  for (const [view, src] of views) {
    const o = offsets.get(src);
    if (o !== undefined) offsets.set(view, o);
  }
  return {
    buffers,
    offsets,
    arenaBytes: buffers.reduce((a, b) => Math.max(a, b.offset + b.bytes), 0),
    naiveBytes: buffers.reduce((a, b) => a + b.bytes, 0),
    maxLiveBytes: maxLive,
    alignment,
  };
}
