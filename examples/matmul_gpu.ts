/**
 * A float32 matmul scheduled for a GPU the way TVM's CUDA GEMM examples do it. Each
 * workgroup of `threads` x `threads` invocations computes a block of C of
 * (threads*reg) x (threads*reg); each invocation computes a `reg` x `reg` block of outputs
 * held in registers (`cacheWrite(C, "local")`), so every element it reads from shared
 * memory feeds `reg` multiply-adds. The reduction walks k in steps of `tk`; each
 * step the workgroup copies a block of A and of B into shared memory
 * (`cacheRead(..., "shared")`), every invocation copying `reg` elements of each. The
 * barriers are planned in lowering (lib/lower/gpu/threadSync.ts); `double: true`
 * double-buffers the shared blocks, as TVM's GEMM does. `shared: false` leaves out the staging: on a software
 * adapter (llvmpipe runs workgroups on CPU threads, where "shared" memory is ordinary
 * cache and every barrier is a context switch) reading storage directly is several times
 * faster; on a real GPU the staging is what makes the kernel fast. Run it (`deno run -A examples/matmul_gpu.ts 512`) to see the
 * IR, check the kernel against the interpreter and time it.
 */
import { nd, type Schedule, te, type Tensor } from "../mod.ts";

export function matmulGpu(
  m: number,
  n: number,
  k: number,
  { threads = 16, reg = 4, tk = 16, shared = true, vec = 4, double = false } = {},
): { s: Schedule; args: Tensor[]; flops: number } {
  const A = te.placeholder([m, k], "float32", "A");
  const B = te.placeholder([k, n], "float32", "B");
  const r = te.reduceAxis([0, k], "k");
  const C = te.compute([m, n], (i, j) => te.sum(A(i, r).mul(B(r, j)), [r]), "C");
  const s = te.createSchedule(C);
  const AS = shared ? s.cacheRead(A, "shared", [s.stage(C)]) : null;
  const BS = shared ? s.cacheRead(B, "shared", [s.stage(C)]) : null;
  const CL = s.cacheWrite(C, "local");
  const st = s.stage(C);
  const [i, j] = st.op.axis;
  const block = threads * reg;
  const [by, bi] = st.split(i, { factor: block });
  const [bx, bj] = st.split(j, { factor: block });
  const [ty, yi] = st.split(bi, { nparts: threads });
  const [tx, xi] = st.split(bj, { nparts: threads });
  st.reorder(by, bx, ty, tx, yi, xi).unroll(yi).unroll(xi);
  st.bind(by, "blockIdx.y").bind(bx, "blockIdx.x").bind(ty, "threadIdx.y").bind(tx, "threadIdx.x");
  const cl = s.stage(CL);
  cl.computeAt(st, tx);
  const [ci, cj] = cl.op.axis;
  const [ko, ki] = cl.split(cl.op.reduceAxis[0], { factor: tk });
  // Each row of the register tile takes `vec` consecutive columns of B per step: one vector
  // load (`vec4<f32>`) where B's rows start at multiples of 4, as they do when n does.
  const lanes = reg % vec === 0 ? vec : 1;
  const [cjo, cjv] = cl.split(cj, { factor: lanes });
  cl.reorder(ko, ki, ci, cjo, cjv).unroll(ci).unroll(cjo);
  if (lanes > 1) cl.vectorize(cjv);
  for (const S of [AS, BS]) {
    if (!S) continue;
    const ss = s.stage(S);
    ss.computeAt(cl, ko);
    // TVM's double_buffer: the next step's block loads before this step's multiply-adds.
    if (double) ss.doubleBuffer();
    const [a0, a1] = ss.op.axis;
    // The copy of a (rows x cols) block: rows over threadIdx.y, columns over threadIdx.x,
    // each in as many steps as needed; `vec` columns at a time (one vector load each) when
    // the threads still cover whole rows that way.
    const cols = S === AS ? tk : block;
    const [r0, y] = ss.split(a0, { factor: threads });
    if (vec > 1 && cols % (threads * vec) === 0) {
      const [cv, v] = ss.split(a1, { factor: vec });
      const [c0, x] = ss.split(cv, { factor: threads });
      ss.reorder(r0, c0, y, x, v).bind(y, "threadIdx.y").bind(x, "threadIdx.x").vectorize(v);
    } else {
      const [c0, x] = ss.split(a1, { factor: threads });
      ss.reorder(r0, c0, y, x).bind(y, "threadIdx.y").bind(x, "threadIdx.x");
    }
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
