/**
 * The `onnx` namespace: import an .onnx model as a graph, export a graph as one, and the
 * supported operators and opsets.
 */
import { SUPPORTED_OPS } from "./convert.ts";
import { exportOnnx } from "./export.ts";
import { importOnnx, MAX_OPSET, MIN_OPSET } from "./import.ts";

export const onnx = {
  importOnnx,
  exportOnnx,
  /** Reads an .onnx file and imports it. */
  load: (path: string | URL, options?: Parameters<typeof importOnnx>[1]) =>
    importOnnx(Deno.readFileSync(path), options),
  SUPPORTED_OPS,
  MIN_OPSET,
  MAX_OPSET,
};
export type { ImportOptions } from "./import.ts";
export type { ExportOnnxOptions } from "./export.ts";
