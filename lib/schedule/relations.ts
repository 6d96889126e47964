/**
 * How a stage's loop variables relate to its compute axes. `split` and `fuse` record a
 * relation instead of rewriting anything; lowering walks the relations down (root ranges to
 * leaf extents) and up (leaf loop values to root indices), as TVM's PassDownDomain and
 * PassUpIndex do. Leaf loops always start at 0; a root axis's value is its range's min plus
 * the offset the relations compute.
 */
import { binary, compare, type Expr } from "../ir/expr.ts";
import type { IterVar } from "../te/tensor.ts";

export interface Split {
  readonly kind: "split";
  readonly parent: IterVar;
  readonly outer: IterVar;
  readonly inner: IterVar;
  readonly factor: Expr | null;
  readonly nparts: Expr | null;
}

export interface Fuse {
  readonly kind: "fuse";
  readonly outer: IterVar;
  readonly inner: IterVar;
  readonly fused: IterVar;
}

export type Relation = Split | Fuse;

export const ceilDiv = (a: Expr, b: Expr): Expr =>
  binary("floordiv", binary("sub", binary("add", a, b), 1), b);

/** Extents of every derived variable, given the ranges of the root variables. */
export function passDownExtents(
  relations: readonly Relation[],
  rootExtent: ReadonlyMap<IterVar, Expr>,
): Map<IterVar, Expr> {
  const ext = new Map(rootExtent);
  for (const r of relations) {
    if (r.kind === "split") {
      const p = ext.get(r.parent)!;
      if (r.factor) {
        ext.set(r.outer, ceilDiv(p, r.factor));
        ext.set(r.inner, r.factor);
      } else {
        ext.set(r.outer, r.nparts!);
        ext.set(r.inner, ceilDiv(p, r.nparts!));
      }
    } else {
      ext.set(r.fused, binary("mul", ext.get(r.outer)!, ext.get(r.inner)!));
    }
  }
  return ext;
}

/**
 * Offsets (from each variable's own min) of every variable, given the leaf loop variables'
 * values, walking relations backwards. `ext` comes from passDownExtents.
 */
export function passUpOffsets(
  relations: readonly Relation[],
  leafValue: ReadonlyMap<IterVar, Expr>,
  ext: ReadonlyMap<IterVar, Expr>,
): Map<IterVar, Expr> {
  const val = new Map(leafValue);
  for (let i = relations.length - 1; i >= 0; i--) {
    const r = relations[i];
    if (r.kind === "split") {
      const innerExt = ext.get(r.inner)!;
      val.set(
        r.parent,
        binary("add", binary("mul", val.get(r.outer)!, innerExt), val.get(r.inner)!),
      );
    } else {
      const f = val.get(r.fused)!, innerExt = ext.get(r.inner)!;
      val.set(r.outer, binary("floordiv", f, innerExt));
      val.set(r.inner, binary("floormod", f, innerExt));
    }
  }
  return val;
}

/** Non-dividing splits make offsets past a parent's extent; each gives a guard `offset < ext`. */
export function splitGuards(
  relations: readonly Relation[],
  offsets: ReadonlyMap<IterVar, Expr>,
  ext: ReadonlyMap<IterVar, Expr>,
): Expr[] {
  return relations.flatMap((r) =>
    r.kind === "split" ? [compare("lt", offsets.get(r.parent)!, ext.get(r.parent)!)] : []
  );
}
