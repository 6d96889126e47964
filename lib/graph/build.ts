/**
 * `graph.build(g, { target })`: a whole model as one executable. The graph is optimized
 * (pipeline.ts) with its symbolic sizes bound, partitioned into fused groups (fuseOps), each
 * group merged into one `te` program and scheduled (the best tuning record for it when
 * records are given and hold one, the default schedule otherwise; the choice is kept per
 * kernel), and every intermediate placed in one arena (planMemory).
 *
 * Targets:
 *   - "interpreter": each group's lowered function run by the interpreter on views of the
 *     arena (the plan is exercised, so an overlap bug shows as a wrong answer);
 *   - "c": ONE shared library: each group's kernel printed by the C printer (its own file,
 *     compiled together), and a driver that calls them in order on arena and param offsets.
 *     An inference is ONE FFI call; weights are copied into the library's param block once;
 *   - "webgpu": every group's dispatches merged into ONE plan, one command submission per
 *     inference, weights uploaded once as device arrays (buildWebgpu.ts).
 * Inputs are checked (dtypes and exact shapes) before any native call; the executable is
 * specialized to the sizes it was built for.
 */
import { alignedBytes } from "../runtime/aligned.ts";
import { TesseraError } from "../error.ts";
import { evaluate } from "../ir/interpret.ts";
import type { PrimFunc } from "../ir/stmt.ts";
import { lower } from "../lower/lower.ts";
import { NDArray, typedView } from "../runtime/ndarray.ts";
import { Schedule } from "../schedule/schedule.ts";
import { defaultSchedule } from "../tune/default.ts";
import { workloadKey } from "../tune/key.ts";
import { best, readRecords, type TuneRecord } from "../tune/records.ts";
import { targetFacts } from "../tune/target.ts";
import { targetKey } from "../tune/key.ts";
import { applyTrace } from "../tune/trace.ts";
import { buildGraphC } from "./buildC.ts";
import { buildGraphWebgpu } from "./buildWebgpu.ts";
import { groupProgram } from "./fusedProgram.ts";
import { type Graph, Value } from "./ir.ts";
import type { Tensor } from "../te/tensor.ts";
import { bindInputs, type GraphInputs } from "./interpret.ts";
import { knownShape } from "./legalize.ts";
import { blockedFor, optimize, pipeline, weightBlockFor } from "./pipeline.ts";
import { type FusedGroup, fuseOps, type Partition } from "./passes/fuseOps.ts";
import { type MemoryPlan, planMemory } from "./passes/planMemory.ts";
import { findViews } from "./passes/views.ts";
import { showBytes } from "./print.ts";

/** "interpret" is accepted as another spelling of "interpreter" (te.build's name). */
export type GraphTarget = "interpreter" | "interpret" | "c" | "webgpu";

export interface GraphBuildOptions {
  target?: GraphTarget;
  /** Values of the graph's symbolic sizes ({ n: 1 }); the executable is built for them. */
  sizes?: Record<string, number>;
  /** Tuning records: a records file's path or parsed records. */
  records?: string | TuneRecord[];
  /** Fuse operators (default true); false gives one kernel per node (the unfused baseline). */
  fuse?: boolean;
  /** The most nodes in one fused group (default 32). */
  maxGroupSize?: number;
  /** Run the optimization pipeline (default true). */
  optimize?: boolean;
  /** Schedule kernels: "auto" (records, else default; the default) or "none" (unscheduled). */
  schedule?: "auto" | "none";
}

/** One fused group's kernel and how it was scheduled. */
export interface GroupKernel {
  group: FusedGroup;
  /** Its parameters: the group's inputs, then `scratch`, then the group's outputs. */
  func: PrimFunc;
  /** Intermediates the kernel keeps in the arena (Values standing for its root stages). */
  scratch: Value[];
  schedule: "records" | "default" | "none";
  /** Why the default schedule was not used, when it failed on this group. */
  note?: string;
}

/** Where each value lives at run time. */
export type Location =
  | { kind: "input"; index: number }
  | { kind: "output"; index: number }
  | { kind: "param"; offset: number }
  | { kind: "arena"; offset: number };

/** A compiled model. `await exe.run(inputs)` returns its outputs. */
export class GraphExecutable {
  constructor(
    readonly target: GraphTarget,
    /** The source graph, and the optimized one the kernels compute. */
    readonly source: Graph,
    readonly graph: Graph,
    readonly partition: Partition,
    readonly plan: MemoryPlan,
    readonly kernels: readonly GroupKernel[],
    readonly paramBytes: number,
    private readonly runner: (inputs: NDArray[], outputs: NDArray[]) => Promise<void> | void,
    /** The generated driver and kernels (C), the shaders (WebGPU) or the loop IR. */
    readonly code: string,
    /** Target-specific lines for the summary. */
    readonly notes: readonly string[] = [],
    /** One timed inference: each kernel's milliseconds (C only). */
    private readonly timedRunner?: (inputs: NDArray[], outputs: NDArray[]) => Float64Array,
  ) {}

