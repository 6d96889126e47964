/**
 * The graph's reference semantics: each node legalized to `te` on its own, lowered without a
 * schedule and run by the loop-IR interpreter (lib/ir/interpret.ts), one node at a time. This
 * is the oracle fused groups and compiled models are held to; it is slow and plain on
 * purpose, sharing nothing with fusion but legalization itself.
 */
import { TesseraError } from "../error.ts";
import { evaluate } from "../ir/interpret.ts";
import { lower } from "../lower/lower.ts";
import { NDArray, type NDData } from "../runtime/ndarray.ts";
import { Schedule } from "../schedule/schedule.ts";
import { placeholder } from "../te/compute.ts";
import type { Tensor } from "../te/tensor.ts";
import { type Graph, showShape, type Value } from "./ir.ts";
import { legalizeNode } from "./legalize.ts";
import { bindSizes } from "./passes/bindSizes.ts";

/** Graph inputs given in order or by name. */
export type GraphInputs = readonly NDArray[] | Readonly<Record<string, NDArray>>;

/** The arrays for `g`'s inputs in order, checked, and the symbolic sizes they bind. */
export function bindInputs(
  g: Graph,
  given: GraphInputs,
  where: string,
): { arrays: NDArray[]; sizes: Record<string, number> } {
  const arrays = Array.isArray(given)
    ? [...given as NDArray[]]
    : g.inputs.map((v) => (given as Record<string, NDArray>)[v.name]);
  if (Array.isArray(given) && given.length !== g.inputs.length) {
    throw new TesseraError(
      `${where}: ${given.length} inputs given but graph ${g.name} takes ${g.inputs.length} ` +
        `(${g.inputs.map((v) => v.name).join(", ")})`,
    );
  }
  const sizes: Record<string, number> = {};
  g.inputs.forEach((v, i) => {
    const a = arrays[i];
    if (!(a instanceof NDArray)) {
      throw new TesseraError(`${where}: input ${v.name} is missing or not an NDArray`);
    }
    const bad = () =>
      new TesseraError(
        `${where}: input ${v.name} is ${showShape(a.shape)} ${a.dtype} but the graph expects ` +
          `${showShape(v.shape)} ${v.dtype}`,
      );
    if (a.dtype !== v.dtype || a.shape.length !== v.shape.length) throw bad();
    v.shape.forEach((d, j) => {
      if (typeof d === "number") {
        if (a.shape[j] !== d) throw bad();
      } else if (d in sizes && sizes[d] !== a.shape[j]) {
        throw new TesseraError(
          `${where}: size ${d} is ${sizes[d]} by one input and ${a.shape[j]} by input ${v.name}`,
        );
      } else sizes[d] = a.shape[j];
    });
  });
  return { arrays, sizes };
}

/** A param as an NDArray sharing its data. */
export function paramArray(g: Graph, name: string): NDArray {
  const p = g.params.get(name)!;
  return new NDArray(p.shape, p.dtype, p.data as NDData);
}

/** Runs a `te` program unscheduled on the interpreter: `outs` from `feeds`. */
export function runTe(outs: readonly Tensor[], feeds: ReadonlyArray<[Tensor, NDArray]>): NDArray[] {
  const s = new Schedule([...outs]);
  const f = lower(s, [...feeds.map(([t]) => t), ...outs]);
  const results = outs.map((t) =>
    new NDArray(t.shape.map((d) => (d as { value: number }).value), t.dtype)
  );
  evaluate(f, [...feeds.map(([, a]) => a), ...results]);
  return results;
}

/** Evaluates `g` node by node on the interpreter; the outputs in order. */
export function interpretGraph(g: Graph, inputs: GraphInputs): NDArray[] {
  const { arrays, sizes } = bindInputs(g, inputs, `interpret ${g.name}`);
  const bound = g.symbols.length > 0 ? bindSizes(g, sizes) : g;
  const env = new Map<Value, NDArray>();
  bound.inputs.forEach((v, i) => env.set(v, arrays[i]));
  for (const [name, v] of bound.paramValues) env.set(v, paramArray(bound, name));
  for (const n of bound.nodes) {
    const phs = n.inputs.map((v, i) => placeholder(v.shape as number[], v.dtype, `in${i}`));
    const out = legalizeNode(n, phs);
    const [result] = runTe([out], phs.map((t, i) => [t, env.get(n.inputs[i])!]));
    env.set(n.outputs[0], result);
  }
  return bound.outputs.map((v) => env.get(v)!);
}
