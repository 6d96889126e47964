/**
 * The bench module's standard workloads (lib/bench/workload.ts) as plain tensor programs,
 * with no schedule: the tasks a tuner or the default rules start from. They define what
 * bench/schedules/ defines (conv2d's zero padding a stage of its own, softmax and layernorm
 * in the same stages), minus the layout changes (packed weights) a hand schedule adds.
 * Inputs come in the order of inputShapes(w); the output is last.
 */
import { te } from "../te/te.ts";
import type { Tensor } from "../te/tensor.ts";
import { convOut, type Workload } from "../bench/workload.ts";

export function definition(w: Workload): Tensor[] {
  switch (w.op) {
    case "matmul": {
      const A = te.placeholder([w.m, w.k], "float32", "A");
      const B = te.placeholder([w.k, w.n], "float32", "B");
      const k = te.reduceAxis([0, w.k], "k");
      return [A, B, te.compute([w.m, w.n], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C")];
    }
    case "batch_matmul": {
      const A = te.placeholder([w.batch, w.m, w.k], "float32", "A");
      const B = te.placeholder([w.batch, w.k, w.n], "float32", "B");
      const k = te.reduceAxis([0, w.k], "k");
      const C = te.compute(
        [w.batch, w.m, w.n],
        (b, i, j) => te.sum(A(b, i, k).mul(B(b, k, j)), [k]),
        "C",
      );
      return [A, B, C];
    }
    case "conv2d": {
      const { oh, ow } = convOut(w);
      const { h, pad } = w;
      const X = te.placeholder([w.n, w.c, w.h, w.w], "float32", "X");
      const W = te.placeholder([w.k, w.c, w.r, w.r], "float32", "W");
      const Xp = pad === 0 ? X : te.compute(
        [w.n, w.c, h + 2 * pad, w.w + 2 * pad],
        (b, c, y, x) =>
          te.select(
            y.ge(pad).and(y.lt(h + pad)).and(x.ge(pad)).and(x.lt(w.w + pad)),
            X(b, c, y.sub(pad), x.sub(pad)),
            0,
          ),
        "Xp",
      );
      const rc = te.reduceAxis([0, w.c], "rc");
      const ry = te.reduceAxis([0, w.r], "ry");
      const rx = te.reduceAxis([0, w.r], "rx");
      const O = te.compute(
        [w.n, w.k, oh, ow],
        (b, k, y, x) =>
          te.sum(
            Xp(b, rc, y.mul(w.stride).add(ry), x.mul(w.stride).add(rx)).mul(W(k, rc, ry, rx)),
            [rc, ry, rx],
          ),
        "O",
      );
      return [X, W, O];
    }
    case "softmax": {
      const X = te.placeholder([w.rows, w.cols], "float32", "X");
      const k1 = te.reduceAxis([0, w.cols], "k1");
      const M = te.compute([w.rows], (i) => te.max(X(i, k1), [k1]), "M");
      const E = te.compute([w.rows, w.cols], (i, j) => te.exp(X(i, j).sub(M(i))), "E");
      const k2 = te.reduceAxis([0, w.cols], "k2");
      const S = te.compute([w.rows], (i) => te.sum(E(i, k2), [k2]), "S");
      return [X, te.compute([w.rows, w.cols], (i, j) => E(i, j).div(S(i)), "Y")];
    }
    case "layernorm": {
      const { rows, cols, eps } = w;
      const X = te.placeholder([rows, cols], "float32", "X");
      const G = te.placeholder([cols], "float32", "gamma");
      const Bt = te.placeholder([cols], "float32", "beta");
      const k1 = te.reduceAxis([0, cols], "k1");
      const Sum = te.compute([rows], (i) => te.sum(X(i, k1), [k1]), "Sum");
      const Mean = te.compute([rows], (i) => Sum(i).div(cols), "Mean");
      const k2 = te.reduceAxis([0, cols], "k2");
      const SqSum = te.compute([rows], (i) => {
        const d = X(i, k2).sub(Mean(i));
        return te.sum(d.mul(d), [k2]);
      }, "SqSum");
      const Inv = te.compute([rows], (i) => te.rsqrt(SqSum(i).div(cols).add(eps)), "Inv");
      const Y = te.compute(
        [rows, cols],
        (i, j) => X(i, j).sub(Mean(i)).mul(Inv(i)).mul(G(j)).add(Bt(j)),
        "Y",
      );
      return [X, G, Bt, Y];
    }
    case "elementwise": {
      const [A, B, C] = ["A", "B", "C"].map((n) => te.placeholder([w.len], "float32", n));
      const Y = te.compute(
        [w.len],
        (i) => te.max(A(i).mul(B(i)).add(C(i)), 0).sub(A(i).mul(0.5)),
        "Y",
      );
      return [A, B, C, Y];
    }
  }
}
