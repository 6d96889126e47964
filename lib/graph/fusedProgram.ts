/**
 * A fused group as ONE `te` program: a placeholder per value the group reads, each member
 * node legalized in order over the tensors of its inputs (so a producer's stage is read by
 * its consumer directly, ready to be inlined or attached by the schedule), and the group's
 * outputs as the program's outputs. Placeholder and stage names are Tessera's own.
 */
import { placeholder } from "../te/compute.ts";
import type { Tensor } from "../te/tensor.ts";
import type { Value } from "./ir.ts";
import { knownShape, legalizeNode } from "./legalize.ts";
import type { FusedGroup } from "./passes/fuseOps.ts";

export interface GroupProgram {
  /** One placeholder per `group.inputs`, in order. */
  inputs: Tensor[];
  /** One tensor per `group.outputs`, in order. */
  outputs: Tensor[];
}

export function groupProgram(group: FusedGroup): GroupProgram {
  const where = `fused group ${group.id} (${group.name})`;
  const tensors = new Map<Value, Tensor>();
  const inputs = group.inputs.map((v, i) => {
    const t = placeholder(knownShape(v.shape, where), v.dtype, `in${i}`);
    tensors.set(v, t);
    return t;
  });
  for (const n of group.nodes) {
    tensors.set(n.outputs[0], legalizeNode(n, n.inputs.map((v) => tensors.get(v)!)));
  }
  return { inputs, outputs: group.outputs.map((v) => tensors.get(v)!) };
}
