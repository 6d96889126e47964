/**
 * Random valid schedules for a program: graph changes first (cacheRead, cacheWrite, pack, rfactor),
 * then loop changes on every stage (split with dividing and non-dividing factors, fuse,
 * reorder), then inlining and computeAt, then loop annotations. Every step is logged, so a
 * failing case prints the exact schedule. A primitive that rightly rejects a random choice
 * (a TesseraError) is logged as rejected and the walk goes on: the tests of misuse live
 * elsewhere; here we check that whatever is accepted computes the right answer.
 */
import { type IterVar, type Schedule, type Stage, te, TesseraError } from "../../mod.ts";
import type { Choices } from "./choices.ts";
import type { Expr } from "../../lib/ir/expr.ts";
import { inferBounds } from "../../lib/lower/bounds.ts";
import { inlineBodies } from "../../lib/lower/inline.ts";
import type { Program } from "./programs.ts";

function attempt(log: string[], what: string, f: () => unknown): void {
  try {
    f();
    log.push(what);
  } catch (e) {
    if (!(e instanceof TesseraError)) throw e;
    log.push(`(rejected) ${what}: ${e.message}`);
  }
}

/**
 * Big sizes: a split by a factor near 2^31 whose inner loop is fused with the next root axis
 * (of constant extent >= 2) makes a loop of more than 2^31 iterations over no more memory
 * than before. Loop variables are int32, so the call must refuse it with a TesseraError
 * (check.ts counts that as a rejection), never wrap its extent into a loop that runs wrong.
 * CPU schedules only: binding threads would split the big loop into ones that really run.
 */
const BIG_FACTOR = 2 ** 31 - 5;

function bigFuse(st: Stage, v: IterVar, log: string[]): boolean {
  const leaves = st.leafIterVars;
  const next = leaves[leaves.indexOf(v) + 1];
  const ext = next?.dom?.extent;
  // A fuse refused (a data loop with a reduce loop) would leave the huge split loop alone:
  // correct, but a guarded loop of 2^31 iterations the interpreter runs for minutes.
  if (!ext || ext.kind !== "const" || ext.value < 2 || next.iterType !== v.iterType) return false;
  attempt(
    log,
    `${st.name}.split(${v.name}, factor ${BIG_FACTOR}); fuse inner, ${next.name}`,
    () => {
      const [, inner] = st.split(v, { factor: BIG_FACTOR });
      st.fuse(inner, next);
    },
  );
  return true;
}

const computeStages = (s: Schedule) => s.stages.filter((st) => st.op.kind === "compute");

/**
 * The stages a scan owns (inits and updates) stay at the root, and an update's axis 0 (the
 * scan axis) stays its outermost, unannotated loop: lowering refuses anything else
 * (tests/scan_test.ts holds those refusals), so random schedules leave them so.
 */
function scanParts(s: Schedule): { parts: Set<Stage>; updates: Set<Stage> } {
  const parts = new Set<Stage>(), updates = new Set<Stage>();
  for (const st of s.stages) {
    if (st.op.kind !== "scan") continue;
    const stageOf = (t: { op: unknown }) => s.stages.find((x) => x.op === t.op)!;
    st.op.group.init.forEach((t) => parts.add(stageOf(t)));
    st.op.group.update.forEach((t) => {
      parts.add(stageOf(t));
      updates.add(stageOf(t));
    });
  }
  return { parts, updates };
}

/** Stages that read `st` once inlined stages are looked through. */
function effectiveReaders(s: Schedule, st: Stage): Stage[] {
  const out = new Set<Stage>();
  for (const r of s.readers(st)) {
    if (r.attach.type === "inline") effectiveReaders(s, r).forEach((x) => out.add(x));
    else out.add(r);
  }
  return [...out];
}

