/**
 * Helpers for the ONNX tests: small models written as ModelProto objects (the test says each
 * node by hand, as an exporter would write it), seeded inputs, onnxruntime-node runs, and the
 * comparison with the tolerance (1e-4 absolute and 1e-3 relative).
 */
import type { DType } from "../lib/ir/dtype.ts";
import {
  ATTR,
  type AttributeProto,
  encodeModel,
  type NodeProto,
} from "../lib/graph/onnx/schema.ts";
import { dtypeToOnnx, writeTensor } from "../lib/graph/onnx/tensor.ts";
import { rng } from "../lib/nn/init.ts";
import type { ParamData } from "../lib/graph/ir.ts";

export type Ort = typeof import("onnxruntime-node");

/** onnxruntime-node, or the reason it cannot load (the tests that need it are then ignored). */
export async function loadOrt(): Promise<Ort | string> {
  try {
    const ort = await import("onnxruntime-node");
    ort.env.logLevel = "error";
    return ort;
  } catch (e) {
    return String(e);
  }
}

const utf8 = new TextEncoder();

/** An attribute from a JS value: int, float (a non-integer number or {f}), ints, floats, string. */
export function attr(
  name: string,
  v: number | number[] | string | { f: number } | { fs: number[] },
): AttributeProto {
  if (typeof v === "string") return { name, s: utf8.encode(v), type: ATTR.STRING };
  if (typeof v === "number") {
    return Number.isInteger(v) ? { name, i: v, type: ATTR.INT } : { name, f: v, type: ATTR.FLOAT };
  }
  if (Array.isArray(v)) return { name, ints: v, type: ATTR.INTS };
  if ("f" in v) return { name, f: v.f, type: ATTR.FLOAT };
  return { name, floats: v.fs, type: ATTR.FLOATS };
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, Parameters<typeof attr>[1]>;
  domain?: string;
  name?: string;
}

export interface TensorSpec {
  name: string;
  shape: (number | string)[];
  dtype?: DType;
}

export interface InitSpec {
  name: string;
  shape: number[];
  dtype?: DType;
  data: ParamData;
}

export function modelBytes(m: {
  inputs: TensorSpec[];
  outputs: { name: string; dtype?: DType }[];
  nodes: NodeSpec[];
  inits?: InitSpec[];
  opset?: number;
  extraOpsets?: { domain: string; version: number }[];
}): Uint8Array {
  const node = (n: NodeSpec, i: number): NodeProto => ({
    opType: n.op,
    input: n.inputs,
    output: n.outputs,
    name: n.name ?? `${n.op}_${i}`,
    domain: n.domain ?? "",
    attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attr(k, v)),
  });
  return encodeModel({
    irVersion: 8,
    producerName: "tessera-test",
    opsetImport: [{ domain: "", version: m.opset ?? 17 }, ...(m.extraOpsets ?? [])],
    graph: {
      name: "test",
      node: m.nodes.map(node),
      initializer: (m.inits ?? []).map((t) =>
        writeTensor(t.name, { shape: t.shape, dtype: t.dtype ?? "float32", data: t.data })
      ),
      input: m.inputs.map((t) => ({
        name: t.name,
        type: {
          tensorType: {
            elemType: dtypeToOnnx(t.dtype ?? "float32"),
            shape: {
              dim: t.shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })),
            },
          },
        },
      })),
      output: m.outputs.map((o) => ({
        name: o.name,
        type: { tensorType: { elemType: dtypeToOnnx(o.dtype ?? "float32") } },
      })),
    },
  });
}

/** Seeded data in [lo, hi) as float32, or integers as int64/int32. */
export function randomData(
  n: number,
  seed: number,
  lo = -2,
  hi = 2,
  dtype: DType = "float32",
): ParamData {
  const next = rng(seed, "data");
  const vals = Array.from({ length: n }, () => lo + (hi - lo) * next());
  if (dtype === "int64") return BigInt64Array.from(vals, (v) => BigInt(Math.floor(v)));
  if (dtype === "int32") return Int32Array.from(vals, Math.floor);
  return Float32Array.from(vals);
}

/** Runs a model in onnxruntime on named inputs; returns the outputs' data and dims, in order. */
export async function runOrt(
  ort: Ort,
  bytes: Uint8Array,
  feeds: Record<string, { shape: number[]; data: ParamData; dtype?: DType }>,
): Promise<{ dims: number[]; data: Float64Array }[]> {
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ["cpu"],
    intraOpNumThreads: 1,
  });
  try {
    const tensors: Record<string, InstanceType<Ort["Tensor"]>> = {};
    for (const [k, v] of Object.entries(feeds)) {
      const type = v.dtype === "int64" ? "int64" : v.dtype === "int32" ? "int32" : "float32";
      tensors[k] = new ort.Tensor(type, v.data as Float32Array, v.shape);
    }
    const r = await session.run(tensors);
    return session.outputNames.map((name) => ({
      dims: [...r[name].dims],
      data: Float64Array.from(r[name].data as ArrayLike<number | bigint>, Number),
    }));
  } finally {
    await session.release();
  }
}

/** The largest errors between two arrays, and whether they are within tolerance. */
export function compare(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-4, rtol = 1e-3) {
  let maxAbs = 0, maxRel = 0, ok = got.length === want.length;
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const d = Math.abs(got[i] - want[i]);
    maxAbs = Math.max(maxAbs, d);
    maxRel = Math.max(maxRel, d / Math.max(Math.abs(want[i]), 1e-12));
    if (!(d <= atol + rtol * Math.abs(want[i]))) ok = false;
  }
  return { ok, maxAbs, maxRel };
}
