/**
 * The CPU default rules, one decision per root stage after inlining, in the manner of TVM's
 * DLight and Ansor's sketch rules but with fixed decisions instead of sampled ones:
 * - a matmul-like reduction (analysis.ts registerTile) gets a register tile: the result in
 *   a local cache computed at the tile's outer loop, the reduction outside the tile with
 *   its innermost step unrolled, the tile's columns vectorized (examples/matmul_cpu.ts
 *   without the packing);
 * - a reduction along the contiguous last index with enough steps is rfactored into one
 *   accumulator per vector lane (GCC does not vectorize a float sum over one accumulator:
 *   it would reorder the additions), as bench/schedules/row_reduce.ts does by hand;
 * - a reduction over a small window (pooling) moves the window outside its innermost data
 *   loop and vectorizes that loop;
 * - any other stage vectorizes its innermost data loop when the extent is a constant
 *   multiple of the lanes (else GCC decides), and unrolls a short innermost reduction;
 * - every stage with enough work runs its outer data loops in parallel, fusing outer loops
 *   until there are a few iterations per core;
 * - stages read only row by row by one final stage (rows.ts) run inside its parallel row
 *   loop instead, without a parallel loop of their own.
 * (Which operand of a matmul-like stage to pack by blocks is decided before, in pack.ts.)
 * Each of these choices goes through `decide` (lib/tune/decisions.ts) with the rule's own
 * pick as the fallback: the default schedule takes the fallbacks, the search samples them.
 */
import type { Schedule } from "../../schedule/schedule.ts";
import type { Stage } from "../../schedule/stage.ts";
import { bytesOf } from "../../ir/dtype.ts";
import type { Var } from "../../ir/expr.ts";
import type { ComputeOp, IterVar, Tensor } from "../../te/tensor.ts";
import {
  constExtent,
  constProduct,
  readsOf,
  registerTile,
  schedulable,
  usesVar,
} from "./analysis.ts";
import { type Decide, dividing, fallbackDecide } from "../decisions.ts";
import { type Epilogue, epilogueOf, matchLoops } from "./epilogue.ts";
import { rowGroups } from "./rows.ts";

export interface CpuFacts {
  /** float32 lanes of the widest vector register (8 with AVX2, 16 with AVX-512). */
  lanes: number;
  cores: number;
  /** Loop iterations (all loops of a stage) below which a stage stays on one core. */
  minParallelWork: number;
  /** A reduction's innermost loop of at most this many steps is unrolled. */
  maxUnroll: number;
}

export function cpuRules(
  s: Schedule,
  rs: Schedule,
  skip: Set<Stage>,
  f: CpuFacts,
  decide: Decide = fallbackDecide,
  keep: ReadonlySet<Stage> = new Set(),
): void {
  const stages = schedulable(s, skip);
  // Stages computed inside a final stage's row loop (rows.ts), and the final stage of each.
  const groups = rowGroups(s, stages, keep);
  const finalOf = new Map<Stage, Stage>();
  for (const [y, g] of groups) for (const m of g.members) finalOf.set(m, y);
  // Consumers scheduled as a register tile's epilogue (epilogue.ts): their loops are taken.
  const taken = new Set<Stage>();
  // row: a member's row depth (0: not inside a row loop; no parallel loop of its own);
  // pinned: a lane reduction's partials are computed at its row (members, and a final stage
  // whose members go inside its row loop: partials at the root would read them outside it).
  const schedule = (st: Stage, k: number, row: number, pinned = row > 0) => {
    const op = st.op as ComputeOp;
    const d: Decide = (name, options, fallback) => decide(`${k}.${name}`, options, fallback);
    const tile = registerTile(op);
    const lane = op.reduceAxis.length > 0 && laneReduction(op, f);
    const forms = [...(tile ? ["tile"] : []), ...(lane ? ["rfactor"] : []), "plain"];
    const form = d("form", forms, forms[0]);
    if (form === "tile") {
      const found = epilogueOf(s, st, keep);
      const epi = found && !skip.has(found.stage) && !finalOf.has(found.stage) &&
          !groups.has(found.stage) && d("epilogue", [true, false], true)
        ? found
        : null;
      if (registerTiled(rs, op, tile!.a, tile!.b, f, d, epi)) taken.add(epi!.stage);
    } else if (form === "rfactor") vectorReduce(rs, op, f, d, row > 0, pinned);
    else plain(rs, op, f, d, row);
  };
  stages.forEach((st, k) => {
    if (taken.has(st) || finalOf.has(st)) return;
    const group = groups.get(st);
    const axes = (st.op as ComputeOp).axis;
    const depth = group?.depth ?? 1;
    const rows = constProduct(axes.slice(0, depth));
    const wanted = group !== undefined &&
      decide(`${k}.rows`, [true, false], rows !== null && rows >= 4 * f.cores);
    schedule(st, k, 0, wanted);
    if (!group) return;
    // The members go inside the final stage's innermost row loop where it is still a loop of
    // its own or fused only with other row loops (not with a column loop into a parallel
    // loop: too few rows for the cores), each with its own rules but no parallel loop;
    // otherwise they are scheduled as any other stage.
    const row = wanted ? rowLoop(st, axes.slice(0, depth)) : null;
    for (const m of group.members) {
      schedule(m, stages.indexOf(m), row ? depth : 0);
      if (row) rs.stage(m.origOp.output).computeAt(rs.stage(st.origOp.output), row);
    }
  });
}