export function randomSchedule(
  p: Program,
  c: Choices,
  target: "cpu" | "gpu" = "cpu",
  /** Sees the fresh schedule first (a trace recorder wraps it; tests/trace_test.ts). */
  wrap: (s: Schedule) => Schedule = (s) => s,
): { s: Schedule; log: string[] } {
  const s = wrap(te.createSchedule(p.outputs));
  const log: string[] = [];
  const { parts, updates } = scanParts(s);
  /** The loops of `st` a schedule may change: not an update's scan axis. */
  const free = (st: Stage) => updates.has(st) ? st.leafIterVars.slice(1) : st.leafIterVars;

  // 1. Graph changes.
  for (let n = c.int(0, 2); n > 0; n--) {
    const stages = s.stages;
    switch (c.pick(4)) {
      case 0: {
        const prod = c.one(stages);
        const readers = s.readers(prod).filter((r) => !parts.has(r));
        if (readers.length === 0) break;
        const reader = c.one(readers);
        const scope = c.one(["local", "shared", "global"] as const);
        attempt(
          log,
          `cacheRead(${prod.name}, ${scope}, [${reader.name}])`,
          () => s.cacheRead(prod.op.output, scope, [reader]),
        );
        break;
      }
      case 1: {
        const st = c.one(computeStages(s));
        if (parts.has(st)) break;
        attempt(log, `cacheWrite(${st.name}, local)`, () => s.cacheWrite(st.op.output, "local"));
        break;
      }
      case 2: {
        const st = c.one(computeStages(s));
        if (parts.has(st) || st.op.kind !== "compute" || st.op.axis.length === 0) break;
        const v = c.one(st.op.axis);
        // A divisor of a constant extent mostly, sometimes any factor (to be refused).
        const ext = v.dom?.extent.kind === "const" ? Number(v.dom.extent.value) : 0;
        const divisors = Array.from({ length: ext }, (_, i) => i + 1).filter((d) => ext % d === 0);
        const f = divisors.length > 0 && c.chance(80) ? c.one(divisors) : c.int(1, 5);
        attempt(log, `pack(${st.name}, ${v.name}, ${f})`, () => s.pack(st.op.output, v, f));
        break;
      }
      default: {
        const reds = computeStages(s).filter((st) => st.op.reduceAxis.length > 0);
        if (reds.length === 0) break;
        const st = c.one(reds);
        const k = c.one(st.leafIterVars.filter((v) => v.iterType === "reduce"));
        const f = c.int(1, 4);
        let target: IterVar = k;
        attempt(log, `split(${st.name}.${k.name}, factor ${f})`, () => {
          const [ko, ki] = st.split(k, { factor: f });
          target = c.chance(50) ? ki : ko;
        });
        const fa = c.int(0, st.op.axis.length);
        attempt(
          log,
          `rfactor(${st.name}, ${target.name}, ${fa})`,
          () => s.rfactor(st.op.output, target, fa),
        );
      }
    }
  }

  // 2. Loop structure of every computed stage.
  const big = new Set<Stage>(); // stages with a loop past int32: nothing attaches inside them
  for (const st of computeStages(s)) {
    for (let n = c.int(0, 4); n > 0; n--) {
      const leaves = free(st);
      if (leaves.length === 0) break;
      switch (c.pick(4)) {
        case 0:
        case 1: {
          const v = c.one(leaves);
          if (target === "cpu" && c.chance(2) && bigFuse(st, v, log)) {
            big.add(st);
            n = 0; // nothing may split the big loop into loops that would run
          }
          if (n === 0) break;
          const by = c.chance(70) ? { factor: c.int(1, 5) } : { nparts: c.int(1, 4) };
          attempt(log, `${st.name}.split(${v.name}, ${JSON.stringify(by)})`, () => st.split(v, by));
          break;
        }
        case 2: {
          if (leaves.length < 2) break;
          const i = c.pick(leaves.length - 1);
          attempt(
            log,
            `${st.name}.fuse(${leaves[i].name}, ${leaves[i + 1].name})`,
            () => st.fuse(leaves[i], leaves[i + 1]),
          );
          break;
        }
        default: {
          const shuffled = c.shuffle(leaves);
          if (shuffled.every((v, k) => v === leaves[k])) break; // a no-op reorder only warns
          const order = [...st.leafIterVars.slice(0, -leaves.length), ...shuffled];
          attempt(
            log,
            `${st.name}.reorder(${order.map((v) => v.name)})`,
            () => st.reorder(...order),
          );
        }
      }
    }
  }

  // 3. Inlining, then attaching producers inside their consumer's loops.
  for (const st of computeStages(s)) {
    if (st.isOutput || st.op.reduceAxis.length > 0 || parts.has(st) || !c.chance(30)) continue;
    attempt(log, `${st.name}.computeInline()`, () => st.computeInline());
  }
  for (const st of [...computeStages(s)].reverse()) {
    if (st.isOutput || st.attach.type === "inline" || parts.has(st) || !c.chance(60)) continue;
    const readers = effectiveReaders(s, st);
    if (readers.length !== 1) continue;
    const parent = readers[0];
    if (big.has(parent)) continue;
    const axis = c.one(free(parent));
    if (!axis) continue;
    attempt(
      log,
      `${st.name}.computeAt(${parent.name}, ${axis.name})`,
      () => st.computeAt(parent, axis),
    );
  }

  if (target === "gpu") {
    bindForGpu(s, c, log, parts, free);
    return { s, log };
  }

  // 4. Loop annotations.
  for (const st of computeStages(s)) {
    if (st.attach.type === "inline") continue;
    for (let n = c.int(0, 2); n > 0 && free(st).length > 0; n--) {
      const v = c.one(free(st));
      const kind = c.one(
        ["unroll", "vectorize", "parallel", "pragma", "bind", "storageAlign"] as const,
      );
      const tag = c.one(["blockIdx.x", "threadIdx.x", "threadIdx.y"] as const);
      const ax = c.one(st.op.axis), factor = c.int(1, 4), offset = c.pick(factor);
      const what = kind === "bind"
        ? `${st.name}.bind(${v.name}, ${tag})`
        : kind === "storageAlign"
        ? `${st.name}.storageAlign(${ax.name}, ${factor}, ${offset})`
        : `${st.name}.${kind}(${v.name})`;
      attempt(log, what, () => {
        if (kind === "pragma") st.pragma(v, "auto_unroll_max_step", 16);
        else if (kind === "bind") st.bind(v, tag);
        else if (kind === "storageAlign") st.storageAlign(ax, factor, offset);
        else st[kind](v);
      });
    }
  }
  doubleBufferSome(s, c, log, 30);
  return { s, log };
}

