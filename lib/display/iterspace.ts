/**
 * The numbers behind the iteration-space diagram: which output points each tile of a stage's
 * schedule computes, and which input elements one chosen tile reads. Everything is found by
 * enumerating concrete index points (diagrams are drawn at small sizes) with the schedule's
 * own relations: leaf loop values go up through `passUpOffsets` to axis values, split guards
 * drop the points past a non-dividing split, and the compute body's reads (after inlining)
 * are evaluated at each point of the chosen tile. So the picture agrees with what lowering
 * does by construction, whatever mix of split, fuse and reorder produced the loops.
 *
 * A tile is one iteration of the outer loops: the loops up to and including the innermost
 * loop named in `at`, or by default up to the innermost data loop made by a split (the
 * `i_outer` of `tile` or `split`). Its points are what the loops inside it reach.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";
import { compare, type Const, type Expr, intConst, type TensorRef, type Var } from "../ir/expr.ts";
import { printExpr } from "../ir/printer.ts";
import { freeVars, mapChildren } from "../ir/visit.ts";
import { inlineBodies } from "../lower/inline.ts";
import { passDownExtents, passUpOffsets } from "../schedule/relations.ts";
import type { ShowOptions, Stage } from "../schedule/stage.ts";
import type { ComputeOp, IterVar } from "../te/tensor.ts";
import { compile, type Compiled } from "./evalIndex.ts";

/** Points enumerated at most, per pass. */
const MAX_POINTS = 1 << 22;

export interface LoopInfo {
  name: string;
  extent: number;
  kind: string;
  reduce: boolean;
  /** The value the chosen tile fixes an outer loop at; null for loops inside the tile. */
  value: number | null;
}

export interface Tile {
  /** Values of the outer data loops that select this tile, in loop order. */
  outer: number[];
  /** Output points it computes (in the whole space, not only the drawn plane). */
  points: number;
  /** Fewer points than a whole tile: a non-dividing split cut it. */
  partial: boolean;
  /** Cells of the drawn plane it covers, row-major (`row * cols + col`). */
  cells: number[];
}

export interface Footprint {
  tensor: string;
  shape: number[];
  /** The drawn plane: the last two dimensions (one row for 1-D tensors). */
  rows: number;
  cols: number;
  /** Plane cells read, row-major; tensors of more than 2 dimensions are projected. */
  cells: Set<number>;
  /** Per dimension, the smallest and largest index read. */
  box: Array<[number, number]>;
  /** Distinct elements read. */
  elements: number;
  /** Some read's index depends on data (a gather), so the footprint is incomplete. */
  dataDependent: boolean;
}

export interface IterationSpace {
  stage: string;
  loops: LoopInfo[];
  /** Names of the output axes drawn as rows (null for 1-D) and as columns. */
  rowAxis: string | null;
  colAxis: string;
  rows: number;
  cols: number;
  /** Output axes not drawn, with the value the drawn plane fixes them at. */
  fixed: Array<[string, number]>;
  /** Tiles that meet the drawn plane, in loop order. */
  tiles: Tile[];
  /** Tiles in the whole output space. */
  totalTiles: number;
  chosen: Tile;
  /** Per output axis, the smallest and largest index the chosen tile computes. */
  chosenBox: Array<[number, number]>;
  footprints: Footprint[];
  notes: string[];
}

const optsSchema = z.object({
  at: z.record(z.string(), z.number().int().nonnegative()).optional(),
  sizes: z.record(z.string(), z.number().int().nonnegative()).optional(),
}).strict();

/** Mixed-radix iteration over `ext`, calling `f` with the digit array (reused). */
function forEachIndex(ext: readonly number[], f: (digits: number[]) => void): void {
  if (ext.some((e) => e <= 0)) return;
  const d = ext.map(() => 0);
  for (;;) {
    f(d);
    let k = ext.length - 1;
    while (k >= 0 && ++d[k] === ext[k]) d[k--] = 0;
    if (k < 0) return;
  }
}

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

interface Read {
  tensor: TensorRef;
  index: Array<Compiled | null>;
  guards: Compiled[];
}

/** Every tensor read in `body` with the conditions under which it runs (select is lazy). */
function collectReads(body: Expr, comp: (e: Expr) => Compiled | null): Read[] {
  const out: Read[] = [];
  const go = (e: Expr, guards: Compiled[]): void => {
    if (e.kind === "tensorRead") {
      out.push({ tensor: e.tensor, index: e.indices.map(comp), guards });
      e.indices.forEach((x) => go(x, guards));
    } else if (e.kind === "select") {
      const c = comp(e.cond);
      go(e.cond, guards);
      go(e.t, c ? [...guards, c] : guards);
      go(e.f, c ? [...guards, (env) => (c(env) ? 0 : 1)] : guards);
    } else if (e.kind === "reduce") {
      const c = comp(e.condition);
      go(e.condition, guards);
      go(e.source, c ? [...guards, c] : guards);
    } else {
      mapChildren(e, (x) => {
        go(x, guards);
        return x;
      });
    }
  };
  go(body, []);
  return out;
}

