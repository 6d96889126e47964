/**
 * The `models` group of `deno task bench`: whole models built by Tessera's graph.build (C,
 * default schedules, or the best tuning records when --records is given) against
 * onnxruntime-node on the same exported .onnx file, in interleaved rounds. Each model comes
 * from the nn frontend with seeded weights (seed 0, normalization statistics seeded), is
 * exported with onnx.exportOnnx, and that one file is both what onnxruntime loads and what
 * Tessera imports (onnx.importOnnx), so both run the same bytes. Inputs are seeded; batch 1.
 *
 *   - the quick-start MLP (784-256-10);
 *   - ResNet-18 at 224x224;
 *   - one BERT-base encoder layer (sequence 128, hidden 768, 12 heads).
 * `--quick` (the CI smoke run) keeps the MLP and shrinks the others: ResNet-18 at 32x32 and a
 * BERT layer of sequence 16, hidden 64, 4 heads.
 *
 * Both sides use every core (Tessera's OpenMP default; onnxruntime's intra-op threads set to
 * navigator.hardwareConcurrency, one inter-op thread). Each case's output is checked after
 * timing against the other runtime's output on the same input, numpy's allclose with 1e-4
 * absolute and 1e-3 relative (the check returns max |d| / (0.1 + |want|) against 1e-3,
 * which is exactly that); a case that disagrees is marked WRONG and its time does not count.
 *
 * tfjs and jax-js are not run on these models: neither reads ONNX, and Tessera has no
 * exporter to their formats (the tfjs path here is import only), so running them would mean
 * rewriting each model in their layer APIs with the same weights: three more model
 * definitions to keep equal, not a cheap addition. Each appears as a skipped case saying so.
 */
import { graph, type GraphExecutable, nd, type NDArray, nn, onnx } from "../mod.ts";
import { type CaseSpec, Skip } from "../lib/bench/suite.ts";
import { rng } from "../lib/nn/init.ts";
import type { Graph } from "../lib/graph/ir.ts";

type Ort = typeof import("onnxruntime-node");
type Session = Awaited<ReturnType<Ort["InferenceSession"]["create"]>>;

const ATOL = 1e-4, RTOL = 1e-3;

export interface ModelSpec {
  label: string;
  make: () => nn.Module;
  shape: number[];
}

export function modelSpecs(quick: boolean): ModelSpec[] {
  return [
    { label: "mlp 784-256-10 b1", make: () => new nn.MLP(), shape: [1, 784] },
    quick
      ? {
        label: "resnet-18 b1 32x32",
        make: () => nn.seedNormStats(new nn.ResNet18(10), 0),
        shape: [1, 3, 32, 32],
      }
      : {
        label: "resnet-18 b1 224x224",
        make: () => nn.seedNormStats(new nn.ResNet18(), 0),
        shape: [1, 3, 224, 224],
      },
    quick
      ? {
        label: "bert layer b1 s16 h64 4 heads",
        make: () => nn.seedNormStats(new nn.BertLayer(64, 4, 256), 0),
        shape: [1, 16, 64],
      }
      : {
        label: "bert layer b1 s128 h768 12 heads",
        make: () => nn.seedNormStats(new nn.BertLayer(), 0),
        shape: [1, 128, 768],
      },
  ];
}

/** max |got - want| / (ATOL / RTOL + |want|): at most RTOL exactly when allclose holds. */
export function allcloseError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i] - want[i]) / (ATOL / RTOL + Math.abs(want[i]));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

let ortLoaded: Promise<Ort | string> | undefined;
function loadOrt(): Promise<Ort | string> {
  ortLoaded ??= import("onnxruntime-node").then((ort) => {
    ort.env.logLevel = "error";
    return ort;
  }, (e) => `onnxruntime-node could not load under Deno: ${String(e).split("\n")[0]}`);
  return ortLoaded;
}

/** What both cases of one model share: the file, the input, each side's last output. */
class Shared {
  private file?: { bytes: Uint8Array; graph: Graph; input: NDArray };
  ort?: Float32Array;
  tessera?: Float32Array;
  constructor(readonly spec: ModelSpec) {}

