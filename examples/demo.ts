/**
 * The main demo (`deno task demo`): a tiled matmul and a softmax, written as tensor
 * expressions, scheduled, lowered to the loop IR, printed, run through the interpreter and
 * checked against a plain TypeScript reference; then the matmul compiled to C, and a
 * BLAS-class CPU schedule (examples/matmul_cpu.ts) timed beside OpenBLAS and tfjs-wasm; then
 * GPU schedules of the matmul (examples/matmul_gpu.ts) run through WebGPU and checked.
 */
import { nd, te } from "../mod.ts";
import { matmulCpu } from "./matmul_cpu.ts";
import { matmulGpu } from "./matmul_gpu.ts";
import { getDevice } from "../lib/codegen/wgsl/device.ts";
import { allPeers } from "../lib/bench/peers/mod.ts";
import { cpuModel } from "../lib/bench/env.ts";
import { median } from "../lib/runtime/timing.ts";

function check(name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number) {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  }
  if (!(worst <= tol)) throw new Error(`${name}: mismatch, max relative error ${worst}`);
  console.log(`${name}: OK (max relative error ${worst.toExponential(2)})`);
}

const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);

// --- matmul: C[n, 32] = A[n, 64] . B[64, 32], tiled 8x8 with a vectorized inner loop ---
const n = te.var("n");
const A = te.placeholder([n, 64], "float32", "A");
const B = te.placeholder([64, 32], "float32", "B");
const k = te.reduceAxis([0, 64], "k");
const C = te.compute([n, 32], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");

const s = te.createSchedule(C);
const [i, j] = s.stage(C).op.axis;
const [io, jo, ii, ji] = s.stage(C).tile(i, j, 8, 8);
const [ko, ki] = s.stage(C).split(k, { factor: 4 });
s.stage(C).reorder(io, jo, ko, ki, ii, ji).vectorize(ji).unroll(ki).parallel(io);

const matmul = te.lower(s, [A, B, C], { name: "matmul" });
console.log(String(matmul));

const rows = 100; // not a multiple of the tile: the guards take the partial tile
const a = rand(rows * 64), b = rand(64 * 32);
const c = nd.empty([rows, 32]);
te.evaluate(matmul, [nd.array(a, [rows, 64]), nd.array(b, [64, 32]), c]);
const want = new Float32Array(rows * 32);
for (let r = 0; r < rows; r++) {
  for (let q = 0; q < 32; q++) {
    let acc = 0;
    for (let x = 0; x < 64; x++) acc += a[r * 64 + x] * b[x * 32 + q];
    want[r * 32 + q] = acc;
  }
}
check("matmul", c.toArray(), want, 1e-5);

// --- softmax over rows: max, exp, sum, divide; exp is inlined, the sums computed per row ---
const m = te.var("m");
const X = te.placeholder([m, 16], "float32", "X");
const r1 = te.reduceAxis(16, "r1");
const rmax = te.compute([m], (i) => te.max(X(i, r1), [r1]), "rowmax");
const E = te.compute([m, 16], (i, j) => te.exp(X(i, j).sub(rmax(i))), "E");
const r2 = te.reduceAxis(16, "r2");
const rsum = te.compute([m], (i) => te.sum(E(i, r2), [r2]), "rowsum");
const Y = te.compute([m, 16], (i, j) => E(i, j).div(rsum(i)), "softmax");

const s2 = te.createSchedule(Y);
s2.stage(E).computeInline();
const [yi] = s2.stage(Y).op.axis;
s2.stage(rmax).computeAt(s2.stage(Y), yi);
s2.stage(rsum).computeAt(s2.stage(Y), yi);
const softmax = te.lower(s2, [X, Y], { name: "softmax" });
console.log(String(softmax));

const x = rand(5 * 16), y = nd.empty([5, 16]);
te.evaluate(softmax, [nd.array(x, [5, 16]), y]);
const wantY = new Float32Array(5 * 16);
for (let r = 0; r < 5; r++) {
  const row = x.subarray(r * 16, r * 16 + 16);
  const mx = Math.max(...row);
  const e = row.map((v) => Math.exp(v - mx));
  const sum = e.reduce((p, q) => p + q, 0);
  e.forEach((v, q) => (wantY[r * 16 + q] = v / sum));
}
check("softmax", y.toArray(), wantY, 1e-5);

// --- the same matmul compiled to C, and a BLAS-class schedule for the CPU ---
const fc = await te.build(s, [A, B, C], { target: "c", name: "matmul" });
const cc = nd.empty([rows, 32]);
await fc(nd.array(a, [rows, 64]), nd.array(b, [64, 32]), cc);
check("matmul (C)", cc.toArray(), c.toArray(), 1e-5);

const size = 1024;
const big = matmulCpu(size, size, size);
const fbig = await te.build(big.s, big.args, { target: "c", name: "matmul_cpu" });
const ba = rand(size * size), bb = rand(size * size);
const BA = nd.array(ba, [size, size]), BB = nd.array(bb, [size, size]);
const BC = nd.empty([size, size]);
await fbig(BA, BB, BC);
// The interpreter would take minutes at 1024: check the same schedule at a small ragged
// size against it, and the big result against float64 dot products on sampled elements.
const small = matmulCpu(37, 48, 29);
const fsmall = await te.build(small.s, small.args, { target: "c" });
const fint = await te.build(small.s, small.args);
const sa = nd.array(rand(37 * 29), [37, 29]), sb = nd.array(rand(29 * 48), [29, 48]);
const [sc1, sc2] = [nd.empty([37, 48]), nd.empty([37, 48])];
await fsmall(sa, sb, sc1);
await fint(sa, sb, sc2);
check("matmul_cpu 37x48x29 (C vs interpreter)", sc1.toArray(), sc2.toArray(), 1e-5);
const got = BC.toArray();
const sampled: number[] = [], exact: number[] = [];
for (let t = 0; t < 200; t++) {
  const r = (t * 7919) % size, q = (t * 104729) % size;
  let acc = 0;
  for (let x = 0; x < size; x++) acc += ba[r * size + x] * bb[x * size + q];
  sampled.push(got[r * size + q]);
  exact.push(acc);
}
check("matmul_cpu 1024 (sampled, vs float64)", sampled, exact, 1e-4);

const timing = await fbig.timeEvaluator({ repeat: 7, minRepeatMs: 100, flops: big.flops })(
  BA,
  BB,
  BC,
);
const line = (name: string, gflops: number) =>
  console.log(`  ${name.padEnd(12)} ${gflops.toFixed(1).padStart(7)} GFLOP/s`);
console.log(
  `\nmatmul ${size}^3 float32 on ${cpuModel()} (${navigator.hardwareConcurrency} cores):`,
);
line("tessera-c", timing.gflops!.median);
for (
  const peer of allPeers().filter((p) => p.name === "openblas" || p.name === "tfjs-wasm")
) {
  const why = await peer.available();
  if (why) {
    console.log(`  ${peer.name.padEnd(12)} skipped: ${why}`);
    continue;
  }
  const pm = await peer.prepare({ op: "matmul", m: size, n: size, k: size }, [ba, bb]);
  await pm.run();
  const times: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    await pm.run();
    times.push((performance.now() - t0) / 1000);
  }
  line(peer.name, big.flops / median(times) / 1e9);
  pm.dispose();
}
console.log("(deno task bench measures every peer, interleaved, with more repeats)");

