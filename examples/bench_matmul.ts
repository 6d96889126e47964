/**
 * The ten-line benchmark: a user's own schedule against tfjs, with a table, a JSON result file
 * and a chart. `deno run -A examples/bench_matmul.ts [out-dir]`.
 */
import { bench, nd, te } from "../mod.ts";
import { matmulCpu } from "./matmul_cpu.ts";

const out = Deno.args[0] ?? ".";
const w = { op: "matmul", m: 512, n: 512, k: 512 } as const;
const { s, args, flops } = matmulCpu(512, 512, 512);
const f = await te.build(s, args, { target: "c" });
const [a, b] = bench.workloads.inputsOf(w).map((x) => nd.array(x, [512, 512]));
const c = nd.empty([512, 512]);
const suite = bench.suite("my matmul")
  .add({ name: "mine", group: "mm", fn: () => f(a, b, c), flops, baseline: true })
  .addPeer(bench.peers["tfjs-wasm"], w, { group: "mm" });
const result = await suite.run({ repeats: 15 });
console.log(result.table());
await result.save(`${out}/my_matmul.json`);
await Deno.writeTextFile(`${out}/my_matmul.svg`, await result.speedupSvg());
