/**
 * The notebook check behind `deno task notebooks` and tests/notebooks_test.ts. Notebooks are
 * where a newcomer meets Tessera, and nothing else notices when one stops running or stops
 * rendering, so this installs the Deno kernelspec the notebooks name, executes each notebook
 * in notebooks/ on it with nbconvert, checks the executed files (no error outputs, no ANSI
 * colour codes, every code cell run, the MIME types each marked cell promises), exports them
 * to HTML and opens each page in headless Chromium, which saves a screenshot and whose DOM
 * must hold what the notebook promises (the IR, the diagrams and charts as SVG). Everything
 * it writes goes to notebooks-out/ (ignored by git and by `deno fmt`).
 *
 *   deno task notebooks [name ...]     e.g. `deno task notebooks 02` runs 02_scheduling only
 *   deno task notebooks --fmt          formats the notebooks (after editing them in Jupyter)
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const KERNEL_NAME = "deno-tessera";
export const KERNEL_DISPLAY_NAME = "Deno (Tessera)";
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const NOTEBOOK_DIR: string = join(ROOT, "notebooks");
/** Beside notebooks/, at the same depth, so an executed copy's `../mod.ts` still resolves. */
export const OUT_DIR: string = join(ROOT, "notebooks-out");

const DEBIAN_PACKAGES =
  "jupyter-client python3-nbconvert python3-nbclient python3-ipykernel jupyter-nbconvert";
/** The MIME types a cell may promise; anything else in `expect` is a typo. */
const KNOWN_MIME = new Set([
  "text/plain",
  "text/html",
  "image/svg+xml",
  "image/png",
  "application/vnd.vegalite.v5+json",
]);
/** Chromium's window: the screenshot is this viewport (the top of the page). */
const WINDOW = [1200, 4800] as const;

// --- the notebook format, as far as the checks read it ---

type MultiLine = string | string[];

export interface Output {
  output_type: string;
  data?: Record<string, unknown>;
  text?: MultiLine;
  name?: string;
  ename?: string;
  evalue?: string;
}

export interface Cell {
  cell_type: string;
  source: MultiLine;
  metadata?: { tessera?: { expect?: unknown } };
  outputs?: Output[];
  execution_count?: number | null;
}

export interface Notebook {
  cells: Cell[];
  metadata: {
    kernelspec?: { name?: string; display_name?: string };
    /** What the page exported from the executed notebook must contain (see `checkPage`). */
    tessera?: { page?: unknown };
  };
  nbformat: number;
}

const joined = (t: MultiLine | undefined) => Array.isArray(t) ? t.join("") : t ?? "";
const first = (t: string, n = 160) => {
  const line = t.trim().split("\n")[0];
  return line.length > n ? line.slice(0, n) + "…" : line;
};

function expectOf(cell: Cell): unknown {
  return cell.metadata?.tessera?.expect;
}

/** Problems with a notebook as committed: the kernel it names, its markers, no stale outputs. */
export function checkSource(name: string, nb: Notebook): string[] {
  const out: string[] = [];
  if (nb.metadata?.kernelspec?.name !== KERNEL_NAME) {
    out.push(`${name}: metadata.kernelspec.name must be "${KERNEL_NAME}" (the kernel it runs on)`);
  }
  const page = nb.metadata?.tessera?.page;
  if (!Array.isArray(page) || page.length === 0 || page.some((p) => typeof p !== "string")) {
    out.push(`${name}: metadata.tessera.page must list what the exported page must contain`);
  }
  let marked = 0;
  nb.cells.forEach((cell, i) => {
    const where = `${name} cell ${i + 1}`;
    const text = joined(cell.source);
    if (text !== "" && !text.endsWith("\n") && cell.cell_type !== "raw") {
      out.push(
        `${where}: does not end with a newline, which \`deno fmt --check\` (Deno 2.9) reports ` +
          "as unformatted with an empty diff; run `deno task notebooks --fmt`",
      );
    }
    const expect = expectOf(cell);
    if (expect !== undefined) {
      marked++;
      if (cell.cell_type !== "code") out.push(`${where}: only code cells can expect outputs`);
      if (!Array.isArray(expect) || expect.length === 0) {
        out.push(`${where}: tessera.expect must be a non-empty list of MIME types`);
      } else {
        for (const t of expect) {
          if (!KNOWN_MIME.has(t)) out.push(`${where}: tessera.expect names unknown type ${t}`);
        }
      }
    }
    // Outputs are machine-specific (timings, adapters): executed copies go to notebooks-out/.
    if (cell.cell_type === "code" && (cell.outputs?.length || cell.execution_count != null)) {
      out.push(`${where}: committed with outputs; clear them (executed copies are generated)`);
    }
  });
  if (marked === 0) out.push(`${name}: no cell is marked with tessera.expect`);
  return out;
}