/**
 * The loop of `st` that runs over the rows `rows` (its leading axes) and nothing else: the
 * last row axis where it is still a loop, or the loop the row axes were fused into; null
 * where a row axis was fused with a column axis or split.
 */
function rowLoop(st: Stage, rows: IterVar[]): IterVar | null {
  const last = rows[rows.length - 1];
  if (st.leafIterVars.includes(last)) return last;
  const parts = (v: IterVar): IterVar[] => {
    const r = st.relations.find((r) => r.kind === "fuse" && r.fused === v);
    return r && r.kind === "fuse" ? [...parts(r.outer), ...parts(r.inner)] : [v];
  };
  return st.leafIterVars.find((v) => {
    const p = parts(v);
    return p.includes(last) && p.every((x) => rows.includes(x));
  }) ?? null;
}

/** A data cache's size the rules assume (32 KiB: Zen 3, Intel since Sandy Bridge; Zen 5 has 48). */
export const L1_BYTES = 32 << 10;

/** Loops with known extents: what the rules split and fuse, and what they know of each. */
type Loop = { v: IterVar; ext: number | null };

const loop = (v: IterVar): Loop => ({ v, ext: constExtent(v) });

/**
 * Fuses a prefix of `outer` (adjacent data loops, outermost first) until it has a few
 * iterations per core, and runs it in parallel; returns the loops that remain, fused one
 * first. Nothing happens for a stage with too little work: `op`'s iterations, a reduction's
 * steps included.
 */
function parallelOuter(
  st: Stage,
  outer: Loop[],
  op: ComputeOp,
  f: CpuFacts,
  d: Decide,
): Loop[] {
  if (outer.length === 0) return outer;
  let n = 1;
  while (n < outer.length && outer[n - 1].ext !== null) {
    const p = outer.slice(0, n).reduce((x, l) => x * l.ext!, 1);
    if (p >= 4 * f.cores || outer[n].ext === null) break;
    n++;
  }
  // How many outer loops run in parallel, fused (0: none); all of them have known extents
  // but perhaps the first.
  let most = 1;
  while (most < outer.length && outer[most - 1].ext !== null && outer[most].ext !== null) most++;
  const depths = Array.from({ length: most + 1 }, (_, i) => i);
  // A reduction's work counts its steps too; it stays on one core below 32x the threshold
  // (the quick-start MLP's 784x256 matmul at batch 1: a pool woken from sleep for it made
  // the 24 us inference 6x slower), a copy or map below the threshold.
  const work = constProduct([...op.axis, ...op.reduceAxis]);
  const least = op.reduceAxis.length > 0 ? 32 * f.minParallelWork : f.minParallelWork;
  n = d("parallel", depths, work !== null && work < least ? 0 : n);
  if (n === 0) return outer;
  const fused = n > 1 ? st.fuse(...outer.slice(0, n).map((l) => l.v)) : outer[0].v;
  st.parallel(fused);
  const ext = outer.slice(0, n).every((l) => l.ext !== null)
    ? outer.slice(0, n).reduce((x, l) => x * l.ext!, 1)
    : null;
  return [{ v: fused, ext }, ...outer.slice(n)];
}

/** A small window's last data loop up to this many steps is vectorized whole, not split. */
const WHOLE_ROW = 256;

