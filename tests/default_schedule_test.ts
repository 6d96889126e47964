/**
 * Default schedules (lib/tune/default.ts): on random programs of every family, the default
 * schedule for each target equals the direct evaluation of the definitions on the
 * interpreter, and its C and WebGPU kernels equal the interpreter; its trace replays to the
 * same loop program and prints as code that records it back. Each property runs twice: with
 * this machine's facts, and with "eager" facts (two lanes, parallel at any size, tiny
 * workgroups, one core) so that every rule fires even on the generators' small shapes. Also:
 * `te.build(..., { schedule: "auto" })`, its refusals, and a scan left alone.
 */
import fc from "fast-check";
import assert from "node:assert/strict";
import { nd, te, TesseraError, tune } from "../mod.ts";
import type { Schedule } from "../mod.ts";
import { applyDefault, defaultFacts, type Facts } from "../lib/tune/default.ts";
import { applyTrace, printTrace, type Trace, traceOfCode } from "../lib/tune/trace.ts";
import { Choices, propertyOptions } from "./gen/choices.ts";
import { checkBackend, checkSchedule } from "./gen/check.ts";
import { argsOf, type Program, randomProgram } from "./gen/programs.ts";
import { useTestCache } from "./c_util.ts";
import { rand } from "./targets_util.ts";
import { definition } from "../lib/tune/workloads.ts";
import {
  inputShapes,
  labelOf,
  maxRelError,
  outputShape,
  reference,
  TOLERANCE,
} from "../lib/bench/workload.ts";

const host = await defaultFacts();
const eager: Facts = {
  ...host,
  lanes: 2,
  cores: 1,
  minParallelWork: 0,
  fewOutputs: 4,
  longReduction: 2,
  threads: 4,
  side: 2,
  reg: 2,
};
const FACTS = [["host", host], ["eager", eager]] as const;
const programs = fc.array(fc.nat(1 << 20), { minLength: 20, maxLength: 120 });

function defaulted(xs: number[], target: string, facts: Facts) {
  const p = randomProgram(new Choices(xs));
  const s = te.createSchedule(p.outputs);
  const trace = applyDefault(s, target, facts);
  return { p, s, trace, log: trace.map((t) => JSON.stringify(t)) };
}

const lowered = (s: Schedule, p: Program) => String(te.lower(s, argsOf(p)));

for (const target of ["c", "webgpu"]) {
  for (const [which, facts] of FACTS) {
    Deno.test(`${target} default schedules (${which} facts) equal the definitions on the interpreter, and their traces replay and print`, () => {
      const used = new Set<string>();
      fc.assert(
        fc.property(programs, fc.nat(), (xs, seed) => {
          const { p, s, trace, log } = defaulted(xs, target, facts);
          trace.forEach((t) => used.add(t.p));
          assert.equal(checkSchedule(p, s, log, seed), "ok");
          const replayed = applyTrace(te.createSchedule(p.outputs), trace);
          assert.equal(lowered(replayed, p), lowered(s, p), log.join("\n"));
          const { code, tensors } = printTrace(te.createSchedule(p.outputs), trace);
          const back: Trace = traceOfCode(te.createSchedule(p.outputs), code, tensors);
          assert.deepEqual(back, trace, code);
        }),
        propertyOptions(150),
      );
      // Every rule must fire on these programs under eager facts (the host's lanes and
      // thresholds leave most of the generators' small shapes alone). A matmul, softmaxes, a
      // layer norm and a map are always among them (together they use every primitive asked
      // for), so that a rule the random programs happen to miss does not fail a run by chance:
      // "no default schedule used cacheWrite" once did on WebGPU.
      for (
        const w of [
          { op: "matmul", m: 16, n: 16, k: 16 },
          { op: "softmax", rows: 8, cols: 64 },
          { op: "softmax", rows: 2, cols: 64 },
          { op: "layernorm", rows: 8, cols: 64, eps: 1e-5 },
          { op: "elementwise", len: 256 },
        ] as const
      ) {
        const ts = definition(w);
        applyDefault(te.createSchedule(ts[ts.length - 1]), target, facts).forEach((t) =>
          used.add(t.p)
        );
      }
      const want = which === "host"
        ? ["computeInline"]
        : target === "c"
        ? ["computeInline", "parallel", "vectorize", "fuse", "rfactor", "cacheWrite", "unroll"]
        : ["computeInline", "bind", "fuse", "rfactor", "setScope", "cacheWrite", "splitParts"];
      for (const p of want) assert.ok(used.has(p), `no default schedule used ${p}`);
    });
  }
}

