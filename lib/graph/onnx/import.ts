/**
 * ONNX import: a ModelProto's bytes to a checked `Graph`. The model is decoded with
 * protobufjs (schema.ts), its opset checked (13-17 of the default domain), its initializers
 * kept as constants, its inputs made graph inputs (a dim_param becomes a symbolic size), and
 * each node converted in order (convert.ts). Shape chains fold away (fold.ts); constants
 * become params only where an operator reads them. An operator Tessera does not have is a
 * TesseraError naming the operator, the node and the opset.
 */
import { TesseraError } from "../../error.ts";
import { GraphBuilder } from "../builder.ts";
import type { Dim, Graph } from "../ir.ts";
import { Attrs, Const, type Entry, ImportContext } from "./context.ts";
import { CONVERTERS, NodeIn, SUPPORTED_OPS } from "./convert.ts";
import { decodeModel, type ModelProto, type NodeProto, type ValueInfoProto } from "./schema.ts";
import { dtypeFromOnnx, readTensor } from "./tensor.ts";

export const MIN_OPSET = 13;
/** Operators younger than the oldest supported opset: the opset that introduced them. */
const SINCE: Record<string, number> = { LayerNormalization: 17, HardSwish: 14 };
export const MAX_OPSET = 17;

export interface ImportOptions {
  /** Fixes input shapes by input name (a symbolic size may stay a string). */
  shapes?: Readonly<Record<string, readonly Dim[]>>;
  /** The graph's name (the ONNX graph's, or "main"). */
  name?: string;
}

/** A symbolic size name Tessera accepts, made from an ONNX dim_param. */
function symbolName(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_]/g, "_");
  return /^[A-Za-z_]/.test(t) ? t : `_${t}`;
}

function decode(bytes: Uint8Array): ModelProto {
  if (!(bytes instanceof Uint8Array)) {
    throw new TesseraError(
      `importOnnx: expected the model's bytes as a Uint8Array (Deno.readFileSync(path)), got ` +
        `${bytes === null ? "null" : typeof bytes}`,
    );
  }
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    throw new TesseraError(
      `importOnnx: the bytes are not an ONNX model (protobuf decoding failed: ` +
        `${e instanceof Error ? e.message : String(e)})`,
    );
  }
  if (!model.graph || (model.graph.node?.length ?? 0) === 0 && !model.graph.output?.length) {
    throw new TesseraError(
      "importOnnx: the bytes decode to a ModelProto without a graph; is this an .onnx file?",
    );
  }
  return model;
}

function opsetOf(model: ModelProto): number {
  const imports = model.opsetImport ?? [];
  const def = imports.find((o) => !o.domain || o.domain === "ai.onnx");
  if (!def) {
    throw new TesseraError(
      `importOnnx: the model imports no opset of the default ONNX domain (it has ` +
        `${imports.map((o) => `${o.domain}:${o.version}`).join(", ") || "none"})`,
    );
  }
  const v = Number(def.version ?? 0);
  if (v < MIN_OPSET || v > MAX_OPSET) {
    throw new TesseraError(
      `importOnnx: the model uses opset ${v}; Tessera imports opsets ${MIN_OPSET}-${MAX_OPSET} ` +
        `(convert it with onnx.version_converter.convert_version(model, 17))`,
    );
  }
  return v;
}

function inputShape(vi: ValueInfoProto, given: readonly Dim[] | undefined, k: () => string): Dim[] {
  if (given) return [...given];
  const dims = vi.type?.tensorType?.shape?.dim;
  if (!dims) {
    throw new TesseraError(
      `importOnnx: input ${vi.name} has no shape; give one with options.shapes`,
    );
  }
  return dims.map((d) =>
    d.dimValue !== undefined ? Number(d.dimValue) : d.dimParam ? symbolName(d.dimParam) : k()
  );
}