/**
 * The vector width for a small-window reduction (at most 64 steps in all, or any number onto
 * a last data axis of at most two registers; a constant last data axis), or null: the whole
 * axis when it is short (a row of outputs stays in L1 while the window sweeps it, and the
 * compiler picks the vector length and the remainder: ResNet's 56-wide maxPool row took 2x
 * longer split into 8-lane pieces with stride-2 reads), else a vector of lanes, or half or a
 * quarter of one, that divides it.
 */
function windowLanes(op: ComputeOp, f: CpuFacts): number | null {
  const steps = constProduct(op.reduceAxis);
  const last = op.axis.length > 0 ? constExtent(op.axis[op.axis.length - 1]) : null;
  // Or a long reduction onto at most two registers of outputs (a batch-1 matmul's packed
  // 8-column block: its 512 steps ran scalar, one column at a time, at 6 GFLOP/s).
  if (steps === null || last === null || (steps > 64 && last > 2 * f.lanes)) return null;
  if (last >= Math.min(4, f.lanes) && last <= WHOLE_ROW) return last;
  return laneCount(last, f.lanes);
}

/**
 * The outputs a small window's register tile covers along its second-last data axis (of
 * `ext`), each `regs` vector registers wide; 0 for no tile. The rule: the largest divisor of
 * `ext` whose tile fills at most 16 registers, if at least 2.
 */
function windowTile(ext: number, regs: number, d: Decide): number {
  const most = Math.floor(16 / regs);
  const options = dividing(ext, [2, 4, 7, 8, 14, 16]).filter((t) => t > 1 && t <= most);
  let rule = 0;
  for (let t = Math.min(most, ext); t >= 2 && rule === 0; t--) if (ext % t === 0) rule = t;
  return d("windowTile", [...new Set([0, ...options, rule])], rule);
}

/**
 * Vector lanes for a loop of `ext` steps: a register's, or half or a quarter of one (8 of
 * AVX-512's 16 lanes still beat scalar code), never fewer than 4 (or the register's, if
 * smaller); null when none divides.
 */
function laneCount(ext: number, lanes: number): number | null {
  const least = Math.min(4, lanes);
  for (const l of [lanes, lanes / 2, lanes / 4]) if (l >= least && ext % l === 0) return l;
  return null;
}

/**
 * The columns of a register tile of `ext`: two registers of lanes, one, or part of one
 * when they divide; otherwise the largest divisor up to two registers, unrolled instead of
 * vectorized (a tile that does not divide its axis puts a guard in the hot loop).
 */
export function laneTile(ext: number, lanes: number): { size: number; vector: boolean } {
  if (ext % (2 * lanes) === 0) return { size: 2 * lanes, vector: true };
  const l = laneCount(ext, lanes);
  if (l !== null) return { size: l, vector: true };
  let d = Math.min(ext, 2 * lanes);
  while (ext % d !== 0) d--;
  return { size: d, vector: false };
}

/**
 * The register tile of `op` over its axes `a` (rows) and `b` (vector columns): computed in a
 * local tile, with the reduction outside the tile. Without an epilogue the tile is a cache
 * of `op`'s own output, written back per tile; with one, the epilogue's loops are tiled the
 * same way and `op` itself is computed in a local tile inside each of them. Returns whether
 * the epilogue was used: not when the tile takes part of a blocked axis (`axis % c`, bn < c),
 * where bound inference cannot narrow `floormod` to the tile and each tile would compute the
 * whole block (AVX2's 16 columns of a 32-channel block: twice the work).
 */
