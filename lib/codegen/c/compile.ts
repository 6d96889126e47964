/**
 * The C compiler driver: turns generated C source into a shared object that `Deno.dlopen` can
 * load. Builds are cached on disk under a key that covers everything that can change the
 * machine code (source, flags, compiler, and the CPU that `-march=native` resolves to), so a
 * kernel is compiled once per machine, not once per process; files appear in the cache by an
 * atomic rename, so concurrent processes never see a half-written library.
 *
 * The cache is not trusted: a disk, a copy or a person can truncate, garble or swap a file,
 * and loading a truncated library kills the process (SIGBUS) while loading another kernel's
 * library computes a wrong result. So each library has a manifest beside it (`<key>.sha256`,
 * in `sha256sum` format) and is loaded only after its bytes hash to what the manifest says,
 * and `loadC` checks the key compiled into the library itself after `dlopen`. Any mismatch
 * rebuilds the library once; a library that still does not load is a TesseraError.
 */
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { TesseraError } from "../../error.ts";
import { POOL_SOURCE, poolLinkArgs } from "./pool.ts";

export interface CompileOptions {
  /** Replaces the default optimisation/arch flags (default: ["-O3", "-march=native"]). */
  flags?: string[];
  /**
   * Extra flags appended after everything else (e.g. ["-fsanitize=address"]): after the source
   * file, so an extra `-lfoo` links, and before only the final `-lm`.
   */
  extraFlags?: string[];
  /** The compiler to use; default: $CC, else the first of cc, gcc, clang found on PATH. */
  cc?: string;
  /**
   * Where libraries are cached; default: `cacheDir()`. Tests pass their own: `deno test
   * --parallel` runs all test files in one process, so one file's `Deno.env.set` is every
   * file's environment.
   */
  cacheDir?: string;
  /** Compile even when the cache has the library (`loadC` does when loading it failed). */
  rebuild?: boolean;
  /** Users' C sources (te.extern's cSource), each compiled as a file of its own beside it. */
  sources?: string[];
  /** Libraries to link (te.extern's libs): names ("openblas") or absolute paths to .so files. */
  libs?: string[];
  /**
   * Run parallel loops on Tessera's thread pool (pool.ts) rather than libgomp's; default
   * true on Linux (the only system it is built for). te.extern's C sources, which may use any
   * OpenMP, are built with false.
   */
  pool?: boolean;
}

export interface CompiledLibrary {
  /** The shared object, ready for `Deno.dlopen`. */
  path: string;
  /** The cache key; the library exports it as the C string `tessera_cache_key`. */
  key: string;
  /** True when it came from the cache and nothing was compiled. */
  cached: boolean;
  /** The invocation that builds `path` (it writes a temporary name first, then renames). */
  command: string[];
}

/**
 * A compiler rejected the source. `message` has the diagnostics and, for each error in the
 * generated file, the generated line it points at; `stderr` is the compiler's full output.
 */
export class CompileError extends TesseraError {
  constructor(message: string, readonly stderr: string, readonly command: string[]) {
    super(message);
    this.name = "CompileError";
  }
}

export const DEFAULT_FLAGS: readonly string[] = ["-O3", "-march=native"];

/**
 * Passed on every compile, whatever the options:
 * - `-std=gnu11`: C11 plus GNU extensions, so `_Float16` and `#pragma omp` are available.
 * - `-fwrapv`: int32 arithmetic must wrap as it does in the interpreter; without it signed
 *   overflow is undefined and `-O3` exploits that.
 * - `-ffp-contract=fast`: lets the compiler fuse multiply-adds (the speed a user expects).
 * - `-fno-trapping-math`: nothing reads floating-point exception flags, and without it GCC
 *   will not if-convert a comparison that might raise one, so every select, min and max
 *   (NaN-propagating, as in JavaScript) kept its loop scalar. Values do not change.
 * - `-fno-math-errno`: nothing reads `errno` either, and a call that may set it cannot be
 *   vectorized (nor `sqrtf` inlined). Values do not change.
 * - `-fopenmp`: parallel loops are `#pragma omp parallel for`; GCC's call that starts one
 *   is routed to Tessera's thread pool (pool.ts) unless `pool: false`.
 * - `-Wl,-z,nodelete`: Deno dlcloses FFI libraries at process exit while libgomp's worker
 *   threads are still alive; unmapping the code under them segfaults the exit. `nodelete`
 *   keeps the library mapped until the process is gone.
 * `-lm` goes after the source (link order matters) and is added separately, as is `-lmvec`
 * where the C library has vector math (see `vectorMath`).
 */
