/**
 * Legalization, through the graph interpreter, against plain JavaScript references written
 * from the ONNX definitions (float64 loops over every index): each operator on small shapes
 * with broadcasting, padding, strides, groups and negative axes where they apply.
 */
import assert from "node:assert/strict";
import { GraphBuilder, nd, type NDArray } from "../mod.ts";
import { interpretGraph } from "../lib/graph/interpret.ts";
import type { OpAttrs, OpName } from "../lib/graph/ops.ts";

/** Deterministic data in [-2, 2). */
function data(n: number, seed: number): Float32Array {
  let s = seed * 2654435761 % 2 ** 32;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) % 2 ** 32;
    return (s / 2 ** 32) * 4 - 2;
  });
}
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const strides = (s: number[]) => s.map((_, i) => size(s.slice(i + 1)));
/** Every index of a shape, row-major. */
function* indices(s: number[]): Generator<number[]> {
  const n = size(s);
  for (let f = 0; f < n; f++) yield s.map((d, i) => Math.floor(f / size(s.slice(i + 1))) % d);
}
const at = (x: Float32Array | number[], s: number[], idx: number[]) =>
  x[idx.reduce((a, v, i) => a + v * strides(s)[i], 0)];

function close(got: NDArray, want: ArrayLike<number>, shape: number[], what: string) {
  assert.deepEqual(got.shape, shape, `${what}: shape`);
  const g = got.toArray();
  assert.equal(g.length, want.length, what);
  for (let i = 0; i < g.length; i++) {
    const tol = 1e-4 + 1e-4 * Math.abs(want[i]);
    if (!(Math.abs(g[i] - want[i]) <= tol)) {
      assert.fail(`${what}: element ${i} is ${g[i]}, expected ${want[i]}`);
    }
  }
}

/** Runs one operator on float32 inputs of the given shapes through the interpreter. */
function run<K extends OpName>(op: K, shapes: number[][], attrs?: OpAttrs[K]) {
  const b = new GraphBuilder();
  const xs = shapes.map((s, i) => data(size(s), i + 1));
  const vals = shapes.map((s, i) => b.input(`x${i}`, s));
  const y = b.call(op, vals, attrs);
  b.output(y);
  const [out] = interpretGraph(b.build(), xs.map((x, i) => nd.array(x, shapes[i])));
  return { out, xs, shape: y.shape as number[] };
}

function check<K extends OpName>(
  op: K,
  shapes: number[][],
  attrs: OpAttrs[K] | undefined,
  ref: (xs: Float32Array[], idx: number[]) => number,
) {
  const { out, xs, shape } = run(op, shapes, attrs);
  const want = [...indices(shape)].map((idx) => ref(xs, idx));
  close(out, want, shape, `${op} ${JSON.stringify(shapes)} ${JSON.stringify(attrs ?? {})}`);
}

const bc = (s: number[], idx: number[]) =>
  s.map((d, i) => (d === 1 ? 0 : idx[idx.length - s.length + i]));