function registerTiled(
  rs: Schedule,
  op: ComputeOp,
  a: IterVar,
  b: IterVar,
  f: CpuFacts,
  d: Decide,
  epi: Epilogue | null = null,
): boolean {
  const ea = constExtent(a)!, eb = constExtent(b)!;
  const rule = laneTile(eb, f.lanes);
  const least = Math.min(4, f.lanes);
  const widths = [4, 2, 1, 0.5, 0.25].map((x) => x * f.lanes).filter((x) => x >= least);
  const bn = d("tileCols", [...dividing(eb, widths), rule.size], rule.size);
  const vector = bn === rule.size ? rule.vector : eb % bn === 0 && widths.includes(bn);
  // Accumulators fill most of the registers (16 with AVX2, 32 with AVX-512), the rest
  // holding the operands: 6x16 with AVX2 and 8x32 with AVX-512, as the hand schedules.
  const accumulators = f.lanes >= 16 ? 16 : 12;
  // Unvectorized columns (a width such as 14 that no lane count divides) keep a shorter
  // tile: 4 rows measured 1.5-1.9x faster than 8 on ResNet's 14x14 layer.
  const most = vector
    ? Math.min(8, ea, Math.max(1, Math.floor(accumulators / Math.ceil(bn / f.lanes))))
    : Math.min(4, ea);
  // A height that divides the rows spares the guards, if it keeps at least half the tile.
  let ruleRows = most;
  for (let x = most; x * 2 > most; x--) {
    if (ea % x === 0) {
      ruleRows = x;
      break;
    }
  }
  const rows = [1, 2, 3, 4, 6, 8, 12, 16].filter((x) => x <= ea);
  const bm = d("tileRows", rows, ruleRows);
  const partial = (v: IterVar, size: number) =>
    epi?.parts[op.axis.indexOf(v)].part === "inner" && size < constExtent(v)!;
  if (partial(a, bm) || partial(b, bn)) epi = null;
  // The tiled stage and, for each axis of op, its loop there; the stage computing the tile.
  let st: Stage, loops: IterVar[], cl: Stage;
  let contiguous = op.axis.length - 1;
  if (epi) {
    ({ loops, contiguous } = matchLoops(rs, epi));
    st = rs.stage((epi.stage.op as ComputeOp).output);
    cl = rs.stage(op.output).setScope("local");
  } else {
    const CL = rs.cacheWrite(op.output, "local");
    st = rs.stage(op.output);
    loops = op.axis;
    cl = rs.stage(CL);
  }
  const [ao, ai] = st.split(loops[op.axis.indexOf(a)], { factor: bm });
  const [bo, bi] = st.split(loops[op.axis.indexOf(b)], { factor: bn });
  // A second level of tiling: a block of `rowBlock` tile rows runs inside each column of
  // tiles, so that the columns' operand panel (the reduction's extent x bn floats) is reused
  // from cache by the block instead of streamed once per tile row. By default where a tile row
  // iterates over several panels and a panel is larger than L1: BERT's 768x3072 weight (9.4 MB,
  // read whole per tile row) took 41 ms of kernels against 26-32 with blocks of 8-16 (Zen 3).
  const tilesA = Math.ceil(ea / bm);
  const blocks = [0, 2, 4, 8, 16].filter((x) => x < tilesA);
  const panel = op.reduceAxis.reduce((n, r) => n * (constExtent(r) ?? 1), bn) * 4;
  // Tiles of columns (of other panels) iterated inside each tile row.
  const inside = op.axis.slice(op.axis.indexOf(a) + 1)
    .reduce((n, v) => n * (v === b ? Math.ceil(eb / bn) : constExtent(v) ?? 1), 1);
  const ruleBlock = inside > 1 && panel > L1_BYTES ? blocks[blocks.length - 1] : 0;
  const rowBlock = d("rowBlock", blocks, ruleBlock);
  const [aOuter, aBlock] = rowBlock > 0 ? st.split(ao, { factor: rowBlock }) : [ao, null];
  const outer = op.axis.map((v, i) =>
    v === a
      ? { v: aOuter, ext: rowBlock > 0 ? Math.ceil(tilesA / rowBlock) : tilesA }
      : v === b
      ? { v: bo, ext: Math.ceil(eb / bn) }
      : { v: loops[i], ext: constExtent(v) }
  );
  // The data loop that goes outermost, into the parallel loop: of those outside the tile, the
  // one whose split among the cores leaves each core the fewest operand bytes. A convolution
  // with small weights splits its rows (each core reads half the input; ResNet-18's 56x56
  // layer, 0.69 -> 0.64 ms in a C harness), one with large weights its channel blocks.
  const free = op.axis.map((_, i) => i)
    .filter((i) => op.axis[i] !== a && op.axis[i] !== b && (outer[i].ext ?? 0) >= f.cores);
  if (free.length > 1) {
    const bytes = new Map<Tensor, { n: number; uses: Set<Var> }>();
    for (const r of readsOf(op)) {
      const n = r.tensor.shape.reduce((p, d) => p * (d.kind === "const" ? d.value : 0), 1) *
        bytesOf(r.tensor.dtype);
      const seen = bytes.get(r.tensor);
      if (seen) r.uses.forEach((u) => seen.uses.add(u));
      else bytes.set(r.tensor, { n, uses: new Set(r.uses) });
    }
    const perCore = (i: number) =>
      [...bytes.values()].reduce((t, r) => t + r.n / (r.uses.has(op.axis[i]) ? f.cores : 1), 0);
    const rule = free.reduce((p, q) => perCore(q) < perCore(p) ? q : p);
    const first = d("outerFirst", free, rule);
    if (first !== free[0]) outer.splice(free[0], 0, ...outer.splice(first, 1));
  }
  if (aBlock) outer.push({ v: aBlock, ext: rowBlock });
  // The tile's loops: the one along the stage's contiguous output innermost, vectorized.
  const rowsInner = contiguous === op.axis.indexOf(a);
  st.reorder(...outer.map((l) => l.v), ...(rowsInner ? [bi, ai] : [ai, bi]));
  if (rowsInner) {
    if (laneCount(bm, f.lanes) === bm) st.vectorize(ai);
  } else if (vector && contiguous === op.axis.indexOf(b)) st.vectorize(bi);
  parallelOuter(st, outer.slice(0, -1), op, f, d);
  cl.computeAt(st, outer[outer.length - 1].v);
  const reduce = cl.op.reduceAxis.map(loop);
  const last = reduce[reduce.length - 1];
  const steps: IterVar[] = reduce.slice(0, -1).map((l) => l.v);
  // The innermost reduce loop: unrolled whole (-1), split by a factor whose inner loop is
  // unrolled, or left alone (0).
  const ruleUnroll = last.ext !== null && last.ext <= f.maxUnroll
    ? -1
    : last.ext !== null && last.ext % 4 === 0
    ? 4
    : 0;
  const unrolls = last.ext === null
    ? [0]
    : [0, ...dividing(last.ext, [2, 4, 8, 16]).filter((x) => x > 1 && x < last.ext!)]
      .concat(last.ext <= 32 ? [-1] : []);
  const unroll = d("reduceUnroll", unrolls, ruleUnroll);
  if (unroll === -1) {
    cl.unroll(last.v);
    steps.push(last.v);
  } else if (unroll > 0) {
    const [ko, ki] = cl.split(last.v, { factor: unroll });
    cl.unroll(ki);
    steps.push(ko, ki);
  } else steps.push(last.v);
  const data = cl.op.axis;
  cl.reorder(...steps, ...data);
  const k = op.axis.indexOf(a);
  cl.unroll(data[k]);
  if (vector) cl.vectorize(data[data.length - 1]);
  else if (bn > 1) cl.unroll(data[data.length - 1]);
  return epi !== null;
}