/** Problems with an executed notebook: errors, colour codes, unrun cells, missing MIME types. */
export function checkExecuted(name: string, nb: Notebook): string[] {
  const out: string[] = [];
  nb.cells.forEach((cell, i) => {
    if (cell.cell_type !== "code") return;
    const where = `${name} cell ${i + 1}`;
    const outputs = cell.outputs ?? [];
    if (cell.execution_count == null && joined(cell.source).trim() !== "") {
      out.push(`${where}: was not executed`);
    }
    const have = new Set<string>();
    for (const o of outputs) {
      if (o.output_type === "error") {
        out.push(`${where}: error ${o.ename}: ${first(o.evalue ?? "")}`);
      }
      for (const t of Object.keys(o.data ?? {})) have.add(t);
      const texts = [joined(o.text), joined(o.data?.["text/plain"] as MultiLine | undefined)];
      if (texts.some((t) => t.includes("\x1b["))) {
        out.push(
          `${where}: ANSI colour codes in a text output (does the kernelspec set NO_COLOR?)`,
        );
      }
    }
    const expect = expectOf(cell);
    if (!Array.isArray(expect)) return;
    const missing = expect.filter((t) => !have.has(t));
    if (missing.length) {
      const shown = outputs.map((o) =>
        first(joined(o.text) || joined(o.data?.["text/plain"] as MultiLine | undefined), 200)
      ).filter((t) => t);
      out.push(
        `${where}: expected ${missing.join(", ")} in its outputs, found ${
          have.size ? [...have].join(", ") : "no rich output"
        }${shown.length ? ` (it showed: ${shown.join(" | ")})` : ""}`,
      );
    }
  });
  return out;
}

/** Whether a problem from `checkExecuted` is a marked cell missing an output type. */
export function isMissingOutput(problem: string): boolean {
  return / in its outputs, found /.test(problem);
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** The text a reader sees in a page: tags, styles and scripts dropped, entities decoded. */
export function pageText(dom: string): string {
  return dom
    .replace(/<(style|script)\b[^>]*>[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]*>/g, "")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === "#") {
        const code = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : Number(e.slice(1));
        return String.fromCodePoint(code);
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    });
}

/**
 * Problems with a rendered page: each needle must be in it. A needle that starts with `<` is
 * markup (`<svg`: an SVG element was rendered) and is looked for in the DOM; any other is text
 * a reader would see (`@T.prim_func`), looked for in the page's text.
 */
export function checkPage(name: string, dom: string, needles: readonly string[]): string[] {
  const text = pageText(dom);
  const out = needles
    .filter((n) => !(n.startsWith("<") ? dom.includes(n) : text.includes(n)))
    .map((n) =>
      `${name}: the page in Chromium has no ${n.startsWith("<") ? "element" : "text"} ${n}`
    );
  const empty = emptySvgs(dom);
  if (empty) {
    out.push(`${name}: ${empty} SVG element(s) in the page draw nothing (only text is left)`);
  }
  const blank = blankCharts(dom);
  if (blank) out.push(`${name}: ${blank} chart(s) in the page draw no mark of their data`);
  return out;
}

/**
 * SVG elements with no shape inside. An HTML sanitizer that does not know SVG (nbconvert 6.5's
 * `clean_html`) keeps the `<svg>` and its text but drops every shape, so "an `<svg` is there"
 * alone would pass a blank chart.
 */