Deno.test("legalize: elementwise and broadcasting operators", () => {
  const s = [[2, 1, 4], [3, 1]];
  const f2 = (f: (a: number, b: number) => number) => (xs: Float32Array[], idx: number[]) =>
    f(at(xs[0], s[0], bc(s[0], idx)), at(xs[1], s[1], bc(s[1], idx)));
  check("add", s, {}, f2((a, b) => a + b));
  check("sub", s, {}, f2((a, b) => a - b));
  check("mul", s, {}, f2((a, b) => a * b));
  check("div", s, {}, f2((a, b) => a / b));
  check("maximum", s, {}, f2(Math.max));
  check("minimum", s, {}, f2(Math.min));
  const u = (f: (a: number) => number) => (xs: Float32Array[], idx: number[]) =>
    f(at(xs[0], [3, 5], idx));
  const erf = (x: number) => {
    // Abramowitz-Stegun 7.1.26 is 1.5e-7 accurate: enough at this tolerance.
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) *
            t + 0.254829592) * t * Math.exp(-x * x);
    return Math.sign(x) * y;
  };
  check("relu", [[3, 5]], {}, u((a) => Math.max(a, 0)));
  check("neg", [[3, 5]], {}, u((a) => -a));
  check("sigmoid", [[3, 5]], {}, u((a) => 1 / (1 + Math.exp(-a))));
  check("tanh", [[3, 5]], {}, u(Math.tanh));
  check("exp", [[3, 5]], {}, u(Math.exp));
  check("erf", [[3, 5]], {}, u(erf));
  check("gelu", [[3, 5]], {}, u((a) => 0.5 * a * (1 + erf(a / Math.SQRT2))));
  check(
    "gelu",
    [[3, 5]],
    { approximate: "tanh" },
    u((a) => 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a ** 3)))),
  );
  check("clip", [[3, 5]], { min: -0.5, max: 1 }, u((a) => Math.min(Math.max(a, -0.5), 1)));
  check("hardSigmoid", [[3, 5]], { alpha: 0.3 }, u((a) => Math.max(0, Math.min(1, 0.3 * a + 0.5))));
  check("hardSwish", [[3, 5]], {}, u((a) => a * Math.max(0, Math.min(1, a / 6 + 0.5))));
  const { out } = run("sqrt", [[3, 5]]);
  assert.ok(out.toArray().some(Number.isNaN), "sqrt of negatives is NaN");
});

Deno.test("legalize: matmul with batch broadcasting and 1-D operands", () => {
  const mm = (sa: number[], sb: number[]) =>
    check("matmul", [sa, sb], {}, (xs, idx) => {
      const a2 = sa.length === 1 ? [1, ...sa] : sa, b2 = sb.length === 1 ? [...sb, 1] : sb;
      const full = [...idx];
      if (sa.length === 1) full.splice(full.length - (sb.length > 1 ? 1 : 0), 0, 0);
      if (sb.length === 1) full.push(0);
      const i = full[full.length - 2], j = full[full.length - 1];
      const batch = full.slice(0, -2);
      let acc = 0;
      for (let k = 0; k < a2[a2.length - 1]; k++) {
        acc += at(xs[0], a2, [...bc(a2.slice(0, -2), batch), i, k]) *
          at(xs[1], b2, [...bc(b2.slice(0, -2), batch), k, j]);
      }
      return acc;
    });
  mm([3, 4], [4, 5]);
  mm([2, 1, 3, 4], [3, 4, 2]);
  mm([4], [2, 4, 3]);
  mm([2, 3, 4], [4]);
});

Deno.test("legalize: conv2d with padding, strides, dilations, groups and bias", () => {
  const conv = (xs_: number[], ws: number[], a: OpAttrs["conv2d"], bias: boolean) => {
    const shapes = bias ? [xs_, ws, [ws[0]]] : [xs_, ws];
    const [sh, sw] = a.strides ?? [1, 1], [dh, dw] = a.dilations ?? [1, 1];
    const [pt, pl] = a.pads ?? [0, 0, 0, 0], g = a.groups ?? 1;
    check("conv2d", shapes, a, (xs, [n, f, y, x]) => {
      const cg = ws[1], c0 = Math.floor(f / (ws[0] / g)) * cg;
      let acc = bias ? xs[2][f] : 0;
      for (let c = 0; c < cg; c++) {
        for (let ky = 0; ky < ws[2]; ky++) {
          for (let kx = 0; kx < ws[3]; kx++) {
            const iy = y * sh + ky * dh - pt, ix = x * sw + kx * dw - pl;
            if (iy < 0 || ix < 0 || iy >= xs_[2] || ix >= xs_[3]) continue;
            acc += at(xs[0], xs_, [n, c0 + c, iy, ix]) * at(xs[1], ws, [f, c, ky, kx]);
          }
        }
      }
      return acc;
    });
  };
  conv([2, 3, 7, 6], [4, 3, 3, 3], {}, false);
  conv([1, 3, 7, 6], [4, 3, 3, 2], { strides: [2, 1], pads: [1, 0, 2, 1] }, true);
  conv([1, 4, 9, 9], [6, 2, 3, 3], { groups: 2, dilations: [2, 1], pads: [1, 1, 1, 1] }, true);
  conv([1, 4, 5, 5], [4, 1, 3, 3], { groups: 4, pads: [1, 1, 1, 1] }, false);
});