/** A stage's loops made concrete: extents, and compiled maps from loop values to axis values. */
interface Model {
  where: string;
  leaves: IterVar[];
  leafExt: number[];
  /** Data axes, then reduction axes. */
  roots: IterVar[];
  rootMin: number[];
  rootExt: number[];
  /** Per root axis, its offset from its min given the leaf values in `env[0..leaves.length)`. */
  offsetOf: Compiled[];
  /** `offset < extent` of every split's parent: false past a non-dividing split. */
  guards: Array<{ data: boolean; ok: Compiled }>;
  /** Compiles an expression over the root axes, whose slots follow the leaves'. */
  overRoots: (e: Expr) => Compiled | null;
  num: (e: Expr, what: string) => number;
}

function model(st: Stage, op: ComputeOp, sizes: Record<string, number>, where: string): Model {
  const sizeOf = (v: Var) => (Object.hasOwn(sizes, v.name) ? sizes[v.name] : undefined);
  const num = (e: Expr, what: string): number => {
    const f = compile(e, new Map(), sizeOf);
    if (!f) {
      const missing = [...freeVars(e)].filter((v) => sizeOf(v) === undefined).map((v) => v.name);
      throw new TesseraError(
        `${where}: ${what} is ${printExpr(e)}; pass concrete sizes, e.g. show({ sizes: { ${
          missing.map((m) => `${m}: 16`).join(", ")
        } } })`,
      );
    }
    return f(new Float64Array(0));
  };
  const roots: IterVar[] = [...op.axis, ...op.reduceAxis];
  const rootMin = roots.map((a) => num(a.dom!.min, `the start of '${a.name}'`));
  const rootExt = roots.map((a) => num(a.dom!.extent, `the extent of '${a.name}'`));
  const ext = new Map<IterVar, Expr>();
  const derived = passDownExtents(
    st.relations,
    new Map(roots.map((a, j) => [a, intConst(rootExt[j])])),
  );
  for (const [v, e] of derived) ext.set(v, intConst(num(e, `the extent of '${v.name}'`)));
  const leaves = st.leafIterVars;
  const offsets = passUpOffsets(st.relations, new Map(leaves.map((v) => [v, v])), ext);
  const leafSlot = new Map<Var, number>(leaves.map((v, i) => [v, i]));
  const rootSlot = new Map<Var, number>(roots.map((a, j) => [a, leaves.length + j]));
  return {
    where,
    leaves,
    leafExt: leaves.map((v) => (ext.get(v) as Const).value),
    roots,
    rootMin,
    rootExt,
    offsetOf: roots.map((a) => compile(offsets.get(a)!, leafSlot, sizeOf)!),
    guards: st.relations.flatMap((r) =>
      r.kind === "split"
        ? [{
          data: r.parent.iterType === "data",
          ok: compile(compare("lt", offsets.get(r.parent)!, ext.get(r.parent)!), leafSlot, sizeOf)!,
        }]
        : []
    ),
    overRoots: (e) => compile(e, rootSlot, sizeOf),
    num,
  };
}

