/**
 * ONNX tensors and element types: TensorProto to typed arrays and back, and ONNX's
 * TensorProto.DataType codes for the dtypes Tessera has. A tensor's payload may be in
 * raw_data (little-endian bytes) or in the typed repeated fields; both are read. External
 * data (weights in side files) is refused with a message saying so.
 */
import { TesseraError } from "../../error.ts";
import type { DType } from "../../ir/dtype.ts";
import type { ParamData } from "../ir.ts";
import type { TensorProto } from "./schema.ts";

/** TensorProto.DataType code -> Tessera dtype (only the ones Tessera has). */
const FROM_ONNX: Record<number, DType> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  6: "int32",
  7: "int64",
  9: "bool",
  10: "float16",
  11: "float64",
};
const ONNX_NAMES: Record<number, string> = {
  0: "UNDEFINED",
  1: "FLOAT",
  2: "UINT8",
  3: "INT8",
  4: "UINT16",
  5: "INT16",
  6: "INT32",
  7: "INT64",
  8: "STRING",
  9: "BOOL",
  10: "FLOAT16",
  11: "DOUBLE",
  12: "UINT32",
  13: "UINT64",
  14: "COMPLEX64",
  15: "COMPLEX128",
  16: "BFLOAT16",
};

export function dtypeFromOnnx(code: number | undefined, where: string): DType {
  const d = FROM_ONNX[code ?? 0];
  if (!d) {
    throw new TesseraError(
      `${where}: ONNX element type ${ONNX_NAMES[code ?? 0] ?? code} is not supported; ` +
        `Tessera reads FLOAT, DOUBLE, FLOAT16, INT32, INT64, INT8, UINT8 and BOOL`,
    );
  }
  return d;
}

export function dtypeToOnnx(d: DType): number {
  const code = Object.entries(FROM_ONNX).find(([, v]) => v === d)?.[0];
  return Number(code);
}

/** A decoded tensor: its dims, dtype and row-major data (int64 as BigInt64Array). */
export interface HostTensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly data: ParamData;
}

function allocate(dtype: DType, n: number): ParamData {
  switch (dtype) {
    case "float32":
      return new Float32Array(n);
    case "float64":
      return new Float64Array(n);
    case "float16":
      return new Uint16Array(n);
    case "int32":
      return new Int32Array(n);
    case "int64":
      return new BigInt64Array(n);
    case "int8":
      return new Int8Array(n);
    case "uint8":
    case "bool":
      return new Uint8Array(n);
  }
}

/** Reads a TensorProto; `where` names the initializer or node in errors. */
export function readTensor(t: TensorProto, where: string): HostTensor {
  const dtype = dtypeFromOnnx(t.dataType, where);
  const shape = (t.dims ?? []).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new TesseraError(`${where}: tensor dims [${shape.join(", ")}] are not sizes`);
  }
  if (t.dataLocation === 1 || (t.externalData?.length ?? 0) > 0) {
    throw new TesseraError(
      `${where}: the tensor's data is stored in an external file; load the model with its ` +
        `weights inlined (onnx.load(..., load_external_data=True) then save without ` +
        `save_as_external_data)`,
    );
  }
  const n = shape.reduce((a, b) => a * b, 1);
  const data = allocate(dtype, n);
  const bytesPer = (data as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const raw = t.rawData;
  let count: number;
  if (raw && raw.length > 0) {
    count = raw.length / bytesPer;
    if (count === n) {
      new Uint8Array(data.buffer, data.byteOffset, n * bytesPer).set(raw);
    }
  } else if (dtype === "float32") {
    count = t.floatData?.length ?? 0;
    if (count === n) (data as Float32Array).set(t.floatData!);
  } else if (dtype === "float64") {
    count = t.doubleData?.length ?? 0;
    if (count === n) (data as Float64Array).set(t.doubleData!);
  } else if (dtype === "int64") {
    count = t.int64Data?.length ?? 0;
    if (count === n) t.int64Data!.forEach((v, i) => (data as BigInt64Array)[i] = BigInt(v));
  } else {
    // int32, int8, uint8, bool and float16 (as bits) all travel in int32_data.
    count = t.int32Data?.length ?? 0;
    if (count === n) (data as Int32Array).set(t.int32Data!);
  }
  if (count !== n) {
    throw new TesseraError(
      `${where}: the tensor has ${count} elements of data but dims [${shape.join(", ")}] ` +
        `need ${n}`,
    );
  }
  return { shape, dtype, data };
}

/** A TensorProto with the data in raw_data (little-endian, as every platform here is). */
export function writeTensor(name: string, t: HostTensor): TensorProto {
  const d = t.data as { buffer: ArrayBufferLike; byteOffset: number; byteLength: number };
  return {
    name,
    dims: [...t.shape],
    dataType: dtypeToOnnx(t.dtype),
    rawData: new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice(),
  };
}
