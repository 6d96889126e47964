/**
 * Scalar element types. Tessera keeps the set small and explicit: the interpreter, the C
 * printer and the WGSL printer must all agree on each type's arithmetic, so a new dtype is
 * added in one place here and then handled everywhere the compiler says it is missing.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";

export const DTYPES = [
  "float32",
  "float16",
  "float64",
  "int32",
  "int8",
  "uint8",
  "int64",
  "bool",
] as const;
export type DType = typeof DTYPES[number];

const dtypeSchema = z.enum(DTYPES);

export function parseDType(value: unknown, where: string): DType {
  const r = dtypeSchema.safeParse(value);
  if (!r.success) {
    throw new TesseraError(
      `${where}: unknown dtype ${JSON.stringify(value)}; expected one of ${DTYPES.join(", ")}`,
    );
  }
  return r.data;
}

export const isFloat = (t: DType): boolean => t === "float32" || t === "float16" || t === "float64";
export const isInt = (t: DType): boolean =>
  t === "int32" || t === "int8" || t === "uint8" || t === "int64";

/** The values an integer type holds (int64's ends are exact doubles: -2^63 and 2^63). */
export function intRange(t: DType): [number, number] {
  switch (t) {
    case "int8":
      return [-128, 127];
    case "uint8":
      return [0, 255];
    case "int64":
      return [-(2 ** 63), 2 ** 63 - 1];
    default:
      return [-(2 ** 31), 2 ** 31 - 1];
  }
}
export const isBool = (t: DType): boolean => t === "bool";

/** Bytes per element, as laid out in host arrays and device buffers. */
export function bytesOf(t: DType): number {
  return { float16: 2, bool: 1, int8: 1, uint8: 1, int64: 8, float64: 8 }[t as string] ?? 4;
}
