/**
 * Two model graphs written with the builder, for tests and measurements: ResNet-18 (conv,
 * BatchNorm, residual adds, pooling, a classifier) and one BERT encoder layer (fused QKV
 * candidates, attention heads by reshape and transpose, softmax, layerNorm, GELU). Sizes are
 * parameters so that tests run them small; weights are seeded.
 */
import { type Graph, GraphBuilder, type GraphValue as Value } from "../mod.ts";

let seed = 1;
/** Restarts the weights' generator (each model is then the same on every call). */
export function reseed(s = 1): void {
  seed = s;
}
const rnd = (n: number, scale = 0.05) =>
  Float32Array.from({ length: n }, () => {
    seed = (seed * 1664525 + 1013904223) % 2 ** 32;
    return (seed / 2 ** 32 - 0.5) * 2 * scale;
  });
const pos = (n: number) => rnd(n).map((v) => Math.abs(v) + 0.5);
export function resnet18(hw = 224, widths = [64, 128, 256, 512], classes = 1000): Graph {
  const b = new GraphBuilder("resnet18");
  let k = 0;
  const P = (shape: number[], f = rnd) =>
    b.param(`p${k++}`, f(shape.reduce((a, c) => a * c, 1)), shape);
  const convBn = (
    x: Value,
    cin: number,
    cout: number,
    ks: number,
    stride: number,
    relu: boolean,
  ) => {
    const pad = (ks - 1) / 2;
    let y = b.call("conv2d", [x, P([cout, cin, ks, ks])], {
      strides: [stride, stride],
      pads: [pad, pad, pad, pad],
    });
    y = b.call("batchNorm", [y, P([cout], pos), P([cout]), P([cout]), P([cout], pos)]);
    return relu ? b.call("relu", [y]) : y;
  };
  const x = b.input("x", ["n", 3, hw, hw]);
  let y = convBn(x, 3, widths[0], 7, 2, true);
  y = b.call("maxPool2d", [y], { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let cin = widths[0];
  for (const [cout, stride] of widths.map((w, i) => [w, i === 0 ? 1 : 2])) {
    for (let blk = 0; blk < 2; blk++) {
      const s = blk === 0 ? stride : 1;
      const a = convBn(y, cin, cout, 3, s, true);
      const c = convBn(a, cout, cout, 3, 1, false);
      const sc = s !== 1 || cin !== cout ? convBn(y, cin, cout, 1, s, false) : y;
      y = b.call("relu", [b.call("add", [c, sc])]);
      cin = cout;
    }
  }
  y = b.call("reshape", [b.call("globalAvgPool", [y])], { shape: [0, -1] });
  y = b.call("add", [b.call("matmul", [y, P([cin, classes])]), P([classes])]);
  b.output(y);
  return b.build();
}
export function bertLayer(seq = 128, hid = 768, heads = 12): Graph {
  const b = new GraphBuilder("bert_layer");
  let k = 0;
  const P = (shape: number[], f = rnd) =>
    b.param(`p${k++}`, f(shape.reduce((a, c) => a * c, 1)), shape);
  const x = b.input("x", ["n", seq, hid]);
  const lin = (v: Value, i: number, o: number) =>
    b.call("add", [b.call("matmul", [v, P([i, o])]), P([o])]);
  const dh = hid / heads;
  const split = (v: Value) =>
    b.call("transpose", [b.call("reshape", [v], { shape: [0, seq, heads, dh] })], {
      perm: [0, 2, 1, 3],
    });
  const q = split(lin(x, hid, hid)), kk = split(lin(x, hid, hid)), v = split(lin(x, hid, hid));
  let att = b.call("matmul", [q, b.call("transpose", [kk], { perm: [0, 1, 3, 2] })]);
  att = b.call("div", [att, b.param("scale", Float32Array.of(Math.sqrt(dh)), [1])]);
  att = b.call("softmax", [att], { axis: -1 });
  let ctx = b.call("matmul", [att, v]);
  ctx = b.call("reshape", [b.call("transpose", [ctx], { perm: [0, 2, 1, 3] })], {
    shape: [0, seq, hid],
  });
  let h = b.call("layerNorm", [b.call("add", [lin(ctx, hid, hid), x]), P([hid], pos), P([hid])], {
    epsilon: 1e-12,
  });
  const ff = lin(b.call("gelu", [lin(h, hid, 4 * hid)]), 4 * hid, hid);
  h = b.call("layerNorm", [b.call("add", [ff, h]), P([hid], pos), P([hid])], { epsilon: 1e-12 });
  b.output(h);
  return b.build();
}