/**
 * Double buffering: a stage attached inside a serial loop (after every annotation, so the
 * loop's kind is final) loads the next iteration's tile ahead. One whose tile reads a stage
 * computed inside the same loop is refused at lowering (check.ts counts it rejected).
 */
function doubleBufferSome(s: Schedule, c: Choices, log: string[], percent: number): void {
  for (const st of computeStages(s)) {
    if (st.attach.type !== "scope" || !c.chance(percent)) continue;
    const a = st.attach.stage.attrs.get(st.attach.axis);
    if (a && (a.forKind !== "serial" || a.threadTag)) continue;
    attempt(log, `${st.name}.doubleBuffer()`, () => st.doubleBuffer());
  }
}

/**
 * The extent of each loop of `st` as lowering makes it: an attached stage's loops cover the
 * region its readers need, which non-dividing splits around them can make far larger than
 * its domain (an 8-row producer read under a loop split 5, 5 and 3 ways gets 300 rows).
 * Empty when bounds cannot be inferred (lowering will say why).
 */
function loweredExtents(s: Schedule, st: Stage): Map<IterVar, Expr> {
  try {
    return inferBounds(s, inlineBodies(s)).get(st)?.ext ?? new Map();
  } catch (e) {
    if (!(e instanceof TesseraError)) throw e;
    return new Map();
  }
}

/** The root stage whose kernel runs `st`. */
function rootOf(st: Stage): Stage {
  let r = st;
  while (r.attach.type === "scope") r = r.attach.stage;
  return r;
}

/**
 * A reduce loop of `st` that a cross-thread reduction can bind to threadIdx.x: constant
 * extent up to `most`, every data loop outside the reduce loops (lowering's requirement).
 */
function threadReducible(st: Stage, ext: Map<IterVar, Expr>, most: number): IterVar | null {
  const leaves = st.leafIterVars;
  const first = leaves.findIndex((v) => v.iterType === "reduce");
  if (first < 0 || leaves.slice(first).some((v) => v.iterType === "data")) return null;
  const ok = leaves.slice(first).filter((v) => {
    const e = ext.get(v);
    return e?.kind === "const" && e.value > 1 && e.value <= most;
  });
  return ok.length ? ok[ok.length - 1] : null;
}

/** Threads a generated workgroup may have: what WebGPU adapters commonly allow (llvmpipe too). */
const MAX_INVOCATIONS = 1024;