  /**
   * Where one inference's time goes, as TVM's debug executor reports it: `runs` inferences
   * (default 10, after one untimed) through a driver that reads the clock between kernels,
   * and each kernel's median milliseconds, with its fused group and schedule, slowest first.
   * The kernels run as in `run` (same order, arena and caches), so their sum is the inference
   * less the FFI call. C target only.
   */
  async profile(inputs: GraphInputs, opts: { runs?: number } = {}): Promise<ModelProfile> {
    const runs = opts.runs ?? 10;
    if (!Number.isInteger(runs) || runs < 1) {
      throw new TesseraError(`profile: runs must be a positive integer, got ${runs}`);
    }
    if (!this.timedRunner) {
      throw new TesseraError(
        `profile: the ${this.target} target has no per-kernel timer; build with target "c"`,
      );
    }
    const { arrays } = bindInputs(this.graph, inputs, `profile ${this.graph.name}`);
    const outs = this.graph.outputs.map((v) => new NDArray(knownShape(v.shape, "run"), v.dtype));
    await this.run(inputs);
    const samples = this.kernels.map(() => [] as number[]);
    for (let r = 0; r < runs; r++) {
      this.timedRunner(arrays, outs).forEach((ms, i) => samples[i].push(ms));
    }
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b), h = s.length >> 1;
      return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
    };
    const rows = this.kernels.map((k, i) => ({
      kernel: k.func.name,
      group: k.group.name,
      schedule: k.schedule,
      ms: median(samples[i]),
    })).sort((a, b) => b.ms - a.ms);
    return new ModelProfile(rows, runs);
  }

  /** Runs one inference: inputs in order or by name; returns the outputs in order. */
  async run(inputs: GraphInputs): Promise<NDArray[]> {
    const { arrays } = bindInputs(this.graph, inputs, `run ${this.graph.name}`);
    const outs = this.graph.outputs.map((v) => new NDArray(knownShape(v.shape, "run"), v.dtype));
    await this.runner(arrays, outs);
    return outs;
  }

  /** Counts and sizes, one line each. */
  summary(): string {
    const sched = (k: GroupKernel["schedule"]) =>
      this.kernels.filter((x) => x.schedule === k).length;
    return [
      `target ${this.target}`,
      `nodes: ${this.source.nodes.length} in the source graph, ${this.graph.nodes.length} after passes`,
      `kernels: ${this.kernels.length} for ${this.partition.groups.length} fused groups ` +
      `(${sched("records")} from records, ${sched("default")} default schedules, ` +
      `${sched("none")} unscheduled; ${this.partition.groups.length - this.kernels.length} ` +
      `reshape groups as views)`,
      `arena: ${showBytes(this.plan.arenaBytes)} (naive ${showBytes(this.plan.naiveBytes)}, ` +
      `max-live bound ${showBytes(this.plan.maxLiveBytes)})`,
      `params: ${showBytes(this.paramBytes)}`,
      ...this.notes,
    ].join("\n");
  }
}

/** Per-kernel medians of `exe.profile`, slowest first; `table()` prints them. */
export class ModelProfile {
  constructor(
    readonly rows: readonly { kernel: string; group: string; schedule: string; ms: number }[],
    readonly runs: number,
  ) {}

  /** The sum of the kernels' medians. */
  get totalMs(): number {
    return this.rows.reduce((a, r) => a + r.ms, 0);
  }

  table(): string {
    const total = this.totalMs;
    const w = Math.max(6, ...this.rows.map((r) => r.kernel.length));
    const g = Math.max(5, ...this.rows.map((r) => r.group.length));
    return [
      `${"kernel".padEnd(w)}  ${"group".padEnd(g)}  schedule   median ms   share`,
      ...this.rows.map((r) =>
        `${r.kernel.padEnd(w)}  ${r.group.padEnd(g)}  ${r.schedule.padEnd(9)} ${
          r.ms.toFixed(3).padStart(10)
        }  ${(100 * r.ms / total).toFixed(1).padStart(5)}%`
      ),
      `sum of ${this.rows.length} kernels: ${total.toFixed(3)} ms (medians of ${this.runs} runs)`,
    ].join("\n");
  }
}

