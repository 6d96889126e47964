/**
 * A whole model on WebGPU: every fused group's lowered function planned as WGSL dispatches
 * (the WGSL printer's plan, one shader per root stage), and all of them merged into ONE plan
 * over the model's buffers, so one inference is one command submission (the runtime encodes
 * every dispatch in one pass and reads the outputs back once). Weights are uploaded once, as
 * device arrays the plan binds in place. Intermediates are planned as whole buffers reused
 * across non-overlapping lifetimes (WebGPU binds whole buffers here, so offsets into one
 * arena would need binding offsets the runtime does not use): each value takes the smallest
 * free buffer that fits it, or a new one.
 */
import { TesseraError } from "../error.ts";
import { walkStmt } from "../ir/visit.ts";
import { flattenStorage } from "../lower/flatten.ts";
import { unrollLoops } from "../lower/unroll.ts";
import { DeviceArray, deviceBytesPerElement } from "../runtime/device_array.ts";
import type { NDArray } from "../runtime/ndarray.ts";
import { getDevice } from "../codegen/wgsl/device.ts";
import { loopBudget } from "../codegen/wgsl/loop_budget.ts";
import type { WgslBufferSpec, WgslDispatch, WgslPlan } from "../codegen/wgsl/plan.ts";
import { planWgsl } from "../codegen/wgsl/dispatches.ts";
import { prepareWgsl } from "../codegen/wgsl/runtime.ts";
import type { GroupKernel, Location } from "./build.ts";
import type { Graph, Value } from "./ir.ts";
import { paramArray } from "./interpret.ts";
import { knownShape } from "./legalize.ts";

export interface GraphWebgpu {
  source: string;
  /** Bytes of the intermediate buffers after reuse, and of every intermediate on its own. */
  intermediateBytes: number;
  naiveIntermediateBytes: number;
  call(inputs: NDArray[], outputs: NDArray[]): Promise<void>;
}

