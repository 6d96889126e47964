/**
 * The contract between the WGSL printer and the WebGPU runtime: what to dispatch, in which
 * order, over which buffers. A lowered function becomes one `WgslPlan`: its parameters and
 * temporaries as storage buffers, and one compute shader per root stage (as TVM makes one
 * kernel per root stage), each dispatched in order in one submit. Sizes that depend on
 * symbolic variables are functions of their values, evaluated at call time; the variables
 * themselves (and scalar arguments) reach the shaders through one uniform buffer in `sizeVars` order.
 */
import type { DType } from "../../ir/dtype.ts";
import type { Var } from "../../ir/expr.ts";

export type Sizes = ReadonlyMap<Var, number>;

export interface WgslBufferSpec {
  name: string;
  /** float32 as f32, int32 as i32, float16 as f16, bool as one u32 per element. */
  dtype: DType;
  /** Element count for the given sizes. */
  elements: (sizes: Sizes) => number;
  /** Index of the kernel argument this buffer is, or null for a temporary the runtime allocates. */
  param: number | null;
  /** Whether any dispatch writes it (outputs are copied back to host arrays). */
  written: boolean;
}

export interface WgslDispatch {
  /** For error messages: which root stage this shader computes. */
  name: string;
  /** In a profiling build, the stage whose time this dispatch counts toward. */
  profiled?: string;
  /** A complete WGSL module with the entry point `main`. */
  source: string;
  workgroupSize: [number, number, number];
  /** Workgroups to dispatch in x, y, z for the given sizes. */
  grid: (sizes: Sizes) => [number, number, number];
  /**
   * `@group(0) @binding(k)` for k = 0, 1, ... is `bindings[k]` (an index into
   * `WgslPlan.buffers`); when the plan has size variables, the uniform follows at
   * `@binding(bindings.length)`. A buffer may be bound twice, as its elements and as a
   * vector view; every buffer's size is padded to 16 bytes so that the view covers it.
   */
  bindings: Array<{ buffer: number; access: "read" | "read_write" }>;
  /** Bytes of `var<workgroup>` memory the shader declares (checked against the adapter). */
  workgroupStorageBytes: number;
  /** The shader's private (per-invocation) arrays and their bytes (checked against a cap). */
  privateArrays?: Array<{ name: string; bytes: number }>;
  /** Whether the shader uses `f16` (needs the adapter's `shader-f16`). */
  usesF16: boolean;
  /**
   * Whether the shader sets error flags (error_flags.ts): the flags buffer is then bound
   * after the bindings and the uniform, at `@binding(bindings.length + (uniform ? 1 : 0))`.
   */
  errorFlags?: boolean;
}

export interface WgslPlan {
  name: string;
  buffers: WgslBufferSpec[];
  dispatches: WgslDispatch[];
  /** The uniform's fields in this order: sizes (i32), then scalar arguments (i32 or f32). */
  sizeVars: Var[];
  /** Messages of the shaders' index checks: code k (error_flags.ts) is `checks[k - 1]`. */
  checks?: string[];
}
