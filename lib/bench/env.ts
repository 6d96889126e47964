/**
 * The record of where a benchmark ran, written into every result: a GFLOP/s figure means little
 * without the CPU, the core count, the runtime, the compiler and its flags, the WebGPU adapter
 * and its limits, the library versions and the Tessera commit it came from. Every probe that
 * can fail (no git, no compiler, no adapter, no --allow-sys) records what it could not learn
 * instead of failing the run.
 */
import { cpus, totalmem } from "node:os";
import { BASE_FLAGS, DEFAULT_FLAGS, findCompiler } from "../codegen/c/compile.ts";
import { describeAdapter } from "../codegen/wgsl/device.ts";
import { envBundle } from "../display/objects.ts";
import type { Peer } from "./peers/peer.ts";
import type { EnvRecord } from "./schema.ts";

export interface EnvOptions {
  /** Ask for a WebGPU adapter (default true). */
  webgpu?: boolean;
  /** Flags the C kernels were built with (default Tessera's). */
  flags?: readonly string[];
  /** Peers to describe (their library, core, threads and tuning), those that can say. */
  peers?: readonly Peer[];
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

/**
 * The CPU model from `node:os` (needs --allow-sys; Deno refuses /proc/cpuinfo to anything
 * short of --allow-all).
 */
export function cpuModel(): string {
  try {
    const model = cpus()[0]?.model?.trim();
    if (model) return model;
  } catch {
    // No --allow-sys.
  }
  return `unknown ${Deno.build.arch} CPU`;
}

function memoryGiB(): number | undefined {
  try {
    return Math.round(totalmem() / 2 ** 30 * 10) / 10;
  } catch {
    return undefined;
  }
}

async function gitCommit(): Promise<EnvRecord["tessera"]> {
  const dir = new URL("../..", import.meta.url);
  if (dir.protocol !== "file:") return null;
  const git = async (...args: string[]) => {
    const out = await new Deno.Command("git", {
      args: ["-C", dir.pathname, ...args],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) throw new Error(`git ${args[0]} failed`);
    return new TextDecoder().decode(out.stdout).trim();
  };
  try {
    const commit = await git("rev-parse", "HEAD");
    const dirty = (await git("status", "--porcelain", "--untracked-files=no")).length > 0;
    return { commit, dirty };
  } catch {
    return null;
  }
}

/** Versions of the npm packages in Tessera's import map, e.g. { "zod": "4.6.7" }. */
async function libraries(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  try {
    const config = JSON.parse(
      await Deno.readTextFile(new URL("../../deno.json", import.meta.url)),
    ) as { imports?: Record<string, string> };
    for (const [name, spec] of Object.entries(config.imports ?? {})) {
      const m = /^npm:(@?[^@]+)@(.+)$/.exec(spec);
      if (m) out[name] = m[2];
    }
  } catch {
    // Imported from elsewhere (a published package): versions are not on disk.
  }
  return out;
}

/**
 * The adapter Tessera's webgpu target would use, with its own features and limits. Only the
 * adapter is asked for: a device (and, on llvmpipe, its worker threads) is not created just
 * to describe the machine.
 */
async function webgpu(wanted: boolean): Promise<EnvRecord["webgpu"]> {
  if (!wanted) return { unavailable: "not asked for" };
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return { unavailable: "navigator.gpu is missing in this runtime" };
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
    if (!adapter) {
      return { unavailable: "no WebGPU adapter (on Linux: apt-get install mesa-vulkan-drivers)" };
    }
    const limits: Record<string, number> = {};
    for (const key in adapter.limits) {
      const v = (adapter.limits as unknown as Record<string, unknown>)[key];
      if (typeof v === "number") limits[key] = v;
    }
    return {
      adapter: describeAdapter(adapter.info),
      features: [...adapter.features].sort(),
      limits,
    };
  } catch (e) {
    return { unavailable: firstLine(e) };
  }
}

async function compiler(flags: readonly string[]): Promise<EnvRecord["compiler"]> {
  try {
    const cc = await findCompiler();
    return { ...cc, flags: [...flags, ...BASE_FLAGS] };
  } catch {
    return null;
  }
}

/** What each peer that can describe itself says; a peer that throws says why. */
async function peerRecords(peers: readonly Peer[]): Promise<NonNullable<EnvRecord["peers"]>> {
  const out: NonNullable<EnvRecord["peers"]> = {};
  for (const p of peers) {
    if (!p.describe) continue;
    try {
      out[p.name] = await p.describe();
    } catch (e) {
      out[p.name] = { unavailable: firstLine(e) };
    }
  }
  return out;
}

/** Everything a reader of a result needs to know about the machine and the software. */
export async function collectEnv(opts: EnvOptions = {}): Promise<EnvRecord> {
  const [tessera, cc, gpu, libs, peers] = await Promise.all([
    gitCommit(),
    compiler(opts.flags ?? DEFAULT_FLAGS),
    webgpu(opts.webgpu ?? true),
    libraries(),
    peerRecords(opts.peers ?? []),
  ]);
  const record: EnvRecord = {
    date: new Date().toISOString(),
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpu: cpuModel(),
    cores: navigator.hardwareConcurrency,
    memoryGiB: memoryGiB(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    tessera,
    compiler: cc,
    webgpu: gpu,
    libraries: libs,
    ...(Object.keys(peers).length ? { peers } : {}),
    command: [...Deno.args],
  };
  // Not enumerable: the record stays plain data for JSON and the result schema.
  Object.defineProperty(record, Symbol.for("Jupyter.display"), { value: () => envBundle(record) });
  return record;
}

/** One line for a table's header: "AMD EPYC, 2 cores, Deno 2.9.6; llvmpipe (...)". */
export function describeEnv(env: EnvRecord): string {
  const gpu = "adapter" in env.webgpu
    ? env.webgpu.adapter
    : `no WebGPU (${env.webgpu.unavailable})`;
  const commit = env.tessera
    ? `tessera ${env.tessera.commit.slice(0, 10)}${env.tessera.dirty ? "+dirty" : ""}`
    : "tessera (no git)";
  const peers = Object.entries(env.peers ?? {}).filter(([, d]) => d.core !== undefined)
    .map(([name, d]) => `; ${name}: ${d.core} core, ${d.threads} threads`).join("");
  return `${env.cpu}, ${env.cores} cores${
    env.memoryGiB ? `, ${env.memoryGiB} GiB` : ""
  }; ${env.os}/${env.arch}; Deno ${env.deno}, V8 ${env.v8}; ${
    env.compiler ? env.compiler.version : "no C compiler"
  }; ${gpu}${peers}; ${commit}; ${env.date}`;
}