export async function buildGraphWebgpu(
  g: Graph,
  kernels: readonly GroupKernel[],
  where: ReadonlyMap<Value, Location>,
  views: ReadonlyMap<Value, Value>,
): Promise<GraphWebgpu> {
  const who = `model ${g.name} (webgpu)`;
  // WGSL has no 64-bit types: name the graph's value, not a kernel's placeholder.
  const wide = [...g.inputs, ...g.paramValues.values(), ...g.nodes.flatMap((n) => n.outputs)]
    .find((v) => v.dtype === "int64" || v.dtype === "float64");
  if (wide) {
    const by = wide.producer ? ` (computed by ${wide.producer.op})` : ` (a graph ${wide.kind})`;
    throw new TesseraError(
      `${who}: value ${wide.name}${by} is ${wide.dtype}, and WGSL has no 64-bit types; cast ` +
        `it to ${wide.dtype === "int64" ? "int32" : "float32"} in the graph, or build for "c"`,
    );
  }
  const llvmpipe = (await getDevice()).description.includes("llvmpipe");
  const plans = kernels.map((k) => {
    walkStmt(k.func.body, (s) => {
      if (s.kind === "extern") throw new TesseraError(`${who}: extern stages run on C only`);
    });
    const flat = flattenStorage(k.func.withBody(unrollLoops(k.func.body)));
    if (llvmpipe) loopBudget(flat, `kernel ${k.func.name}`)(new Map());
    const plan = planWgsl(flat);
    if (plan.sizeVars.length > 0) {
      throw new TesseraError(`internal: kernel ${k.func.name} has size variables; sizes are bound`);
    }
    return plan;
  });

  const buffers: WgslBufferSpec[] = [];
  const args: Array<(ins: NDArray[], outs: NDArray[]) => NDArray | DeviceArray> = [];
  const index = new Map<Value, number>();
  const spec = (name: string, v: Value, param: number | null): WgslBufferSpec => {
    const n = knownShape(v.shape, who).reduce((a, b) => a * b, 1);
    return { name, dtype: v.dtype, elements: () => n, param, written: false };
  };
  const argument = (v: Value, make: (typeof args)[number]) => {
    index.set(v, buffers.length);
    buffers.push(spec(`a${args.length}`, v, args.length));
    args.push(make);
  };
  // Graph inputs and outputs (host arrays), then params (device arrays, uploaded once).
  const devices = new Map<string, DeviceArray>();
  for (const [v, loc] of where) {
    if (views.has(v)) continue; // bound as the buffer it views, below
    if (loc.kind === "input") argument(v, (ins) => ins[loc.index]);
    else if (loc.kind === "output") argument(v, (_, outs) => outs[loc.index]);
  }
  const used = new Set(kernels.flatMap((k) => k.group.inputs.map((v) => views.get(v) ?? v)));
  for (const [name, v] of g.paramValues) {
    if (!used.has(v)) continue;
    const d = await DeviceArray.from(paramArray(g, name));
    devices.set(name, d);
    argument(v, () => d);
  }
  // Intermediates: whole buffers reused once their last reader has run.
  const life = new Map<Value, [number, number]>();
  kernels.forEach((k, t) => {
    for (const v of [...k.scratch, ...k.group.outputs]) {
      if (where.get(v)?.kind === "arena") life.set(v, [t, t]);
    }
    for (const u of k.group.inputs) {
      const v = views.get(u) ?? u;
      if (life.has(v)) life.get(v)![1] = t;
    }
  });
  const pool: Array<{ buffer: number; bytes: number; freeAfter: number }> = [];
  let naive = 0;
  for (const [v, [start, end]] of life) {
    const n = knownShape(v.shape, who).reduce((a, b) => a * b, 1);
    const bytes = Math.ceil(n * deviceBytesPerElement(v.dtype) / 16) * 16;
    naive += bytes;
    const free = pool.filter((s) => s.freeAfter < start).sort((a, b) => a.bytes - b.bytes);
    let slot = free.find((s) => s.bytes >= bytes) ?? free.at(-1);
    if (!slot) {
      slot = { buffer: buffers.length, bytes: 0, freeAfter: end };
      buffers.push({
        name: `t${pool.length}`,
        dtype: "uint8",
        elements: () => 0,
        param: null,
        written: true,
      });
      pool.push(slot);
    }
    slot.bytes = Math.max(slot.bytes, bytes);
    slot.freeAfter = end;
    const size = slot.bytes;
    // Sized in u32 words: bool and uint8 buffers are one u32 per element on the device.
    buffers[slot.buffer] = { ...buffers[slot.buffer], dtype: "int32", elements: () => size / 4 };
    index.set(v, slot.buffer);
  }

  for (const [v, src] of views) index.set(v, index.get(src)!);

  // Every group's dispatches, their bindings moved onto the model's buffers.
  const dispatches: WgslDispatch[] = [];
  const checks: string[] = [];
  plans.forEach((plan, k) => {
    const vals = [...kernels[k].group.inputs, ...kernels[k].scratch, ...kernels[k].group.outputs];
    const map = plan.buffers.map((b) => {
      if (b.param !== null) {
        const at = index.get(vals[b.param])!;
        if (b.written) buffers[at] = { ...buffers[at], written: true };
        return at;
      }
      buffers.push({ ...b, name: `k${k}_${b.name}` });
      return buffers.length - 1;
    });
    if ((plan.checks ?? []).length > 0) {
      if (checks.length > 0) {
        throw new TesseraError(`internal: index checks in two kernels of one WebGPU model`);
      }
      checks.push(...plan.checks!);
    }
    for (const d of plan.dispatches) {
      dispatches.push({
        ...d,
        name: `${kernels[k].func.name}/${d.name}`,
        bindings: d.bindings.map((b) => ({ ...b, buffer: map[b.buffer] })),
      });
    }
  });
  const merged: WgslPlan = { name: `model_${g.name}`, buffers, dispatches, sizeVars: [], checks };
  const program = await prepareWgsl(merged, who);
  const sizes = new Map();
  return {
    source: dispatches.map((d) => `// ${d.name}\n${d.source}`).join("\n"),
    intermediateBytes: pool.reduce((a, s) => a + s.bytes, 0),
    naiveIntermediateBytes: naive,
    async call(inputs, outputs) {
      const all = args.map((f) => f(inputs, outputs));
      program.check(all, sizes);
      await program.run(all, sizes);
    },
  };
}
