/**
 * The tfjs graph-model format as import reads it: model.json's `modelTopology` (a TensorFlow
 * GraphDef in protobuf JSON: nodes with op, inputs "name:k", and typed attributes) and its
 * `weightsManifest` (weight names, shapes and dtypes, in the order their bytes follow each
 * other across the shards). This file types those, reads attribute values, and cuts the
 * concatenated shard bytes into one typed array per weight.
 */
import { TesseraError } from "../../error.ts";
import type { DType } from "../../ir/dtype.ts";
import type { ParamData } from "../ir.ts";

export interface TfAttr {
  type?: string;
  shape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
  b?: boolean;
  i?: string | number;
  f?: number;
  s?: string;
  list?: { i?: (string | number)[]; f?: number[]; s?: string[]; type?: string[] };
  tensor?: TfTensor;
}

export interface TfTensor {
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[] };
  floatVal?: number[];
  intVal?: number[];
  int64Val?: (string | number)[];
  boolVal?: boolean[];
}

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
  device?: string;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: unknown;
}

export interface ModelJson {
  format?: string;
  modelTopology: { node?: TfNode[]; versions?: unknown; library?: unknown };
  weightsManifest?: { paths: string[]; weights: WeightSpec[] }[];
  /** Present in newer converters: signature inputs and outputs. */
  signature?: unknown;
}

export const TF_DTYPES: Record<string, DType> = {
  DT_FLOAT: "float32",
  DT_INT32: "int32",
  DT_INT64: "int64",
  DT_BOOL: "bool",
  DT_DOUBLE: "float64",
  DT_HALF: "float16",
  DT_INT8: "int8",
  DT_UINT8: "uint8",
};

const SPEC_DTYPES: Record<string, DType> = {
  float32: "float32",
  int32: "int32",
  bool: "bool",
};

/** Reads attributes of one node with their defaults, naming the node in errors. */
export class TfAttrs {
  constructor(readonly node: TfNode, readonly where: string) {}

  #a(name: string): TfAttr | undefined {
    return this.node.attr?.[name];
  }

  int(name: string, def: number): number {
    const a = this.#a(name);
    return a?.i !== undefined ? Number(a.i) : def;
  }

  float(name: string, def: number): number {
    const a = this.#a(name);
    return a?.f !== undefined ? a.f : def;
  }

  bool(name: string, def: boolean): boolean {
    const a = this.#a(name);
    return a?.b !== undefined ? a.b : def;
  }

  /** A string attribute (stored base64-encoded in the JSON). */
  string(name: string, def: string): string {
    const a = this.#a(name);
    return a?.s !== undefined ? atob(a.s) : def;
  }

  ints(name: string): number[] | undefined {
    const a = this.#a(name);
    return a?.list ? (a.list.i ?? []).map(Number) : undefined;
  }

  strings(name: string): string[] {
    const a = this.#a(name);
    return (a?.list?.s ?? []).map((s) => atob(s));
  }

  dtype(name: string): DType | undefined {
    const t = this.#a(name)?.type;
    if (t === undefined) return undefined;
    const d = TF_DTYPES[t];
    if (!d) throw new TesseraError(`${this.where}: dtype ${t} is not supported`);
    return d;
  }

  tensor(name: string): TfTensor | undefined {
    return this.#a(name)?.tensor;
  }

  shape(name: string): number[] | undefined {
    const s = this.#a(name)?.shape;
    if (!s || s.unknownRank) return undefined;
    return (s.dim ?? []).map((d) => Number(d.size ?? 0));
  }
}

/** Splits the shards' bytes (concatenated in manifest order) into one array per weight. */
export function splitWeights(
  json: ModelJson,
  bytes: Uint8Array,
): Map<string, { shape: number[]; dtype: DType; data: ParamData }> {
  const out = new Map<string, { shape: number[]; dtype: DType; data: ParamData }>();
  let offset = 0;
  for (const group of json.weightsManifest ?? []) {
    for (const w of group.weights) {
      const where = `tfjs weight ${w.name}`;
      if (w.quantization) {
        throw new TesseraError(
          `${where}: quantized weights are not supported; convert without --quantize`,
        );
      }
      const dtype = SPEC_DTYPES[w.dtype];
      if (!dtype) throw new TesseraError(`${where}: dtype ${w.dtype} is not supported`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      const size = dtype === "bool" ? n : 4 * n;
      if (offset + size > bytes.length) {
        throw new TesseraError(
          `${where}: the weight files hold ${bytes.length} bytes but the manifest needs ` +
            `${offset + size} by the end of this weight; a shard is missing or truncated`,
        );
      }
      const chunk = bytes.slice(offset, offset + size);
      const data = dtype === "float32"
        ? new Float32Array(chunk.buffer)
        : dtype === "int32"
        ? new Int32Array(chunk.buffer)
        : new Uint8Array(chunk.buffer);
      out.set(w.name, { shape: w.shape, dtype, data });
      offset += size;
    }
  }
  if (offset !== bytes.length) {
    throw new TesseraError(
      `tfjs model: the weight files hold ${bytes.length} bytes but the manifest describes ${offset}`,
    );
  }
  return out;
}