/**
 * Whether a one-output reduction reads along its innermost reduce loop contiguously (only in
 * the last index of every read that uses it) with enough steps to fill vector lanes.
 */
function laneReduction(op: ComputeOp, f: CpuFacts): boolean {
  if (op.numOutputs !== 1) return false;
  const r = op.reduceAxis[op.reduceAxis.length - 1];
  const ext = constExtent(r);
  if (ext === null || ext < 2 * f.lanes || laneCount(ext, f.lanes) === null) return false;
  const reads = readsOf(op).filter((x) => x.uses.has(r));
  return reads.length > 0 && reads.every((x) => {
    const last = x.indices.length - 1;
    return x.indices.every((i, d) => (d === last) === usesVar(i, r));
  });
}

function vectorReduce(
  rs: Schedule,
  op: ComputeOp,
  f: CpuFacts,
  d: Decide,
  serial: boolean,
  pinned: boolean,
): void {
  const st = rs.stage(op.output);
  const r = op.reduceAxis[op.reduceAxis.length - 1];
  const ext = constExtent(r)!;
  // Two registers of lanes (two chains of partial results, whose latency one register's
  // chain leaves exposed) on long rows, even where they do not divide them (the last step
  // guarded): softmax's 1000-wide rows took 0.54 ms with 8 lanes, 0.44 with 16 (Zen 5), and
  // 0.33-0.35 against 0.39-0.41 ms with 32 against 16 in a C harness of the default schedule.
  const ruleLanes = ext % (2 * f.lanes) === 0 || ext >= 8 * f.lanes
    ? 2 * f.lanes
    : laneCount(ext, f.lanes)!;
  const least = Math.min(4, f.lanes);
  const widths = [4, 2, 1, 0.5].map((x) => x * f.lanes).filter((x) => x >= least && x < ext);
  // One register, guarded, stays a choice on long rows (it was the rule before two).
  const guarded = ext >= 8 * f.lanes ? [f.lanes] : [];
  const options = [...new Set([...dividing(ext, widths), ruleLanes, ...guarded])];
  const lanes = d("reduceLanes", options, ruleLanes);
  const [, ri] = st.split(r, { factor: lanes });
  const RF = rs.rfactor(op.output, ri, op.axis.length);
  const rf = rs.stage(RF);
  const lane = rf.op.axis[rf.op.axis.length - 1];
  rf.reorder(...rf.op.reduceAxis, lane).vectorize(lane);
  const outer = serial ? op.axis.map(loop) : parallelOuter(st, op.axis.map(loop), op, f, d);
  if (outer.length > 0 && (pinned || d("partialsAtRow", [true, false], true))) {
    rf.computeAt(st, outer[outer.length - 1].v);
  }
}