/** What the tile whose outer loops are set in `env` reads: every iteration of the `inner` loops. */
function footprintsOf(m: Model, body: Expr, env: Float64Array, inner: number[]): Footprint[] {
  const L = m.leaves.length;
  const reads = collectReads(body, m.overRoots);
  const prints = new Map<TensorRef, Footprint & { seen: Set<number>; strides: number[] }>();
  for (const r of reads) {
    if (prints.has(r.tensor)) continue;
    const shape = r.tensor.shape.map((d) => m.num(d, `a dimension of '${r.tensor.name}'`));
    prints.set(r.tensor, {
      tensor: r.tensor.name,
      shape,
      rows: shape.length >= 2 ? shape[shape.length - 2] : 1,
      cols: shape.length >= 1 ? shape[shape.length - 1] : 1,
      cells: new Set(),
      box: shape.map(() => [Infinity, -Infinity]),
      elements: 0,
      dataDependent: false,
      seen: new Set(),
      strides: shape.map((_, d) => product(shape.slice(d + 1))),
    });
  }
  const cond = body.kind === "reduce" ? m.overRoots(body.condition) : null;
  const ext = inner.map((i) => m.leafExt[i]);
  if (product(ext) > MAX_POINTS) tooBig(m.where, product(ext));
  const idx: number[] = [];
  forEachIndex(ext, (dg) => {
    dg.forEach((x, k) => (env[inner[k]] = x));
    for (const g of m.guards) if (!g.ok(env)) return;
    m.roots.forEach((_, j) => (env[L + j] = m.rootMin[j] + m.offsetOf[j](env)));
    if (cond && !cond(env)) return;
    for (const r of reads) {
      if (!r.guards.every((g) => g(env))) continue;
      const fp = prints.get(r.tensor)!;
      if (r.index.some((f) => !f)) {
        fp.dataDependent = true;
        continue;
      }
      idx.length = 0;
      let flat = 0, inside = true;
      r.index.forEach((f, d) => {
        const x = f!(env);
        idx.push(x);
        fp.box[d][0] = Math.min(fp.box[d][0], x);
        fp.box[d][1] = Math.max(fp.box[d][1], x);
        if (x < 0 || x >= fp.shape[d]) inside = false;
        flat += x * fp.strides[d];
      });
      if (!inside) continue;
      fp.seen.add(flat);
      const n = idx.length;
      fp.cells.add((n >= 2 ? idx[n - 2] : 0) * fp.cols + (n >= 1 ? idx[n - 1] : 0));
    }
  });
  return [...prints.values()].map(({ seen, strides: _, ...fp }) => ({
    ...fp,
    elements: seen.size,
  }));
}

