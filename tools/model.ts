/**
 * `deno task model <file.onnx> [--target c|webgpu|interpret] [--records FILE] [--compare]
 * [--batch N] [--runs K] [--seed S]`: imports an ONNX model, optimizes and builds it with
 * `graph.build`, runs it on seeded random inputs, and prints the graph summary (nodes before
 * and after the passes, kernels and how each was scheduled, arena against the naive sum and
 * the max-live bound). With --compare it also runs onnxruntime-node on the same inputs in the
 * same process, prints `max abs error: X`, `max rel error: Y` and both median latencies, and
 * exits 1 when the outputs differ beyond 1e-4 absolute plus 1e-3 relative (numpy's allclose).
 * Symbolic sizes (a dynamic batch) are bound to --batch (default 1).
 */
import { graph, nd, NDArray, onnx, TesseraError } from "../mod.ts";
import { rng } from "../lib/nn/init.ts";
import type { DType } from "../lib/ir/dtype.ts";

const ATOL = 1e-4, RTOL = 1e-3;

interface Args {
  file: string;
  target: "c" | "webgpu" | "interpret";
  records?: string;
  compare: boolean;
  batch: number;
  runs: number;
  seed: number;
}

const USAGE = "usage: deno task model <file.onnx> [--target c|webgpu|interpret] " +
  "[--records FILE] [--compare] [--batch N] [--runs K] [--seed S]";

function parseArgs(argv: string[]): Args {
  const a: Partial<Args> = { target: "c", compare: false, batch: 1, runs: 10, seed: 0 };
  const int = (flag: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      throw new TesseraError(`${flag} needs an integer >= ${min}, got ${v}\n${USAGE}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === "--target") {
      const t = argv[++i];
      if (t !== "c" && t !== "webgpu" && t !== "interpret") {
        throw new TesseraError(`--target is c, webgpu or interpret, got ${t}\n${USAGE}`);
      }
      a.target = t;
    } else if (f === "--records") a.records = argv[++i];
    else if (f === "--compare") a.compare = true;
    else if (f === "--batch") a.batch = int(f, argv[++i], 1);
    else if (f === "--runs") a.runs = int(f, argv[++i], 1);
    else if (f === "--seed") a.seed = int(f, argv[++i], 0);
    else if (f.startsWith("--")) throw new TesseraError(`unknown option ${f}\n${USAGE}`);
    else if (a.file === undefined) a.file = f;
    else throw new TesseraError(`one model file only, got ${a.file} and ${f}\n${USAGE}`);
  }
  if (!a.file) throw new TesseraError(USAGE);
  return a as Args;
}

/** Seeded inputs: floats uniform in [-1, 1), integers in [0, 2). */
function seededInput(name: string, shape: number[], dtype: DType, seed: number): NDArray {
  const next = rng(seed, name);
  const n = shape.reduce((p, q) => p * q, 1);
  const vals = Array.from({ length: n }, () => next());
  if (dtype === "int64") {
    return nd.array(BigInt64Array.from(vals, (v) => BigInt(Math.floor(2 * v))), shape);
  }
  if (dtype === "int32") return nd.array(Int32Array.from(vals, (v) => Math.floor(2 * v)), shape);
  if (dtype !== "float32") {
    throw new TesseraError(`input ${name}: ${dtype} inputs are not generated`);
  }
  return nd.array(Float32Array.from(vals, (v) => 2 * v - 1), shape);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function timeMs(runs: number, f: () => Promise<unknown>): Promise<number> {
  await f(); // warm-up
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    t.push(performance.now() - t0);
  }
  return median(t);
}

async function main(): Promise<number> {
  const args = parseArgs(Deno.args);
  const bytes = Deno.readFileSync(args.file);
  const g = onnx.importOnnx(bytes);
  const sizes = Object.fromEntries(g.symbols.map((s) => [s, args.batch]));
  console.log(`model ${args.file}: ${g.nodes.length} nodes imported, ${g.params.size} params`);
  if (g.symbols.length) {
    console.log(`sizes: ${Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(", ")}`);
  }
  const exe = await graph.build(g, { target: args.target, sizes, records: args.records });
  console.log(exe.summary());
  const inputs = g.inputs.map((v) =>
    seededInput(
      v.name,
      v.shape.map((d) => (typeof d === "string" ? sizes[d] : d)),
      v.dtype,
      args.seed,
    )
  );
  const outs = await exe.run(inputs);
  outs.forEach((o, i) => {
    const head = Array.from(o.toArray().slice(0, 4), (x) => Number(x).toPrecision(5));
    console.log(
      `output ${g.outputs[i].name}: (${o.shape.join(", ")}) ${o.dtype} [${head.join(", ")}, ...]`,
    );
  });
  const tessera = await timeMs(args.runs, () => exe.run(inputs));
  console.log(
    `tessera (${args.target}) median latency: ${tessera.toFixed(3)} ms over ${args.runs} runs`,
  );
  if (!args.compare) return 0;

  const ort = await import("onnxruntime-node");
  ort.env.logLevel = "error";
  const threads = navigator.hardwareConcurrency;
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
  });
  const feeds = Object.fromEntries(g.inputs.map((v, i) => {
    const a = inputs[i];
    const type = a.dtype === "int64" ? "int64" : a.dtype === "int32" ? "int32" : "float32";
    return [
      v.name,
      new ort.Tensor(type, a.dtype === "int64" ? a.data64 : a.data as Float32Array, a.shape),
    ];
  }));
  const result = await session.run(feeds);
  let maxAbs = 0, maxRel = 0, ok = true;
  g.outputs.forEach((v, i) => {
    const want = Float64Array.from(
      result[session.outputNames[i]].data as ArrayLike<number | bigint>,
      Number,
    );
    const got = outs[i].toArray();
    if (want.length !== got.length) ok = false;
    for (let k = 0; k < Math.min(want.length, got.length); k++) {
      const d = Math.abs(Number(got[k]) - want[k]);
      maxAbs = Math.max(maxAbs, d);
      maxRel = Math.max(maxRel, d / Math.max(Math.abs(want[k]), 1e-12));
      if (!(d <= ATOL + RTOL * Math.abs(want[k]))) ok = false;
    }
    if (want.length !== got.length) {
      console.log(`output ${v.name}: ${got.length} elements, onnxruntime ${want.length}`);
    }
  });
  const ortMs = await timeMs(args.runs, () => session.run(feeds));
  await session.release();
  console.log(`max abs error: ${maxAbs.toExponential(3)}`);
  console.log(`max rel error: ${maxRel.toExponential(3)}`);
  console.log(
    `onnxruntime median latency: ${
      ortMs.toFixed(3)
    } ms over ${args.runs} runs (${threads} intra-op threads)`,
  );
  console.log(`tessera / onnxruntime speed: ${(ortMs / tessera).toFixed(2)}x`);
  if (!ok) {
    console.log(`FAIL: outputs differ beyond ${ATOL} absolute + ${RTOL} relative`);
    return 1;
  }
  console.log("outputs agree");
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exitCode = await main();
  } catch (e) {
    if (!(e instanceof TesseraError)) throw e;
    console.error(`error: ${e.message}`);
    Deno.exitCode = 2;
  }
}
