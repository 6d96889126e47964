/**
 * `deno task bench`: the standard suite. Every workload of lib/bench/workload.ts (matmul
 * 256/512/1024, batch matmul, ResNet-18's 3x3 convolutions, row softmax, layer norm, a fused
 * elementwise chain) runs on Tessera's C and WebGPU kernels and on every peer that is
 * installed, in interleaved rounds, each result checked against a float64 reference; a last
 * group times a fused relu(a*b+c) against a copy of the same bytes (bench/stream.ts), and the
 * `models` groups run whole models (the MLP, ResNet-18, a BERT layer) built by graph.build
 * against onnxruntime-node on the same .onnx (bench/models.ts; --filter models for only them). It
 * prints a table, places every case on this machine's measured roofline, and writes the JSON
 * result, an HTML report with the charts, and the Markdown table the README quotes.
 *
 *   deno task bench [--quick] [--filter REGEX] [--json PATH] [--html PATH] [--markdown PATH]
 *                   [--repeats N] [--budget MS] [--settle MS] [--no-roofline] [--records FILE]
 *
 * --records FILE adds the tuned kernels (deno task tune) beside the hand-scheduled ones:
 * tessera-c-tuned and tessera-webgpu-tuned, each the best record for this machine, and builds
 * the models from the same records (tessera-c-graph-tuned, e.g. from tune.model, beside the
 * default-schedule build). Without it, the pre-tuned records under tune-records/ that match
 * this machine are used, if any (lib/tune/pretuned.ts), and the run says when none match.
 *
 * Exits 1 when a Tessera kernel failed or computed a wrong result, or a file could not be
 * written (the others still are); a peer that cannot run here is skipped with its reason.
 */
import { bench, type Peer, type Workload } from "../mod.ts";
import { bytesOf, flopsOf, labelOf, standardWorkloads } from "../lib/bench/workload.ts";
import { tesseraPeer } from "./tessera_peer.ts";
import { streamCases } from "./stream.ts";
import { modelCases } from "./models.ts";
import { pretunedFor } from "../lib/tune/pretuned.ts";

const args = [...Deno.args];
function flag(name: string): boolean {
  const i = args.indexOf(`--${name}`);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
}
function option(name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith("--")) {
    console.error(`bench: --${name} needs a value`);
    Deno.exit(2);
  }
  args.splice(i, 2);
  return v;
}
function count(name: string): number | undefined {
  const v = option(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`bench: --${name} expects a number, got ${v}`);
    Deno.exit(2);
  }
  return n;
}

const quick = flag("quick");
const noRoofline = flag("no-roofline");
const filter = option("filter");
const records = option("records");
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const json = option("json") ?? `bench-results/${stamp}.json`;
const html = option("html") ?? json.replace(/\.json$/, "") + ".html";
const markdown = option("markdown");
const repeats = count("repeats") ?? (quick ? 2 : 10);
const budgetMs = count("budget") ?? (quick ? 2000 : 15000);
const settleMs = count("settle") ?? (quick ? 0 : 50);
if (args.length) {
  console.error(`bench: unknown arguments ${args.join(" ")}`);
  Deno.exit(2);
}

/** Beyond this many FLOPs a call of plain TypeScript takes seconds; it is skipped, saying so. */
const NAIVE_LIMIT = 3e8;

function limited(peer: Peer): Peer {
  if (peer.name !== "naive-ts") return peer;
  return {
    ...peer,
    supports(w: Workload) {
      return flopsOf(w) > NAIVE_LIMIT
        ? `plain TypeScript takes seconds at ${(flopsOf(w) / 1e9).toFixed(1)} GFLOP a call; ` +
          "it runs only below 0.3 GFLOP"
        : peer.supports(w);
    },
  };
}

// Each peer at its best on this CPU (OpenBLAS's core type, numpy's too), before any loads.
bench.peersAtTheirBest();
// Tuned kernels: from --records, else from the pre-tuned records matching this machine.
const tuned = [];
let modelRecords = records;
for (const target of ["c", "webgpu"] as const) {
  if (records) {
    tuned.push(tesseraPeer(target, records));
    continue;
  }
  const found = await pretunedFor(target).catch(() => null);
  if (found?.path) {
    console.log(`${target}: pre-tuned records ${found.path}`);
    tuned.push(tesseraPeer(target, found.path));
    if (target === "c") modelRecords = found.path;
  } else {
    console.log(
      `${target}: no pre-tuned records in tune-records/ match this machine` +
        (found ? ` (target key ${found.key})` : "") + "; tune with deno task tune",
    );
  }
}
const peers = [
  tesseraPeer("c"),
  tesseraPeer("webgpu"),
  ...tuned,
  ...bench.allPeers().map(limited),
];
const suite = bench.suite(quick ? "standard suite (quick)" : "standard suite");
const seed = 1;
for (const w of standardWorkloads(quick)) {
  for (const p of peers) {
    // The hand-scheduled kernels are the baselines; tuned ones are compared with them.
    const baseline = p.name.startsWith("tessera-") && !p.name.endsWith("-tuned");
    suite.addPeer(p, w, { baseline, seed });
  }
}
for (const c of streamCases(quick)) suite.add(c);
// Whole models: graph.build against onnxruntime on the same .onnx (bench/models.ts).
for (const c of modelCases(quick, modelRecords)) suite.add(c);
console.log(
  `${suite.cases.length} cases over ${standardWorkloads(quick).length} workloads; ` +
    `${repeats} interleaved rounds per group (at most ${budgetMs / 1000} s a group)`,
);
const result = await suite.run({
  repeats,
  budgetMs,
  settleMs,
  seed,
  roofline: noRoofline ? false : quick ? "quick" : true,
  ...(filter ? { filter } : {}),
});

console.log();
console.log(result.table());
console.log();
for (const w of standardWorkloads(quick)) {
  console.log(
    `${labelOf(w)}: ${(flopsOf(w) / 1e6).toFixed(1)} MFLOP, ${
      (bytesOf(w) / 2 ** 20).toFixed(1)
    } MiB`,
  );
}
// Each file is written whatever happened to the others: a run is never lost to one failure.
const unwritten: string[] = [];
async function write(path: string, save: (path: string) => Promise<void>): Promise<void> {
  try {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
    await Deno.mkdir(dir, { recursive: true });
    await save(path);
    console.log(`wrote ${path}`);
  } catch (e) {
    unwritten.push(`FAILED: cannot write ${path}: ${e instanceof Error ? e.message : e}`);
  }
}
console.log();
await write(json, (p) => result.save(p));
await write(html, async (p) => Deno.writeTextFile(p, await result.html()));
if (markdown) await write(markdown, (p) => Deno.writeTextFile(p, result.markdown() + "\n"));

const bad = result.cases.filter((c) =>
  c.name.startsWith("tessera-") && (c.status === "failed" || c.check?.ok === false)
);
for (const c of bad) {
  const why = c.status === "failed"
    ? c.reason
    : `wrong result: ${c.check?.error !== undefined ? `error ${c.check.error}` : c.check?.reason}`;
  console.log(`FAILED: ${c.group} / ${c.name}: ${why}`);
}
for (const line of unwritten) console.log(line);
// jax-js keeps worker threads that it cannot shut down, so the process ends here.
Deno.exit(bad.length || unwritten.length ? 1 : 0);