/** Each value's run-time location; params packed (64-byte aligned) into one block. */
export function locate(g: Graph, plan: MemoryPlan, views: ReadonlyMap<Value, Value>): {
  where: Map<Value, Location>;
  paramBytes: number;
} {
  const where = new Map<Value, Location>();
  g.inputs.forEach((v, i) => where.set(v, { kind: "input", index: i }));
  let off = 0;
  for (const [name, v] of g.paramValues) {
    where.set(v, { kind: "param", offset: off });
    const p = g.params.get(name)!;
    off += Math.ceil(p.data.byteLength / 64) * 64;
  }
  g.outputs.forEach((v, i) => {
    if (!where.has(v)) where.set(v, { kind: "output", index: i });
  });
  for (const [v, o] of plan.offsets) where.set(v, { kind: "arena", offset: o });
  for (const [v, src] of views) where.set(v, where.get(src)!);
  return { where, paramBytes: off };
}

/**
 * The schedule for a group's program: the best record when there is one, else the default
 * rules, else (when the rules refuse the program) none, with the reason.
 */
async function chooseSchedule(
  outputs: Tensor[],
  rules: "c" | "webgpu",
  records: TuneRecord[] | null,
  tkey: string | null,
  mode: "auto" | "none",
): Promise<{ s: Schedule; how: GroupKernel["schedule"]; note?: string }> {
  if (mode === "none") return { s: new Schedule(outputs), how: "none" };
  if (records && tkey) {
    const r = best(records, workloadKey(outputs), tkey);
    if (r) return { s: applyTrace(new Schedule(outputs), r.trace), how: "records" };
  }
  try {
    return { s: (await defaultSchedule(outputs, rules)).schedule, how: "default" };
  } catch (e) {
    if (!(e instanceof TesseraError)) throw e;
    // The unscheduled program is always correct; say why it is used.
    return { s: new Schedule(outputs), how: "none", note: e.message };
  }
}

/**
 * Lowers a group with every intermediate the schedule keeps at the root (a matmul before
 * its epilogue, a softmax's row maxima) as a kernel argument, so that memory planning puts
 * it in the arena instead of the kernel allocating it on every call. Each gets a Value of
 * its own (kind "node", no producer) standing for it in the plan.
 */
async function scheduleGroup(
  group: FusedGroup,
  rules: "c" | "webgpu",
  records: TuneRecord[] | null,
  tkey: string | null,
  mode: "auto" | "none",
): Promise<GroupKernel> {
  const prog = groupProgram(group);
  const name = `g${group.id}_${group.name}`.slice(0, 64);
  const { s, how, note } = await chooseSchedule(prog.outputs, rules, records, tkey, mode);
  const temps: Tensor[] = [];
  for (const st of s.stages) {
    if (st.attach.type !== "root" || st.isOutput || st.op.kind !== "compute") continue;
    temps.push(...st.op.outputs);
  }
  const args = [...prog.inputs, ...temps, ...prog.outputs];
  const scratch = temps.map((t, i) =>
    new Value(
      `${name}.tmp${i}`,
      t.shape.map((d) => (d as { value: number }).value),
      t.dtype,
      "node",
    )
  );
  let func: PrimFunc;
  try {
    func = lower(s, args, { name });
  } catch (e) {
    if (!(e instanceof TesseraError) || temps.length === 0) throw e;
    // Lowering refused an intermediate as an argument: the kernel allocates its own.
    return {
      group,
      func: lower(s, [...prog.inputs, ...prog.outputs], { name }),
      schedule: how,
      scratch: [],
      note: [note, `temporaries kept in the kernel: ${e.message}`].filter(Boolean).join("; "),
    };
  }
  return { group, func, schedule: how, scratch, ...(note ? { note } : {}) };
}

