/**
 * Tessera's public surface: re-exports only. README.md has a tour ("A taste"), what is here,
 * the semantics worth knowing and the architecture (which file does what).
 */
export { te } from "./lib/te/te.ts";
export { tune } from "./lib/tune/mod.ts";
export { graph } from "./lib/graph/mod.ts";
export * as nn from "./lib/nn/mod.ts";
export { onnx } from "./lib/graph/onnx/mod.ts";
export type { ExportOnnxOptions, ImportOptions } from "./lib/graph/onnx/mod.ts";
export { tfjsGraph } from "./lib/graph/tfjs/mod.ts";
export type { ModelJson, TfjsImportOptions } from "./lib/graph/tfjs/mod.ts";
export { GraphBuilder } from "./lib/graph/builder.ts";
export { Graph, Node as GraphNode, Value as GraphValue } from "./lib/graph/ir.ts";
export type { Dim, Param, ParamData, Shape, TensorType } from "./lib/graph/ir.ts";
export type { NormAttrs, OpAttrs, OpName } from "./lib/graph/ops.ts";
export { GraphExecutable } from "./lib/graph/build.ts";
export type { GraphBuildOptions, GroupKernel } from "./lib/graph/build.ts";
export type { FusedGroup, Partition } from "./lib/graph/passes/fuseOps.ts";
export type { MemoryPlan } from "./lib/graph/passes/planMemory.ts";
export type { Pattern } from "./lib/graph/patterns.ts";
export type { Task } from "./lib/graph/tasks.ts";
export type {
  ModelTask,
  ModelTuneOptions,
  ModelTuneResult,
  Step,
  Trace,
  TuneOptions,
  TuneRecord,
  TuneResult,
} from "./lib/tune/mod.ts";
export { nd, NDArray } from "./lib/runtime/ndarray.ts";
export { TesseraError } from "./lib/error.ts";
export { warnings } from "./lib/warn.ts";
export type { DType } from "./lib/ir/dtype.ts";
export type { Expr, ExprLike } from "./lib/ir/expr.ts";
export { Buffer, Var } from "./lib/ir/expr.ts";
export { PrimFunc } from "./lib/ir/stmt.ts";
export type { Stmt } from "./lib/ir/stmt.ts";
export { IterVar } from "./lib/te/tensor.ts";
export type { Operation, Tensor } from "./lib/te/tensor.ts";
export type { ExternBuffer, ExternOptions } from "./lib/te/extern.ts";
export { Schedule } from "./lib/schedule/schedule.ts";
export { Stage } from "./lib/schedule/stage.ts";
export type { ArrayArg, BuildOptions, Kernel } from "./lib/runtime/build.ts";
export type { TimeOptions, TimingResult } from "./lib/runtime/timing.ts";
export { Profile } from "./lib/runtime/profile.ts";
export type { Roofs, StageProfile } from "./lib/runtime/profile.ts";
export { DeviceArray } from "./lib/runtime/device_array.ts";
export { getDevice } from "./lib/codegen/wgsl/device.ts";
export { bench, BenchResult, Skip, Suite } from "./lib/bench/mod.ts";
export type {
  CaseResult,
  CaseSpec,
  CompareRow,
  EnvRecord,
  Peak,
  Peer,
  Prepared,
  ResultRecord,
  RooflinePoint,
  RunOptions,
  Workload,
} from "./lib/bench/mod.ts";
export { printExpr, printFunc } from "./lib/ir/printer.ts";
// Importing the display module also installs the Jupyter bundles of the types above.
export {
  chart,
  display,
  Displayable,
  graphSvg,
  inJupyter,
  IterationDiagram,
  iterationSpace,
  progress,
  showPartition,
} from "./lib/display/mod.ts";
export type {
  DisplayOptions,
  IterationSpace,
  MimeBundle,
  Progress,
  ProgressOptions,
  VegaLiteSpec,
} from "./lib/display/mod.ts";
export type { ShowOptions } from "./lib/schedule/stage.ts";