function nodeWhere(node: NodeProto, index: number, opset: number): string {
  const name = node.name ? JSON.stringify(node.name) : `#${index}`;
  const domain = node.domain && node.domain !== "ai.onnx" ? `${node.domain}.` : "";
  return `ONNX node ${name} (${domain}${node.opType}, opset ${opset})`;
}

/** Imports an ONNX model (the bytes of an .onnx file) as a graph. */
export function importOnnx(bytes: Uint8Array, options: ImportOptions = {}): Graph {
  const model = decode(bytes);
  const opset = opsetOf(model);
  const g = model.graph!;
  const taken = new Set<string>();
  for (const v of [...g.input ?? [], ...g.output ?? []]) taken.add(v.name ?? "");
  for (const t of g.initializer ?? []) taken.add(t.name ?? "");
  for (const n of g.node ?? []) for (const o of n.output ?? []) taken.add(o);
  const b = new GraphBuilder(options.name ?? (g.name || "main"));
  const ctx = new ImportContext(b, opset, taken);

  for (const t of g.initializer ?? []) {
    ctx.env.set(t.name ?? "", Const.of(readTensor(t, `initializer ${t.name}`)));
  }
  let unnamed = 0;
  for (const vi of g.input ?? []) {
    const name = vi.name ?? "";
    if (ctx.env.has(name)) continue; // an initializer listed as an input (IR version < 4)
    const where = `importOnnx: input ${name}`;
    const dtype = dtypeFromOnnx(vi.type?.tensorType?.elemType, where);
    const shape = inputShape(vi, options.shapes?.[name], () => ctx.freshName(`d${unnamed++}`));
    ctx.env.set(name, b.input(name, shape, dtype));
  }
  for (const name of Object.keys(options.shapes ?? {})) {
    if (!(g.input ?? []).some((vi) => vi.name === name)) {
      throw new TesseraError(
        `importOnnx: options.shapes names ${name}, which is not an input of the model ` +
          `(inputs: ${(g.input ?? []).map((v) => v.name).join(", ")})`,
      );
    }
  }

  (g.node ?? []).forEach((node, index) => {
    const where = nodeWhere(node, index, opset);
    const op = node.opType ?? "";
    const domainOk = !node.domain || node.domain === "ai.onnx" ||
      (node.domain === "com.microsoft" && op === "Gelu");
    const convert = domainOk ? CONVERTERS[op] : undefined;
    if (!convert) {
      throw new TesseraError(
        `${where}: operator ${node.domain ? `${node.domain}.` : ""}${op} is not supported ` +
          `by Tessera's ONNX import; supported: ${SUPPORTED_OPS.join(", ")}`,
      );
    }
    const since = SINCE[op];
    if (since !== undefined && opset < since && domainOk && !node.domain) {
      throw new TesseraError(
        `${where}: ${op} is an operator of opset ${since} and later; the model imports opset ` +
          `${opset}`,
      );
    }
    const inputNames = node.input ?? [];
    const inputs = inputNames.map((nm) => (nm === "" ? null : ctx.get(nm, where)));
    const attrs = new Attrs(node, where);
    const n = new NodeIn(ctx, inputs, inputNames, node.output ?? [], attrs, where, op);
    const result = convert(n);
    const unread = attrs.unread();
    if (unread.length > 0) {
      throw new TesseraError(
        `${where}: attribute${unread.length > 1 ? "s" : ""} ${unread.join(", ")} not ` +
          `supported by Tessera's ONNX import`,
      );
    }
    const outs: Entry[] = Array.isArray(result) ? result : [result];
    outs.forEach((e, i) => {
      const name = node.output?.[i];
      if (name) ctx.env.set(name, e);
    });
  });

  const outputs = (g.output ?? []).map((vi) => {
    const name = vi.name ?? "";
    return ctx.value(ctx.get(name, `importOnnx: output ${name}`), name, `output ${name}`);
  });
  b.output(...outputs);
  return b.build();
}
