/**
 * The second road to an answer: evaluate the compute definitions directly, element by
 * element, with no schedule, no bound inference and no loop IR. The property tests hold every
 * lowered-and-interpreted program to this. It shares only the scalar arithmetic
 * (`lib/ir/scalar.ts`) with the interpreter, so a bug in lowering cannot hide in both.
 */
import { TesseraError } from "../error.ts";
import type { Expr, Var } from "../ir/expr.ts";
import { evalBinary, evalBinary64, evalCall, evalCast, evalCmp, fit } from "../ir/scalar.ts";
import { NDArray } from "../runtime/ndarray.ts";
import { bodyOps } from "./scan.ts";
import { type ComputeOp, type Operation, postOrder, type Tensor } from "./tensor.ts";

/**
 * Computes `outputs` from the given input arrays (placeholders and their values) and the
 * values of scalar arguments (`te.var`s used as values).
 */
export function evalDirect(
  outputs: Tensor[],
  feeds: ReadonlyArray<[Tensor, NDArray]>,
  scalars: ReadonlyArray<[Var, number]> = [],
): NDArray[] {
  const env = new Map<Var, number>(scalars);
  const values = new Map<Operation, NDArray[]>();
  for (const [t, arr] of feeds) {
    values.set(t.op, [arr]);
    t.shape.forEach((d, i) => {
      if (d.kind === "var") {
        const had = env.get(d);
        if (had !== undefined && had !== arr.shape[i]) {
          throw new TesseraError(`evalDirect: size ${d.name} is both ${had} and ${arr.shape[i]}`);
        }
        env.set(d, arr.shape[i]);
      }
    });
  }
  const num = (e: Expr): number => ev(e, env, values);
  /** Elements of `op` (every output) into `outs`: all, or rows [lo, hi) of axis 0. */
  const fill = (op: ComputeOp, outs: NDArray[], rows?: [number, number]) => {
    const shape = outs[0].shape;
    const inner = shape.slice(1).reduce((a, b) => a * b, 1);
    const [lo, hi] = rows ? [rows[0] * inner, rows[1] * inner] : [0, outs[0].size];
    const idx = new Array<number>(shape.length).fill(0);
    for (let flat = lo; flat < hi; flat++) {
      let r = flat;
      for (let d = shape.length - 1; d >= 0; d--) {
        idx[d] = r % shape[d];
        r = Math.floor(r / shape[d]);
      }
      op.axis.forEach((a, d) => env.set(a, idx[d]));
      op.bodies.forEach((b, k) => outs[k].data[flat] = num(b));
    }
  };
  // A scan's updates and states are computed by the scan, row by row.
  const ops = postOrder(outputs.map((t) => t.op));
  const byScan = new Set<Operation>(
    ops.flatMap((op) =>
      op.kind === "scan" ? [...bodyOps(op.group), ...op.group.state.map((t) => t.op)] : []
    ),
  );
  for (const op of ops) {
    if (values.has(op) || byScan.has(op)) continue;
    if (op.kind === "placeholder") {
      throw new TesseraError(`evalDirect: no value for input '${op.name}'`);
    }
    if (op.kind === "scan") {
      const g = op.group;
      const states = g.state.map((S) => new NDArray(S.shape.map(num), S.dtype));
      g.state.forEach((S, k) => values.set(S.op, [states[k]]));
      const rows = num(g.init[0].shape[0]), m = states[0].shape[0];
      if (m < rows) {
        throw new TesseraError(`evalDirect: scan '${op.name}' is shorter than its init`);
      }
      states.forEach((a, k) => a.data.set(valueOf(values, g.init[k]).data));
      // Stages of the body other than the updates keep whole arrays, filled row by row.
      const body = bodyOps(g);
      for (const b of body) {
        values.set(
          b,
          b.bodies.map((x, v) => {
            const k = g.update.findIndex((u) => u.op === b && u.valueIndex === v);
            return k >= 0 ? states[k] : new NDArray(b.shape.map(num), x.dtype);
          }),
        );
      }
      for (let t = rows; t < m; t++) {
        for (const b of body) fill(b, values.get(b)!, [t, t + 1]);
      }
      g.members.forEach((m, k) => values.set(m, [states[k]]));
      continue;
    }
    if (op.kind === "extern") {
      const fn = op.spec.interpret as
        | ((ins: NDArray[], outs: NDArray[], ...scalars: number[]) => void)
        | null;
      if (!fn) {
        throw new TesseraError(
          `evalDirect: extern '${op.name}' has no interpret function (te.extern's opts.interpret)`,
        );
      }
      const ins = op.inputs.map((t) => {
        const a = valueOf(values, t);
        return new NDArray(a.shape, a.dtype, a.data.slice());
      });
      const outs = op.shapes.map((sh, k) => new NDArray(sh.map(num), op.dtypes[k]));
      fn(ins, outs, ...op.spec.args.filter((a): a is Expr => !("io" in a)).map(num));
      values.set(op, outs);
      continue;
    }
    const shape = op.shape.map(num);
    const outs = op.bodies.map((b) => new NDArray(shape, b.dtype));
    fill(op, outs);
    values.set(op, outs);
  }
  return outputs.map((t) => valueOf(values, t));
}

