/**
 * Features of a lowered kernel for the cost model (lib/tune/costModel.ts), in the manner of
 * Ansor's per-store features but fixed in length so that any regression library takes them.
 * Every store in the loop IR is visited with the loops around it; what decides speed is
 * read off it:
 * - arithmetic per store (float adds/multiplies/divisions, integer index arithmetic, math
 *   calls, comparisons and selects), times the iterations that run it: the work, and whether
 *   index arithmetic or guards have crept into the hot loop;
 * - loop annotations and extents around the hot store (the one run most often): the
 *   innermost loop's extent and kind, the vector width, the unrolled product, the parallel
 *   and thread-bound extents (how much of the machine is used), the nesting depth;
 * - per buffer the hot store touches (its own output and each read): bytes moved (iterations
 *   x element size), unique bytes (the product of the extents of the loops its index uses:
 *   the footprint), their ratio (reuse: what a cache can save), and the stride of the
 *   innermost loop in the index (0 = a broadcast held in a register, 1 = contiguous, large =
 *   a cache line per element);
 * - allocations by scope (local register tiles, workgroup memory) and the count of stores
 *   and loops, which separates a fused program from one that goes through memory.
 * Counts and sizes enter as log2(1 + x): speed is multiplicative in them, and the trees of
 * a forest split as well on a log scale. Buffers are sorted by bytes moved, the largest
 * three kept, so that "operand 1" means the same role across candidates of one workload.
 */
import type { Buffer, Expr, Var } from "../ir/expr.ts";
import type { PrimFunc, Stmt } from "../ir/stmt.ts";
import { walkExpr } from "../ir/visit.ts";
import { compile } from "../display/evalIndex.ts";

const BUFFERS = 3;

export const FEATURE_NAMES: readonly string[] = [
  "total float ops",
  "total int ops",
  "total math calls",
  "total compares/selects",
  "total bytes loaded",
  "stores",
  "loops",
  "hot iterations",
  "hot float ops per iteration",
  "hot int ops per iteration",
  "hot compares per iteration",
  "hot depth",
  "innermost extent",
  "innermost serial",
  "innermost vectorized",
  "innermost unrolled",
  "innermost parallel",
  "innermost thread-bound",
  "vector width",
  "unrolled product",
  "parallel extent",
  "blockIdx extent",
  "threadIdx extent",
  "local bytes",
  "shared bytes",
  ...Array.from({ length: BUFFERS }, (_, i) => [
    `buffer ${i} bytes`,
    `buffer ${i} unique bytes`,
    `buffer ${i} reuse`,
    `buffer ${i} innermost stride`,
    `buffer ${i} is written`,
  ]).flat(),
];

interface LoopCtx {
  v: Var;
  extent: number;
  kind: string;
  tag: string | null;
}

interface Access {
  buffer: Buffer;
  index: Expr[];
  written: boolean;
}

const log = (x: number) => Math.log2(1 + Math.max(0, x));

const bytesOf = (b: Buffer) => Number(b.dtype.match(/\d+/)?.[0] ?? 32) / 8;

/** A constant extent, or the given guess for a symbolic one (sizes are bound at call time). */
function extentOf(e: Expr, sizes: ReadonlyMap<Var, number>): number {
  const f = compile(e, new Map(), (v) => sizes.get(v));
  const x = f ? f(new Float64Array(0)) : NaN;
  return Number.isFinite(x) ? x : 64;
}

function opCounts(e: Expr): { float: number; int: number; calls: number; cmp: number } {
  let float = 0, int = 0, calls = 0, cmp = 0;
  walkExpr(e, (x) => {
    if (x.kind === "binary") {
      if (x.dtype.startsWith("float")) float++;
      else int++;
    } else if (x.kind === "call") calls++;
    else if (x.kind === "cmp" || x.kind === "select") cmp++;
  });
  return { float, int, calls, cmp };
}

/**
 * The change of a flat index when `v` steps by one (others at 0), or null when it is not
 * index arithmetic (a gather).
 */
function strideOf(index: Expr[], v: Var, loops: LoopCtx[]): number | null {
  const slot = new Map<Var, number>(loops.map((l, i) => [l.v, i]));
  const env = new Float64Array(loops.length);
  let flat0 = 0, flat1 = 0;
  for (const e of index) {
    const f = compile(e, slot, () => 0);
    if (!f) return null;
    env.fill(0);
    const a = f(env);
    env[slot.get(v)!] = 1;
    const b = f(env);
    // Multi-dimensional indices (before flattening) count as row-major with unknown rows:
    // the last index dominates the stride.
    flat0 = flat0 * 1024 + a;
    flat1 = flat1 * 1024 + b;
  }
  return Math.abs(flat1 - flat0);
}

