/**
 * Operator patterns, inferred from the `te` definitions legalization gives (as TVM's
 * AnnotateTIROpPattern reads them off TIR), never declared per operator. For each compute
 * stage of an operator's program:
 *   - a reduction whose source multiplies two tensor reads (matmul, conv) is
 *     out-elementwise-fusable: an elementwise epilogue can run on its output in place;
 *   - any other reduction (sum, max, argmax) is a comm-reduce;
 *   - otherwise every read is classified: indices exactly the stage's axes over a tensor
 *     of the same shape is elementwise; indices a subsequence of the axes (with constant 0
 *     for a size-1 dimension) is broadcast; anything else (transposed, computed, gathered)
 *     is injective.
 * The operator's pattern is the most general of its stages'. Fusion decides with these.
 */
import type { Expr } from "../ir/expr.ts";
import { walkExpr } from "../ir/visit.ts";
import { placeholder } from "../te/compute.ts";
import { type ComputeOp, postOrder, type Tensor } from "../te/tensor.ts";
import type { Node } from "./ir.ts";
import { knownShape, legalizeNode } from "./legalize.ts";

/** TVM's OpPatternKind, in its order (a later one is more general). */
export const PATTERNS = [
  "elementwise",
  "broadcast",
  "injective",
  "commReduce",
  "outEWiseFusable",
  "opaque",
] as const;
export type Pattern = typeof PATTERNS[number];

export const rank = (p: Pattern): number => PATTERNS.indexOf(p);
export const maxPattern = (a: Pattern, b: Pattern): Pattern => (rank(a) >= rank(b) ? a : b);

const stripCasts = (e: Expr): Expr => (e.kind === "cast" ? stripCasts(e.value) : e);
const constValue = (e: Expr): number | null => (e.kind === "const" ? e.value : null);
const sameDim = (a: Expr, b: Expr) =>
  a === b || (constValue(a) !== null && constValue(a) === constValue(b));

function readPattern(op: ComputeOp, read: Expr & { kind: "tensorRead" }): Pattern {
  const axes = op.axis;
  const idx = read.indices;
  const shape = (read.tensor as Tensor).shape;
  const sameShape = shape.length === axes.length &&
    shape.every((d, i) => sameDim(d, axes[i].dom!.extent));
  if (sameShape && idx.every((e, i) => e === axes[i])) return "elementwise";
  // A subsequence of the axes, in order; a constant 0 stands for a size-1 dimension.
  let next = 0;
  for (let i = 0; i < idx.length; i++) {
    const e = idx[i];
    if (e.kind === "const" && e.value === 0 && constValue(shape[i]) === 1) continue;
    const at = axes.indexOf(e as never, next);
    if (at < 0) return "injective";
    next = at + 1;
  }
  return "broadcast";
}

/** The pattern of one compute stage. */
export function stagePattern(op: ComputeOp): Pattern {
  if (op.reduceAxis.length > 0) {
    const body = op.body;
    if (body.kind === "reduce" && body.sources.length === 1 && body.combiner.name === "sum") {
      const src = stripCasts(body.source);
      if (
        src.kind === "binary" && src.op === "mul" &&
        stripCasts(src.a).kind === "tensorRead" && stripCasts(src.b).kind === "tensorRead"
      ) return "outEWiseFusable";
    }
    return "commReduce";
  }
  let p: Pattern = "elementwise";
  for (const b of op.bodies) {
    walkExpr(b, (e) => {
      if (e.kind === "tensorRead") p = maxPattern(p, readPattern(op, e));
    });
  }
  return p;
}

/** The pattern of a `te` program: the most general of its compute stages'. */
export function programPattern(outputs: readonly Tensor[]): Pattern {
  let p: Pattern = "elementwise";
  for (const op of postOrder(outputs.map((t) => t.op))) {
    if (op.kind === "compute") p = maxPattern(p, stagePattern(op));
    else if (op.kind !== "placeholder") p = "opaque";
  }
  return p;
}

/** A node's pattern, from its legalization over placeholders (shapes must be known). */
export function nodePattern(n: Node): Pattern {
  const phs = n.inputs.map((v, i) =>
    placeholder(knownShape(v.shape, `pattern of ${n.name}`), v.dtype, `in${i}`)
  );
  return programPattern([legalizeNode(n, phs)]);
}