export function iterationSpace(st: Stage, options: ShowOptions = {}): IterationSpace {
  const where = `show(stage '${st.name}')`;
  const parsed = optsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TesseraError(
      `${where}: bad option '${issue.path.join(".")}': ${issue.message}; expected ` +
        `{ at?: { loop: value }, sizes?: { name: value } } with non-negative integers`,
    );
  }
  const at = parsed.data.at ?? {};
  if (st.op.kind !== "compute") {
    throw new TesseraError(`${where}: '${st.name}' is an input and has no loops; show a compute`);
  }
  if (st.attach.type === "inline") {
    throw new TesseraError(
      `${where}: '${st.name}' is inlined into its consumers and has no loops; show a consumer`,
    );
  }
  const op = st.op;
  if (op.axis.length === 0) {
    throw new TesseraError(`${where}: '${st.name}' is a scalar; it has no index space to draw`);
  }
  const m = model(st, op, parsed.data.sizes ?? {}, where);
  const { leaves, leafExt, rootMin } = m;

  // The tile level: outer loops are leaves[0..level].
  for (const name of Object.keys(at)) {
    const hits = leaves.filter((v) => v.name === name);
    if (hits.length !== 1) {
      throw new TesseraError(
        `${where}: at.${name}: ${
          hits.length ? "several loops have this name" : "no loop has this name"
        }; loops are ${st.leafNames()}`,
      );
    }
    const e = leafExt[leaves.indexOf(hits[0])];
    if (at[name] >= e) {
      throw new TesseraError(`${where}: at.${name} is ${at[name]}; the loop runs over [0, ${e})`);
    }
  }
  const named = Object.keys(at).map((n) => leaves.findIndex((v) => v.name === n));
  const outerish = (v: IterVar): boolean =>
    st.relations.some((r) =>
      r.kind === "split" ? r.outer === v : r.fused === v && (outerish(r.outer) || outerish(r.inner))
    );
  const level = named.length > 0
    ? Math.max(...named)
    : leaves.findLastIndex((v) => v.iterType === "data" && outerish(v));
  const isOuter = (i: number) => i <= level;
  const dataIdx = leaves.map((_, i) => i).filter((i) => leaves[i].iterType === "data");
  const dOuter = dataIdx.filter(isOuter), dInner = dataIdx.filter((i) => !isOuter(i));

  const env = new Float64Array(leaves.length + m.roots.length);
  const setOuter = () => leaves.forEach((v, i) => (env[i] = isOuter(i) ? at[v.name] ?? 0 : 0));
  const nd = op.axis.length;
  const coords = new Array<number>(nd);
  const dataGuards = m.guards.filter((g) => g.data).map((g) => g.ok);
  /** Output coordinates of the current env, or false where a split guard drops the point. */
  const point = (): boolean => {
    for (const g of dataGuards) if (!g(env)) return false;
    for (let d = 0; d < nd; d++) coords[d] = rootMin[d] + m.offsetOf[d](env);
    return true;
  };

  // The chosen tile's own points first: they decide where the plane cuts other axes.
  setOuter();
  const chosenBox: Array<[number, number]> = op.axis.map(() => [Infinity, -Infinity]);
  let first: number[] | null = null;
  const innerExt = dInner.map((i) => leafExt[i]);
  if (product(innerExt) > MAX_POINTS) tooBig(where, product(innerExt));
  forEachIndex(innerExt, (dg) => {
    dg.forEach((x, k) => (env[dInner[k]] = x));
    if (!point()) return;
    first ??= [...coords];
    coords.forEach((c, d) => {
      chosenBox[d][0] = Math.min(chosenBox[d][0], c);
      chosenBox[d][1] = Math.max(chosenBox[d][1], c);
    });
  });
  if (!first) {
    throw new TesseraError(
      `${where}: the tile at ${
        JSON.stringify(at)
      } computes no points (a non-dividing split leaves it empty); choose other loop values`,
    );
  }
  const pr = nd >= 2 ? nd - 2 : null, pc = nd - 1;
  const rows = pr === null ? 1 : m.rootExt[pr], cols = m.rootExt[pc];
  const fixedDims = op.axis.map((_, d) => d).filter((d) => d !== pr && d !== pc);
  const fixed = fixedDims.map((d): [string, number] => [op.axis[d].name, first![d]]);

  // Every tile: all data loops, outer ones included.
  const allExt = dataIdx.map((i) => leafExt[i]);
  if (product(allExt) > MAX_POINTS) tooBig(where, product(allExt));
  const tiles = new Map<number, Tile>();
  forEachIndex(allExt, (dg) => {
    dg.forEach((x, k) => (env[dataIdx[k]] = x));
    if (!point()) return;
    let key = 0;
    for (const i of dOuter) key = key * leafExt[i] + env[i];
    let t = tiles.get(key);
    if (!t) {
      t = { outer: dOuter.map((i) => env[i]), points: 0, partial: false, cells: [] };
      tiles.set(key, t);
    }
    t.points++;
    if (fixedDims.every((d, k) => coords[d] === fixed[k][1])) {
      const r = pr === null ? 0 : coords[pr] - rootMin[pr];
      t.cells.push(r * cols + coords[pc] - rootMin[pc]);
    }
  });
  const nominal = product(innerExt);
  for (const t of tiles.values()) t.partial = t.points < nominal;
  let chosenKey = 0;
  for (const i of dOuter) chosenKey = chosenKey * leafExt[i] + (at[leaves[i].name] ?? 0);

  setOuter();
  const body = inlineBodies(st.schedule).get(st)![0];
  const innerAll = leaves.map((_, i) => i).filter((i) => !isOuter(i));
  const footprints = footprintsOf(m, body, env, innerAll);

  const notes: string[] = [];
  if (st.attach.type === "scope") {
    notes.push(
      `'${st.name}' is computed at ${st.attach.stage.name}.${st.attach.axis.name}; drawn over its whole domain`,
    );
  }
  const fixedReduce = leaves.filter((v, i) => isOuter(i) && v.iterType === "reduce");
  if (fixedReduce.length > 0) {
    notes.push(
      `reduction loops outside the tile (${
        fixedReduce.map((v) => v.name).join(", ")
      }) stay at their values: the footprint is what this one iteration reads`,
    );
  }
  if (fixed.length > 0) {
    notes.push(`the plane drawn fixes ${fixed.map(([n, v]) => `${n} = ${v}`).join(", ")}`);
  }
  for (const fp of footprints) {
    if (fp.shape.length > 2) notes.push(`'${fp.tensor}' is projected onto its last two axes`);
    if (fp.dataDependent) {
      notes.push(`some reads of '${fp.tensor}' have data-dependent indices and are not drawn`);
    }
  }
  return {
    stage: st.name,
    loops: leaves.map((v, i) => {
      const a = st.attrs.get(v);
      return {
        name: v.name,
        extent: leafExt[i],
        kind: a?.threadTag ?? a?.forKind ?? "serial",
        reduce: v.iterType === "reduce",
        value: isOuter(i) ? at[v.name] ?? 0 : null,
      };
    }),
    rowAxis: pr === null ? null : op.axis[pr].name,
    colAxis: op.axis[pc].name,
    rows,
    cols,
    fixed,
    tiles: [...tiles.values()].filter((t) => t.cells.length > 0),
    totalTiles: tiles.size,
    chosen: tiles.get(chosenKey)!,
    chosenBox,
    footprints,
    notes,
  };
}

function tooBig(where: string, n: number): never {
  throw new TesseraError(
    `${where}: the diagram would enumerate ${n} points (at most ${MAX_POINTS}); ` +
      `draw it at smaller sizes`,
  );
}
