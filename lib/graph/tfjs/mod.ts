/**
 * The `tfjsGraph` namespace: import a tfjs graph model (model.json and weight shards).
 */
import { TF_SUPPORTED_OPS } from "./convert.ts";
import { importTfjs, loadTfjs } from "./import.ts";

export const tfjsGraph = { importTfjs, load: loadTfjs, SUPPORTED_OPS: TF_SUPPORTED_OPS };
export type { TfjsImportOptions } from "./import.ts";
export type { ModelJson } from "./model.ts";