function plain(rs: Schedule, op: ComputeOp, f: CpuFacts, d: Decide, row: number): void {
  const st = rs.stage(op.output);
  // A row group's member runs one row at a time: its row axes are not loops to vectorize (a
  // 1024-row rsqrt split by 16 inside a row loop ran 16 guarded lanes a row).
  const serial = row > 0;
  const data = op.axis.slice(row).map(loop);
  const lanes = op.reduceAxis.length > 0 ? windowLanes(op, f) : null;
  const win = lanes !== null && data.length > 0 && d("window", [true, false], true) ? lanes : null;
  if (op.reduceAxis.length === 0 && data.length > 0) {
    const last = data[data.length - 1];
    // As vectorReduce: a whole register on long rows even where it does not divide them
    // (loop partitioning gives the last step a guard of its own).
    const rule = last.ext === null
      ? null
      : last.ext >= 8 * f.lanes && last.ext % f.lanes !== 0
      ? f.lanes
      : laneCount(last.ext, f.lanes);
    const least = Math.min(4, f.lanes);
    const widths = last.ext === null
      ? []
      : dividing(last.ext, [4, 2, 1, 0.5].map((x) => x * f.lanes).filter((x) => x >= least))
        .filter((x) => x >= least);
    const l0 = d(
      "vector",
      [...new Set([0, ...widths, ...(rule === null ? [] : [rule])])],
      rule ?? 0,
    );
    const l = l0 === 0 ? null : l0;
    if (l !== null && l === last.ext) {
      st.vectorize(last.v);
      data.pop();
    } else if (l !== null) {
      const [o, v] = st.split(last.v, { factor: l });
      st.vectorize(v);
      data[data.length - 1] = { v: o, ext: Math.ceil(last.ext! / l) };
    }
  } else if (win !== null) {
    // A small window (pooling, a depthwise filter): the window's loops go outside the last
    // data loop, which is vectorized, so each step of the window updates a vector of outputs.
    const last = data.pop()!;
    const prev = data[data.length - 1];
    const t = win === last.ext && win <= 2 * f.lanes && prev?.ext && !serial
      ? windowTile(prev.ext, Math.ceil(win / f.lanes), d)
      : 0;
    if (t > 0) {
      // A row of `t` windows' outputs accumulates in registers (a local cache computed per
      // row tile, the window's loops outside the unrolled tile): ResNet's blocked max pool
      // otherwise read and wrote its output row from memory at each of the 9 window steps.
      const CL = rs.stage(rs.cacheWrite(op.output, "local"));
      const out = rs.stage(op.output);
      const [xo] = out.split(prev.v, { factor: t });
      out.vectorize(last.v);
      data[data.length - 1] = { v: xo, ext: prev.ext! / t };
      // The tile is computed per iteration of `xo`, or of the parallel loop it was fused into.
      const rest = parallelOuter(out, data, op, f, d);
      CL.computeAt(out, rest[rest.length - 1].v);
      const [cx, cl] = CL.op.axis.slice(-2);
      CL.reorder(...CL.op.reduceAxis, cx, cl);
      CL.unroll(cx);
      CL.vectorize(cl);
      return;
    }
    if (win === last.ext) {
      st.reorder(...data.map((x) => x.v), ...op.reduceAxis, last.v);
      st.vectorize(last.v);
    } else {
      const [o, v] = st.split(last.v, { factor: win });
      st.reorder(...data.map((x) => x.v), o, ...op.reduceAxis, v);
      st.vectorize(v);
      data.push({ v: o, ext: last.ext! / win });
    }
  } else if (op.reduceAxis.length > 0) {
    const r = loop(op.reduceAxis[op.reduceAxis.length - 1]);
    if (r.ext !== null && r.ext <= 32 && d("unroll", [true, false], r.ext <= f.maxUnroll)) {
      st.unroll(r.v);
    }
  }
  if (!serial) parallelOuter(st, data, op, f, d);
}
