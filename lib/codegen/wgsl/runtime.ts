/**
 * Runs a `WgslPlan` on the shared WebGPU device: checks the shaders against the adapter's
 * limits before any pipeline exists, compiles them (pipelines cached by WGSL text), and on
 * each call validates every argument, uploads host arrays, encodes all dispatches in order
 * in one submit and reads every host output back through one staging buffer with one
 * `mapAsync`. The batching is the point: in Deno each wait on the GPU (`mapAsync`,
 * `onSubmittedWorkDone`) costs at least ~10 ms, more than most kernels take. Device arrays
 * skip the copies, and a call whose outputs all live on the device does not wait at all.
 * WebGPU orders dispatches in a queue, and makes each dispatch's storage writes visible to
 * the next (every dispatch is its own usage scope), so one pass holds the whole plan.
 */
import { TesseraError } from "../../error.ts";
import {
  allocBuffer,
  checkAlive,
  DeviceArray,
  deviceBytesPerElement,
  fromDeviceBytes,
  paddedSize,
  toDeviceBytes,
} from "../../runtime/device_array.ts";
import { NDArray } from "../../runtime/ndarray.ts";
import { getDevice, type WebGpu } from "./device.ts";
import { FLAGS_BYTES, raiseFlags } from "./error_flags.ts";
import type { Sizes, WgslDispatch, WgslPlan } from "./plan.ts";

export type KernelArg = NDArray | DeviceArray;

export interface WgslProgram {
  readonly plan: WgslPlan;
  /** The adapter the program was compiled for, in words. */
  readonly adapter: string;
  /** Validates the arguments against the plan and the adapter's limits; throws TesseraError. */
  check(args: readonly unknown[], sizes: Sizes): void;
  /** Runs the plan once; host outputs are filled in place when the promise resolves. */
  run(args: readonly KernelArg[], sizes: Sizes): Promise<void>;
  /** Seconds `n` back-to-back executions of the whole plan take on the GPU (no copies). */
  measure(args: readonly KernelArg[], sizes: Sizes, n: number): Promise<number>;
  /** Seconds of each dispatch of one call, and whether timestamps measured them. */
  profile(
    args: readonly KernelArg[],
    sizes: Sizes,
  ): Promise<{ seconds: number[]; timestamps: boolean }>;
  /** Frees the buffers kept for reuse between calls. */
  release(): void;
}

