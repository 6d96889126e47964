/**
 * ONNX Runtime's CPU execution provider (MLAS kernels) on a one-node MatMul model, through the
 * `onnxruntime-node` N-API addon: the inference runtime most deployed models actually run on.
 * The model is a few bytes of protobuf written here by hand, so no `onnx` package is needed.
 * The package's CPU library ships inside its npm tarball; its postinstall only fetches CUDA
 * binaries, and Deno skips it (lifecycle scripts need a node_modules directory and an explicit
 * allow), which is what we want.
 */
import { checkShapes, firstLine, type MatmulPeer, type PreparedMatmul } from "./peer.ts";

type Ort = typeof import("onnxruntime-node");

const utf8 = new TextEncoder();

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n > 127; n = Math.floor(n / 128)) out.push((n % 128) | 128);
  out.push(n);
  return out;
}

/** One protobuf field: a number is a varint (wire type 0), anything else length-delimited (2). */
function field(no: number, value: number | string | Uint8Array): number[] {
  if (typeof value === "number") return [...varint(no << 3), ...varint(value)];
  const bytes = typeof value === "string" ? utf8.encode(value) : value;
  return [...varint((no << 3) | 2), ...varint(bytes.length), ...bytes];
}

const message = (...fields: number[][]) => new Uint8Array(fields.flat());

/** ValueInfoProto{name, type: TypeProto{tensor_type{elem_type: FLOAT, shape{dim{dim_value}}}}} */
function tensorInfo(name: string, dims: number[]): Uint8Array {
  const shape = message(...dims.map((d) => field(1, message(field(1, d)))));
  const tensorType = message(field(1, 1), field(2, shape));
  return message(field(1, name), field(2, message(field(1, tensorType))));
}

/** ModelProto (IR version 8, opset 13) whose graph is the single node C = MatMul(A, B). */
export function matmulModel(m: number, n: number, k: number): Uint8Array {
  const node = message(field(1, "A"), field(1, "B"), field(2, "C"), field(4, "MatMul"));
  const graph = message(
    field(1, node),
    field(2, "matmul"),
    field(11, tensorInfo("A", [m, k])),
    field(11, tensorInfo("B", [k, n])),
    field(12, tensorInfo("C", [m, n])),
  );
  const opset = message(field(1, ""), field(2, 13));
  return message(field(1, 8), field(2, "tessera-bench"), field(7, graph), field(8, opset));
}

function sessionOptions() {
  return {
    executionProviders: ["cpu"],
    intraOpNumThreads: navigator.hardwareConcurrency,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all" as const,
  };
}

let loaded: Promise<Ort | string> | undefined;

/** Imports the addon and runs a 1x1x1 model once, so any load failure becomes a reason here. */
function load(): Promise<Ort | string> {
  loaded ??= (async () => {
    try {
      const ort = await import("onnxruntime-node");
      ort.env.logLevel = "error";
      const session = await ort.InferenceSession.create(matmulModel(1, 1, 1), sessionOptions());
      await session.release();
      return ort;
    } catch (e) {
      if (e instanceof Deno.errors.NotCapable) {
        return `onnxruntime-node's N-API addon needs more permissions: ${firstLine(e)}`;
      }
      return `onnxruntime-node could not load under Deno: ${firstLine(e)} ` +
        "(needs the npm package onnxruntime-node@1.30.0 and --allow-ffi --allow-read --allow-env)";
    }
  })();
  return loaded;
}

export const onnxruntimePeer: MatmulPeer = {
  name: "onnxruntime",
  async available() {
    const ort = await load();
    return typeof ort === "string" ? ort : null;
  },
  async prepare(m, n, k, a, b): Promise<PreparedMatmul> {
    checkShapes("onnxruntime", m, n, k, a, b);
    const ort = await load();
    if (typeof ort === "string") throw new Error(`onnxruntime: ${ort}`);
    const session = await ort.InferenceSession.create(matmulModel(m, n, k), sessionOptions());
    const feeds = {
      A: new ort.Tensor("float32", a.slice(), [m, k]),
      B: new ort.Tensor("float32", b.slice(), [k, n]),
    };
    let last: Float32Array | undefined;
    return {
      async run() {
        // The addon runs the graph on its own thread pool and resolves once C is written.
        last = (await session.run(feeds)).C.data as Float32Array;
      },
      result() {
        if (!last) return Promise.reject(new Error("onnxruntime: result() before run()"));
        return Promise.resolve(last.slice());
      },
      dispose() {
        // Nothing useful to do if freeing fails, and an unhandled rejection would end the run.
        session.release().catch(() => {});
      },
    };
  },
};