export function emptySvgs(dom: string): number {
  const shape = /<(?:rect|path|line|circle|ellipse|polygon|polyline|use|image)\b/i;
  return [...dom.matchAll(/<svg\b[^>]*>([\s\S]*?)<\/svg>/gi)].filter((m) => !shape.test(m[1]))
    .length;
}

/** A mark vega drew for a datum: its role ("bar", "symbol", ...) and the size of its path. */
export interface DataMark {
  role: string;
  width: number;
  height: number;
}

/**
 * The extent of an SVG path: the box around its end and control points, following relative
 * and absolute commands (enough for vega's bars, symbols and lines).
 */
function pathExtent(d: string): [number, number] {
  const tokens = d.match(/[a-zA-Z]|-?(?:\d+\.?\d*|\.\d+)(?:e-?\d+)?/g) ?? [];
  const arity: Record<string, number> = { m: 2, l: 2, h: 1, v: 1, c: 6, s: 4, q: 4, t: 2, a: 7 };
  let x = 0, y = 0, cmd = "", i = 0;
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  const see = (px: number, py: number) => {
    [x0, x1, y0, y1] = [Math.min(x0, px), Math.max(x1, px), Math.min(y0, py), Math.max(y1, py)];
  };
  while (i < tokens.length) {
    if (/[a-zA-Z]/.test(tokens[i])) cmd = tokens[i++];
    const lower = cmd.toLowerCase(), rel = cmd !== cmd.toUpperCase() ? 1 : 0;
    if (lower === "z" || !(lower in arity)) {
      if (lower !== "z") i++;
      continue;
    }
    const n = tokens.slice(i, i + arity[lower]).map(Number);
    i += arity[lower];
    if (lower === "h") x = n[0] + rel * x;
    else if (lower === "v") y = n[0] + rel * y;
    else {
      const pts = lower === "a" ? [n[5], n[6]] : n;
      for (let k = 0; k + 1 < pts.length; k += 2) see(pts[k] + rel * x, pts[k + 1] + rel * y);
      [x, y] = [pts[pts.length - 2] + rel * x, pts[pts.length - 1] + rel * y];
      // A circle drawn as two arcs ends where it started: its radius gives its size.
      if (lower === "a") see(x + n[0], y + n[1]);
    }
    see(x, y);
  }
  return x1 >= x0 ? [x1 - x0, y1 - y0] : [0, 0];
}

/** The data marks in vega's SVG (items it drew from rows, not axes, grid or legend). */
export function dataMarks(svg: string): DataMark[] {
  const out: DataMark[] = [];
  for (const m of svg.matchAll(/<path\b[^>]*role="graphics-symbol"[^>]*>/g)) {
    const role = /aria-roledescription="([^"]*)"/.exec(m[0])?.[1] ?? "";
    const d = /\sd="([^"]*)"/.exec(m[0])?.[1] ?? "";
    const [width, height] = pathExtent(d);
    out.push({ role, width, height });
  }
  return out;
}

/**
 * vega charts that show no data: not one bar with a width and a height, nor any other mark
 * with a size. Axis lines and grid are shapes too, so "has a shape" alone passes a chart whose
 * bars all have zero width.
 */
export function blankCharts(dom: string): number {
  return [...dom.matchAll(/<svg\b[^>]*class="marks"[^>]*>([\s\S]*?)<\/svg>/gi)].filter((m) =>
    !dataMarks(m[1]).some((k) =>
      k.role === "bar" ? k.width > 0 && k.height > 0 : k.width > 0 || k.height > 0
    )
  ).length;
}

/**
 * Problems with a page exported by a plain `jupyter nbconvert --to html`, whose cleaner
 * (nbconvert 6.5) strips SVG shapes: every chart must still hold its PNG, a real one.
 */