interface Compiled {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/**
 * Pipelines by WGSL text (and binding layout), for the device they were made on, least
 * recently used first: a process that builds kernel after kernel must not keep every
 * pipeline it ever made (300 kernels held 220 MB). A kernel keeps its own pipelines, so
 * eviction only costs a recompile when an equal kernel is built again.
 */
const pipelineCache = new Map<string, { device: GPUDevice; compiled: Promise<Compiled> }>();

/** At most this many pipelines stay in the cache. */
export const PIPELINE_CACHE_CAP = 64;

/** How many pipelines the cache holds now (for tests). */
export function pipelineCacheSize(): number {
  return pipelineCache.size;
}

/**
 * Bytes of private (per-invocation, `var<function>`) arrays a shader may declare. WebGPU
 * sets no limit, and past some size a software adapter spills them and runs for tens of
 * minutes (32 KiB per invocation in a softmax never returned on llvmpipe); real GPUs spill
 * such arrays to slow memory too. 16 KiB is far above what a register tile needs.
 */
export const MAX_PRIVATE_BYTES = 16 * 1024;

// A function, not a constant: importing this file (every user of `te.build` does) must work
// where WebGPU's globals do not exist.
const storageUsage = () =>
  GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Dispatches per compute pass when timing many executions (bounds one encoder's size). */
const DISPATCHES_PER_PASS = 4096;

/**
 * Checks `plan` against the adapter and compiles its shaders. `who` names the kernel in
 * every message, e.g. "kernel matmul (webgpu)".
 */
export async function prepareWgsl(plan: WgslPlan, who: string): Promise<WgslProgram> {
  const gpu = await getDevice();
  checkPlan(plan, gpu, who);
  await pipelinesFor(plan, gpu, who);
  return new Program(plan, who, gpu);
}

function checkPlan(plan: WgslPlan, gpu: WebGpu, who: string): void {
  const L = gpu.limits;
  const exceeds = (where: string, need: string, limit: keyof GPUSupportedLimits, hint: string) => {
    throw new TesseraError(
      `${where}: ${need} exceeds the adapter's ${limit} = ${L[limit]} ` +
        `(on ${gpu.description}); ${hint}`,
    );
  };
  const seen = new Set<number>();
  for (const b of plan.buffers) {
    if (b.param !== null && seen.has(b.param)) {
      throw new TesseraError(`${who}: the plan binds argument ${b.param + 1} to two buffers`);
    }
    if (b.param !== null) seen.add(b.param);
  }
  for (const d of plan.dispatches) {
    const where = `${who}, stage ${d.name}`;
    if (d.usesF16 && !gpu.features.has("shader-f16")) {
      throw new TesseraError(
        `${where}: the shader computes in float16, but the adapter (${gpu.description}) ` +
          `lacks the WebGPU feature 'shader-f16'; use float32, or an adapter that has it`,
      );
    }
    const [x, y, z] = d.workgroupSize;
    const invocations = x * y * z;
    const shape = (z > 1 ? [x, y, z] : y > 1 ? [x, y] : [x]).join("x");
    if (!d.workgroupSize.every((e) => Number.isInteger(e) && e >= 1)) {
      throw new TesseraError(`${where}: bad workgroup size ${d.workgroupSize.join("x")}`);
    }
    if (invocations > L.maxComputeInvocationsPerWorkgroup) {
      exceeds(
        where,
        `workgroup of ${shape} = ${invocations} invocations`,
        "maxComputeInvocationsPerWorkgroup",
        "bind fewer threads (split the thread-bound axes by smaller factors)",
      );
    }
    (["X", "Y", "Z"] as const).forEach((axis, k) => {
      const limit = `maxComputeWorkgroupSize${axis}` as const;
      if (d.workgroupSize[k] > L[limit]) {
        exceeds(
          where,
          `workgroup size ${axis.toLowerCase()} = ${d.workgroupSize[k]}`,
          limit,
          `bind a smaller extent to threadIdx.${axis.toLowerCase()}`,
        );
      }
    });
    const priv = d.privateArrays ?? [];
    const privBytes = priv.reduce((a, x) => a + x.bytes, 0);
    if (privBytes > MAX_PRIVATE_BYTES) {
      const list = [...priv].sort((a, b) => b.bytes - a.bytes)
        .map((x) => `'${x.name}' (${x.bytes} bytes)`).join(", ");
      throw new TesseraError(
        `${where}: each invocation would hold private arrays of ${privBytes} bytes in all ` +
          `(${list}), more than the ${MAX_PRIVATE_BYTES} bytes per invocation Tessera allows ` +
          `(beyond it a GPU spills them to slow memory; llvmpipe may run for many minutes); ` +
          `give each thread a smaller tile, or put the buffer in workgroup memory ` +
          `(cacheRead/cacheWrite with scope "shared", or setScope("shared")), or compute it ` +
          `at the root (global) instead of at a thread's loop`,
      );
    }
    if (d.workgroupStorageBytes > L.maxComputeWorkgroupStorageSize) {
      exceeds(
        where,
        `workgroup memory of ${d.workgroupStorageBytes} bytes (var<workgroup>: shared caches)`,
        "maxComputeWorkgroupStorageSize",
        "use smaller shared-memory tiles",
      );
    }
    const storage = d.bindings.length + (d.errorFlags ? 1 : 0);
    if (storage > L.maxStorageBuffersPerShaderStage) {
      exceeds(
        where,
        `a count of ${storage} storage buffers`,
        "maxStorageBuffersPerShaderStage",
        "split the computation into kernels with fewer arrays",
      );
    }
    if (storage + 1 > L.maxBindingsPerBindGroup) {
      exceeds(
        where,
        `a count of ${storage + 1} bindings`,
        "maxBindingsPerBindGroup",
        "split the computation into kernels with fewer arrays",
      );
    }
    for (const b of d.bindings) {
      if (!plan.buffers[b.buffer]) {
        throw new TesseraError(
          `${where}: binding refers to buffer ${b.buffer}, which the plan lacks`,
        );
      }
    }
  }
}

function layoutKey(d: WgslDispatch, uniform: boolean): string {
  return `${d.bindings.map((b) => b.access).join(",")}${uniform ? ",uniform" : ""}\n${d.source}`;
}

function pipelinesFor(plan: WgslPlan, gpu: WebGpu, who: string): Promise<Compiled[]> {
  const uniform = plan.sizeVars.length > 0;
  return Promise.all(plan.dispatches.map((d) => {
    const key = layoutKey(d, uniform);
    const hit = pipelineCache.get(key);
    if (hit && hit.device === gpu.device) {
      pipelineCache.delete(key); // now the most recently used
      pipelineCache.set(key, hit);
      return hit.compiled;
    }
    const compiled = compile(gpu, d, uniform, `${who}, stage ${d.name}`);
    const entry = { device: gpu.device, compiled };
    pipelineCache.delete(key);
    pipelineCache.set(key, entry);
    while (pipelineCache.size > PIPELINE_CACHE_CAP) {
      pipelineCache.delete(pipelineCache.keys().next().value!);
    }
    compiled.catch(() => {
      if (pipelineCache.get(key) === entry) pipelineCache.delete(key);
    });
    return compiled;
  }));
}

async function compile(
  gpu: WebGpu,
  d: WgslDispatch,
  uniform: boolean,
  where: string,
): Promise<Compiled> {
  const { device } = gpu;
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code: d.source, label: d.name });
  const info = await module.getCompilationInfo();
  const scoped = await device.popErrorScope();
  const errors = info.messages.filter((m) => m.type === "error");
  if (errors.length > 0 || scoped) {
    const text = errors.length > 0
      ? errors.slice(0, 3).map((m) => quoteError(d.source, m)).join("\n")
      : scoped!.message.trim();
    throw new TesseraError(`${where}: the generated WGSL does not compile:\n${text}`);
  }
  const entries: GPUBindGroupLayoutEntry[] = d.bindings.map((b, k) => ({
    binding: k,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: b.access === "read" ? "read-only-storage" : "storage" },
  }));
  if (uniform) {
    entries.push({
      binding: d.bindings.length,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: "uniform" },
    });
  }
  if (d.errorFlags) {
    entries.push({
      binding: entries.length,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: "storage" },
    });
  }
  device.pushErrorScope("validation");
  const layout = device.createBindGroupLayout({ entries, label: d.name });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  const layoutError = await device.popErrorScope();
  if (layoutError) {
    throw new TesseraError(`${where}: WebGPU rejected the binding layout: ${layoutError.message}`);
  }
  try {
    const pipeline = await device.createComputePipelineAsync({
      layout: pipelineLayout,
      compute: { module, entryPoint: "main" },
      label: d.name,
    });
    return { pipeline, layout };
  } catch (e) {
    throw new TesseraError(
      `${where}: WebGPU rejected the compute pipeline: ${(e as Error).message.trim()}`,
    );
  }
}

