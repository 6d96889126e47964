/**
 * tfjs graph-model import, the second model format: model.json (a TensorFlow GraphDef in
 * JSON) and its weight shards to a checked `Graph`. Nodes are taken in dependency order (a
 * GraphDef need not be sorted), Placeholders become inputs (an unknown size -1 becomes a
 * symbol: "n" for the batch), Const nodes constants that become params where an operator
 * reads them, and every other node goes through its converter (convert.ts). The outputs are
 * the nodes nothing else reads, unless named. An operator without a converter is a
 * TesseraError naming the operator and the node.
 */
import { TesseraError } from "../../error.ts";
import { GraphBuilder } from "../builder.ts";
import type { Dim, Graph } from "../ir.ts";
import { Const, type Entry, ImportContext } from "../onnx/context.ts";
import { TF_CONVERTERS, TF_SUPPORTED_OPS, TfIn } from "./convert.ts";
import {
  type ModelJson,
  splitWeights,
  TF_DTYPES,
  TfAttrs,
  type TfNode,
  type TfTensor,
} from "./model.ts";

export interface TfjsImportOptions {
  /** Output node names (default: the nodes no other node reads). */
  outputs?: readonly string[];
  /** Fixes input shapes by Placeholder name. */
  shapes?: Readonly<Record<string, readonly Dim[]>>;
  name?: string;
}

/** "name", "name:1" or "^name" (a control input, skipped). */
function parseInput(s: string): { node: string; index: number; control: boolean } {
  if (s.startsWith("^")) return { node: s.slice(1), index: 0, control: true };
  const m = /^(.*?)(?::(\d+))?$/.exec(s)!;
  return { node: m[1], index: Number(m[2] ?? 0), control: false };
}

function inlineTensor(t: TfTensor, where: string): Const {
  const dtype = TF_DTYPES[t.dtype ?? ""];
  if (!dtype) throw new TesseraError(`${where}: constant dtype ${t.dtype} is not supported`);
  const shape = (t.tensorShape?.dim ?? []).map((d) => Number(d.size ?? 0));
  const n = shape.reduce((a, b) => a * b, 1);
  const raw: number[] = t.floatVal ?? t.intVal ?? t.int64Val?.map(Number) ??
    t.boolVal?.map(Number) ?? [];
  // TensorFlow writes a constant filled with one value as a single entry.
  const vals = raw.length === 1 && n > 1 ? Array(n).fill(raw[0]) : raw;
  if (vals.length !== n) {
    throw new TesseraError(`${where}: the constant has ${vals.length} values for shape (${shape})`);
  }
  return new Const(shape, dtype, { values: vals });
}

/** Dependency order of the nodes; a cycle is an error. */
function sortNodes(nodes: readonly TfNode[]): TfNode[] {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const state = new Map<string, 1 | 2>();
  const out: TfNode[] = [];
  const visit = (n: TfNode) => {
    const s = state.get(n.name);
    if (s === 2) return;
    if (s === 1) throw new TesseraError(`tfjs model: node ${n.name} is on a cycle`);
    state.set(n.name, 1);
    for (const i of n.input ?? []) {
      const dep = byName.get(parseInput(i).node);
      if (dep) visit(dep);
    }
    state.set(n.name, 2);
    out.push(n);
  };
  nodes.forEach(visit);
  return out;
}

/** Imports a tfjs graph model: the parsed (or text) model.json and the shards' bytes in order. */
export function importTfjs(
  modelJson: ModelJson | string,
  weights: Uint8Array,
  options: TfjsImportOptions = {},
): Graph {
  let json: ModelJson;
  try {
    json = typeof modelJson === "string" ? JSON.parse(modelJson) : modelJson;
  } catch (e) {
    throw new TesseraError(`importTfjs: model.json is not JSON: ${(e as Error).message}`);
  }
  const nodes = json?.modelTopology?.node;
  if (!Array.isArray(nodes)) {
    throw new TesseraError(
      "importTfjs: model.json has no modelTopology.node list; is this a tfjs graph model " +
        '(format "graph-model")? Layers models are not supported',
    );
  }
  const w = splitWeights(json, weights);
  const sorted = sortNodes(nodes);
  const taken = new Set(nodes.map((n) => n.name));
  const b = new GraphBuilder(options.name ?? "main");
  const ctx = new ImportContext(b, 0, taken);
  const read = new Set<string>();
  for (const n of nodes) for (const i of n.input ?? []) read.add(parseInput(i).node);

  for (const node of sorted) {
    const where = `tfjs node ${JSON.stringify(node.name)} (${node.op})`;
    const attrs = new TfAttrs(node, where);
    if (node.op === "NoOp") continue;
    if (node.op === "Const") {
      const t = w.get(node.name);
      const c = t
        ? new Const([...t.shape], t.dtype, { data: t.data })
        : attrs.tensor("value")
        ? inlineTensor(attrs.tensor("value")!, where)
        : null;
      if (!c) throw new TesseraError(`${where}: no weight and no inline value`);
      ctx.env.set(node.name, c);
      continue;
    }
    if (node.op === "Placeholder") {
      const dtype = attrs.dtype("dtype") ?? "float32";
      const given = options.shapes?.[node.name];
      const shape = given ? [...given] : attrs.shape("shape");
      if (!shape) {
        throw new TesseraError(`${where}: the input's shape is unknown; give options.shapes`);
      }
      const dims = shape.map((d, i) =>
        typeof d === "number" && d >= 0
          ? d
          : typeof d === "string"
          ? d
          : i === 0
          ? ctx.freshName("n")
          : ctx.freshName(`d${i}`)
      );
      ctx.env.set(node.name, b.input(node.name, dims, dtype));
      continue;
    }
    const convert = TF_CONVERTERS[node.op];
    if (!convert) {
      throw new TesseraError(
        `${where}: operator ${node.op} is not supported by Tessera's tfjs import; ` +
          `supported: ${TF_SUPPORTED_OPS.join(", ")}`,
      );
    }
    const ins: Entry[] = [], names: string[] = [];
    for (const s of node.input ?? []) {
      const p = parseInput(s);
      if (p.control) continue;
      if (p.index !== 0) {
        throw new TesseraError(
          `${where}: input ${s} reads output ${p.index}; only output 0 is supported`,
        );
      }
      const e = ctx.env.get(p.node);
      if (!e) throw new TesseraError(`${where}: input ${s} is not a node of the model`);
      ins.push(e);
      names.push(p.node);
    }
    ctx.env.set(node.name, convert(new TfIn(ctx, ins, names, node.name, attrs, where)));
  }

  const outNames = options.outputs ??
    sorted.filter((n) => !read.has(n.name) && n.op !== "Const" && n.op !== "NoOp").map((n) =>
      n.name
    );
  if (outNames.length === 0) throw new TesseraError("importTfjs: the model has no outputs");
  b.output(...outNames.map((name) => {
    const e = ctx.env.get(name);
    if (!e) throw new TesseraError(`importTfjs: output ${name} is not a node of the model`);
    return ctx.value(e, name, `output ${name}`);
  }));
  return b.build();
}

/** Reads model.json and its shards (paths relative to it) and imports the model. */
export function loadTfjs(path: string, options?: TfjsImportOptions): Graph {
  const text = Deno.readTextFileSync(path);
  const json = JSON.parse(text) as ModelJson;
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  const parts = (json.weightsManifest ?? []).flatMap((g) => g.paths).map((p) =>
    Deno.readFileSync(dir + p)
  );
  const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return importTfjs(json, bytes, options);
}