export async function buildGraph(g: Graph, opts: GraphBuildOptions = {}): Promise<GraphExecutable> {
  const given = opts.target ?? "interpreter";
  const target = given === "interpret" ? "interpreter" : given;
  if (target !== "interpreter" && target !== "c" && target !== "webgpu") {
    throw new TesseraError(
      `graph.build: target ${JSON.stringify(given)} is not available; use "interpreter", "c" ` +
        `or "webgpu"`,
    );
  }
  const sizes = opts.sizes ?? {};
  const missing = g.symbols.filter((s) => !(s in sizes));
  if (missing.length > 0) {
    throw new TesseraError(
      `graph.build: the graph has symbolic sizes ${missing.join(", ")}; an executable is ` +
        `built for known sizes: pass sizes: { ${missing.map((s) => `${s}: 1`).join(", ")} }`,
    );
  }
  const passes = opts.optimize === false
    ? []
    : pipeline(await weightBlockFor(target), blockedFor(target));
  const optimized = optimize(g, sizes, passes);
  const partition = fuseOps(optimized, {
    disable: opts.fuse === false,
    maxGroupSize: opts.maxGroupSize,
  });
  // Reshapes alone in a group are views of their input: no kernel, no buffer.
  const views = findViews(partition);
  let records: TuneRecord[] | null = null;
  let tkey: string | null = null;
  if (opts.records !== undefined) {
    records = typeof opts.records === "string"
      ? (await readRecords(opts.records)).records
      : opts.records;
    // The interpreter runs the CPU schedules: it reads the C target's records.
    tkey = targetKey(await targetFacts(target === "webgpu" ? "webgpu" : "c"));
  }
  const kernels: GroupKernel[] = [];
  for (const group of partition.groups) {
    if (group.outputs.every((v) => views.has(v))) continue;
    kernels.push(
      await scheduleGroup(
        group,
        target === "webgpu" ? "webgpu" : "c",
        records,
        tkey,
        opts.schedule ?? "auto",
      ),
    );
  }
  const plan = planMemory(
    partition,
    64,
    views,
    new Map(kernels.map((k) => [k.group.id, k.scratch])),
  );
  const { where, paramBytes } = locate(optimized, plan, views);
  // Both 64-byte aligned, so that the plan's 64-byte offsets are aligned addresses.
  const block = alignedBytes(Math.max(paramBytes, 64));
  for (const [name, v] of optimized.paramValues) {
    const loc = where.get(v) as { offset: number };
    const d = optimized.params.get(name)!.data;
    block.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), loc.offset);
  }
  const arena = alignedBytes(Math.max(plan.arenaBytes, 64));
  const make = (
    runner: (i: NDArray[], o: NDArray[]) => Promise<void> | void,
    code: string,
    notes: string[] = [],
    timed?: (i: NDArray[], o: NDArray[]) => Float64Array,
  ) =>
    new GraphExecutable(
      target,
      g,
      optimized,
      partition,
      plan,
      kernels,
      paramBytes,
      runner,
      code,
      notes,
      timed,
    );
  const copies = outputCopies(optimized, where);
  if (target === "c") {
    const c = await buildGraphC(optimized, kernels, where, block, arena);
    return make(
      (ins, outs) => {
        c.call(ins, outs);
        copies(ins, outs, block);
      },
      c.source,
      [],
      (ins, outs) => c.profile(ins, outs),
    );
  }
  if (target === "webgpu") {
    const w = await buildGraphWebgpu(optimized, kernels, where, views);
    return make(
      async (ins, outs) => {
        await w.call(ins, outs);
        copies(ins, outs, block);
      },
      w.source,
      [
        `webgpu buffers for intermediates: ${showBytes(w.intermediateBytes)} after reuse ` +
        `(naive ${showBytes(w.naiveIntermediateBytes)}); one submission per inference`,
      ],
    );
  }
  const view = (v: Value, ins: NDArray[], outs: NDArray[]): NDArray => {
    const loc = where.get(v)!;
    const shape = knownShape(v.shape, "run");
    // A view of an input or output (a reshape with no kernel) reads its bytes with its own shape.
    if (loc.kind === "input" || loc.kind === "output") {
      const whole = loc.kind === "input" ? ins[loc.index] : outs[loc.index];
      const same = whole.shape.length === shape.length &&
        whole.shape.every((d, i) => d === shape[i]);
      return same ? whole : new NDArray(shape, v.dtype, whole.data);
    }
    const n = shape.reduce((a, b) => a * b, 1);
    const buf = loc.kind === "param" ? block : arena;
    return new NDArray(shape, v.dtype, typedView(v.dtype, buf, loc.offset, n));
  };
  return make((ins, outs) => {
    for (const k of kernels) {
      const args = [...k.group.inputs, ...k.scratch, ...k.group.outputs].map((v) =>
        view(v, ins, outs)
      );
      evaluate(k.func, args);
    }
    copies(ins, outs, block);
  }, kernels.map((k) => String(k.func)).join("\n\n"));
}

/**
 * Outputs no kernel writes: a graph output that is an input, a param, or the same value
 * returned twice (only its first position is written). Copied after the kernels ran.
 */
function outputCopies(
  g: Graph,
  where: Map<Value, Location>,
): (ins: NDArray[], outs: NDArray[], params: Uint8Array) => void {
  const jobs: Array<(ins: NDArray[], outs: NDArray[], params: Uint8Array) => void> = [];
  g.outputs.forEach((v, i) => {
    const loc = where.get(v)!;
    if (loc.kind === "output" && loc.index === i) return;
    jobs.push((ins, outs, params) => {
      const dst = outs[i].data as unknown as { set(a: ArrayLike<unknown>): void };
      if (loc.kind === "input") dst.set(ins[loc.index].data as never);
      else if (loc.kind === "output") dst.set(outs[loc.index].data as never);
      else if (loc.kind === "param") {
        const n = outs[i].size;
        dst.set(typedView(v.dtype, params, loc.offset, n) as never);
      }
    });
  });
  return (ins, outs, params) => jobs.forEach((j) => j(ins, outs, params));
}
