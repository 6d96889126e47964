/**
 * A BLAS-class float32 matmul for the CPU, scheduled by hand the way TVM's "optimize GEMM on
 * CPU" tutorial does it: B is packed into column panels of width `bn` (a compute stage with
 * the new layout, so the micro-kernel reads B contiguously), C is computed in
 * `bm` x `bn` register tiles (a local cacheWrite whose accumulators GCC keeps in vector
 * registers), the reduction step is unrolled, the panel columns are vectorized and the
 * outer rows run in parallel. Run it (`deno run -A examples/matmul_cpu.ts`) to see the
 * loop IR, check the kernel against the interpreter and time it.
 */
import { nd, te, type Tensor } from "../mod.ts";
import type { Schedule } from "../mod.ts";

export interface MatmulCpu {
  s: Schedule;
  args: Tensor[];
  flops: number;
}

/**
 * C[m, n] = A[m, k] . B[k, n]. B is packed into ceil(n / bn) panels; when bn does not
 * divide n the columns past n are packed as zeros, so the micro-kernel never has a ragged
 * panel.
 */
export function matmulCpu(m: number, n: number, k: number, bm = 6, bn = 16, ku = 4): MatmulCpu {
  const A = te.placeholder([m, k], "float32", "A");
  const B = te.placeholder([k, n], "float32", "B");
  const packedB = te.compute(
    [Math.ceil(n / bn), k, bn],
    (x, y, z) => {
      const col = x.mul(bn).add(z);
      return n % bn === 0 ? B(y, col) : te.select(col.lt(n), B(y, col), 0);
    },
    "packedB",
  );
  const r = te.reduceAxis([0, k], "k");
  const C = te.compute(
    [m, n],
    (i, j) => te.sum(A(i, r).mul(packedB(j.floordiv(bn), r, j.floormod(bn))), [r]),
    "C",
  );
  const s = te.createSchedule(C);
  const CC = s.cacheWrite(C, "local");
  const [i, j] = s.stage(C).op.axis;
  const [io, jo, , ji] = s.stage(C).tile(i, j, bm, bn);
  s.stage(C).vectorize(ji).parallel(io);
  s.stage(CC).computeAt(s.stage(C), jo);
  const [mc, nc] = s.stage(CC).op.axis;
  const [ko, ki] = s.stage(CC).split(s.stage(CC).op.reduceAxis[0], { factor: ku });
  s.stage(CC).reorder(ko, ki, mc, nc).unroll(ki).unroll(mc).vectorize(nc);
  const [px, , pz] = s.stage(packedB).op.axis;
  s.stage(packedB).parallel(px).vectorize(pz);
  return { s, args: [A, B, C], flops: 2 * m * n * k };
}

if (import.meta.main) {
  const size = Number(Deno.args[0] ?? 1024);
  const { s, args, flops } = matmulCpu(size, size, size);
  console.log(String(te.lower(s, args, { name: "matmul" })));
  const f = await te.build(s, args, { target: "c", name: "matmul" });
  const rand = (len: number) => Float32Array.from({ length: len }, () => Math.random() * 2 - 1);
  const a = nd.array(rand(size * size), [size, size]),
    b = nd.array(rand(size * size), [size, size]);
  const c = nd.empty([size, size]);
  await f(a, b, c);
  const t = await f.timeEvaluator({ repeat: 10, minRepeatMs: 200, flops })(a, b, c);
  console.log(
    `matmul ${size}: median ${(t.median * 1e3).toFixed(2)} ms, ${
      t.gflops!.median.toFixed(1)
    } GFLOP/s`,
  );
}