const RUNS = Number(Deno.env.get("TESSERA_DEFAULT_PROPERTY_RUNS") ?? 48);

for (const [which, facts] of FACTS) {
  Deno.test(`C kernels of default schedules (${which} facts) equal the interpreter`, async () => {
    useTestCache();
    await fc.assert(
      fc.asyncProperty(programs, fc.nat(), async (xs, seed) => {
        const { p, s, log } = defaulted(xs, "c", facts);
        assert.equal(await checkBackend(p, s, log, seed, "c"), "ok");
      }),
      propertyOptions(RUNS),
    );
  });

  Deno.test(`WebGPU kernels of default schedules (${which} facts) equal the interpreter`, async () => {
    await fc.assert(
      fc.asyncProperty(programs, fc.nat(), async (xs, seed) => {
        const { p, s, log } = defaulted(xs, "webgpu", facts);
        // An int64/float64 program is refused at build on WebGPU, as stated; all else runs.
        assert.ok(
          ["ok", "refused-64"].includes(await checkBackend(p, s, log, seed, "webgpu", 1e-4)),
        );
      }),
      propertyOptions(RUNS),
    );
  });
}

function matmul(n: number) {
  const A = te.placeholder([n, n], "float32", "A");
  const B = te.placeholder([n, n], "float32", "B");
  const k = te.reduceAxis([0, n], "k");
  const C = te.compute([n, n], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");
  const R = te.compute([n, n], (i, j) => te.max(C(i, j), 0), "R");
  return { A, B, C, R };
}

Deno.test('te.build(outputs, args, { schedule: "auto" }) builds the default schedule on every target', async () => {
  useTestCache();
  const n = 96; // enough work for the CPU rules to go parallel
  const { A, B, R } = matmul(n);
  const rand = () =>
    nd.array(Float32Array.from({ length: n * n }, () => Math.random() - 0.5), [n, n]);
  const a = rand(), b = rand();
  const want = nd.empty([n, n]);
  await (await te.build(te.createSchedule(R), [A, B, R]))(a, b, want);
  for (const target of ["interpreter", "c", "webgpu"]) {
    const f = await te.build(R, [A, B, R], { target, schedule: "auto" });
    const got = nd.empty([n, n]);
    await f(a, b, got);
    const w = want.toArray(), g = got.toArray();
    for (let i = 0; i < w.length; i++) {
      assert.ok(Math.abs(g[i] - w[i]) <= 1e-4 * Math.max(1, Math.abs(w[i])), `${target} [${i}]`);
    }
    // The default schedule is really there: a local register tile (on the CPU, the matmul
    // itself computed in R's tile, R its epilogue), and loops not serial.
    assert.match(
      String(f.func),
      target === "webgpu" ? /C_local/ : /C = T.alloc_buffer\(\(\d+, \d+\), scope="local"\)/,
      target,
    );
    assert.match(String(f.func), target === "webgpu" ? /threadIdx/ : /parallel/, target);
  }
});

Deno.test("schedule: auto takes an unscheduled schedule, refuses a scheduled one, and tensors need it", async () => {
  const { A, B, R } = matmul(16);
  const fresh = te.createSchedule(R);
  const f = await te.build(fresh, [A, B, R], { target: "interpreter", schedule: "auto" });
  assert.match(String(f.func), /C = T.alloc_buffer\(\(\d+, \d+\), scope="local"\)/);
  assert.equal(fresh.stages.length, 4, "the given schedule itself is left untouched");
  const touched = te.createSchedule(R);
  touched.stage(R).parallel(R.op.axis[0]);
  await assert.rejects(
    te.build(touched, [A, B, R], { schedule: "auto" }),
    (e) => e instanceof TesseraError && /already has primitives applied/.test(e.message),
  );
  await assert.rejects(
    te.build(R, [A, B, R]),
    (e) => e instanceof TesseraError && /schedule: "auto"/.test(e.message),
  );
  await assert.rejects(
    te.build(te.lower(fresh, [A, B, R]), undefined, { schedule: "auto" }),
    (e) => e instanceof TesseraError && /lowered PrimFunc/.test(e.message),
  );
});

Deno.test("an intermediate passed as an argument is kept, and written, not inlined", async () => {
  const X = te.placeholder([64], "float32", "X");
  const T = te.compute([64], (i) => X(i).mul(2), "T");
  const Y = te.compute([64], (i) => T(i).add(1), "Y");
  const { trace } = await tune.defaultSchedule(Y, "c", { keep: [T] });
  assert.ok(!trace.some((t) => t.p === "computeInline"));
  const alone = await tune.defaultSchedule(Y, "c");
  assert.ok(alone.trace.some((t) => t.p === "computeInline"));
  const f = await te.build(Y, [X, T, Y], { target: "interpreter", schedule: "auto" });
  const t = nd.empty([64]), y = nd.empty([64]);
  await f(nd.array(Float32Array.from({ length: 64 }, (_, i) => i)), t, y);
  assert.equal(t.toArray()[5], 10);
  assert.equal(y.toArray()[5], 11);
});

Deno.test("a scan and what reads its state are left unscheduled; the rest is scheduled", async () => {
  useTestCache();
  const m = 40, n = 64;
  const X = te.placeholder([m, n], "float32", "X");
  const Xs = te.compute([m, n], (t, i) => X(t, i).mul(0.5), "Xs");
  const S = te.placeholder([m, n], "float32", "S");
  const init = te.compute([1, n], (_, i) => Xs(0, i), "init");
  const update = te.compute([m, n], (t, i) => S(t.sub(1), i).add(Xs(t, i)), "update");
  const scan = te.scan(init, update, S, [Xs]);
  const Y = te.compute([m, n], (t, i) => te.tanh(scan(t, i)), "Y");
  const { schedule, trace } = await tune.defaultSchedule(Y, "c");
  const touched = new Set(trace.map((t) => schedule.stages[t.s]?.name));
  for (const name of ["init", "update", "Y"]) assert.ok(!touched.has(name), name);
  assert.ok(touched.has("Xs"), "the stage before the scan is scheduled");
  const x = nd.array(Float32Array.from({ length: m * n }, () => Math.random()), [m, n]);
  const want = nd.empty([m, n]), got = nd.empty([m, n]);
  await (await te.build(te.createSchedule(Y), [X, Y]))(x, want);
  await (await te.build(schedule, [X, Y], { target: "c" }))(x, got);
  const w = want.toArray(), g = got.toArray();
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs(g[i] - w[i]) <= 1e-5, `[${i}]`);
});