function usedVars(index: Expr[]): Set<Var> {
  const out = new Set<Var>();
  for (const e of index) {
    walkExpr(e, (x) => {
      if (x.kind === "var") out.add(x);
    });
  }
  return out;
}

/** The feature vector of `func` (FEATURE_NAMES says what each entry is). */
export function featuresOf(func: PrimFunc, sizes: ReadonlyMap<Var, number> = new Map()): number[] {
  const totals = { float: 0, int: 0, calls: 0, cmp: 0, loadBytes: 0, stores: 0, loops: 0 };
  const alloc = { local: 0, shared: 0 };
  let hot:
    | { iters: number; loops: LoopCtx[]; counts: ReturnType<typeof opCounts>; acc: Access[] }
    | null = null;
  const visit = (s: Stmt, loops: LoopCtx[]): void => {
    switch (s.kind) {
      case "for": {
        totals.loops++;
        const ctx: LoopCtx = {
          v: s.loopVar,
          extent: extentOf(s.extent, sizes),
          kind: s.forKind,
          tag: s.threadTag,
        };
        visit(s.body, [...loops, ctx]);
        return;
      }
      case "seq":
        s.stmts.forEach((x) => visit(x, loops));
        return;
      case "if":
        visit(s.then, loops);
        if (s.otherwise) visit(s.otherwise, loops);
        return;
      case "let":
        visit(s.body, loops);
        return;
      case "allocate": {
        const n = s.buffer.shape.reduce((p, e) => p * extentOf(e, sizes), 1) * bytesOf(s.buffer);
        if (s.buffer.scope === "local") alloc.local += n;
        else if (s.buffer.scope === "shared") alloc.shared += n;
        visit(s.body, loops);
        return;
      }
      case "store": {
        totals.stores++;
        const iters = loops.reduce((p, l) => p * l.extent, 1);
        const counts = opCounts(s.value);
        for (const e of s.indices) {
          const c = opCounts(e);
          counts.int += c.int + c.float;
        }
        totals.float += counts.float * iters;
        totals.int += counts.int * iters;
        totals.calls += counts.calls * iters;
        totals.cmp += counts.cmp * iters;
        const acc: Access[] = [{ buffer: s.buffer, index: s.indices, written: true }];
        walkExpr(s.value, (x) => {
          if (x.kind === "bufferLoad") {
            acc.push({ buffer: x.buffer, index: x.indices, written: false });
            totals.loadBytes += bytesOf(x.buffer) * iters;
          }
        });
        if (!hot || iters > hot.iters) hot = { iters, loops, counts, acc };
        return;
      }
      default:
        return;
    }
  };
  visit(func.body, []);
  const out: number[] = [
    log(totals.float),
    log(totals.int),
    log(totals.calls),
    log(totals.cmp),
    log(totals.loadBytes),
    totals.stores,
    totals.loops,
  ];
  const h = hot as
    | { iters: number; loops: LoopCtx[]; counts: ReturnType<typeof opCounts>; acc: Access[] }
    | null;
  if (!h) return [...out, ...new Array(FEATURE_NAMES.length - out.length).fill(0)];
  const inner = h.loops[h.loops.length - 1];
  const product = (pred: (l: LoopCtx) => boolean) =>
    h.loops.filter(pred).reduce((p, l) => p * l.extent, 1);
  out.push(
    log(h.iters),
    h.counts.float,
    h.counts.int,
    h.counts.cmp,
    h.loops.length,
    log(inner?.extent ?? 1),
    ...["serial", "vectorized", "unrolled", "parallel", "threadBinding"].map((k) =>
      inner?.kind === k ? 1 : 0
    ),
    log(product((l) => l.kind === "vectorized")),
    log(product((l) => l.kind === "unrolled")),
    log(product((l) => l.kind === "parallel")),
    log(product((l) => l.tag?.startsWith("blockIdx") ?? false)),
    log(product((l) => l.tag?.startsWith("threadIdx") ?? false)),
    log(alloc.local),
    log(alloc.shared),
  );
  const perBuffer = h.acc.map((a) => {
    const used = usedVars(a.index);
    const moved = h.iters * bytesOf(a.buffer);
    const unique = h.loops.filter((l) => used.has(l.v)).reduce((p, l) => p * l.extent, 1) *
      bytesOf(a.buffer);
    // The innermost loop that is not a thread binding: what one invocation steps through.
    const serial = [...h.loops].reverse().find((l) => l.kind !== "threadBinding");
    const stride = serial ? strideOf(a.index, serial.v, h.loops) : 0;
    return [log(moved), log(unique), log(moved / unique), log(stride ?? 1e6), a.written ? 1 : 0];
  }).sort((x, y) => y[0] - x[0]).slice(0, BUFFERS);
  while (perBuffer.length < BUFFERS) perBuffer.push([0, 0, 0, 0, 0]);
  return [...out, ...perBuffer.flat()];
}