export function checkPlainExport(name: string, html: string): string[] {
  const charts = [...html.matchAll(/<div class="tsr-chart">([\s\S]*?)<\/div>/g)];
  const out: string[] = [];
  charts.forEach((m, i) => {
    const png = /<img\b[^>]*src="data:image\/png;base64,([^"]+)"/.exec(m[1]);
    const bytes = png ? Uint8Array.from(atob(png[1]), (c) => c.charCodeAt(0)) : null;
    const size = bytes ? pngSize(bytes) : null;
    if (!size || size[0] === 0 || size[1] === 0) {
      out.push(`${name}: chart ${i + 1} has no PNG left in a plain nbconvert --to html export`);
    }
  });
  return out;
}

/** Width and height from a PNG's header, or null when the bytes are not a PNG. */
export function pngSize(bytes: Uint8Array): [number, number] | null {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || sig.some((b, i) => bytes[i] !== b)) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [v.getUint32(16), v.getUint32(20)];
}

// --- processes: every one bounded in time, none left behind ---

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

interface RunOptions {
  timeoutMs: number;
  env?: Record<string, string>;
  /** Sent first on timeout: SIGINT lets nbconvert shut its kernel down itself. */
  stopSignal?: Deno.Signal;
  /**
   * Watch the process's descendants and end any that outlive it. Jupyter starts kernels in a
   * session of their own, and a Deno kernel whose nbconvert died keeps running forever.
   */
  reap?: boolean;
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** pid -> command line of every process, from `ps` (empty where ps cannot run). */
async function processTable(): Promise<Map<number, { ppid: number; args: string }>> {
  const table = new Map<number, { ppid: number; args: string }>();
  try {
    const out = await new Deno.Command("ps", {
      args: ["-eo", "pid=,ppid=,args="],
      stdout: "piped",
      stderr: "null",
    }).output();
    for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
      const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
      if (m) table.set(Number(m[1]), { ppid: Number(m[2]), args: m[3] });
    }
  } catch {
    // No ps: nothing to watch; the timeouts still bound every run.
  }
  return table;
}

function descendants(
  root: number,
  table: Map<number, { ppid: number; args: string }>,
): Map<number, string> {
  const found = new Map<number, string>();
  let frontier = [root];
  while (frontier.length) {
    const next: number[] = [];
    for (const [pid, p] of table) {
      if (frontier.includes(p.ppid) && !found.has(pid)) {
        found.set(pid, p.args);
        next.push(pid);
      }
    }
    frontier = next;
  }
  return found;
}

function kill(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Those of `seen` still running the same command line (so not a reused pid). */
async function stillRunning(seen: Map<number, string>): Promise<number[]> {
  if (seen.size === 0) return [];
  const table = await processTable();
  return [...seen].filter(([pid, args]) => table.get(pid)?.args === args).map(([pid]) => pid);
}

/** Gives leftover descendants 2 s to exit on their own, then SIGTERM, then SIGKILL. */
async function endLeftovers(seen: Map<number, string>): Promise<number[]> {
  let left = await stillRunning(seen);
  for (let t = 0; t < 10 && left.length; t++) {
    await sleep(200);
    left = await stillRunning(seen);
  }
  const ended = [...left];
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    if (!left.length) break;
    for (const pid of left) kill(pid, signal);
    for (let t = 0; t < 15 && left.length; t++) {
      await sleep(200);
      left = await stillRunning(seen);
    }
  }
  return ended;
}

export async function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const seen = new Map<number, string>();
  let finished = false;
  const watch = opts.reap
    ? (async () => {
      while (!finished) {
        for (const [pid, args] of descendants(child.pid, await processTable())) {
          seen.set(pid, args);
        }
        await sleep(500);
      }
    })()
    : Promise.resolve();
  let timedOut = false;
  let stopping: Promise<void> | null = null;
  const timer = setTimeout(() => {
    timedOut = true;
    stopping = (async () => {
      for (const [pid, args] of descendants(child.pid, await processTable())) seen.set(pid, args);
      kill(child.pid, opts.stopSignal ?? "SIGTERM");
      for (let t = 0; t < 50 && !finished; t++) await sleep(200);
      if (!finished) kill(child.pid, "SIGKILL");
    })();
  }, opts.timeoutMs);
  const [status, stdout, stderr] = await Promise.all([
    child.status,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  finished = true;
  clearTimeout(timer);
  await stopping;
  await watch;
  const left = await endLeftovers(seen);
  const note = left.length ? `\n[tools/notebooks] ended leftover processes ${left.join(", ")}` : "";
  return { code: status.code, stdout, stderr: stderr + note, timedOut };
}

// --- the tools: Jupyter, the kernelspec, Chromium ---

async function onPath(names: string[]): Promise<string | null> {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d);
  for (const name of names) {
    for (const dir of dirs) {
      try {
        const st = await Deno.stat(join(dir, name));
        if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return join(dir, name);
      } catch {
        // Not here.
      }
    }
  }
  return null;
}