Deno.test("CPU default: an elementwise consumer of a register tile is its epilogue, also when it reads a blocked layout back", async () => {
  useTestCache();
  // A blocked matmul (columns in panels of 8, as packMatmulWeights and the blocked
  // convolution compute) read back as [m, n] through a bias add and a tanh: the consumer is
  // tiled and the reduction computed inside each tile; nothing the size of the output is
  // written at the root. Equal to the unscheduled program on C.
  const m = 24, kk = 40, n = 32, blk = 8;
  const A = te.placeholder([m, kk], "float32", "A");
  const W = te.placeholder([n / blk, kk, blk], "float32", "W");
  const bias = te.placeholder([n], "float32", "bias");
  const k = te.reduceAxis([0, kk], "k");
  const P = te.compute(
    [m, n / blk, blk],
    (i, jo, jl) => te.sum(A(i, k).mul(W(jo, k, jl)), [k]),
    "P",
  );
  const U = te.compute([m, n], (i, j) => P(i, j.floordiv(blk), j.floormod(blk)), "U");
  const Y = te.compute([m, n], (i, j) => te.tanh(U(i, j).add(bias(j))), "Y");
  const facts = { ...host, minParallelWork: 0 };
  const { schedule, trace } = await tune.defaultSchedule(Y, "c", { facts });
  const at = trace.find((t) => t.p === "computeAt");
  assert.ok(at && at.p === "computeAt", JSON.stringify(trace));
  assert.equal(schedule.stages[at.s].name, "P");
  assert.equal(schedule.stages[at.at].name, "Y");
  const rand = (len: number) => Float32Array.from({ length: len }, () => Math.random() - 0.5);
  const a = nd.array(rand(m * kk), [m, kk]), w = nd.array(rand(n * kk), [n / blk, kk, blk]);
  const b = nd.array(rand(n), [n]);
  const want = nd.empty([m, n]), got = nd.empty([m, n]);
  await (await te.build(te.createSchedule(Y), [A, W, bias, Y]))(a, w, b, want);
  const f = await te.build(schedule, [A, W, bias, Y], { target: "c" });
  await f(a, w, b, got);
  assert.doesNotMatch(String(f.func), /P = T.alloc_buffer\(\(24/);
  const x = want.toArray(), y = got.toArray();
  for (let i = 0; i < x.length; i++) {
    assert.ok(Math.abs(x[i] - y[i]) <= 1e-5, `[${i}] ${x[i]} ${y[i]}`);
  }
});

Deno.test("CPU default: a register tile narrower than a blocked read-back's block takes no epilogue (it would compute the block twice)", async () => {
  useTestCache();
  // The blocked matmul above with blocks of 32 columns and AVX2-like facts (tiles of 2 x 4
  // lanes = 8 columns): computed inside the consumer's tiles of 8, each tile would compute
  // all 32 columns of its block (bound inference cannot narrow `j % 32` to the tile).
  const m = 12, kk = 20, n = 64, blk = 32;
  const A = te.placeholder([m, kk], "float32", "A");
  const W = te.placeholder([n / blk, kk, blk], "float32", "W");
  const k = te.reduceAxis([0, kk], "k");
  const P = te.compute(
    [m, n / blk, blk],
    (i, jo, jl) => te.sum(A(i, k).mul(W(jo, k, jl)), [k]),
    "P",
  );
  const Y = te.compute([m, n], (i, j) => te.tanh(P(i, j.floordiv(blk), j.floormod(blk))), "Y");
  const facts = { ...host, lanes: 4, minParallelWork: 0 };
  const { schedule, trace } = await tune.defaultSchedule(Y, "c", { facts });
  const names = trace.filter((t) => t.p === "computeAt")
    .map((t) => t.p === "computeAt" ? schedule.stages[t.at].name : "");
  assert.ok(!names.includes("Y"), `nothing is computed inside Y's tiles: ${JSON.stringify(trace)}`);
  const rand = (len: number) => Float32Array.from({ length: len }, () => Math.random() - 0.5);
  const a = nd.array(rand(m * kk), [m, kk]), w = nd.array(rand(n * kk), [n / blk, kk, blk]);
  const want = nd.empty([m, n]), got = nd.empty([m, n]);
  await (await te.build(te.createSchedule(Y), [A, W, Y]))(a, w, want);
  await (await te.build(schedule, [A, W, Y], { target: "c" }))(a, w, got);
  const x = want.toArray(), y = got.toArray();
  for (let i = 0; i < x.length; i++) {
    assert.ok(Math.abs(x[i] - y[i]) <= 1e-5, `[${i}] ${x[i]} ${y[i]}`);
  }
});

Deno.test("CPU default: tile rows run in blocks inside each column of tiles when a column's panel outgrows L1", async () => {
  // 128 x 64 x 1024 with 4 lanes: tiles of 8 columns, panels of 1024 x 8 floats (32 KiB + 0):
  // at 1024 the panel is exactly L1 (no block), at 2048 it is twice (rows blocked).
  for (const [kk, blocked] of [[1024, false], [2048, true]] as const) {
    const A = te.placeholder([128, kk], "float32", "A");
    const B = te.placeholder([kk, 64], "float32", "B");
    const k = te.reduceAxis([0, kk], "k");
    const C = te.compute([128, 64], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");
    const facts = { ...host, lanes: 4, minParallelWork: 0 };
    const { trace } = await tune.defaultSchedule(C, "c", { facts });
    // 32 tiles of 4 rows: a block of 16 of them (the largest of 2, 4, 8, 16 below 32) is a
    // split by 16, and no other split of this schedule has that factor.
    const block = trace.some((t) => t.p === "split" && t.factor === 16);
    assert.equal(block, blocked, `k = ${kk}: ${JSON.stringify(trace)}`);
  }
});

Deno.test("CPU default: a softmax's and a layer norm's stages are computed inside the output's row loop, and equal the reference", async () => {
  useTestCache();
  for (
    const w of [
      { op: "softmax", rows: 16, cols: 40 },
      { op: "layernorm", rows: 16, cols: 40, eps: 1e-5 },
    ] as const
  ) {
    const ts = definition(w);
    const out = ts[ts.length - 1];
    const { schedule, trace } = await tune.defaultSchedule(out, "c", {
      facts: { ...host, cores: 2 },
    });
    // Every reduction and intermediate at the root before is now attached at the output's
    // row loop: nothing but the output and its inputs is a root stage.
    const roots = schedule.stages.filter((st) =>
      st.op.kind === "compute" && st.attach.type === "root"
    );
    assert.deepEqual(roots.map((st) => st.name), [out.op.name], JSON.stringify(trace));
    assert.ok(trace.some((t) => t.p === "computeAt" && schedule.stages[t.at].name === out.op.name));
    const inputs = inputShapes(w).map((sh, i) => rand(sh, "float32", i + 2));
    const want = reference(w, inputs.map((x) => x.toArray() as Float32Array));
    const f = await te.build(schedule, ts, { target: "c" });
    const got = nd.empty(outputShape(w));
    await f(...inputs, got);
    assert.ok(maxRelError(got.toArray() as Float32Array, want) < TOLERANCE, labelOf(w));
  }
  // With fewer rows than four per core the output's rows are fused with its columns for the
  // cores, and the stages stay at the root with their own parallel loops.
  const few = definition({ op: "softmax", rows: 4, cols: 4096 });
  const { schedule } = await tune.defaultSchedule(few[1], "c", { facts: { ...host, cores: 2 } });
  assert.ok(
    schedule.stages.filter((st) => st.op.kind === "compute" && st.attach.type === "root").length >
      1,
  );
});

Deno.test("CPU default: a long row's reductions keep two registers of partial lanes even where they do not divide the row, and equal the reference", async () => {
  // Two chains of partials hide the add's and the max's latency (a 1000-wide softmax 1.17-1.21x
  // faster than with one register); the last step is guarded.
  useTestCache();
  const lanes = host.lanes;
  for (const cols of [8 * lanes + 8, 8 * lanes + 4, 1000]) {
    const w = { op: "softmax", rows: 6, cols } as const;
    const ts = definition(w);
    const { schedule, trace } = await tune.defaultSchedule(ts[1], "c", {
      facts: { ...host, cores: 2 },
    });
    // The factor of the split each rfactor takes its lanes from (the one right before it).
    const lanesOf = trace.flatMap((t, k) => {
      const split = trace[k - 1];
      return t.p !== "rfactor"
        ? []
        : split?.p === "split" && split.s === t.s
        ? [split.factor]
        : [null];
    });
    assert.ok(lanesOf.length > 0 && lanesOf.every((n) => n === 2 * lanes), JSON.stringify(trace));
    const inputs = inputShapes(w).map((sh, i) => rand(sh, "float32", i + 5));
    const want = reference(w, inputs.map((x) => x.toArray() as Float32Array));
    const f = await te.build(schedule, ts, { target: "c" });
    const got = nd.empty(outputShape(w));
    await f(...inputs, got);
    assert.ok(maxRelError(got.toArray() as Float32Array, want) < TOLERANCE, `cols ${cols}`);
  }
});

Deno.test("CPU default: an attention softmax's and a 3-D layer norm's rows are their leading axes, computed inside the output's innermost row loop, and equal the interpreter", async () => {
  useTestCache();
  // Softmax over the last axis of [1, 3, 6, 40] (rows: 1x3x6, as in BERT's [1, 12, 128, 128]).
  const X = te.placeholder([1, 3, 6, 40], "float32", "X");
  const k1 = te.reduceAxis([0, 40], "k1");
  const M = te.compute([1, 3, 6], (a, b, c) => te.max(X(a, b, c, k1), [k1]), "M");
  const E = te.compute([1, 3, 6, 40], (a, b, c, j) => te.exp(X(a, b, c, j).sub(M(a, b, c))), "E");
  const k2 = te.reduceAxis([0, 40], "k2");
  const S = te.compute([1, 3, 6], (a, b, c) => te.sum(E(a, b, c, k2), [k2]), "S");
  const Y = te.compute([1, 3, 6, 40], (a, b, c, j) => E(a, b, c, j).div(S(a, b, c)), "Y");
  // Layer norm over the last axis of [1, 16, 40] (BERT's [1, 128, 768]).
  const Z = te.placeholder([1, 16, 40], "float32", "Z");
  const k3 = te.reduceAxis([0, 40], "k3");
  const Mean = te.compute([1, 16], (a, b) => te.sum(Z(a, b, k3), [k3]).div(40), "Mean");
  const k4 = te.reduceAxis([0, 40], "k4");
  const Var = te.compute([1, 16], (a, b) => {
    const dv = Z(a, b, k4).sub(Mean(a, b));
    return te.sum(dv.mul(dv), [k4]).div(40);
  }, "Var");
  const L = te.compute(
    [1, 16, 40],
    (a, b, j) => Z(a, b, j).sub(Mean(a, b)).mul(te.rsqrt(Var(a, b).add(1e-5))),
    "L",
  );
  for (const [out, x] of [[Y, X], [L, Z]] as const) {
    const { schedule, trace } = await tune.defaultSchedule(out, "c", {
      facts: { ...host, lanes: 8, cores: 2 },
    });
    const roots = schedule.stages.filter((st) =>
      st.op.kind === "compute" && st.attach.type === "root"
    );
    assert.deepEqual(roots.map((st) => st.name), [out.op.name], JSON.stringify(trace));
    const input = rand(x.shape.map(Number), "float32", 3);
    const want = nd.empty(out.shape.map(Number));
    await (await te.build(te.createSchedule(out), [x, out], { target: "interpreter" }))(
      input,
      want,
    );
    const got = nd.empty(out.shape.map(Number));
    await (await te.build(schedule, [x, out], { target: "c" }))(input, got);
    const w = want.toArray() as Float32Array, g = got.toArray() as Float32Array;
    assert.ok(maxRelError(g, w) < TOLERANCE, `${out.op.name}: ${maxRelError(g, w)}`);
  }
});
