/**
 * Fused against unfused Tessera on whole models (ResNet-18 and a BERT-base encoder layer,
 * written with the graph builder in tests/graph_models.ts, seeded weights): both built by
 * graph.build for the same target at batch 1, their outputs compared first, then timed in
 * interleaved rounds (each round runs both, in alternating order); the table shows medians
 * over rounds and the memory plan. Ratios are only meaningful within one run on one machine.
 *
 *   deno run -A bench/graph_fusion.ts [--model bert|resnet|all] [--target c|webgpu] [--rounds N]
 */
import { graph, type GraphExecutable, nd, type NDArray } from "../mod.ts";
import { bertLayer, resnet18 } from "../tests/graph_models.ts";
import { showBytes } from "../lib/graph/print.ts";

const arg = (name: string, def: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && Deno.args[i + 1] ? Deno.args[i + 1] : def;
};
const which = arg("model", "all");
const target = arg("target", "c") as "c" | "webgpu";
const rounds = Number(arg("rounds", "15"));

const median = (l: number[]) => [...l].sort((a, b) => a - b)[l.length >> 1];

async function time(exe: GraphExecutable, x: NDArray): Promise<number> {
  const t = performance.now();
  await exe.run([x]);
  return performance.now() - t;
}

const models = [
  ["bert", () => bertLayer()],
  ["resnet", () => resnet18()],
] as const;
for (const [name, make] of models) {
  if (which !== "all" && which !== name) continue;
  const g = make();
  const shape = g.inputs[0].shape.map((d) => (typeof d === "number" ? d : 1));
  const n = shape.reduce((a, c) => a * c, 1);
  const x = nd.array(Float32Array.from({ length: n }, (_, i) => Math.sin(i)), shape);
  const fused = await graph.build(g, { target, sizes: { n: 1 } });
  const unfused = await graph.build(g, { target, sizes: { n: 1 }, fuse: false });
  const [a] = await fused.run([x]), [b] = await unfused.run([x]);
  const p = [...a.toArray()], q = [...b.toArray()];
  const err = p.reduce((m, v, i) => Math.max(m, Math.abs(v - q[i])), 0);
  const tf: number[] = [], tu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2) tf.push(await time(fused, x)), tu.push(await time(unfused, x));
    else tu.push(await time(unfused, x)), tf.push(await time(fused, x));
  }
  const plan = fused.plan;
  console.log(
    `${name} (${target}): fused ${fused.kernels.length} kernels ${median(tf).toFixed(1)} ms, ` +
      `unfused ${unfused.kernels.length} kernels ${median(tu).toFixed(1)} ms, ` +
      `fused ${(median(tu) / median(tf)).toFixed(2)}x faster (medians of ${rounds} rounds); ` +
      `max abs difference ${err.toExponential(1)}; arena ${showBytes(plan.arenaBytes)} ` +
      `(naive ${showBytes(plan.naiveBytes)}, max-live bound ${showBytes(plan.maxLiveBytes)})`,
  );
}