/** Environment for Jupyter's Python tools; the variable silences a debugger warning. */
function jupyterEnv(): Record<string, string> {
  return { PYDEVD_DISABLE_FILE_VALIDATION: "1" };
}

export interface Tools {
  jupyter: string;
  chromium: string;
}

/** The tools, or why they cannot be used here and how to get them. */
export async function findTools(): Promise<Tools | { missing: string }> {
  const how = `install the Debian packages ${DEBIAN_PACKAGES} chromium (as root, .ci/run does)`;
  const jupyter = await onPath(["jupyter"]);
  if (!jupyter) return { missing: `jupyter is not installed; ${how}` };
  for (const sub of ["nbconvert", "kernelspec"]) {
    const r = await run(jupyter, [sub, "--version"], { timeoutMs: 60_000, env: jupyterEnv() })
      .catch((e) => ({ code: -1, stderr: String(e) }));
    if (r.code !== 0) {
      return { missing: `\`jupyter ${sub}\` does not run (${first(r.stderr)}); ${how}` };
    }
  }
  const chromiumEnv = Deno.env.get("TESSERA_CHROMIUM");
  const chromium = chromiumEnv ??
    await onPath(["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]);
  if (!chromium) return { missing: `chromium is not installed (or set TESSERA_CHROMIUM); ${how}` };
  return { jupyter, chromium };
}

export interface Kernelspec {
  dir: string;
  argv: string[];
  env: Record<string, string>;
}

/**
 * Installs the kernelspec with `deno jupyter --install` (this Deno, its logos), then adds
 * `"env": {"NO_COLOR": "1"}` to its kernel.json, which the installer has no option for: the
 * kernel otherwise colours `console.log` and result text with ANSI codes that Jupyter shows
 * as garbage. The kernel runs with every permission (`deno jupyter` grants all).
 */
export async function installKernelspec(jupyter: string): Promise<Kernelspec> {
  const inst = await run(Deno.execPath(), [
    "jupyter",
    "--install",
    "--force",
    "--name",
    KERNEL_NAME,
    "--display",
    KERNEL_DISPLAY_NAME,
  ], { timeoutMs: 60_000, env: { NO_COLOR: "1" } });
  if (inst.code !== 0) {
    throw new Error(`deno jupyter --install failed: ${first(inst.stderr + inst.stdout, 400)}`);
  }
  // Ask Jupyter where it put it: the data directory differs between systems.
  const list = await run(jupyter, ["kernelspec", "list", "--json"], {
    timeoutMs: 60_000,
    env: jupyterEnv(),
  });
  let dir: string | undefined;
  try {
    dir = JSON.parse(list.stdout).kernelspecs?.[KERNEL_NAME]?.resource_dir;
  } catch {
    // Reported below.
  }
  if (!dir) {
    throw new Error(
      `Jupyter does not list the kernelspec ${KERNEL_NAME} after installing it: ${
        first(list.stderr, 400)
      }`,
    );
  }
  const file = join(dir, "kernel.json");
  const spec = JSON.parse(await Deno.readTextFile(file));
  spec.env = { ...spec.env, NO_COLOR: "1" };
  spec.argv = await stableDenoArgv(spec.argv);
  const tmp = `${file}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(spec, null, 2) + "\n");
  await Deno.rename(tmp, file); // atomic: a kernel starting now never reads half a file
  return { dir, argv: spec.argv, env: spec.env };
}

/**
 * `deno jupyter --install` writes this Deno's own path, which under `npx` is a folder of npm's
 * cache that `npm cache clean` or a newer npx removes, leaving a kernel that cannot start. When
 * this Deno came from npx, start the kernel through `npx -y deno@<this version>` instead: the
 * same pinned Deno, fetched again if the cache is gone.
 */
async function stableDenoArgv(argv: string[]): Promise<string[]> {
  if (!argv[0]?.includes("/_npx/")) return argv;
  const npx = await onPath(["npx"]);
  return npx ? [npx, "-y", `deno@${Deno.version.deno}`, ...argv.slice(1)] : argv;
}

export type Setup = { tools: Tools; kernelspec: Kernelspec } | { missing: string };

/** The tools and the installed kernelspec, or why the notebooks cannot run here. */
export async function setup(): Promise<Setup> {
  const tools = await findTools();
  if ("missing" in tools) return tools;
  try {
    return { tools, kernelspec: await installKernelspec(tools.jupyter) };
  } catch (e) {
    return { missing: `the Deno kernelspec could not be installed: ${first(String(e), 300)}` };
  }
}

// --- the check ---

export interface NotebookResult {
  name: string;
  seconds: number;
  executed?: string;
  html?: string;
  screenshot?: string;
}

export interface Report {
  kernelspec: Kernelspec;
  notebooks: NotebookResult[];
  problems: string[];
  /** What went wrong and was recovered from (a rerun); worth reading, not a failure. */
  notes: string[];
}

export interface CheckOptions {
  tools: Tools;
  kernelspec: Kernelspec;
  /** Notebook names (or prefixes, like "02") to run; all when empty. */
  only?: string[];
  outDir?: string;
  /** Per-cell limit handed to nbconvert (it interrupts the cell and stops the kernel). */
  cellTimeoutS?: number;
  /** Limit for all the work together; each step gets what is left. */
  totalTimeoutMs?: number;
  log?: (line: string) => void;
}

export async function notebookFiles(only: string[] = []): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(NOTEBOOK_DIR)) {
    if (e.isFile && e.name.endsWith(".ipynb")) names.push(e.name);
  }
  return names.filter((n) => only.length === 0 || only.some((o) => n.startsWith(o))).sort()
    .map((n) => join(NOTEBOOK_DIR, n));
}

export async function readNotebook(path: string): Promise<Notebook> {
  return JSON.parse(await Deno.readTextFile(path)) as Notebook;
}

/**
 * `deno fmt` for the notebooks, then each cell's final newline put back. Deno 2.9 formats a
 * cell's text with a final newline, writes it without one, and its `--check` then compares the
 * two and fails with an empty diff (hidden locally by fmt's cache, seen in a fresh CI). Cells
 * that end in a newline are stable under both.
 */
export async function formatNotebooks(): Promise<string[]> {
  const fmt = await run(Deno.execPath(), ["fmt", NOTEBOOK_DIR], { timeoutMs: 60_000 });
  if (fmt.code !== 0) throw new Error(`deno fmt ${NOTEBOOK_DIR} failed: ${first(fmt.stderr, 400)}`);
  const files = await notebookFiles();
  for (const file of files) {
    const nb = await readNotebook(file);
    for (const cell of nb.cells) {
      const src = [cell.source].flat();
      if (cell.cell_type === "raw" || src.length === 0 || src[src.length - 1].endsWith("\n")) {
        continue;
      }
      src[src.length - 1] += "\n";
      cell.source = src;
    }
    // nbformat's own layout (one-space indent), which Jupyter writes too.
    await Deno.writeTextFile(file, JSON.stringify(nb, null, 1) + "\n");
  }
  return files;
}

function chromiumArgs(profile: string): string[] {
  return [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    `--user-data-dir=${profile}`,
    `--window-size=${WINDOW.join(",")}`,
  ];
}

/** Runs the whole check; never throws for a notebook's own failure (it is a problem). */
export async function checkNotebooks(opts: CheckOptions): Promise<Report> {
  const log = opts.log ?? (() => {});
  const outDir = opts.outDir ?? OUT_DIR;
  const deadline = Date.now() + (opts.totalTimeoutMs ?? 300_000);
  const left = (capMs: number) => Math.max(1_000, Math.min(capMs, deadline - Date.now()));
  const cellTimeout = opts.cellTimeoutS ?? 180;
  const { tools: { jupyter, chromium }, kernelspec } = opts;
  await Deno.mkdir(outDir, { recursive: true });
  // Keeps git and `deno fmt` (which honour .gitignore files) away from generated files.
  await Deno.writeTextFile(join(outDir, ".gitignore"), "*\n");
  const problems: string[] = [];
  const notes: string[] = [];
  const results: NotebookResult[] = [];
  const files = await notebookFiles(opts.only);
  if (files.length === 0) problems.push(`no notebooks in ${NOTEBOOK_DIR} match ${opts.only}`);

  for (const src of files) {
    const file = basename(src);
    const stem = file.replace(/\.ipynb$/, "");
    const t0 = performance.now();
    const result: NotebookResult = { name: stem, seconds: 0 };
    results.push(result);
    const nb = await readNotebook(src);
    const sourceProblems = checkSource(file, nb);
    problems.push(...sourceProblems);

    // Errors are kept in the executed file (allow_errors) so that the check below reports
    // each one with its cell, and the file can be opened to see it in context.
    const execute = () =>
      run(jupyter, [
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        `--ExecutePreprocessor.timeout=${cellTimeout}`,
        "--ExecutePreprocessor.startup_timeout=120",
        "--ExecutePreprocessor.allow_errors=True",
        "--output-dir",
        outDir,
        "--output",
        file,
        src,
      ], {
        timeoutMs: left(cellTimeout * 1000 + 120_000),
        env: jupyterEnv(),
        stopSignal: "SIGINT",
        reap: true,
      });
    const executed = join(outDir, file);
    let exec = await execute();
    let found = exec.code === 0 && !exec.timedOut
      ? checkExecuted(file, await readNotebook(executed))
      : [];
    // Deno 2.9's kernel forwards a cell's display messages from a queue of its own and can
    // report the cell idle before the last of them is published; nbconvert then drops them.
    // Under load (the parallel test suite on 2 cores) a run loses one in a few hundred. A
    // notebook whose only fault is missing outputs is run again, up to twice, and each lost
    // run is reported as a note: a real omission repeats and still fails, and the race stays
    // visible. (A short pause after each display in the kernel makes it go away.)
    for (let rerun = 1; rerun <= 2 && found.length > 0 && found.every(isMissingOutput); rerun++) {
      notes.push(`${file}: run ${rerun} lost outputs, ran it again: ${found.join("; ")}`);
      exec = await execute();
      found = exec.code === 0 && !exec.timedOut
        ? checkExecuted(file, await readNotebook(executed))
        : [];
    }
    if (exec.code !== 0 || exec.timedOut) {
      problems.push(
        `${file}: nbconvert --execute ${
          exec.timedOut ? "ran out of time" : `failed (exit ${exec.code})`
        }: ${exec.stderr.trim().split("\n").slice(-8).join("\n    ")}`,
      );
      result.seconds = (performance.now() - t0) / 1000;
      continue;
    }
    result.executed = executed;
    problems.push(...found);
    log(`executed ${file} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // nbconvert 6.5 (Debian 12) passes SVG outputs through lxml's HTML cleaner, which strips
    // every shape out of them (jupyter/nbconvert#1849): a chart, whose bundle is SVG and
    // vega-lite without HTML, would export blank. These pages are our own output, so the
    // cleaner is replaced by the identity (`os.fspath` returns a str unchanged).
    const html = await run(jupyter, [
      "nbconvert",
      "--to",
      "html",
      "--HTMLExporter.filters={'clean_html': 'os.fspath'}",
      "--output-dir",
      outDir,
      executed,
    ], { timeoutMs: left(120_000), env: jupyterEnv() });
    const htmlFile = join(outDir, `${stem}.html`);
    if (html.code !== 0) {
      problems.push(`${file}: nbconvert --to html failed: ${first(html.stderr, 400)}`);
      result.seconds = (performance.now() - t0) / 1000;
      continue;
    }
    result.html = htmlFile;

    const profile = await Deno.makeTempDir({ prefix: "tessera-chromium-" });
    try {
      const url = pathToFileURL(htmlFile).href;
      const shot = join(outDir, `${stem}.png`);
      await Deno.remove(shot).catch(() => {});
      const s = await run(chromium, [...chromiumArgs(profile), `--screenshot=${shot}`, url], {
        timeoutMs: left(90_000),
        reap: true,
      });
      const size = await Deno.readFile(shot).then(pngSize, () => null);
      if (!size || size[0] !== WINDOW[0] || size[1] !== WINDOW[1]) {
        problems.push(
          `${file}: Chromium made no ${WINDOW.join("x")} screenshot (exit ${s.code}${
            s.timedOut ? ", timed out" : ""
          }): ${first(s.stderr, 300)}`,
        );
      } else result.screenshot = shot;
      const d = await run(chromium, [...chromiumArgs(profile), "--dump-dom", url], {
        timeoutMs: left(90_000),
        reap: true,
      });
      await Deno.writeTextFile(join(outDir, `${stem}.dom.html`), d.stdout);
      const page = nb.metadata?.tessera?.page;
      if (d.code !== 0 || !d.stdout.includes("</html>")) {
        problems.push(`${file}: Chromium could not dump the page (exit ${d.code})`);
      } else if (Array.isArray(page)) {
        problems.push(...checkPage(file, d.stdout, page.filter((p) => typeof p === "string")));
      }
    } finally {
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
    // The export a user runs, with whatever cleaner this nbconvert has: charts must survive.
    const plain = await run(jupyter, [
      "nbconvert",
      "--to",
      "html",
      "--output-dir",
      outDir,
      "--output",
      `${stem}.plain`,
      executed,
    ], { timeoutMs: left(120_000), env: jupyterEnv() });
    if (plain.code !== 0) {
      problems.push(`${file}: a plain nbconvert --to html failed: ${first(plain.stderr, 400)}`);
    } else {
      const page = await Deno.readTextFile(join(outDir, `${stem}.plain.html`));
      problems.push(...checkPlainExport(`${file} (plain export)`, page));
    }
    result.seconds = (performance.now() - t0) / 1000;
    log(
      `rendered ${file} in Chromium (${result.seconds.toFixed(1)} s in all; the screenshot ` +
        `shows the top ${WINDOW.join("×")} px of the page, the DOM check covers all of it)`,
    );
  }
  return { kernelspec, notebooks: results, problems, notes };
}

if (import.meta.main && Deno.args.includes("--fmt")) {
  for (const file of await formatNotebooks()) console.log(`formatted ${file}`);
} else if (import.meta.main) {
  const t0 = performance.now();
  const ready = await setup();
  if ("missing" in ready) {
    console.error(`notebooks: cannot run: ${ready.missing}`);
    Deno.exit(1);
  }
  const { argv, dir, env } = ready.kernelspec;
  console.log(`kernelspec ${KERNEL_NAME} at ${dir}: ${argv.join(" ")}, env ${JSON.stringify(env)}`);
  const report = await checkNotebooks({ ...ready, only: Deno.args, log: (l) => console.log(l) });
  for (const r of report.notebooks) {
    console.log(
      `  ${r.name.padEnd(22)} ${r.seconds.toFixed(1).padStart(5)} s  ${
        r.screenshot ?? r.executed ?? "(not executed)"
      }`,
    );
  }
  for (const n of report.notes) console.log(`note: ${n}`);
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (report.problems.length) {
    console.error(`\n${report.problems.length} problem(s):`);
    for (const p of report.problems) console.error(`  - ${p}`);
    Deno.exit(1);
  }
  console.log(
    `notebooks: all ${report.notebooks.length} ran and rendered (${secs} s); see ${OUT_DIR}`,
  );
}
