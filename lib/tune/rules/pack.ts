/**
 * The CPU packing rule (Ansor's layout rewrite; TVM's NCHW[x]c convolutions and packed
 * matmul weights): a matmul-like reduction is computed with one of its register tile's axes
 * in blocks moved innermost, and the operand that axis indexes is read through a copy
 * packed the same way (Schedule.pack), so that the register tile's vector columns are a
 * block and every step of the reduction reads the block contiguously. Two uses:
 * - rows: a convolution's output channels (its tile's rows) become the vector axis, with the
 *   weights packed [K/B, C, R, R, B]. Output widths such as 14 or 56 fill no two vector
 *   registers, channels do (bench/schedules/conv2d.ts packs by hand for the same reason);
 * - columns: a matmul's weight read by column panels larger than L1 is packed by panels,
 *   [N/B, K, B], so that a panel is one contiguous stream instead of K strided rows.
 * The packing runs with the kernel (the copy is a stage of its own, parallel and vectorized
 * by the other rules); graph.build packs weights that are params once, at compile time, and
 * the rule finds nothing left to pack there.
 */
import { packedDim, type Schedule } from "../../schedule/schedule.ts";
import type { Stage } from "../../schedule/stage.ts";
import type { ComputeOp, IterVar } from "../../te/tensor.ts";
import { constExtent, type Read, readsOf, registerTile, schedulable } from "./analysis.ts";
import { type CpuFacts, L1_BYTES, laneTile } from "./cpu.ts";
import { type Decide, fallbackDecide } from "../decisions.ts";

export function packLayouts(
  s: Schedule,
  rs: Schedule,
  skip: Set<Stage>,
  f: CpuFacts,
  decide: Decide = fallbackDecide,
): void {
  schedulable(s, skip).forEach((st, k) => {
    const op = st.op as ComputeOp;
    const tile = registerTile(op);
    if (!tile) return;
    const { a, b } = tile;
    const ea = constExtent(a)!, eb = constExtent(b)!;
    const blocks = (ext: number, most: number) =>
      [f.lanes, 2 * f.lanes].filter((x) => x <= most && ext % x === 0);
    const ra = packedRead(op, a), rb = packedRead(op, b);
    const rows = ra ? blocks(ea, ea) : [];
    const cols = rb ? blocks(eb, eb - 1) : [];
    const options = ["none", ...rows.map((x) => `rows:${x}`), ...cols.map((x) => `cols:${x}`)];
    // Rows when the columns fill fewer than two vector registers (14, 28 or 56 output
    // pixels); columns when a panel of the default tile's width is larger than L1 and not
    // contiguous already (a weight graph.build packed has rows of the tile's width). Either
    // only where each packed element serves at least MIN_REUSE steps (a convolution's
    // weight serves every output pixel), so that the copy stays a small part of the work.
    const { size: bn, vector } = laneTile(eb, f.lanes);
    const panel = op.reduceAxis.reduce((n, r) => n * (constExtent(r) ?? 1), bn) * 4;
    const rowLength = (r: Read) => {
      const last = r.tensor.shape[r.tensor.shape.length - 1];
      return last?.kind === "const" ? Number(last.value) : 0;
    };
    const rule = rows.length > 0 && (!vector || bn < 2 * f.lanes) && reuse(op, ra!) >= MIN_REUSE
      ? `rows:${rows[rows.length - 1]}`
      : cols.length > 0 && panel > L1_BYTES && reuse(op, rb!) >= MIN_REUSE &&
          (rb!.indices.at(-1) !== b || rowLength(rb!) > bn)
      ? `cols:${cols[cols.length - 1]}`
      : "none";
    const pick = decide(`${k}.pack`, options, rule);
    if (pick === "none") return;
    const [which, block] = pick.split(":");
    rs.pack(op.output, which === "rows" ? a : b, Number(block));
  });
}

/** The default packs only where a packed element is read at least this many times. */
const MIN_REUSE = 32;

/**
 * The read that packing `axis` would pack (Schedule.pack's packedDim), or null, among those
 * walking a reduction (a panel of weights, not a broadcast vector).
 */
function packedRead(op: ComputeOp, axis: IterVar): Read | null {
  return readsOf(op).find((r) =>
    packedDim(r.tensor, r.indices, axis) >= 0 && op.reduceAxis.some((x) => r.uses.has(x))
  ) ?? null;
}

/** How many iterations of the other data axes read each element `read` reads. */
function reuse(op: ComputeOp, read: Read): number {
  return op.axis.filter((v) => !read.uses.has(v)).reduce((n, v) => n * (constExtent(v) ?? 1), 1);
}
