/**
 * The fusion property: for random small graphs, the built model (optimized, fused, every
 * group one scheduled te program, intermediates in one planned arena) gives what the
 * node-by-node interpreter gives on the unoptimized graph. The interpreter target runs many
 * graphs; the C and WebGPU targets a few (each is a compile). The seed is printed before the run.
 */
import fc from "fast-check";
import { graph, GraphBuilder, nd, type NDArray } from "../mod.ts";
import type { Graph, Value } from "../lib/graph/ir.ts";
import { Choices, propertyOptions, rng } from "./gen/choices.ts";
import { assertClose } from "./graph_util.ts";
import { useTestCache } from "./c_util.ts";

useTestCache();

const RUNS = Number(Deno.env.get("TESSERA_PROPERTY_RUNS") ?? 60);
const C_RUNS = Number(Deno.env.get("TESSERA_PROPERTY_C_RUNS") ?? 4);

/**
 * `n` values in [-1, 1] from a generator seeded by one choice: drawing each value from the
 * choices themselves used them all up on the input's data, and every graph was then the
 * all-zero choice (two relus).
 */
function values(n: number, c: Choices): Float32Array {
  const next = rng(c.pick(1 << 20) + 1);
  return Float32Array.from({ length: n }, () => Math.round(2000 * next() - 1000) / 1000);
}

