/**
 * Property: a random graph (a chain of random operators with random attributes over a random
 * input, a symbolic batch sometimes) survives ONNX export and import unchanged (the same
 * listing and params; gelu excepted, which export writes as its formula), and onnxruntime-node running the exported file computes what the plain
 * reference computes on the graph. The graph is made from fast-check's list of naturals
 * (tests/gen/choices.ts), so a failure prints its seed and shrinks.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { graph, onnx } from "../mod.ts";
import type { GraphBuilder } from "../lib/graph/builder.ts";
import type { Dim, Graph, Value } from "../lib/graph/ir.ts";
import { Choices, propertyOptions } from "./gen/choices.ts";
import { evalGraph } from "./graph_ref_util.ts";
import { compare, loadOrt, randomData, runOrt } from "./onnx_util.ts";

const ort = await loadOrt();

type Step = (b: GraphBuilder, x: Value, c: Choices, k: number) => Value | null;

/** x's dims with a symbolic one as 1 (what a param broadcasting against it may have). */
const known = (x: Value) => x.shape.map((d) => (typeof d === "number" ? d : 1));
/** x's last dim when it is known (a transpose can move the batch symbol last). */
const last = (x: Value) => (typeof x.shape.at(-1) === "number" ? x.shape.at(-1) as number : null);
const param = (b: GraphBuilder, k: number, shape: number[], lo = -1, hi = 1) =>
  b.param(`p${k}`, randomData(shape.reduce((p, q) => p * q, 1), k, lo, hi) as Float32Array, shape);

const STEPS: Step[] = [
  (b, x, c) => b.call(c.one(["relu", "sigmoid", "tanh", "erf", "neg", "hardSwish"] as const), [x]),
  (b, x, c) => b.call("gelu", [x], { approximate: c.one(["none", "tanh"] as const) }),
  (b, x, c) => b.call("clip", [x], { min: -c.int(0, 2) / 2, max: c.int(1, 3) / 2 }),
  (b, x, c) => b.call("hardSigmoid", [x], { alpha: c.int(1, 4) / 10, beta: c.int(3, 6) / 10 }),
  (b, x, c, k) => {
    // A binary op with a param broadcasting along a random suffix of x's dims.
    const dims = known(x);
    const tail = dims.slice(dims.length - c.int(0, dims.length)).map((d) => c.chance(30) ? 1 : d);
    const op = c.one(["add", "sub", "mul", "maximum", "minimum"] as const);
    const p = param(b, k, tail);
    return c.chance(50) ? b.call(op, [x, p]) : b.call(op, [p, x]);
  },
  (b, x, _c, k) => {
    const d = last(x);
    return b.call("div", [x, param(b, k, d === null ? [] : [d], 0.5, 2)]);
  },

  (b, x, c) =>
    x.shape.length ? b.call("softmax", [x], { axis: c.int(0, x.shape.length - 1) }) : null,
  (b, x, c) => {
    if (x.shape.length < 2) return null;
    const axes = [...x.shape.keys()].filter(() => c.chance(40));
    const op = c.one(["reduceMean", "reduceSum"] as const);
    return b.call(op, [x], {
      axes: axes.length ? axes : [x.shape.length - 1],
      keepdims: c.chance(50),
    });
  },
  (
    b,
    x,
    c,
  ) => (x.shape.length >= 2
    ? b.call("transpose", [x], { perm: c.shuffle([...x.shape.keys()]) })
    : null),
  (b, x, c, k) => {
    const d = last(x);
    return d === null ? null : b.call("matmul", [x, param(b, k, [d, c.int(1, 5)])]);
  },
  (b, x, _c, k) => {
    const d = last(x);
    if (d === null) return null;
    return b.call("layerNorm", [x, param(b, k, [d]), param(b, k + 1000, [d])], { epsilon: 1e-3 });
  },
  (b, x, c) => {
    // Merge the last two dims (a reshape); keep the batch symbol in place.
    if (
      x.shape.length < 3 || typeof x.shape.at(-1) !== "number" || typeof x.shape.at(-2) !== "number"
    ) {
      return null;
    }
    const s = x.shape.slice(0, -2);
    const merged = (x.shape.at(-1) as number) * (x.shape.at(-2) as number);
    return b.call("reshape", [x], {
      shape: c.chance(50) ? [...s, merged] : [...s.map(() => 0), -1],
    });
  },
  (b, x, c) => {
    const ax = x.shape.length - 1;
    const d = x.shape[ax] as number;
    if (typeof d !== "number" || d < 2) return null;
    const step = c.one([1, 2, -1]);
    return step > 0
      ? b.call("slice", [x], { starts: [c.int(0, d - 1)], ends: [d], axes: [ax], steps: [step] })
      : b.call("slice", [x], { starts: [d - 1], ends: [-d - 1], axes: [ax], steps: [-1] });
  },
  (b, x, _c) =>
    last(x) === null ? null : b.call("concat", [x, b.call("exp", [b.call("neg", [x])])], {
      axis: -1,
    }),
  (b, x, c, k) => {
    if (x.shape.length !== 4 || x.shape.slice(1).some((d) => typeof d !== "number")) return null;
    const [, ch, h, w] = x.shape as number[];
    const g = ch % 2 === 0 && c.chance(50) ? 2 : 1;
    const kk = Math.min(c.int(1, 3), h, w);
    const m = g * c.int(1, 2);
    return b.call("conv2d", [x, param(b, k, [m, ch / g, kk, kk]), param(b, k + 1000, [m])], {
      groups: g,
      strides: [c.int(1, 2), 1],
      pads: [c.int(0, kk - 1), 0, 0, c.int(0, kk - 1)],
    });
  },
  (b, x, c) => {
    if (x.shape.length !== 4 || x.shape.slice(1).some((d) => typeof d !== "number")) return null;
    const [, , h, w] = x.shape as number[];
    const kk = Math.min(2, h, w);
    const avg = c.chance(50);
    return b.call(avg ? "avgPool2d" : "maxPool2d", [x], {
      kernel: [kk, kk],
      strides: [1, c.int(1, 2)],
      pads: kk > 1 ? [c.int(0, 1), 0, 0, 0] : [0, 0, 0, 0],
      ...(avg ? { countIncludePad: c.chance(50) } : {}),
    });
  },
];

