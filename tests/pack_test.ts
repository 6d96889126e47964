/**
 * The `pack` primitive: a stage computed with one data axis in blocks moved innermost, its
 * weight-like inputs read through packed copies, and the original layout read back. The
 * layouts are checked, the results equal the definition (interpreter, C, WebGPU), and misuse
 * is refused with a TesseraError that says what would be right. The CPU default rules pack
 * where the rule says (lib/tune/rules/pack.ts), and the packed schedules stay correct.
 */
import assert from "node:assert/strict";
import { nd, te, type Tensor, TesseraError, tune } from "../mod.ts";
import { evalDirect } from "../lib/te/evalDirect.ts";
import { defaultFacts } from "../lib/tune/default.ts";
import { definition } from "../lib/tune/workloads.ts";
import { applyTrace } from "../lib/tune/trace.ts";
import { inputShapes, labelOf, maxRelError, reference, TOLERANCE } from "../lib/bench/workload.ts";
import { onAllTargets, rand } from "./targets_util.ts";

const shape = (t: { shape: { kind: string; value?: unknown }[] }) =>
  t.shape.map((d) => Number(d.value));

function matmul(m = 12, k = 20, n = 48) {
  const A = te.placeholder([m, k], "float32", "A");
  const B = te.placeholder([k, n], "float32", "B");
  const r = te.reduceAxis([0, k], "k");
  const C = te.compute([m, n], (i, j) => te.sum(A(i, r).mul(B(r, j)), [r]), "C");
  return { A, B, C, r };
}

function conv() {
  const X = te.placeholder([1, 3, 9, 9], "float32", "X");
  const W = te.placeholder([8, 3, 3, 3], "float32", "W");
  const [rc, ry, rx] = [te.reduceAxis([0, 3], "rc"), te.reduceAxis([0, 3]), te.reduceAxis([0, 3])];
  const O = te.compute(
    [1, 8, 7, 4],
    (b, k, y, x) =>
      te.sum(X(b, rc, y.add(ry), x.mul(2).add(rx)).mul(W(k, rc, ry, rx)), [rc, ry, rx]),
    "O",
  );
  return { X, W, O };
}

Deno.test("pack blocks a matmul's columns and packs the weight by panels", async () => {
  const { A, B, C, r } = matmul();
  const s = te.createSchedule(C);
  const [Cb, Bp] = s.pack(C, C.op.axis[1], 16);
  assert.deepEqual(shape(Cb), [12, 3, 16]);
  assert.deepEqual(shape(Bp), [3, 20, 16]);
  // The blocked stage keeps the user's reduce axis and schedules like any other.
  const sb = s.stage(Cb);
  const [io, ii] = sb.split(sb.op.axis[0], { factor: 4 });
  sb.reorder(io, sb.op.axis[1], r, ii, sb.op.axis[2]);
  sb.vectorize(sb.op.axis[2]);
  s.stage(Bp).parallel(s.stage(Bp).op.axis[0]);
  const inputs = [rand([12, 20]), rand([20, 48], "float32", 2)];
  const [got] = await onAllTargets(s, [A, B, C], inputs, "packed matmul");
  const [want] = evalDirect([C], [[A, inputs[0]], [B, inputs[1]]]);
  const g = got.toArray(), w = want.toArray();
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs(g[i] - w[i]) < 1e-4, `element ${i}`);
});

Deno.test("pack blocks a strided convolution's output channels (NCHW[x]c) and packs OIHW weights", async () => {
  const { X, W, O } = conv();
  const s = te.createSchedule(O);
  const [Ob, Wp] = s.pack(O, O.op.axis[1], 4);
  assert.deepEqual(shape(Ob), [1, 2, 7, 4, 4]);
  assert.deepEqual(shape(Wp), [2, 3, 3, 3, 4]);
  // The input is read with x * 2 + rx, not the channel alone: it is not packed.
  assert.equal(s.stages.filter((st) => st.name.endsWith("_pack")).length, 1);
  s.stage(Ob).vectorize(s.stage(Ob).op.axis[4]);
  const inputs = [rand([1, 3, 9, 9]), rand([8, 3, 3, 3], "float32", 3)];
  const [got] = await onAllTargets(s, [X, W, O], inputs, "packed conv");
  const [want] = evalDirect([O], [[X, inputs[0]], [W, inputs[1]]]);
  const g = got.toArray(), w = want.toArray();
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs(g[i] - w[i]) < 1e-4, `element ${i}`);
});

