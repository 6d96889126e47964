/**
 * OpenBLAS's `cblas_sgemm` through `Deno.dlopen`: the tuned native library a compiled CPU
 * kernel is measured against. OpenBLAS is a system library, not an npm package, so the peer
 * looks for it where Debian-like systems put it (or at `TESSERA_OPENBLAS`) and reports how to
 * install it when it is missing. Being a BLAS, it runs the matmuls only; a convolution built
 * on sgemm (im2col) would measure our lowering, not the library.
 */
import { alignedCopy } from "../../runtime/aligned.ts";
import { cpuFeatures, openblasOverride, openblasSpin } from "../cpu.ts";
import { atTheirBest, checkPrepare, firstLine, type Peer } from "./peer.ts";

const MISSING = "OpenBLAS not found; install libopenblas0 (apt-get install libopenblas0-pthread) " +
  "or set TESSERA_OPENBLAS=/path/libopenblas.so";

const I = "i32", F = "f32", P = "buffer";
const SYMBOLS = {
  // order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc
  cblas_sgemm: { parameters: [I, I, I, I, I, I, F, P, I, P, I, F, P, I], result: "void" },
  openblas_set_num_threads: { parameters: [I], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: I, optional: true },
  openblas_get_corename: { parameters: [], result: "pointer", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
} as const;

// CBLAS enum values from cblas.h.
const ROW_MAJOR = 101, NO_TRANS = 111;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;

const DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/usr/local/lib",
  "/opt/homebrew/opt/openblas/lib",
];
const NAMES = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"];

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Paths from the dynamic linker's cache; empty when `ldconfig` cannot be run here. */
function fromLdconfig(): string[] {
  try {
    const out = new Deno.Command("ldconfig", { args: ["-p"], stdout: "piped", stderr: "null" })
      .outputSync();
    return new TextDecoder().decode(out.stdout).split("\n")
      .filter((line) => /\blibopenblas\.so/.test(line))
      .map((line) => line.split("=>")[1]?.trim() ?? "")
      .filter((path) => path !== "");
  } catch {
    return [];
  }
}

function candidates(): string[] {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("TESSERA_OPENBLAS");
  } catch {
    // Without --allow-env the variable is simply not consulted.
  }
  if (fromEnv) return [fromEnv];
  const found = DIRS.flatMap((dir) => NAMES.map((name) => `${dir}/${name}`)).filter(exists);
  if (found.length > 0) return found;
  // The bare soname last: the dynamic linker may still know a place we did not list.
  return [...fromLdconfig(), "libopenblas.so.0"];
}

let loaded: Promise<Lib | string> | undefined;
/** Where the library was found, and what was changed in the environment before it loaded. */
const loadedFrom = { path: "", tuning: "the environment as found" };

const getenv = (name: string) => {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
};

/**
 * With peersAtTheirBest on, sets OpenBLAS's variables to the CPU's best for the length of the
 * dlopen (OpenBLAS reads them once, in its constructor) and returns what puts them back, so
 * the process's environment stays as the user set it: the core type (when the environment
 * forces an older one) and a short spin after each call (openblasSpin).
 */
async function tune(): Promise<() => void> {
  const names = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_THREAD_TIMEOUT"] as const;
  const was = Object.fromEntries(names.map((k) => [k, getenv(k)]));
  const o = openblasOverride(was, await cpuFeatures());
  const spin = openblasSpin(was);
  const put = (k: string, v: string | null | undefined) =>
    v === null || v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  const said: string[] = [];
  try {
    if (o) {
      put("OPENBLAS_CORETYPE", o.OPENBLAS_CORETYPE);
      put("OPENBLAS_L2_SIZE", o.OPENBLAS_L2_SIZE);
      said.push(
        `${o.why}: loaded with OPENBLAS_CORETYPE=${o.OPENBLAS_CORETYPE}, ` +
          `OPENBLAS_L2_SIZE=${o.OPENBLAS_L2_SIZE ?? "(unset)"}`,
      );
    }
    if (spin) {
      put("OPENBLAS_THREAD_TIMEOUT", spin);
      said.push(`OPENBLAS_THREAD_TIMEOUT=${spin} (idle workers spin ~1 ms, not ~130 ms)`);
    }
    if (said.length) loadedFrom.tuning = said.join("; ");
  } catch (e) {
    loadedFrom.tuning = `${o?.why ?? "tuned"}, but it could not be changed (${firstLine(e)})`;
  }
  return () => {
    for (const k of names) {
      try {
        put(k, was[k]);
      } catch {
        // Not allowed to change it, so it was not changed.
      }
    }
  };
}