/** "line 3:21: expected expression, found ';'" and the line itself with a caret under it. */
function quoteError(source: string, m: GPUCompilationMessage): string {
  // Deno's message repeats the location in a drawn box; its first line says it all.
  const first = m.message.split("\n").map((s) => s.trim()).find((s) => s) ?? "";
  const what = first.replace(/^Shader '[^']*' /, "");
  if (!m.lineNum) return what;
  const line = source.split("\n")[m.lineNum - 1] ?? "";
  const no = String(m.lineNum);
  const caret = " ".repeat(no.length + 3 + Math.max(0, m.linePos - 1)) + "^";
  return `line ${m.lineNum}:${m.linePos}: ${what}\n${no} | ${line}\n${caret}`;
}

/** One call's view of a plan buffer. */
interface Slot {
  bytes: number;
  arg: KernelArg | null;
}

interface Call {
  slots: Slot[];
  grids: Array<[number, number, number]>;
  uniform: Int32Array<ArrayBuffer> | null;
}

class Program implements WgslProgram {
  readonly adapter: string;
  #gpu: WebGpu;
  #pipelines: Compiled[] | null = null;
  /** Buffers for host arguments and temporaries, by plan buffer index, kept between calls. */
  #pool = new Map<number, GPUBuffer>();
  #staging: GPUBuffer | null = null;
  #uniform: GPUBuffer | null = null;
  /** The error flags word (error_flags.ts), when some shader sets flags. */
  #flags: GPUBuffer | null = null;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(readonly plan: WgslPlan, readonly who: string, gpu: WebGpu) {
    this.#gpu = gpu;
    this.adapter = gpu.description;
  }

  check(args: readonly unknown[], sizes: Sizes): void {
    this.#resolve(args, sizes);
  }

  async run(args: readonly KernelArg[], sizes: Sizes): Promise<void> {
    const call = this.#resolve(args, sizes);
    return await this.#serialized(async () => {
      const gpu = await this.#setup(call);
      const { device } = gpu;
      const outputs = this.#hostOutputs(call);
      const flags = this.#flags;
      const outputBytes = outputs.reduce((s, o) => s + paddedSize(o.bytes), 0);
      const stagingSize = outputBytes + (flags ? paddedSize(FLAGS_BYTES) : 0);
      if (stagingSize > 0 && (this.#staging?.size ?? 0) < stagingSize) {
        this.#staging?.destroy();
        this.#staging = null;
        this.#staging = await allocBuffer(
          gpu,
          stagingSize,
          GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
          `${this.who}: staging for outputs`,
        );
      }
      const bindGroups = this.#bindGroups(call);
      device.pushErrorScope("validation");
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      this.#encode(pass, call, bindGroups);
      pass.end();
      let off = 0;
      for (const o of outputs) {
        enc.copyBufferToBuffer(
          this.#pool.get(o.index)!,
          0,
          this.#staging!,
          off,
          paddedSize(o.bytes),
        );
        off += paddedSize(o.bytes);
      }
      if (flags) enc.copyBufferToBuffer(flags, 0, this.#staging!, off, FLAGS_BYTES);
      device.queue.submit([enc.finish()]);
      this.#raise(await device.popErrorScope(), "running the plan");
      if (stagingSize === 0) return;
      const staging = this.#staging!;
      try {
        await staging.mapAsync(GPUMapMode.READ, 0, stagingSize);
      } catch (e) {
        checkAlive(gpu, this.who);
        throw new TesseraError(
          `${this.who}: reading the outputs back failed: ${(e as Error).message}`,
        );
      }
      const data = staging.getMappedRange(0, stagingSize);
      if (flags) {
        const words = new Uint32Array(data, outputBytes, 2).slice();
        if (words[0] || words[1]) {
          staging.unmap();
          raiseFlags(words, this.plan.checks ?? [], this.who);
        }
      }
      off = 0;
      for (const o of outputs) {
        fromDeviceBytes(o.arg, data, off);
        off += paddedSize(o.bytes);
      }
      staging.unmap();
    });
  }

  async measure(args: readonly KernelArg[], sizes: Sizes, n: number): Promise<number> {
    if (!Number.isInteger(n) || n < 1) {
      throw new TesseraError(`${this.who}: measure needs a positive integer count, got ${n}`);
    }
    const call = this.#resolve(args, sizes);
    return await this.#serialized(async () => {
      const gpu = await this.#setup(call);
      const { device } = gpu;
      const bindGroups = this.#bindGroups(call);
      const timestamps = gpu.features.has("timestamp-query");
      // Uploads are not part of the time. Timestamps bracket only the passes; a host clock
      // must wait for the uploads to finish before it starts.
      if (!timestamps) await device.queue.onSubmittedWorkDone();
      const perPass = Math.max(1, Math.floor(DISPATCHES_PER_PASS / Math.max(1, call.grids.length)));
      const passes = Math.ceil(n / perPass);
      const querySet = timestamps ? device.createQuerySet({ type: "timestamp", count: 2 }) : null;
      const resolve = timestamps
        ? device.createBuffer({
          size: 16,
          usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
        })
        : null;
      const readback = timestamps
        ? device.createBuffer({
          size: 16,
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        })
        : null;
      try {
        device.pushErrorScope("validation");
        const buffers: GPUCommandBuffer[] = [];
        for (let p = 0; p < passes; p++) {
          const enc = device.createCommandEncoder();
          const timestampWrites: GPUComputePassTimestampWrites | undefined = querySet &&
              (p === 0 || p === passes - 1)
            ? {
              querySet,
              beginningOfPassWriteIndex: p === 0 ? 0 : undefined,
              endOfPassWriteIndex: p === passes - 1 ? 1 : undefined,
            }
            : undefined;
          const pass = enc.beginComputePass({ timestampWrites });
          for (let r = p * perPass; r < Math.min(n, (p + 1) * perPass); r++) {
            this.#encode(pass, call, bindGroups);
          }
          pass.end();
          if (querySet && p === passes - 1) {
            enc.resolveQuerySet(querySet, 0, 2, resolve!, 0);
            enc.copyBufferToBuffer(resolve!, 0, readback!, 0, 16);
          }
          buffers.push(enc.finish());
        }
        const t0 = performance.now();
        device.queue.submit(buffers);
        this.#raise(await device.popErrorScope(), "timing the plan");
        if (!readback) {
          await device.queue.onSubmittedWorkDone();
          return (performance.now() - t0) / 1000;
        }
        await readback.mapAsync(GPUMapMode.READ);
        const host = (performance.now() - t0) / 1000;
        const [begin, end] = new BigUint64Array(readback.getMappedRange());
        readback.unmap();
        // A timestamp of 0 or a clock that went backwards means the adapter could not time.
        return end > begin && begin > 0n ? Number(end - begin) / 1e9 : host;
      } finally {
        querySet?.destroy();
        resolve?.destroy();
        readback?.destroy();
      }
    });
  }

  /**
   * Seconds each dispatch of one call takes, for the profiler: each in a pass of its own,
   * bracketed by timestamps where the adapter has `timestamp-query`; otherwise each is
   * submitted alone and timed on the host until the queue is idle, which adds the cost of a
   * submission to every dispatch (`timestamps` says which).
   */
  async profile(
    args: readonly KernelArg[],
    sizes: Sizes,
  ): Promise<{ seconds: number[]; timestamps: boolean }> {
    const call = this.#resolve(args, sizes);
    return await this.#serialized(async () => {
      const gpu = await this.#setup(call);
      const { device } = gpu;
      const bindGroups = this.#bindGroups(call);
      const count = this.plan.dispatches.length;
      await device.queue.onSubmittedWorkDone();
      if (!gpu.features.has("timestamp-query")) {
        const seconds: number[] = [];
        for (let k = 0; k < count; k++) {
          const enc = device.createCommandEncoder();
          const pass = enc.beginComputePass();
          this.#encode(pass, call, bindGroups, k);
          pass.end();
          const t0 = performance.now();
          device.queue.submit([enc.finish()]);
          await device.queue.onSubmittedWorkDone();
          seconds.push((performance.now() - t0) / 1000);
        }
        return { seconds, timestamps: false };
      }
      const querySet = device.createQuerySet({ type: "timestamp", count: 2 * count });
      const bytes = 16 * count;
      const resolve = device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const readback = device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      try {
        device.pushErrorScope("validation");
        const enc = device.createCommandEncoder();
        for (let k = 0; k < count; k++) {
          const pass = enc.beginComputePass({
            timestampWrites: {
              querySet,
              beginningOfPassWriteIndex: 2 * k,
              endOfPassWriteIndex: 2 * k + 1,
            },
          });
          this.#encode(pass, call, bindGroups, k);
          pass.end();
        }
        enc.resolveQuerySet(querySet, 0, 2 * count, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, readback, 0, bytes);
        device.queue.submit([enc.finish()]);
        this.#raise(await device.popErrorScope(), "profiling the plan");
        await readback.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(readback.getMappedRange().slice(0));
        readback.unmap();
        const seconds = Array.from(
          { length: count },
          (_, k) => t[2 * k + 1] > t[2 * k] ? Number(t[2 * k + 1] - t[2 * k]) / 1e9 : 0,
        );
        return { seconds, timestamps: true };
      } finally {
        querySet.destroy();
        resolve.destroy();
        readback.destroy();
      }
    });
  }

  release(): void {
    for (const b of this.#pool.values()) b.destroy();
    this.#pool.clear();
    this.#staging?.destroy();
    this.#staging = null;
    this.#uniform?.destroy();
    this.#uniform = null;
    this.#flags?.destroy();
    this.#flags = null;
  }

  /** Runs one call at a time: calls share the pooled buffers and the staging buffer. */
  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.#tail.then(fn);
    this.#tail = r.catch(() => {});
    return r;
  }

  /** Every check that can fail on the arguments, before anything reaches the GPU. */
  #resolve(args: readonly unknown[], sizes: Sizes): Call {
    const { plan, who } = this;
    const L = this.#gpu.limits;
    const fail = (msg: string): never => {
      throw new TesseraError(`${who}: ${msg}`);
    };
    const uniform = plan.sizeVars.length > 0
      ? new Int32Array(Math.ceil(plan.sizeVars.length / 4) * 4)
      : null;
    plan.sizeVars.forEach((v, k) => {
      const x = sizes.get(v);
      if (v.dtype === "float32" && x !== undefined) {
        new Float32Array(uniform!.buffer)[k] = x; // a scalar argument, checked by bindArguments
        return;
      }
      if (x === undefined || !Number.isInteger(x) || x < -(2 ** 31) || x >= 2 ** 31) {
        fail(
          `size variable '${v.name}' is ${x === undefined ? "not bound" : `${x}, not an int32`}`,
        );
      }
      uniform![k] = x!;
    });
    const slots: Slot[] = plan.buffers.map((spec) => {
      const n = spec.elements(sizes);
      const what = spec.param === null
        ? `temporary buffer '${spec.name}'`
        : `argument ${spec.param + 1} '${spec.name}'`;
      if (!Number.isInteger(n) || n < 0) fail(`${what} would have ${n} elements`);
      const bytes = n * deviceBytesPerElement(spec.dtype);
      let arg: KernelArg | null = null;
      if (spec.param !== null) {
        const a = args[spec.param];
        if (a instanceof NDArray) {
          if (a.data.length !== n || a.size !== n) {
            fail(`${what} has ${a.data.length} elements but the kernel needs ${n}`);
          }
        } else if (a instanceof DeviceArray) {
          a.checkUsable(`${who}: ${what}`);
          if (a.size !== n) fail(`${what} has ${a.size} elements but the kernel needs ${n}`);
        } else {
          fail(
            `${what} is ${a === undefined ? "missing" : String(a)}; pass an NDArray or a ` +
              `DeviceArray (nd.array(...), or await nd.array(...).to("webgpu"))`,
          );
        }
        arg = a as KernelArg;
        if (arg.dtype !== spec.dtype) {
          fail(`${what} has dtype ${arg.dtype} but the parameter is ${spec.dtype}`);
        }
      }
      const padded = paddedSize(bytes);
      if (padded > L.maxStorageBufferBindingSize || padded > L.maxBufferSize) {
        const user = plan.dispatches.find((d) =>
          d.bindings.some((b) => plan.buffers[b.buffer] === spec)
        );
        const limit = padded > L.maxStorageBufferBindingSize
          ? `maxStorageBufferBindingSize = ${L.maxStorageBufferBindingSize}`
          : `maxBufferSize = ${L.maxBufferSize}`;
        fail(
          `${what}${user ? ` (bound by stage ${user.name})` : ""} needs ${n} ${spec.dtype} ` +
            `elements = ${bytes} bytes, more than the adapter's ${limit} ` +
            `(on ${this.#gpu.description}); ` +
            `use smaller arrays or split the computation`,
        );
      }
      return { bytes, arg };
    });
    this.#checkAliasing(slots, fail);
    const grids = plan.dispatches.map((d) => {
      const g = d.grid(sizes);
      g.forEach((e, k) => {
        const axis = "xyz"[k];
        if (!Number.isInteger(e) || e < 0) {
          fail(`stage ${d.name}: grid dimension ${axis} is ${e}, not a non-negative integer`);
        }
        if (e > L.maxComputeWorkgroupsPerDimension) {
          fail(
            `stage ${d.name}: grid of ${g.join("x")} workgroups: dimension ${axis} = ${e} ` +
              `exceeds the adapter's maxComputeWorkgroupsPerDimension = ` +
              `${L.maxComputeWorkgroupsPerDimension} (on ${this.#gpu.description}); bind larger ` +
              `extents to threads, or fewer to blockIdx.${axis}`,
          );
        }
      });
      return g;
    });
    return { slots, grids, uniform };
  }

  /** An output may share storage with no other argument (WebGPU forbids it on the device). */
  #checkAliasing(slots: Slot[], fail: (msg: string) => never): void {
    const { plan } = this;
    const overlap = (a: KernelArg, b: KernelArg): boolean => {
      if (a instanceof DeviceArray || b instanceof DeviceArray) {
        return a instanceof DeviceArray && b instanceof DeviceArray && a.buffer === b.buffer;
      }
      if (a.data.buffer !== b.data.buffer) return false;
      const lo = a.data.byteOffset, hi = lo + a.data.byteLength;
      const lo2 = b.data.byteOffset, hi2 = lo2 + b.data.byteLength;
      return lo < hi2 && lo2 < hi && hi > lo && hi2 > lo2;
    };
    slots.forEach((s, i) => {
      if (!s.arg || !plan.buffers[i].written) return;
      slots.forEach((t, j) => {
        if (j === i || !t.arg || !overlap(s.arg!, t.arg)) return;
        fail(
          `output argument ${plan.buffers[i].param! + 1} '${plan.buffers[i].name}' shares ` +
            `memory with argument ${plan.buffers[j].param! + 1} '${plan.buffers[j].name}'; ` +
            `pass separate arrays (copy the input first)`,
        );
      });
    });
  }

  /** The device, pipelines, pooled buffers, uploads and the uniform for one call. */
  async #setup(call: Call): Promise<WebGpu> {
    const gpu = await getDevice();
    if (gpu !== this.#gpu || !this.#pipelines) {
      // The device was lost and replaced: everything made on the old one is gone.
      this.release();
      this.#pipelines = await pipelinesFor(this.plan, gpu, this.who);
      this.#gpu = gpu;
    }
    call.slots.forEach((s, i) => {
      if (s.arg instanceof DeviceArray && s.arg.gpu !== gpu) {
        throw new TesseraError(
          `${this.who}: argument ${this.plan.buffers[i].param! + 1} '${
            this.plan.buffers[i].name
          }' ` +
            `was made on an earlier WebGPU device, which has been lost; make it again`,
        );
      }
    });
    for (let i = 0; i < call.slots.length; i++) {
      const s = call.slots[i];
      if (s.arg instanceof DeviceArray) continue;
      const size = paddedSize(s.bytes);
      const old = this.#pool.get(i);
      if (old && old.size === size) continue;
      old?.destroy();
      this.#pool.delete(i);
      this.#pool.set(
        i,
        await allocBuffer(
          gpu,
          size,
          storageUsage(),
          `${this.who}: buffer '${this.plan.buffers[i].name}'`,
        ),
      );
    }
    const { queue } = gpu.device;
    call.slots.forEach((s, i) => {
      // Outputs need no upload: the kernel writes every element before anyone reads it.
      if (s.arg instanceof NDArray && !this.plan.buffers[i].written && s.bytes > 0) {
        queue.writeBuffer(this.#pool.get(i)!, 0, toDeviceBytes(s.arg));
      }
    });
    if (this.plan.dispatches.some((d) => d.errorFlags)) {
      this.#flags ??= await allocBuffer(
        gpu,
        paddedSize(FLAGS_BYTES),
        storageUsage(),
        `${this.who}: error flags`,
      );
      queue.writeBuffer(this.#flags, 0, new Uint32Array(paddedSize(FLAGS_BYTES) / 4));
    }
    if (call.uniform) {
      if (!this.#uniform || this.#uniform.size !== call.uniform.byteLength) {
        this.#uniform?.destroy();
        this.#uniform = null;
        this.#uniform = await allocBuffer(
          gpu,
          call.uniform.byteLength,
          GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
          `${this.who}: sizes`,
        );
      }
      queue.writeBuffer(this.#uniform, 0, call.uniform);
    }
    return gpu;
  }

  #bufferOf(call: Call, i: number): GPUBuffer {
    const a = call.slots[i].arg;
    return a instanceof DeviceArray ? a.buffer : this.#pool.get(i)!;
  }

  #hostOutputs(call: Call): Array<{ index: number; bytes: number; arg: NDArray }> {
    const out: Array<{ index: number; bytes: number; arg: NDArray }> = [];
    call.slots.forEach((s, index) => {
      if (s.arg instanceof NDArray && this.plan.buffers[index].written && s.bytes > 0) {
        out.push({ index, bytes: s.bytes, arg: s.arg });
      }
    });
    return out;
  }

  #bindGroups(call: Call): GPUBindGroup[] {
    const { device } = this.#gpu;
    return this.plan.dispatches.map((d, k) => {
      const entries: GPUBindGroupEntry[] = d.bindings.map((b, j) => ({
        binding: j,
        // Empty arrays still get 4 bytes: WebGPU has no zero-size bindings.
        resource: {
          buffer: this.#bufferOf(call, b.buffer),
          size: paddedSize(call.slots[b.buffer].bytes),
        },
      }));
      if (call.uniform) {
        entries.push({ binding: d.bindings.length, resource: { buffer: this.#uniform! } });
      }
      if (d.errorFlags) {
        entries.push({ binding: entries.length, resource: { buffer: this.#flags! } });
      }
      return device.createBindGroup({ layout: this.#pipelines![k].layout, entries });
    });
  }

  #encode(
    pass: GPUComputePassEncoder,
    call: Call,
    bindGroups: GPUBindGroup[],
    only: number | null = null,
  ): void {
    this.plan.dispatches.forEach((_, k) => {
      if (only !== null && k !== only) return;
      const [x, y, z] = call.grids[k];
      if (x === 0 || y === 0 || z === 0) return;
      pass.setPipeline(this.#pipelines![k].pipeline);
      pass.setBindGroup(0, bindGroups[k]);
      pass.dispatchWorkgroups(x, y, z);
    });
  }

  /** A validation error here is the printer's fault or a lost device, never the user's. */
  #raise(err: GPUError | null, doing: string): void {
    if (!err) return;
    checkAlive(this.#gpu, this.who);
    throw new TesseraError(
      `${this.who}: WebGPU rejected the commands ${doing} (an internal error of the WGSL ` +
        `backend, please report it): ${err.message.trim()}`,
    );
  }
}