function valueOf(values: Map<Operation, NDArray[]>, t: Tensor): NDArray {
  return values.get(t.op)![t.valueIndex];
}

function ev(e: Expr, env: Map<Var, number>, values: Map<Operation, NDArray[]>): number {
  const go = (x: Expr): number => ev(x, env, values);
  switch (e.kind) {
    // int64 values are BigInts carried as numbers, as in the interpreter (see its header).
    case "const":
      return e.dtype === "int64" ? BigInt(e.value) as unknown as number : e.value;
    case "var": {
      const v = env.get(e);
      if (v === undefined) throw new TesseraError(`evalDirect: variable '${e.name}' has no value`);
      return v;
    }
    case "binary":
      if (e.dtype === "int64") {
        const [a, b] = [go(e.a), go(e.b)] as unknown as bigint[];
        return evalBinary64(e.op, a, b) as unknown as number;
      }
      return evalBinary(e.op, e.dtype, go(e.a), go(e.b));
    case "cmp":
      return evalCmp(e.op, go(e.a), go(e.b));
    case "logical":
      return e.op === "and" ? (go(e.a) && go(e.b) ? 1 : 0) : (go(e.a) || go(e.b) ? 1 : 0);
    case "not":
      return go(e.a) ? 0 : 1;
    case "neg":
      if (e.dtype === "int64") {
        return BigInt.asIntN(64, -(go(e.a) as unknown as bigint)) as unknown as number;
      }
      return fit(e.dtype, -go(e.a));
    case "call":
      if (e.dtype === "int64") {
        const x = go(e.args[0]) as unknown as bigint;
        return BigInt.asIntN(64, x < 0n ? -x : x) as unknown as number;
      }
      return evalCall(e.op, e.dtype, e.args.map(go));
    case "select":
      return go(e.cond) ? go(e.t) : go(e.f);
    case "cast":
      return evalCast(e.dtype, e.value.dtype, go(e.value)) as number;
    case "tensorRead": {
      const arr = valueOf(values, e.tensor as Tensor);
      let flat = 0;
      e.indices.forEach((ix, d) => {
        const i = go(ix);
        if (i < 0 || i >= arr.shape[d]) {
          throw new TesseraError(
            `evalDirect: ${e.tensor.name} index ${i} out of bounds in dimension ${d} (size ${
              arr.shape[d]
            })`,
          );
        }
        flat = flat * arr.shape[d] + i;
      });
      // int64 stays a BigInt (`at` gives the nearest number).
      return arr.dtype === "int64" ? arr.data64[flat] as unknown as number : arr.at(flat);
    }
    case "bufferLoad":
      throw new TesseraError("evalDirect: buffer loads belong to lowered code");
    case "reduce": {
      // A tuple reduction folds every component; this one is component valueIndex.
      const c = e.combiner;
      let acc = c.identity.map(go);
      const axes = e.axis;
      const lo = axes.map((k) => go((k as unknown as { dom: { min: Expr } }).dom.min));
      const ext = axes.map((k) => go((k as unknown as { dom: { extent: Expr } }).dom.extent));
      if (ext.some((x) => x <= 0)) return acc[e.valueIndex];
      const cur = lo.slice();
      for (;;) {
        axes.forEach((k, d) => env.set(k, cur[d]));
        if (go(e.condition)) {
          const ys = e.sources.map(go);
          c.lhs.forEach((v, k) => env.set(v, acc[k]));
          c.rhs.forEach((v, k) => env.set(v, ys[k]));
          acc = c.result.map(go);
        }
        let d = axes.length - 1;
        while (d >= 0 && ++cur[d] === lo[d] + ext[d]) cur[d--] = lo[d + 1];
        if (d < 0) return acc[e.valueIndex];
      }
    }
  }
}