// --- the matmul on the GPU: WebGPU on whatever adapter Deno finds (llvmpipe in CI) ---
let adapter: string | null = null;
try {
  adapter = (await getDevice()).description;
} catch (e) {
  console.log(`\nWebGPU skipped: ${(e as Error).message}`);
}
if (adapter) {
  console.log(`\nWebGPU adapter: ${adapter}`);
  for (const shared of [true, false]) {
    const opts = shared ? { threads: 8, reg: 2, tk: 8 } : { threads: 8, reg: 4, shared };
    const g = matmulGpu(70, 48, 33, opts);
    const fg = await te.build(g.s, g.args, { target: "webgpu", name: "matmul_gpu" });
    const fi = await te.build(g.s, g.args);
    const ga = nd.array(rand(70 * 33), [70, 33]), gb = nd.array(rand(33 * 48), [33, 48]);
    const [g1, g2] = [nd.empty([70, 48]), nd.empty([70, 48])];
    await fg(ga, gb, g1);
    await fi(ga, gb, g2);
    const what = shared ? "shared-memory tiles" : "register tiles";
    check(`matmul_gpu 70x48x33, ${what} (WebGPU vs interpreter)`, g1.toArray(), g2.toArray(), 1e-4);
  }
  const n = 512, g = matmulGpu(n, n, n, { threads: 8, reg: 16, shared: false });
  const fg = await te.build(g.s, g.args, { target: "webgpu" });
  const ga = await nd.array(rand(n * n), [n, n]).to("webgpu");
  const gb = await nd.array(rand(n * n), [n, n]).to("webgpu");
  const gc = await nd.empty([n, n]).to("webgpu");
  const tg = await fg.timeEvaluator({ repeat: 3, flops: g.flops })(ga, gb, gc);
  console.log(`matmul ${n}^3 on the GPU (register tiles): ${tg.gflops!.median.toFixed(2)} GFLOP/s`);
}
