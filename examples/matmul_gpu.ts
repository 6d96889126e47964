/**
 * A float32 matmul scheduled for a GPU the way TVM's CUDA GEMM examples do it: each
 * workgroup computes a `tile` x `tile` block of C, one output per thread, walking k in steps
 * of `tile`; each step the workgroup's threads cooperatively copy a tile of A and of B into
 * shared memory (`cacheRead(..., "shared")`, one element per thread), and every thread
 * accumulates its dot product in a register (`cacheWrite(C, "local")`). The WGSL printer
 * puts the barriers around the shared tiles. Run it (`deno run -A examples/matmul_gpu.ts`)
 * to see the IR, check the kernel against the interpreter and time it.
 */
import { nd, type Schedule, te, type Tensor } from "../mod.ts";

export function matmulGpu(
  m: number,
  n: number,
  k: number,
  tile = 16,
): { s: Schedule; args: Tensor[]; flops: number } {
  const A = te.placeholder([m, k], "float32", "A");
  const B = te.placeholder([k, n], "float32", "B");
  const r = te.reduceAxis([0, k], "k");
  const C = te.compute([m, n], (i, j) => te.sum(A(i, r).mul(B(r, j)), [r]), "C");
  const s = te.createSchedule(C);
  const AS = s.cacheRead(A, "shared", [s.stage(C)]);
  const BS = s.cacheRead(B, "shared", [s.stage(C)]);
  const CL = s.cacheWrite(C, "local");
  const [i, j] = s.stage(C).op.axis;
  const [by, bx, ty, tx] = s.stage(C).tile(i, j, tile, tile);
  s.stage(C).bind(by, "blockIdx.y").bind(bx, "blockIdx.x");
  s.stage(C).bind(ty, "threadIdx.y").bind(tx, "threadIdx.x");
  s.stage(CL).computeAt(s.stage(C), tx);
  const [ko, ki] = s.stage(CL).split(s.stage(CL).op.reduceAxis[0], { factor: tile });
  s.stage(CL).reorder(ko, ki, ...s.stage(CL).op.axis).unroll(ki);
  for (const S of [AS, BS]) {
    s.stage(S).computeAt(s.stage(CL), ko);
    const [a0, a1] = s.stage(S).op.axis;
    s.stage(S).bind(a0, "threadIdx.y").bind(a1, "threadIdx.x");
  }
  return { s, args: [A, B, C], flops: 2 * m * n * k };
}

if (import.meta.main) {
  const size = Number(Deno.args[0] ?? 256);
  const { s, args, flops } = matmulGpu(size, size, size);
  console.log(String(te.lower(s, args, { name: "matmul_gpu" })));
  const f = await te.build(s, args, { target: "webgpu", name: "matmul_gpu" });
  const rand = (len: number) => Float32Array.from({ length: len }, () => Math.random() * 2 - 1);
  const a = nd.array(rand(size * size), [size, size]),
    b = nd.array(rand(size * size), [size, size]);
  const c = nd.empty([size, size]);
  await f(a, b, c);
  const t = await f.timeEvaluator({ repeat: 5, flops })(a, b, c);
  console.log(
    `matmul ${size}: median ${(t.median * 1e3).toFixed(2)} ms, ${
      t.gflops!.median.toFixed(2)
    } GFLOP/s`,
  );
}