/**
 * GPU-style bindings: a root stage's outermost loop (when it is a data axis) goes to
 * blockIdx.x, and one later data loop of constant extent up to 64 to a thread index; stages
 * computed inside another may bind a loop to threadIdx.y (a cooperative, shared-memory-style
 * fill), keeping the workgroup within MAX_INVOCATIONS. Extents are the lowered ones, and
 * consumers are bound before their producers, since how a consumer's loops are bound changes
 * the region a producer attached inside them covers. A reduce loop may go to threadIdx.x (a
 * cross-thread reduction), a short data loop to "vthread"; attached stages keep the default
 * scope, so scope inference decides where they live. Unrolling and vectorizing still apply;
 * a short innermost loop split off and vectorized exercises the printer's vecN code. Stages
 * attached inside a serial loop may be double-buffered.
 */
function bindForGpu(
  s: Schedule,
  c: Choices,
  log: string[],
  /** A scan's stages run in one workgroup: threads only, and not on the scan axis. */
  scanParts: Set<Stage>,
  free: (st: Stage) => IterVar[],
): void {
  const threadsX = new Map<Stage, number>();
  for (const st of [...computeStages(s)].reverse()) {
    if (st.attach.type === "inline") continue;
    const leaves = st.leafIterVars;
    const inScan = scanParts.has(st);
    const ext = loweredExtents(s, st);
    const extent = (v: IterVar) => {
      const e = ext.get(v);
      return v.iterType !== "reduce" && e?.kind === "const" ? e.value : Infinity;
    };
    if (st.attach.type === "root") {
      if (!inScan && leaves[0].iterType !== "reduce" && c.chance(80)) {
        attempt(
          log,
          `${st.name}.bind(${leaves[0].name}, blockIdx.x)`,
          () => st.bind(leaves[0], "blockIdx.x"),
        );
      }
      const inner = (inScan ? free(st) : leaves.slice(1)).filter((v) => extent(v) <= 64);
      const red = inScan ? null : threadReducible(st, ext, 64);
      if (red && c.chance(30)) {
        attempt(log, `${st.name}.bind(${red.name}, threadIdx.x) (across threads)`, () => {
          st.bind(red, "threadIdx.x");
          threadsX.set(st, (ext.get(red) as Expr & { value: number }).value);
        });
      } else if (inner.length && c.chance(80)) {
        const v = c.one(inner);
        attempt(log, `${st.name}.bind(${v.name}, threadIdx.x)`, () => {
          st.bind(v, "threadIdx.x");
          threadsX.set(st, extent(v));
        });
      }
    } else {
      // A reduction across threads inside a workgroup that has no threadIdx.x of its own.
      const red = threadsX.has(rootOf(st)) ? null : threadReducible(st, ext, 16);
      if (red && c.chance(40)) {
        attempt(
          log,
          `${st.name}.bind(${red.name}, threadIdx.x) (across threads)`,
          () => st.bind(red, "threadIdx.x"),
        );
        continue;
      }
      const most = Math.min(64, Math.floor(MAX_INVOCATIONS / (threadsX.get(rootOf(st)) ?? 1)));
      const inner = leaves.filter((v) => extent(v) <= most);
      if (inner.length && c.chance(50)) {
        const v = c.one(inner);
        attempt(log, `${st.name}.bind(${v.name}, threadIdx.y)`, () => st.bind(v, "threadIdx.y"));
      }
    }
    // Virtual threads: a short data loop no other binding took (never a scan's row loop).
    const short = free(st).filter((v) =>
      v.iterType === "data" && !st.attrs.get(v)?.threadTag && extent(v) <= 8
    );
    if (short.length && c.chance(25)) {
      const v = c.one(short);
      attempt(log, `${st.name}.bind(${v.name}, vthread)`, () => st.bind(v, "vthread"));
    }
    if (free(st).length > 0 && c.chance(30)) {
      const v = c.one(free(st));
      const kind = c.one(["unroll", "vectorize"] as const);
      attempt(log, `${st.name}.${kind}(${v.name})`, () => st[kind](v));
    }
    // A short vectorized innermost loop, so that vecN code (and vector loads, where a row
    // starts at a multiple of the width) is generated too.
    const last = st.leafIterVars.at(-1)!;
    const attachedAt = s.stages.some((x) =>
      x.attach.type === "scope" && x.attach.stage === st && x.attach.axis === last
    );
    if (free(st).includes(last) && last.iterType !== "reduce" && !attachedAt && c.chance(30)) {
      const lanes = c.one([2, 3, 4] as const);
      attempt(log, `${st.name}.split(${last.name}, factor ${lanes}); vectorize inner`, () => {
        const [, v] = st.split(last, { factor: lanes });
        st.vectorize(v);
      });
    }
  }
  doubleBufferSome(s, c, log, 50);
}