/** A random graph over one or two inputs: elementwise chains, broadcasts, reductions, layout. */
export function randomGraph(c: Choices): { g: Graph; inputs: NDArray[] } {
  const b = new GraphBuilder();
  // Images (N, C, H, W) for convolutions and pooling half of the time.
  const image = c.chance(50);
  const shape = image
    ? [c.int(1, 2), c.int(1, 4), c.int(3, 7), c.int(3, 7)]
    : [c.int(1, 3), c.int(1, 4), c.int(2, 5)];
  const count = shape.reduce((a, d) => a * d, 1);
  const x = b.input("x", shape);
  const pool: Value[] = [x];
  const inputs = [nd.array(values(count, c), shape)];
  if (c.chance(40)) {
    pool.push(b.input("y", shape));
    inputs.push(nd.array(values(count, c), shape));
  }
  let params = 0;
  const param = (s: number[]) =>
    b.param(`p${params++}`, values(s.reduce((a, d) => a * d, 1), c), s);
  const steps = c.int(2, 9);
  for (let i = 0; i < steps; i++) {
    const v = c.one(pool);
    const s = v.shape as number[];
    const last = s[s.length - 1];
    let out: Value;
    const images = pool.filter((u) =>
      u.shape.length === 4 && (u.shape[2] as number) >= 3 && (u.shape[3] as number) >= 3
    );
    // (Once the drawn numbers run out every choice is 0: then plain unary ops follow.)
    if (images.length > 0 && !c.chance(55)) {
      const u = c.one(images);
      const [, ch, , w] = u.shape as number[];
      const p = c.int(0, 1), st = c.int(1, 2);
      switch (c.pick(4)) {
        case 0: {
          const groups = ch % 2 === 0 && c.chance(30) ? 2 : 1;
          // 8 or 16 output channels: weights packed, activations blocked (blockLayout).
          const m = groups === 1 && c.chance(50) ? c.one([8, 16]) : groups * c.int(1, 2);
          const k = c.one([1, 3]);
          const wv = param([m, ch / groups, k, k]);
          const bias = c.chance(50) ? [param([m])] : [];
          const conv = b.call("conv2d", [u, wv, ...bias], {
            strides: [st, st],
            pads: [p, p, p, p],
            groups,
          });
          // A BatchNorm after it, folded by the pipeline (variance kept positive).
          const bn = c.chance(50)
            ? b.call("batchNorm", [
              conv,
              param([m]),
              param([m]),
              param([m]),
              b.param(`p${params++}`, values(m, c).map((v) => Math.abs(v) + 0.5), [m]),
            ])
            : conv;
          pool.push(bn);
          break;
        }
        case 1:
          pool.push(b.call(c.one(["maxPool2d", "avgPool2d"] as const), [u], {
            kernel: [2, Math.min(3, w)],
            strides: [st, 1],
            pads: [p, 0, 0, 0],
          }));
          break;
        case 2:
          pool.push(b.call("globalAvgPool", [u]));
          break;
        default:
          pool.push(b.call("add", [u, param([ch, 1, 1])]));
      }
      continue;
    }
    switch (c.pick(12)) {
      case 0:
        out = b.call(c.one(["relu", "tanh", "sigmoid", "neg", "hardSwish", "gelu"] as const), [v]);
        break;
      case 1: {
        // Broadcast against a param or another value of the same shape.
        const same = pool.filter((u) => u !== v && u.shape.join() === s.join());
        const other = same.length > 0 && c.chance(50)
          ? c.one(same)
          : param(s.map((d, k) => (k === s.length - 1 || c.chance(30) ? d : 1)));
        out = b.call(c.one(["add", "sub", "mul", "maximum"] as const), [v, other]);
        break;
      }
      case 2:
        out = b.call("softmax", [v], { axis: c.int(-s.length, s.length - 1) });
        break;
      case 3:
        out = b.call(c.one(["reduceSum", "reduceMean"] as const), [v], {
          axes: [c.int(0, s.length - 1)],
          keepdims: true,
        });
        break;
      case 4: {
        const perm = [...s.keys()];
        for (let k = perm.length - 1; k > 0; k--) {
          const j = c.int(0, k);
          [perm[k], perm[j]] = [perm[j], perm[k]];
        }
        out = b.call("transpose", [v], { perm });
        break;
      }
      case 5:
        out = b.call("reshape", [v], { shape: [-1, last] });
        break;
      case 6:
        out = b.call("matmul", [v, param([last, c.int(1, 4)])]);
        break;
      case 7:
        out = b.call("layerNorm", [v, param([last]), param([last])]);
        break;
      case 8: {
        const axis = c.int(0, s.length - 1);
        out = b.call("concat", [v, c.one(pool.filter((u) => u.shape.join() === s.join()))], {
          axis,
        });
        break;
      }
      case 9: {
        const axis = c.int(0, s.length - 1);
        out = b.call("slice", [v], {
          starts: [c.int(0, s[axis] - 1)],
          ends: [s[axis]],
          axes: [axis],
        });
        break;
      }
      case 10:
        out = b.call("clip", [v], { min: -0.5, max: 0.5 });
        break;
      default:
        out = b.call("exp", [b.call("clip", [v], { max: 2 })]);
    }
    pool.push(out);
  }
  const outs = [pool[pool.length - 1]];
  if (pool.length > 3 && c.chance(40)) outs.push(pool[c.int(1, pool.length - 2)]);
  b.output(...outs);
  return { g: b.build(), inputs };
}

function property(runs: number, target: "interpreter" | "c" | "webgpu"): Promise<void> {
  return fc.assert(
    fc.asyncProperty(
      fc.array(fc.nat(1 << 20), { minLength: 40, maxLength: 160 }),
      async (xs) => {
        const c = new Choices(xs);
        const { g, inputs } = randomGraph(c);
        const want = graph.interpret(g, inputs);
        const exe = await graph.build(g, { target, maxGroupSize: c.int(2, 8) });
        try {
          assertClose(await exe.run(inputs), want, 1e-4);
        } catch (e) {
          throw new Error(
            `${(e as Error).message}\n${graph.printGraph(g)}\ngroups: ${
              exe.partition.groups.map((x) => x.name).join(", ")
            }`,
          );
        }
      },
    ),
    propertyOptions(runs),
  );
}

Deno.test(`fused groups equal the unfused interpreter (${RUNS} random graphs, interpreter)`, async () => {
  await property(RUNS, "interpreter");
});

Deno.test(`fused groups equal the unfused interpreter (${C_RUNS} random graphs, c)`, async () => {
  await property(C_RUNS, "c");
});

Deno.test("fused groups equal the unfused interpreter (6 random graphs, webgpu)", async () => {
  await property(6, "webgpu");
});
