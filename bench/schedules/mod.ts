/**
 * One entry point for Tessera's hand schedules of the benchmark workloads
 * (lib/bench/workload.ts), so that the Tessera peer and the tests pick a schedule by the
 * workload's op instead of each keeping its own switch.
 */
import type { Schedule, Tensor } from "../../mod.ts";
import type { Workload } from "../../lib/bench/workload.ts";
import { batchMatmulSchedule } from "./batch_matmul.ts";
import { conv2dSchedule } from "./conv2d.ts";
import { elementwiseSchedule } from "./elementwise.ts";
import { layernormSchedule } from "./layernorm.ts";
import { matmulSchedule } from "./matmul.ts";
import { softmaxSchedule } from "./softmax.ts";

export type Target = "c" | "webgpu";

/** The te definition of `w` (inputs in the order of inputShapes(w), output last) and its schedule. */
export function scheduleFor(w: Workload, target: Target): { s: Schedule; args: Tensor[] } {
  switch (w.op) {
    case "matmul":
      return matmulSchedule(w, target);
    case "batch_matmul":
      return batchMatmulSchedule(w, target);
    case "conv2d":
      return conv2dSchedule(w, target);
    case "softmax":
      return softmaxSchedule(w, target);
    case "layernorm":
      return layernormSchedule(w, target);
    case "elementwise":
      return elementwiseSchedule(w, target);
  }
}
