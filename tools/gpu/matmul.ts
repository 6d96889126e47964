/**
 * Run on a GPU machine by tools/gpu/run.sh: the WebGPU matmul schedules of
 * examples/matmul_gpu.ts at the sizes in $SIZES (default 1024 and 4096), each checked on 256
 * sampled elements against a float64 dot product and timed on device-resident arrays.
 */
import { nd, te } from "../../mod.ts";
import { matmulGpu } from "../../examples/matmul_gpu.ts";
const adapter = await navigator.gpu.requestAdapter({
  powerPreference: "high-performance",
});
const inf = adapter?.info;
console.log(
  "adapter",
  inf?.vendor,
  inf?.architecture,
  inf?.device,
  inf?.description,
  "features",
  [...(adapter?.features ?? [])].join(","),
  "limits.maxComputeWorkgroupStorageSize",
  adapter?.limits.maxComputeWorkgroupStorageSize,
);
const variants: Array<[string, Record<string, number | boolean>]> = [
  ["shared t16 r4", { threads: 16, reg: 4, tk: 16, shared: true }],
  ["shared t16 r8", { threads: 16, reg: 8, tk: 16, shared: true }],
  ["bench t8 r16 noshared", { threads: 8, reg: 16, shared: false }],
  ["shared t8 r8", { threads: 8, reg: 8, tk: 16, shared: true }],
];
for (
  const size of (Deno.env.get("SIZES") ?? "1024,4096").split(",").map(Number)
) {
  const rand = (len: number) => Float32Array.from({ length: len }, () => Math.random() * 2 - 1);
  const ha = rand(size * size), hb = rand(size * size);
  const a = await nd.array(ha, [size, size]).to("webgpu");
  const b = await nd.array(hb, [size, size]).to("webgpu");
  const c = await nd.empty([size, size]).to("webgpu");
  for (const [name, opts] of variants) {
    try {
      const { s, args, flops } = matmulGpu(size, size, size, opts);
      const f = await te.build(s, args, { target: "webgpu", name: "mm" });
      await f(a, b, c);
      const out = (await c.toHost()).toArray() as Float32Array;
      let maxErr = 0;
      for (let t = 0; t < 256; t++) {
        const i = Math.floor(Math.random() * size),
          j = Math.floor(Math.random() * size);
        let acc = 0;
        for (let k = 0; k < size; k++) {
          acc += ha[i * size + k] * hb[k * size + j];
        }
        maxErr = Math.max(
          maxErr,
          Math.abs(acc - out[i * size + j]) / Math.sqrt(size),
        );
      }
      const tm = await f.timeEvaluator({ repeat: 7, minRepeatMs: 200, flops })(
        a,
        b,
        c,
      );
      console.log(
        `matmul ${size} [${name}]: median ${(tm.median * 1e3).toFixed(3)} ms, ${
          tm.gflops!.median.toFixed(1)
        } GFLOP/s (max ${tm.gflops!.max.toFixed(1)}), sampled err/sqrt(k) ${
          maxErr.toExponential(2)
        }`,
      );
    } catch (e) {
      console.log(`matmul ${size} [${name}]: FAILED ${e}`);
    }
  }
}
