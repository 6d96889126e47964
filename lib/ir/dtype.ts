/**
 * Scalar element types. Tessera keeps the set small and explicit: the interpreter, the C
 * printer and the WGSL printer must all agree on each type's arithmetic, so a new dtype is
 * added in one place here and then handled everywhere the compiler says it is missing.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";

export const DTYPES = ["float32", "float16", "int32", "bool"] as const;
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

export const isFloat = (t: DType): boolean => t === "float32" || t === "float16";
export const isInt = (t: DType): boolean => t === "int32";
export const isBool = (t: DType): boolean => t === "bool";

/** Bytes per element, as laid out in host arrays and device buffers. */
export function bytesOf(t: DType): number {
  return t === "float16" ? 2 : t === "bool" ? 1 : 4;
}