Deno.test("legalize: pooling", () => {
  const pool = (s: number[], a: OpAttrs["maxPool2d"], kind: "max" | "avg") => {
    const [kh, kw] = a.kernel, [sh, sw] = a.strides ?? [1, 1], [pt, pl] = a.pads ?? [0, 0];
    check(kind === "max" ? "maxPool2d" : "avgPool2d", [s], a, (xs, [n, c, y, x]) => {
      let m = -Infinity, sum = 0, cnt = 0;
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          const iy = y * sh + ky - pt, ix = x * sw + kx - pl;
          if (iy < 0 || ix < 0 || iy >= s[2] || ix >= s[3]) continue;
          const v = at(xs[0], s, [n, c, iy, ix]);
          m = Math.max(m, v);
          sum += v;
          cnt++;
        }
      }
      return kind === "max" ? m : sum / (a.countIncludePad ? kh * kw : cnt);
    });
  };
  pool([1, 2, 7, 7], { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, "max");
  pool([1, 2, 7, 7], { kernel: [3, 2], strides: [2, 2], pads: [1, 1, 1, 1] }, "avg");
  pool([1, 2, 6, 6], {
    kernel: [3, 3],
    strides: [1, 2],
    pads: [1, 0, 1, 1],
    countIncludePad: true,
  }, "avg");
  check("globalAvgPool", [[2, 3, 4, 5]], {}, (xs, [n, c]) => {
    let s = 0;
    for (let y = 0; y < 4; y++) {
      for (let x = 0; x < 5; x++) s += at(xs[0], [2, 3, 4, 5], [n, c, y, x]);
    }
    return s / 20;
  });
});

Deno.test("legalize: softmax, layerNorm, batchNorm and reductions", () => {
  const s = [2, 3, 4];
  check("softmax", [s], { axis: 1 }, (xs, [i, j, k]) => {
    const row = [0, 1, 2].map((t) => at(xs[0], s, [i, t, k]));
    const m = Math.max(...row);
    return Math.exp(row[j] - m) / row.reduce((a, v) => a + Math.exp(v - m), 0);
  });
  check("layerNorm", [s, [3, 4], [3, 4]], { axis: -2, epsilon: 1e-3 }, (xs, [i, j, k]) => {
    const v = [...indices([3, 4])].map(([a, b]) => at(xs[0], s, [i, a, b]));
    const mean = v.reduce((a, b) => a + b) / 12;
    const vr = v.reduce((a, b) => a + (b - mean) ** 2, 0) / 12;
    return (at(xs[0], s, [i, j, k]) - mean) / Math.sqrt(vr + 1e-3) * xs[1][j * 4 + k] +
      xs[2][j * 4 + k];
  });
  const bs = [2, 3, 2, 2];
  // The variance must be non-negative for a meaningful reference: |data|.
  const xs = [size(bs), 3, 3, 3, 3].map((n, i) => data(n, i + 1));
  const b = new GraphBuilder();
  const x = b.input("x", bs);
  const ps = [1, 2, 3, 4].map((i) => b.param(`p${i}`, i === 4 ? xs[i].map(Math.abs) : xs[i], [3]));
  b.output(b.call("batchNorm", [x, ...ps], { epsilon: 1e-2 }));
  const [bn] = interpretGraph(b.build(), [nd.array(xs[0], bs)]);
  close(
    bn,
    [...indices(bs)].map(([n, c, y, z]) =>
      (at(xs[0], bs, [n, c, y, z]) - xs[3][c]) / Math.sqrt(Math.abs(xs[4][c]) + 1e-2) * xs[1][c] +
      xs[2][c]
    ),
    bs,
    "batchNorm",
  );
  check("reduceSum", [s], { axes: [0, 2], keepdims: false }, (xs, [j]) => {
    let a = 0;
    for (const [i, k] of indices([2, 4])) a += at(xs[0], s, [i, j, k]);
    return a;
  });
  check("reduceMean", [s], { axes: [-1] }, (xs, [i, j]) => {
    let a = 0;
    for (let k = 0; k < 4; k++) a += at(xs[0], s, [i, j, k]);
    return a / 4;
  });
});

