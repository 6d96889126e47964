/**
 * Keys for tuning records. A workload key is a structural hash of a compute DAG: two programs
 * built separately, with other names, get the same key exactly when they compute the same
 * thing on the same shapes and dtypes, so a record found for one applies to the other. Names
 * of tensors, axes and variables do not count; their positions do (the first axis of the
 * second operation, the first size variable met). A target key names what decides speed on
 * the machine at hand: the CPU model and its vector features, the C compiler, the WebGPU
 * adapter and its limits; records from another key are never applied.
 */
import { createHash } from "node:crypto";
import type { Expr, Var } from "../ir/expr.ts";
import { mapChildren } from "../ir/visit.ts";
import { type Operation, postOrder, type Tensor } from "../te/tensor.ts";

/** The canonical text of a DAG (what the workload key hashes); readable, for debugging. */
export function canonicalDag(outputs: Tensor[]): string {
  const ops = postOrder(outputs.map((t) => t.op));
  const opIndex = new Map<Operation, number>(ops.map((op, i) => [op, i]));
  const vars = new Map<Var, string>();
  let sizes = 0;
  const varName = (v: Var, fallback: () => string) => {
    let n = vars.get(v);
    if (n === undefined) vars.set(v, n = fallback());
    return n;
  };
  const num = (v: number) => (Object.is(v, -0) ? "-0" : String(v));
  const expr = (e: Expr): string => {
    switch (e.kind) {
      case "const":
        return `${num(e.value)}:${e.dtype}`;
      case "var":
        // A variable not bound by an operation is a size (or scalar) of the program.
        return varName(e, () => `s${sizes++}:${e.dtype}`);
      case "tensorRead":
        return `(T${opIndex.get((e.tensor as Tensor).op)}.${(e.tensor as Tensor).valueIndex} ${
          e.indices.map(expr).join(" ")
        })`;
      case "reduce": {
        const c = e.combiner;
        c.lhs.forEach((v, k) => varName(v, () => `x${k}`));
        c.rhs.forEach((v, k) => varName(v, () => `y${k}`));
        return `(reduce.${e.valueIndex} [${c.result.map(expr)} | ${c.identity.map(expr)}] ` +
          `[${e.sources.map(expr)}] [${e.axis.map((a) => expr(a)).join(" ")}] ${
            expr(e.condition)
          })`;
      }
      default: {
        const children: string[] = [];
        mapChildren(e, (x) => (children.push(expr(x)), x));
        const op = "op" in e ? ` ${String(e.op)}` : "";
        return `(${e.kind}${op} ${children.join(" ")}):${e.dtype}`;
      }
    }
  };
  const lines = ops.map((op, i) => {
    if (op.kind === "placeholder") {
      return `${i}: input [${op.shape.map(expr).join(", ")}] ${op.dtype}`;
    }
    if (op.kind === "extern") {
      // The function and its source decide what it computes; names of tensors do not.
      const args = op.spec.args.map((a) => "io" in a ? `${a.io}${a.index}` : expr(a));
      return `${i}: extern ${op.spec.fname}(${args}) in [${
        op.inputs.map((t) => `T${opIndex.get(t.op)}.${t.valueIndex}`)
      }] out [${op.shapes.map((sh, k) => `[${sh.map(expr)}] ${op.dtypes[k]}`)}] src ${
        sha(op.spec.cSource ?? "")
      } libs ${op.spec.libs.join(" ")}`;
    }
    if (op.kind === "scan") {
      const ts = (list: Tensor[]) => list.map((t) => `T${opIndex.get(t.op)}.${t.valueIndex}`);
      const g = op.group;
      return `${i}: scan ${op.index} init [${ts(g.init)}] update [${ts(g.update)}] state [${
        ts(g.state)
      }]`;
    }
    op.axis.forEach((a, d) => vars.set(a, `a${i}.${d}`));
    op.reduceAxis.forEach((a, d) => vars.set(a, `r${i}.${d}`));
    const dom = (a: { dom: { min: Expr; extent: Expr } | null }) =>
      a.dom ? `${expr(a.dom.min)}+${expr(a.dom.extent)}` : "?";
    return `${i}: compute [${op.axis.map(dom).join(", ")}] reduce [${
      op.reduceAxis.map(dom).join(", ")
    }] = ${op.bodies.map(expr).join(" ; ")}`;
  });
  const outs = outputs.map((t) => `${opIndex.get(t.op)}.${t.valueIndex}`).join(",");
  return [...lines, `outputs ${outs}`].join("\n");
}

const sha = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 32);

export function workloadKey(outputs: Tensor[]): string {
  return sha(canonicalDag(outputs));
}

/** What decides a kernel's speed on a target; records are applied only where it matches. */
export interface TargetFacts {
  target: "c" | "webgpu";
  /** CPU model and the vector features that change code generation (c). */
  cpu?: string;
  features?: string[];
  cores?: number;
  /** The C compiler's version line (c). */
  compiler?: string;
  /** The adapter's description and the limits that shape kernels (webgpu). */
  adapter?: string;
  limits?: Record<string, number>;
}

/** JSON with every object's keys sorted, so equal facts always give equal text. */
function stableJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(stableJson).join(",")}]`;
  if (x !== null && typeof x === "object") {
    const entries = Object.entries(x).filter(([, v]) => v !== undefined).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(x);
}

export function targetKey(facts: TargetFacts): string {
  return `${facts.target}-${sha(stableJson(facts)).slice(0, 16)}`;
}