Deno.test("pack leaves unpacked a tensor read by the axis in a way a block cannot follow", () => {
  const A = te.placeholder([16, 16], "float32", "A");
  // A is read as A(i, j) and A(j, i): two different dimensions, so it is not packed.
  const C = te.compute([16, 16], (i, j) => A(i, j).add(A(j, i)), "C");
  const s = te.createSchedule(C);
  const out = s.pack(C, C.op.axis[1], 8);
  assert.equal(out.length, 1);
  assert.deepEqual(shape(out[0]), [16, 2, 8]);
});

Deno.test("pack refuses misuse with what would be right", () => {
  const { A, C } = matmul();
  const refuse = (f: () => unknown, re: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof TesseraError && re.test(e.message));
  refuse(
    () => te.createSchedule(C).pack(C, C.op.axis[1], 5),
    /dividing the axis's constant extent \(48\), got 5/,
  );
  refuse(() => te.createSchedule(C).pack(C, C.op.axis[1], 0), /positive integer/);
  refuse(() => te.createSchedule(C).pack(C, C.op.reduceAxis[0], 2), /data axes \(i, j\)/);
  refuse(() => {
    const s = te.createSchedule(C);
    s.stage(C).split(C.op.axis[0], { factor: 4 });
    s.pack(C, C.op.axis[1], 16);
  }, /before splitting/);
  refuse(
    () => te.createSchedule(C).pack(A, C.op.axis[0], 2),
    /not .*compute|placeholder|compute stage/,
  );
});

Deno.test("the CPU default packs a convolution's channels when its rows fill no vector register, and a long matmul's weight by panels", async () => {
  const host = await defaultFacts();
  const packs = async (out: Tensor, lanes: number) =>
    (await tune.defaultSchedule(out, "c", { facts: { ...host, lanes } })).trace
      .filter((t) => t.p === "pack");
  // 14 output columns: no vector of 4 or 8 lanes divides them; 16 channels do.
  const conv14 = definition({
    op: "conv2d",
    n: 1,
    c: 8,
    h: 14,
    w: 14,
    k: 16,
    r: 3,
    stride: 1,
    pad: 1,
  });
  assert.deepEqual((await packs(conv14[2], 8)).map((t) => t.factor), [16]);
  // 64 columns fill two registers of 8 lanes: the matmul is left alone, until its reduction
  // makes a panel of the tile's columns larger than L1 (32 KiB), and then only when each
  // weight element serves enough rows (32, not 8).
  const mm = (k: number) => definition({ op: "matmul", m: 32, n: 64, k })[2];
  assert.deepEqual(await packs(mm(64), 8), []);
  assert.deepEqual((await packs(mm(2048), 8)).map((t) => t.factor), [16]);
  const skinny = definition({ op: "matmul", m: 8, n: 64, k: 2048 })[2];
  assert.deepEqual(await packs(skinny, 8), []);
  // The packed schedules compute what the definitions do (CPU schedules: interpreter and C).
  for (
    const w of [
      { op: "conv2d", n: 1, c: 4, h: 15, w: 15, k: 8, r: 3, stride: 2, pad: 1 },
      { op: "matmul", m: 32, n: 32, k: 520 },
    ] as const
  ) {
    const ts = definition(w);
    const s = te.createSchedule(ts[ts.length - 1]);
    const facts = { ...host, lanes: 8, minParallelWork: 0 };
    const { trace } = await tune.defaultSchedule(ts[ts.length - 1], "c", { facts });
    assert.ok(trace.some((t) => t.p === "pack"), labelOf(w));
    applyTrace(s, trace);
    const inputs = inputShapes(w).map((sh, i) => rand(sh, "float32", i + 5));
    const want = reference(w, inputs.map((x) => x.toArray() as Float32Array));
    for (const target of ["interpreter", "c"] as const) {
      const f = await te.build(s, ts, { target });
      const got = nd.empty(shape(ts[ts.length - 1]));
      await f(...inputs, got);
      const err = maxRelError(got.toArray() as Float32Array, want);
      assert.ok(err < TOLERANCE, `${labelOf(w)} on ${target}: ${err}`);
    }
  }
});