Deno.test("legalize: data movement (reshape, transpose, concat, slice, gather, cast, argmax)", () => {
  const s = [2, 3, 4];
  check("reshape", [s], { shape: [4, -1] }, (xs, [i, j]) => xs[0][i * 6 + j]);
  check("transpose", [s], { perm: [2, 0, 1] }, (xs, [k, i, j]) => at(xs[0], s, [i, j, k]));
  check(
    "concat",
    [[2, 1, 4], s, [2, 2, 4]],
    { axis: 1 },
    (xs, [i, j, k]) =>
      j < 1
        ? at(xs[0], [2, 1, 4], [i, 0, k])
        : j < 4
        ? at(xs[1], s, [i, j - 1, k])
        : at(xs[2], [2, 2, 4], [i, j - 4, k]),
  );
  check("slice", [s], { starts: [-1, 3], ends: [-100, 0], axes: [2, 1], steps: [-2, -1] }, (
    xs,
    [i, j, k],
  ) => at(xs[0], s, [i, 2 - j, 3 - 2 * k]));
  // gather: indices include a negative one (counted from the end).
  const b = new GraphBuilder();
  const d = b.input("d", [5, 3]);
  const ids = b.param("ids", Int32Array.from([4, -1, 0, 2]), [2, 2]);
  b.output(b.call("gather", [d, ids], { axis: 0 }), b.call("argmax", [d], { axis: 1 }));
  const x = data(15, 9);
  const [g, am] = interpretGraph(b.build(), [nd.array(x, [5, 3])]);
  close(g, [4, 4, 0, 2].flatMap((r) => [...x.slice(r * 3, r * 3 + 3)]), [2, 2, 3], "gather");
  assert.equal(am.dtype, "int64");
  const rows = [0, 1, 2, 3, 4].map((r) => [...x.slice(r * 3, r * 3 + 3)]);
  assert.deepEqual([...am.toArray()], rows.map((r) => r.indexOf(Math.max(...r))));
  const c = new GraphBuilder();
  const t = c.input("t", [4]);
  c.output(c.call("cast", [t], { to: "int32" }));
  const [ci] = interpretGraph(c.build(), [nd.array([1.7, -1.7, 2.5, 0], [4])]);
  assert.deepEqual([...ci.toArray()], [1, -1, 2, 0]);
});

Deno.test("legalize: symbolic sizes bind from the inputs, and a wrong input is refused", () => {
  const b = new GraphBuilder();
  const x = b.input("x", ["n", 3]);
  const w = b.param("w", Float32Array.from([1, 2, 3]), [3, 1]);
  b.output(b.call("reshape", [b.call("matmul", [x, w])], { shape: ["n"] }));
  const g = b.build();
  const [y] = interpretGraph(g, { x: nd.array([[1, 0, 0], [0, 1, 1]]) });
  assert.deepEqual([...y.toArray()], [1, 5]);
  assert.throws(() => interpretGraph(g, [nd.array([[1, 2]])]), /expects \(n, 3\) float32/);
});
