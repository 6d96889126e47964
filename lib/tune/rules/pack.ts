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
import type { Schedule } from "../../schedule/schedule.ts";
import type { Stage } from "../../schedule/stage.ts";
import type { ComputeOp, IterVar } from "../../te/tensor.ts";
import { constExtent, readsOf, registerTile, schedulable, usesVar } from "./analysis.ts";
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
    const rows = packable(op, a) ? blocks(ea, ea) : [];
    const cols = packable(op, b) ? blocks(eb, eb - 1) : [];
    const options = ["none", ...rows.map((x) => `rows:${x}`), ...cols.map((x) => `cols:${x}`)];
    // Rows when the columns do not fill a vector register (14 or 56 output pixels with 16
    // lanes); columns when a panel of the default tile's width is larger than L1.
    const { size: bn, vector } = laneTile(eb, f.lanes);
    const panel = op.reduceAxis.reduce((n, r) => n * (constExtent(r) ?? 1), bn) * 4;
    const rule = rows.length > 0 && (!vector || bn < f.lanes)
      ? `rows:${rows[rows.length - 1]}`
      : cols.length > 0 && panel > L1_BYTES
      ? `cols:${cols[cols.length - 1]}`
      : "none";
    const pick = decide(`${k}.pack`, options, rule);
    if (pick === "none") return;
    const [which, block] = pick.split(":");
    rs.pack(op.output, which === "rows" ? a : b, Number(block));
  });
}

/**
 * Whether packing `axis` would pack something: some read uses it alone as one index of a
 * tensor whose dimension there is the axis's whole extent, never elsewhere in that read,
 * and walks a reduction (a panel of weights, not a broadcast vector).
 */
function packable(op: ComputeOp, axis: IterVar): boolean {
  const ext = constExtent(axis);
  return readsOf(op).some((r) => {
    const d = r.indices.findIndex((i) => i === axis);
    if (d < 0 || r.indices.some((i, j) => j !== d && usesVar(i, axis))) return false;
    const size = r.tensor.shape[d];
    return size.kind === "const" && size.value === ext &&
      op.reduceAxis.some((x) => r.uses.has(x));
  });
}
