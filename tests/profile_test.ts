/**
 * The profiler: `te.build(..., { profile: true })` times each root stage on C and WebGPU, the
 * work it reports is the program's (FLOPs, compulsory bytes), the marks change neither the
 * results nor, on WebGPU, the shaders, and a kernel built without it carries no timer.
 */
import assert from "node:assert/strict";
import { nd, te, TesseraError } from "../mod.ts";
import { useTestCache } from "./c_util.ts";

useTestCache();

const K = 64;

function program() {
  const n = te.var("n");
  const A = te.placeholder([n, K], "float32", "A");
  const B = te.placeholder([K, 32], "float32", "B");
  const k = te.reduceAxis([0, K], "k");
  const C = te.compute([n, 32], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");
  const D = te.compute([n, 32], (i, j) => te.exp(C(i, j)).add(1), "D");
  return { A, B, C, D, s: te.createSchedule(D) };
}

const rand = (len: number) => Float32Array.from({ length: len }, () => Math.random() - 0.5);

for (const target of ["c", "webgpu"] as const) {
  Deno.test(`${target}: a profile times every root stage and counts the program's work`, async () => {
    const { A, B, C, D, s } = program();
    if (target === "webgpu") {
      for (const T of [C, D]) {
        const [i, j] = s.stage(T).op.axis;
        s.stage(T).bind(i, "blockIdx.x").bind(j, "threadIdx.x");
      }
    }
    const f = await te.build(s, [A, B, D], { target, profile: true });
    const plain = await te.build(s, [A, B, D], { target });
    const ref = await te.build(s, [A, B, D]);
    const m = 7;
    const a = nd.array(rand(m * K), [m, K]), b = nd.array(rand(K * 32), [K, 32]);
    const [d1, d2] = [nd.empty([m, 32]), nd.empty([m, 32])];
    await f(a, b, d1);
    await ref(a, b, d2);
    for (let t = 0; t < m * 32; t++) {
      assert.ok(Math.abs(d1.at(t) - d2.at(t)) <= 1e-5 * (1 + Math.abs(d2.at(t))));
    }

    const p = await f.profile(a, b, d1);
    assert.deepEqual(p.stages.map((x) => x.stage), ["C", "D"]);
    for (const x of p.stages) {
      assert.ok(Number.isFinite(x.seconds) && x.seconds >= 0, String(x.seconds));
    }
    // C: one multiply and one add per point of m x 32 x K; D: an exp and an add per element.
    assert.equal(p.stages[0].flops, 2 * m * 32 * K);
    assert.equal(p.stages[1].flops, 2 * m * 32);
    // Compulsory bytes: A and B read, C written; then C read and D written.
    assert.equal(p.stages[0].bytes, 4 * (m * K + K * 32 + m * 32));
    assert.equal(p.stages[1].bytes, 4 * (2 * m * 32));
    assert.match(p.how, target === "c" ? /clock_gettime/ : /timestamp|host clock/);
    const placed = p.onRoofline({ gflops: 10, gbs: 10 });
    assert.equal(placed.stages[0].bound, "compute"); // 2.6 FLOP/byte, above the ridge at 1
    assert.equal(placed.stages[1].bound, "memory"); // 0.25 FLOP/byte
    assert.ok(placed.stages.every((x) => x.fraction !== undefined && x.fraction >= 0));
    assert.match(String(p), /^Profile of main \(.*\), median of 5 calls/);

    // Without { profile: true } the kernel has no timer, and profile() says how to get one.
    assert.ok(!/tsr_prof|tsr_now/.test(plain.source));
    assert.ok(target === "webgpu" || /tsr_prof/.test(f.source));
    // On WebGPU the marks only label dispatches: the shaders are the same.
    if (target === "webgpu") assert.equal(f.source, plain.source);
    await assert.rejects(() => plain.profile(a, b, d1), (e) => {
      assert.ok(e instanceof TesseraError);
      assert.match(e.message, /built with \{ profile: true \}/);
      return true;
    });
  });
}

Deno.test("a stage attached inside another is timed and counted with it", async () => {
  const { A, B, C, D, s } = program();
  const [i] = s.stage(D).op.axis;
  s.stage(C).computeAt(s.stage(D), i);
  const f = await te.build(s, [A, B, D], { target: "c", profile: true });
  const m = 3;
  const p = await f.profile(
    nd.array(rand(m * K), [m, K]),
    nd.array(rand(K * 32), [K, 32]),
    nd.empty([m, 32]),
  );
  assert.deepEqual(p.stages.map((x) => x.stage), ["D"]);
  assert.equal(p.stages[0].flops, 2 * m * 32 * K + 2 * m * 32);
  // C lives in D's loops: only A, B and D touch memory.
  assert.equal(p.stages[0].bytes, 4 * (m * K + K * 32 + m * 32));
});

Deno.test("profiling is refused where it cannot run, and the profile displays", async () => {
  const { A, B, D, s } = program();
  await assert.rejects(() => te.build(s, [A, B, D], { profile: true }), TesseraError);
  const f = await te.build(s, [A, B, D], { target: "c", profile: true });
  await assert.rejects(
    () => f.profile(nd.array(rand(4 * K), [4, K]), nd.array(rand(K * 32), [K, 32])),
    /expected 3 arguments/,
  );
  const p = await f.profile(
    nd.array(rand(4 * K), [4, K]),
    nd.array(rand(K * 32), [K, 32]),
    nd.empty([4, 32]),
  );
  const b = (p as unknown as { [k: symbol]: () => Record<string, string> })[
    Symbol.for("Jupyter.display")
  ]();
  assert.match(b["text/html"], /<th style="text-align:left">C<\/th>/);
  assert.match(b["text/html"], /Loop IR/);
});

Deno.test("a stage that only moves data has no FLOPs and is placed by its bandwidth", async () => {
  const A = te.placeholder([64, 16], "float32", "A");
  // Subscript arithmetic is not work: a transpose performs no operations.
  const T = te.compute([16, 64], (i, j) => A(j.floormod(64), i), "T");
  const f = await te.build(te.createSchedule(T), [A, T], { target: "c", profile: true });
  const p = await f.profile(nd.array(rand(64 * 16), [64, 16]), nd.empty([16, 64]));
  assert.equal(p.stages[0].flops, 0);
  assert.equal(p.stages[0].bytes, 2 * 4 * 64 * 16);
  const [s] = p.onRoofline({ gflops: 10, gbs: 10 }).stages;
  assert.equal(s.bound, "memory");
  assert.ok(Number.isFinite(s.fraction!) && Math.abs(s.fraction! - s.gbs! / 10) < 1e-12);
});