export const BASE_FLAGS: readonly string[] = [
  "-std=gnu11",
  "-fPIC",
  "-shared",
  "-fwrapv",
  "-ffp-contract=fast",
  "-fno-trapping-math",
  "-fno-math-errno",
  "-fopenmp",
  "-Wl,-z,nodelete",
];

/** Bump when the way a library is built changes without the flags showing it. */
const CACHE_FORMAT = 2;

/** Compiler output in English with ASCII quotes, so diagnostics parse the same everywhere. */
const COMPILER_ENV = { LC_ALL: "C", LANG: "C" };

/** Where compiled libraries live: per user, and outside the repository. */
export function cacheDir(
  getEnv: (name: string) => string | undefined = (name) => Deno.env.get(name),
): string {
  const env = (k: string) => getEnv(k) || undefined;
  const explicit = env("TESSERA_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "tessera", "c");
  const home = env("HOME");
  if (home) return join(home, ".cache", "tessera", "c");
  // The temp dir is shared between users: a per-user name, created 0700 below.
  return join(tmpdir(), `tessera-${env("USER") ?? env("LOGNAME") ?? "user"}`, "c");
}

const compilers = new Map<string, Promise<{ path: string; version: string }>>();

/** The compiler that compileC would use: its path and its `--version` first line. */
export async function findCompiler(cc?: string): Promise<{ path: string; version: string }> {
  const envCC = Deno.env.get("CC")?.trim();
  const candidates = cc !== undefined ? [cc] : [...(envCC ? [envCC] : []), "cc", "gcc", "clang"];
  const key = candidates.join("\0");
  let found = compilers.get(key);
  if (!found) {
    found = probe(candidates, cc === undefined);
    // A failure is not remembered: the user may install a compiler and try again.
    found.catch(() => compilers.delete(key));
    compilers.set(key, found);
  }
  return await found;
}

async function probe(
  candidates: string[],
  defaults: boolean,
): Promise<{ path: string; version: string }> {
  const tried: string[] = [];
  for (const name of candidates) {
    const path = await which(name);
    if (!path) {
      tried.push(`${name} (not found)`);
      continue;
    }
    try {
      const out = await new Deno.Command(path, {
        args: ["--version"],
        env: COMPILER_ENV,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) || new TextDecoder().decode(out.stderr);
      if (out.success) return { path, version: text.split("\n")[0].trim() };
      tried.push(`${path} (\`--version\` exited with ${out.code})`);
    } catch (e) {
      tried.push(`${path} (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  const what = defaults ? "tried $CC, cc, gcc, clang" : "tried the `cc` option";
  throw new TesseraError(
    `no C compiler found (${what}: ${tried.join(", ")}); install one: ` +
      "`apt-get install gcc` on Debian/Ubuntu, `dnf install gcc` on Fedora, " +
      "Xcode command line tools (`xcode-select --install`) on macOS; or set $CC",
  );
}

/** Resolves a command name on PATH like the shell would; a name with a slash is taken as is. */
async function which(name: string): Promise<string | undefined> {
  if (name === "") return undefined;
  const dirs = name.includes("/") ? [""] : (Deno.env.get("PATH") ?? "").split(":");
  for (const dir of dirs) {
    const path = dir === "" ? name : join(dir, name);
    try {
      const st = await Deno.stat(path);
      if (st.isFile && (st.mode === null || (st.mode & 0o111) !== 0)) return path;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

const natives = new Map<string, Promise<string>>();

/**
 * What `-march=native` (and friends) means on this machine, in the compiler's own words. It
 * goes into the cache key so that a cache directory shared across machines (an NFS home)
 * never hands one CPU a library built for another's instruction set.
 */
function nativeTarget(cc: string, flags: string[]): Promise<string> {
  const native = flags.filter((f) => f.includes("native"));
  if (native.length === 0) return Promise.resolve("");
  const key = [cc, ...native].join("\0");
  let found = natives.get(key);
  if (!found) {
    found = new Deno.Command(cc, {
      args: [...native, "-###", "-E", "-x", "c", "/dev/null"],
      env: COMPILER_ENV,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output().then((out) => {
      // Keep only target options: the rest (-fdebug-compilation-dir=<cwd>, ...) varies by run.
      const tokens = new TextDecoder().decode(out.stderr).split(/\s+/).map((t) =>
        t.replace(/^"|"$/g, "")
      );
      return tokens.filter((t, i) =>
        t.startsWith("-m") || t === "-target-cpu" || t === "-target-feature" ||
        t === "--param" || ["-target-cpu", "-target-feature", "--param"].includes(tokens[i - 1])
      ).join(" ");
    }, () => "");
    natives.set(key, found);
  }
  return found;
}

const vectorMaths = new Map<string, Promise<{ defines: string[]; libs: string[] }>>();

/**
 * glibc's vector math library (libmvec) on x86-64: with it, the printed prelude declares
 * `expf` and `logf` as SIMD functions (TSR_MVEC), and the double `erf` and `tanh` where the
 * library has them (TSR_MVEC_ERF, glibc 2.35 on), so GCC vectorizes loops that call them
 * with libmvec's versions instead of keeping them scalar. Elsewhere (another C library,
 * another architecture) the scalar functions are used and nothing else changes.
 */
function vectorMath(cc: string): Promise<{ defines: string[]; libs: string[] }> {
  let found = vectorMaths.get(cc);
  if (!found) {
    const none = { defines: [], libs: [] };
    found = Deno.build.arch !== "x86_64" ? Promise.resolve(none) : new Deno.Command(cc, {
      args: ["-print-file-name=libmvec.so"],
      env: COMPILER_ENV,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output().then(async (out) => {
      const path = new TextDecoder().decode(out.stdout).trim();
      if (!out.success || !path.startsWith("/") || !await exists(path)) return none;
      // erf and tanh came to libmvec in glibc 2.35: declared only where the library has them.
      const text = new TextDecoder("latin1").decode(await Deno.readFile(path));
      const more = text.includes("_ZGVdN4v_erf") && text.includes("_ZGVdN4v_tanh")
        ? ["-DTSR_MVEC_ERF"]
        : [];
      return { defines: ["-DTSR_MVEC", ...more], libs: ["-lmvec"] };
    }, () => none);
    vectorMaths.set(cc, found);
  }
  return found;
}

async function sha256(data: string | Uint8Array<ArrayBuffer>): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The exported symbol that holds a library's cache key (see `loadC`). */
const KEY_SYMBOL = "tessera_cache_key";

/** Appended to the compiled source; at the end, so diagnostics' line numbers do not move. */
function keyDefinition(key: string): string {
  return `\n/* The cache key, checked after dlopen so that another kernel's library is refused. */\n` +
    `__attribute__((visibility("default"), used)) const char ${KEY_SYMBOL}[] = "${key}";\n`;
}

/** The manifest line for a library: `sha256sum -c` checks it too. */
function manifestLine(hash: string, key: string): string {
  return `${hash}  ${key}.so\n`;
}

/**
 * Whether `so` is exactly the library the manifest describes for `key`. Read and hashed
 * before anything maps it: a file shorter than its headers claim crashes `dlopen` (SIGBUS).
 */
async function verified(so: string, manifest: string, key: string): Promise<boolean> {
  try {
    const [bytes, line] = await Promise.all([Deno.readFile(so), Deno.readTextFile(manifest)]);
    return line === manifestLine(await sha256(bytes), key);
  } catch {
    return false; // missing or unreadable: rebuild
  }
}

/** Temporaries older than this belong to a process that died mid-write. */
const STALE_TEMP_MS = 15 * 60 * 1000;

/** Removes temporaries that a killed process left; young ones may be a live compile's. */
async function sweepStaleTemps(dir: string): Promise<void> {
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !/\.tmp(\.\w+)?$/.test(e.name)) continue;
      const path = join(dir, e.name);
      const mtime = (await Deno.stat(path)).mtime?.getTime();
      if (mtime !== undefined && Date.now() - mtime > STALE_TEMP_MS) await removeQuietly(path);
    }
  } catch {
    // best effort: another process may sweep the same file first
  }
}

/** A name no other process or call will pick, in `dir`, ending in `ext`. */
function tempName(dir: string, key: string, ext: string): string {
  const rand = Array.from(
    crypto.getRandomValues(new Uint8Array(6)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return join(dir, `${key}.${Deno.pid}.${rand}.tmp${ext}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch {
    // already gone, or never written
  }
}

const pools = new Map<string, Promise<string>>();

/**
 * The thread pool's library (pool.ts), compiled and cached like a kernel, once per
 * process, compiler and cache folder; its absolute path, which each kernel records.
 */
function poolLibrary(cc: string, dir = cacheDir()): Promise<string> {
  const where = resolve(dir);
  const key = `${cc}\0${where}`;
  let found = pools.get(key);
  if (!found) {
    found = compileC(POOL_SOURCE, { cc, cacheDir: where, flags: ["-O2"], pool: false })
      .then((lib) => lib.path);
    found.catch(() => pools.delete(key));
    pools.set(key, found);
  }
  return found;
}

/** Compiles `source` to a shared object, cached; returns its path. */
export async function compileC(
  source: string,
  opts: CompileOptions = {},
): Promise<CompiledLibrary> {
  const { path: cc, version } = await findCompiler(opts.cc);
  const vm = await vectorMath(cc);
  const flags = [...BASE_FLAGS, ...vm.defines, ...(opts.flags ?? DEFAULT_FLAGS)];
  // Extra flags go after the source so that an extra `-lfoo` resolves its symbols; `-lm` last.
  // The pool is Linux's (futexes, GNU ld's --wrap); elsewhere libgomp runs the loops.
  const pooled = (opts.pool ?? true) && Deno.build.os === "linux";
  const pool = pooled ? poolLinkArgs(await poolLibrary(cc, opts.cacheDir)) : [];
  const extra = [...(opts.extraFlags ?? []), ...vm.libs, ...pool];
  const native = await nativeTarget(cc, [...flags, ...extra]);
  const userSources = opts.sources ?? [];
  // A library is found before anything is compiled, and what was found is in the key.
  const libArgs = (await Promise.all((opts.libs ?? []).map((l) => linkArgs(cc, l)))).flat();
  extra.unshift(...libArgs);
  const key = await sha256(
    JSON.stringify([CACHE_FORMAT, source, flags, extra, cc, version, native, userSources]),
  );

  const dir = opts.cacheDir ?? cacheDir();
  const so = join(dir, `${key}.so`);
  const manifest = join(dir, `${key}.sha256`);
  const cFile = join(dir, `${key}.c`);
  const userFiles = userSources.map((_, k) => join(dir, `${key}.user${k}.c`));
  const command = [cc, ...flags, cFile, ...userFiles, "-o", so, ...extra, "-lm"];
  if (!opts.rebuild && await verified(so, manifest, key)) {
    return { path: so, key, cached: true, command };
  }

  // The source is kept beside the library (and after a failure) so a user can read and
  // recompile it. Same key means same text, so racing writers rename identical files.
  const tmpC = tempName(dir, key, ".c");
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await sweepStaleTemps(dir);
    await Deno.writeTextFile(tmpC, source + keyDefinition(key));
    await Deno.rename(tmpC, cFile);
    for (const [k, text] of userSources.entries()) {
      await Deno.writeTextFile(tmpC, text);
      await Deno.rename(tmpC, userFiles[k]);
    }
  } catch (e) {
    throw new TesseraError(
      `cannot write to the C build cache ${dir} (${e instanceof Error ? e.message : e}); ` +
        "set TESSERA_CACHE_DIR to a writable directory",
    );
  } finally {
    await removeQuietly(tmpC);
  }

  const tmpSo = tempName(dir, key, ".so");
  const tmpManifest = tempName(dir, key, ".sha256");
  try {
    const out = await new Deno.Command(cc, {
      args: [...flags, cFile, ...userFiles, "-o", tmpSo, ...extra, "-lm"],
      env: COMPILER_ENV,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const stderr = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      throw new CompileError(describeFailure(cc, out.code, cFile, source, stderr), stderr, command);
    }
    // Atomic: a reader sees no file or the whole file, and a racing compile of the same key
    // just replaces it with an identical one. The manifest comes after the library, so a
    // reader between the two renames finds no match and rebuilds; it never trusts a half.
    await Deno.writeTextFile(
      tmpManifest,
      manifestLine(await sha256(await Deno.readFile(tmpSo)), key),
    );
    await Deno.rename(tmpSo, so);
    await Deno.rename(tmpManifest, manifest);
  } finally {
    await removeQuietly(tmpSo);
    await removeQuietly(tmpManifest);
  }
  return { path: so, key, cached: false, command };
}

/**
 * The linker arguments for a library te.extern names: `-l<name>` when the compiler finds
 * `lib<name>.so`, else the path the dynamic linker's cache knows (a runtime-only package has
 * `libfoo.so.0` but no `libfoo.so`); an absolute path as it is, with its folder as the run path.
 * A library found nowhere is a TesseraError before anything is compiled.
 */
async function linkArgs(cc: string, lib: string): Promise<string[]> {
  if (lib.startsWith("/")) {
    if (!await exists(lib)) {
      throw new TesseraError(
        `te.extern: library ${lib} does not exist (or is not a file); give the path of an ` +
          `existing .so, or a library name such as "openblas"`,
      );
    }
    return [lib, `-Wl,-rpath,${dirname(lib)}`];
  }
  const out = await new Deno.Command(cc, {
    args: [`-print-file-name=lib${lib}.so`],
    env: COMPILER_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => null);
  const path = out?.success ? new TextDecoder().decode(out.stdout).trim() : "";
  if (path.startsWith("/") && await exists(path)) return [`-l${lib}`];
  const cached = await new Deno.Command("ldconfig", {
    args: ["-p"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output().then((o) => new TextDecoder().decode(o.stdout), () => "");
  const soname = new RegExp(`^\\s*lib${lib.replace(/[.+]/g, "\\$&")}\\.so(\\.[0-9.]+)? `);
  for (const line of cached.split("\n")) {
    const p = line.split("=>")[1]?.trim();
    if (soname.test(line) && p && await exists(p)) return [p];
  }
  throw new TesseraError(
    `te.extern: library '${lib}' not found: no lib${lib}.so where ${cc} looks, nor in the ` +
      `dynamic linker's cache (ldconfig -p); install it (e.g. apt-get install lib${lib}-dev) ` +
      `or pass the absolute path of its .so file`,
  );
}

/**
 * Compiles (cached) and opens `source` with `symbols`, checking that the library is the one
 * built for this source: its exported key must be the cache key. When the cached library
 * does not open or is another kernel's, it is rebuilt once; still failing is a TesseraError.
 */
export async function loadC<S extends Deno.ForeignLibraryInterface>(
  source: string,
  symbols: S,
  opts: CompileOptions = {},
): Promise<{ library: CompiledLibrary; dl: Deno.DynamicLibrary<S> }> {
  const library = await compileC(source, opts);
  const first = openChecked(library, symbols);
  if (typeof first !== "string") return { library, dl: first };
  const again = await compileC(source, { ...opts, rebuild: true });
  // Through a fresh name: the C library reuses an already-loaded library of the same path,
  // so reopening the path would return the rejected library again.
  const alias = tempName(dirname(again.path), again.key, ".so");
  let second: Deno.DynamicLibrary<S> | string;
  try {
    await Deno.copyFile(again.path, alias);
    second = openChecked({ ...again, path: alias }, symbols);
  } finally {
    await removeQuietly(alias); // the loaded library stays mapped
  }
  if (typeof second !== "string") return { library: again, dl: second };
  throw new TesseraError(
    `cannot load the compiled library ${again.path}: ${first}; after a rebuild: ${second}`,
  );
}

/**
 * How libgomp's threads wait between parallel loops, for the kernels that still use libgomp
 * (those with te.extern C sources; the rest run on pool.ts): passively (asleep on a futex), not
 * spinning for libgomp's default 300,000 turns. A spinning team takes the cores from whatever
 * runs next in the process (OpenBLAS's pool, tfjs-wasm, another kernel): on 2 cores a 256^3
 * matmul next to OpenBLAS took 30 ms instead of 0.3. libgomp reads the variable once, when the
 * first kernel's dlopen loads it, so it is set before that; a user's own OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT is left as it is. Without --allow-env nothing is changed.
 */
function passiveOpenMP(): void {
  try {
    if (
      Deno.env.get("OMP_WAIT_POLICY") === undefined && Deno.env.get("GOMP_SPINCOUNT") === undefined
    ) {
      Deno.env.set("OMP_WAIT_POLICY", "passive");
    }
  } catch {
    // No --allow-env: libgomp's default stands.
  }
}

/** The opened library, or why it was refused. */
function openChecked<S extends Deno.ForeignLibraryInterface>(
  library: CompiledLibrary,
  symbols: S,
): Deno.DynamicLibrary<S> | string {
  let dl;
  passiveOpenMP();
  try {
    dl = Deno.dlopen(library.path, { ...symbols, [KEY_SYMBOL]: { type: "pointer" } } as const);
  } catch (e) {
    return `dlopen failed (${e instanceof Error ? e.message : String(e)})`;
  }
  const p = dl.symbols[KEY_SYMBOL] as Deno.PointerValue;
  const found = p === null ? "" : Deno.UnsafePointerView.getCString(p);
  if (found === library.key) return dl as unknown as Deno.DynamicLibrary<S>;
  dl.close();
  return `it holds the library of another kernel (key ${found.slice(0, 16)}..., want ${
    library.key.slice(0, 16)
  }...)`;
}

/** The message for a failed compile: each error's generated line first, then the diagnostics. */
function describeFailure(
  cc: string,
  code: number,
  cFile: string,
  source: string,
  stderr: string,
): string {
  const lines = source.split("\n");
  const width = String(lines.length).length;
  const pointed: string[] = [];
  const fileName = cFile.split("/").pop()!;
  for (const m of stderr.matchAll(/^(.*?):(\d+):(?:(\d+):)? (?:fatal )?error: (.*)$/gm)) {
    if (!m[1].endsWith(fileName)) continue; // an error inside a system header
    const n = Number(m[2]);
    const text = lines[n - 1] ?? "";
    pointed.push(`  line ${String(n).padStart(width)}: ${text.trim()}\n      error: ${m[4]}`);
  }
  const maxDiag = 8000;
  const diag = stderr.length > maxDiag
    ? `${stderr.slice(0, maxDiag)}\n... (${stderr.length - maxDiag} more characters in .stderr)`
    : stderr;
  return `C compilation failed (${cc} exited with ${code}); the source is at ${cFile}\n` +
    (pointed.length ? `generated lines with errors:\n${pointed.join("\n")}\n` : "") +
    `compiler output:\n${diag.trimEnd()}`;
}