function randomGraph(c: Choices): Graph {
  const b = graph.builder("random");
  const rank = c.int(2, 4);
  const shape: Dim[] = Array.from({ length: rank }, () => c.int(1, 4));
  if (c.chance(40)) shape[0] = "n";
  let x = b.input("x", shape);
  const steps = c.int(1, 5);
  for (let k = 0; k < steps; k++) {
    const y = c.one(STEPS)(b, x, c, k * 10);
    if (y) x = y;
  }
  b.output(x);
  return b.build();
}

Deno.test({
  name: `onnx property: random graphs round-trip through ONNX and agree with onnxruntime${
    typeof ort === "string" ? " (onnxruntime part ignored: onnxruntime-node did not load)" : ""
  }`,
  async fn() {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { minLength: 8, maxLength: 80 }), async (xs) => {
        const g = randomGraph(new Choices(xs));
        const bytes = onnx.exportOnnx(g);
        const back = onnx.importOnnx(bytes);
        // gelu has no opset-17 operator: it is written (as PyTorch writes it) as its Erf or Tanh
        // formula, so only graphs without it come back node for node.
        if (!g.nodes.some((n) => n.op === "gelu")) {
          assert.equal(graph.printGraph(back), graph.printGraph(g));
          for (const [name, p] of g.params) assert.deepEqual(back.params.get(name)!.data, p.data);
        }
        if (typeof ort === "string") return;
        const shape = g.inputs[0].shape.map((d) => (typeof d === "number" ? d : 3));
        const feeds = { x: { shape, data: randomData(shape.reduce((p, q) => p * q, 1), 7) } };
        const [want] = await runOrt(ort, bytes, feeds);
        const [got] = evalGraph(g, feeds);
        assert.deepEqual(got.shape, want.dims);
        const r = compare(got.data, want.data);
        assert.ok(r.ok, `${graph.printGraph(g)}\nmax abs ${r.maxAbs}, max rel ${r.maxRel}`);
      }),
      propertyOptions(Number(Deno.env.get("TESSERA_PROPERTY_RUNS") ?? 60)),
    );
  },
});