  get model() {
    if (!this.file) {
      const { graph: g } = this.spec.make().exportGraph(
        { forward: { x: nn.spec.tensor(this.spec.shape) } },
        { seed: 0 },
      );
      const bytes = onnx.exportOnnx(g);
      const next = rng(0, "x");
      const n = this.spec.shape.reduce((a, b) => a * b, 1);
      const input = nd.array(
        Float32Array.from({ length: n }, () => 2 * next() - 1),
        this.spec.shape,
      );
      this.file = { bytes, graph: onnx.importOnnx(bytes), input };
    }
    return this.file;
  }
}

/**
 * The models group: per model, Tessera with default schedules (the baseline) and, given
 * records, Tessera built from them; onnxruntime; and the skipped peers.
 */
export function modelCases(quick: boolean, records?: string): CaseSpec[] {
  const cases: CaseSpec[] = [];
  for (const spec of modelSpecs(quick)) {
    const group = `models: ${spec.label} [cpu]`;
    const shared = new Shared(spec);
    for (const from of records ? [undefined, records] : [undefined]) {
      let exe: GraphExecutable | undefined, out: NDArray | undefined;
      cases.push({
        name: from ? "tessera-c-graph-tuned" : "tessera-c-graph",
        group,
        device: "cpu",
        baseline: !from,
        async setup() {
          const { graph: g } = shared.model;
          exe = await graph.build(g, { target: "c", ...(from ? { records: from } : {}) });
          [out] = await exe.run([shared.model.input]);
          shared.tessera = out.data as Float32Array;
        },
        fn: async () => {
          [out] = await exe!.run([shared.model.input]);
        },
        async check() {
          const want = shared.ort ?? await ortOutput(shared);
          return allcloseError(out!.data as Float32Array, want);
        },
        tolerance: RTOL,
        teardown: () => void (exe = out = undefined),
      });
    }
    let session: Session | undefined, feeds: Record<string, unknown> = {};
    let last: Float32Array | undefined;
    cases.push({
      name: "onnxruntime",
      group,
      device: "cpu",
      async setup() {
        const ort = await loadOrt();
        if (typeof ort === "string") throw new Skip(ort);
        session = await ort.InferenceSession.create(shared.model.bytes, sessionOptions());
        const x = shared.model.input;
        feeds = {
          [session.inputNames[0]]: new ort.Tensor("float32", x.data as Float32Array, x.shape),
        };
        last = await runOrt(session, feeds);
        shared.ort = last;
      },
      fn: async () => {
        last = await runOrt(session!, feeds);
      },
      async check() {
        const want = shared.tessera ?? await tesseraOutput(shared);
        return allcloseError(last!, want);
      },
      tolerance: RTOL,
      teardown: () => {
        session?.release().catch(() => {});
        session = undefined;
      },
    });
    for (const name of ["tfjs-wasm", "jax-js"]) {
      cases.push({
        name,
        group,
        device: "cpu",
        setup() {
          throw new Skip(
            `${name} reads no ONNX and Tessera exports none of its formats (the model would ` +
              "have to be rewritten in its API with the same weights)",
          );
        },
        fn: () => {},
      });
    }
  }
  return cases;
}

function sessionOptions() {
  return {
    executionProviders: ["cpu"],
    intraOpNumThreads: navigator.hardwareConcurrency,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all" as const,
  };
}

async function runOrt(session: Session, feeds: Record<string, unknown>): Promise<Float32Array> {
  const r = await session.run(feeds as never);
  return r[session.outputNames[0]].data as Float32Array;
}

/** onnxruntime's output, when its case has not run (filtered out, or skipped). */
async function ortOutput(shared: Shared): Promise<Float32Array> {
  const ort = await loadOrt();
  if (typeof ort === "string") throw new Error(`no reference: ${ort}`);
  const session = await ort.InferenceSession.create(shared.model.bytes, sessionOptions());
  try {
    const x = shared.model.input;
    const feeds = {
      [session.inputNames[0]]: new ort.Tensor("float32", x.data as Float32Array, x.shape),
    };
    return shared.ort = await runOrt(session, feeds);
  } finally {
    await session.release();
  }
}

/** Tessera's output, when its case has not run. */
async function tesseraOutput(shared: Shared): Promise<Float32Array> {
  const exe = await graph.build(shared.model.graph, { target: "c" });
  const [o] = await exe.run([shared.model.input]);
  return shared.tessera = o.data as Float32Array;
}