function load(): Promise<Lib | string> {
  loaded ??= Promise.resolve().then(async () => {
    const restore = atTheirBest() ? await tune() : () => {};
    try {
      return open();
    } finally {
      restore();
    }
  });
  return loaded;
}

function open(): Lib | string {
  let lastError = "";
  for (const path of candidates()) {
    try {
      const lib = Deno.dlopen(path, SYMBOLS);
      loadedFrom.path = path;
      // Its own pthread pool over every core; the benchmark compares against the library at
      // its best on this machine.
      lib.symbols.openblas_set_num_threads?.(navigator.hardwareConcurrency);
      return lib;
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) {
        return `OpenBLAS is at ${path} but FFI is not allowed: run with --allow-ffi`;
      }
      lastError = firstLine(e);
    }
  }
  return lastError ? `${MISSING} (${lastError})` : MISSING;
}

export const openblasPeer: Peer = {
  name: "openblas",
  device: "cpu",
  async available() {
    const lib = await load();
    return typeof lib === "string" ? lib : null;
  },
  async describe(): Promise<Record<string, string | number>> {
    const lib = await load();
    if (typeof lib === "string") return { unavailable: lib };
    const text = (p: Deno.PointerValue | undefined) =>
      p ? Deno.UnsafePointerView.getCString(p) : "unknown";
    return {
      library: loadedFrom.path,
      config: text(lib.symbols.openblas_get_config?.()),
      core: text(lib.symbols.openblas_get_corename?.()),
      threads: lib.symbols.openblas_get_num_threads?.() ?? "unknown",
      tuning: loadedFrom.tuning,
    };
  },
  supports: (w) =>
    w.op === "matmul" || w.op === "batch_matmul" ? null : `OpenBLAS is a BLAS: no ${w.op}`,
  async prepare(w, inputs) {
    checkPrepare(openblasPeer, w, inputs);
    // checkPrepare refused every other op; this only narrows the type.
    if (w.op !== "matmul" && w.op !== "batch_matmul") throw new Error("unreachable");
    const { m, n, k } = w;
    // cblas takes int32 sizes; a larger one would be truncated, not refused.
    if (Math.max(m, n, k) > 2 ** 31 - 1) throw new RangeError("openblas: sizes must fit int32");
    const lib = await load();
    if (typeof lib === "string") throw new Error(`openblas: ${lib}`);
    const sgemm = lib.symbols.cblas_sgemm;
    const batch = w.op === "batch_matmul" ? w.batch : 1;
    // Aligned as Tessera's arrays are (runtime/aligned.ts).
    const a = alignedCopy(inputs[0]), b = alignedCopy(inputs[1]);
    const c = alignedCopy(new Float32Array(batch * m * n));
    // One sgemm per batch entry on views made here, so run() is only the native calls.
    const views = Array.from({ length: batch }, (_, q) => [
      a.subarray(q * m * k, (q + 1) * m * k),
      b.subarray(q * k * n, (q + 1) * k * n),
      c.subarray(q * m * n, (q + 1) * m * n),
    ]);
    return {
      run() {
        for (const [av, bv, cv] of views) {
          sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, m, n, k, 1, av, k, bv, n, 0, cv, n);
        }
      },
      result: () => Promise.resolve(c.slice()),
      dispose() {},
    };
  },
};
