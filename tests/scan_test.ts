/**
 * `te.scan`: recurrences lowered to a serial loop over the scan axis, on the interpreter, C
 * and WebGPU, each equal to the direct evaluation of the definitions (evalDirect, which
 * shares no lowering with them); the update's inner axes scheduled; malformed scans refused.
 */
import assert from "node:assert/strict";
import { nd, NDArray, te, type Tensor, TesseraError } from "../mod.ts";
import { evalDirect } from "../lib/te/evalDirect.ts";
import type { Schedule } from "../lib/schedule/schedule.ts";
import { useTestCache } from "./c_util.ts";
import { throwsTessera } from "./errors_util.ts";

useTestCache();

const rand = (n: number, seed: number) =>
  Float32Array.from({ length: n }, (_, k) => Math.fround(Math.sin(k * 12.9898 + seed) * 0.9));

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) {
  assert.equal(got.length, want.length, what);
  for (let k = 0; k < want.length; k++) {
    const ok = Math.abs(got[k] - want[k]) <= tol * Math.max(1, Math.abs(want[k]));
    assert.ok(ok, `${what} [${k}]: got ${got[k]}, want ${want[k]}`);
  }
}

/** Runs on every target and holds each to evalDirect; `gpu` schedules for WebGPU. */
async function check(
  args: Tensor[],
  inputs: NDArray[],
  schedule: (gpu: boolean) => Schedule,
) {
  const outs = args.slice(inputs.length);
  const want = evalDirect(outs, inputs.map((a, k) => [args[k], a] as [Tensor, NDArray]));
  for (const target of ["interpreter", "c", "webgpu"]) {
    const f = await te.build(schedule(target === "webgpu"), args, { target });
    const got = outs.map((t, k) => nd.empty([...want[k].shape], t.dtype));
    await f(...inputs, ...got);
    got.forEach((g, k) =>
      close(
        g.toArray() as Float32Array,
        want[k].toArray() as Float32Array,
        target === "webgpu" ? 1e-4 : 1e-5,
        `${target} ${outs[k].name}`,
      )
    );
  }
}

function cumsum() {
  const m = te.var("m"), n = te.var("n");
  const X = te.placeholder([m, n], "float32", "X");
  const S = te.placeholder([m, n], "float32", "S");
  const init = te.compute([1, n], (_, i) => X(0, i), "init");
  const update = te.compute([m, n], (t, i) => S(t.sub(1), i).add(X(t, i)), "update");
  const C = te.scan(init, update, S, [X]);
  return { X, S, init, update, C };
}

Deno.test("cumsum over rows, the update's inner axis split and bound or vectorized", async () => {
  const { X, update, C } = cumsum();
  const x = nd.array(rand(7 * 10, 1), [7, 10]);
  await check([X, C], [x], (gpu) => {
    const s = te.createSchedule(C);
    const [, i] = s.stage(update).op.axis;
    const [io, ii] = s.stage(update).split(i, { factor: 4 });
    if (gpu) s.stage(update).bind(ii, "threadIdx.x");
    else s.stage(update).vectorize(ii).parallel(io);
    return s;
  });
  // The scan axis is one serial loop; the cumulative sum is exact on the interpreter.
  const f = await te.build(te.createSchedule(C), [X, C]);
  const c = nd.empty([7, 10]);
  await f(x, c);
  const xs = x.toArray(), cs = c.toArray();
  for (let j = 0; j < 10; j++) {
    let acc = 0;
    for (let t = 0; t < 7; t++) {
      acc = Math.fround(acc + xs[t * 10 + j]);
      assert.equal(cs[t * 10 + j], acc);
    }
  }
  assert.match(String(f.func), /for update in range\(1, m - 1\)|for .* in range\(1, /);
});

Deno.test("two states update together, each reading the other (TVM's multi-state scan)", async () => {
  const m = te.var("m"), n = te.var("n");
  const X = te.placeholder([m, n], "float32", "X");
  const S1 = te.placeholder([m, n], "float32", "S1");
  const S2 = te.placeholder([m, n], "float32", "S2");
  const i1 = te.compute([1, n], (_, i) => X(0, i), "i1");
  const i2 = te.compute([1, n], (_, i) => X(0, i).mul(2), "i2");
  const u1 = te.compute([m, n], (t, i) => S2(t.sub(1), i).add(X(t, i)), "u1");
  const u2 = te.compute([m, n], (t, i) => S1(t.sub(1), i).mul(0.5).sub(S2(t.sub(1), i)), "u2");
  const [R1, R2] = te.scan([i1, i2], [u1, u2], [S1, S2], [X]);
  const x = nd.array(rand(6 * 5, 2), [6, 5]);
  await check([X, R1, R2], [x], () => te.createSchedule([R1, R2]));
  // Asking for one state still computes both in the loop.
  await check([X, R2], [x], () => te.createSchedule(R2));
});

Deno.test("an RNN-style update: tanh of a matrix-vector product of the previous state", async () => {
  const T = 6, H = 8;
  const X = te.placeholder([T, H], "float32", "X");
  const W = te.placeholder([H, H], "float32", "W");
  const h = te.placeholder([T, H], "float32", "h");
  const h0 = te.compute([1, H], (_, i) => te.tanh(X(0, i)), "h0");
  const k = te.reduceAxis([0, H], "k");
  const Wh = te.compute([T, H], (t, i) => te.sum(W(i, k).mul(h(t.sub(1), k)), [k]), "Wh");
  const hu = te.compute([T, H], (t, i) => te.tanh(Wh(t, i).add(X(t, i))), "hu");
  const Hs = te.scan(h0, hu, h, [X, W], "rnn");
  const x = nd.array(rand(T * H, 3), [T, H]);
  const w = nd.array(rand(H * H, 4).map((v) => v * 0.5), [H, H]);
  // Computed at the root, the product would run before the rows it reads exist.
  throwsTessera(
    () => te.lower(te.createSchedule(Hs), [X, W, Hs]),
    /stage 'Wh' reads a state of scan 'rnn', so it runs once per row inside the scan/,
  );
  await check([X, W, Hs], [x, w], (gpu) => {
    const s = te.createSchedule(Hs);
    // The matrix-vector product is computed inside the scan body, per row t.
    const [t, i] = s.stage(hu).op.axis;
    if (gpu) {
      const [, ii] = s.stage(hu).split(i, { factor: 8 });
      s.stage(hu).bind(ii, "threadIdx.x");
      s.stage(Wh).computeAt(s.stage(hu), ii);
    } else s.stage(Wh).computeAt(s.stage(hu), t);
    return s;
  });
});

Deno.test("malformed scans are refused with the reason", () => {
  const m = te.var("m"), n = te.var("n");
  const X = te.placeholder([m, n], "float32", "X");
  const S = te.placeholder([m, n], "float32", "S");
  const init = te.compute([1, n], (_, i) => X(0, i), "init");
  const at = (f: (t: Tensor["shape"][0], i: Tensor["shape"][0]) => ReturnType<Tensor>) =>
    te.compute([m, n], (t, i) => f(t, i), "u");
  throwsTessera(
    () => te.scan(init, at((t, i) => S(t, i).add(1)), S),
    /'u' reads state 'S' at row t; it may read only earlier rows/,
  );
  throwsTessera(() => te.scan(init, at((t, i) => S(t.add(1), i)), S), /never row t or later/);
  throwsTessera(() => te.scan(init, at((t, i) => S(t.sub(2), i)), S), /constant c from 1 to 1/);
  const small = te.compute([m, 3], (t, i) => X(t, i), "small");
  throwsTessera(
    () => te.scan(init, small, S),
    /state 0 'S' has shape \[m, n\] but update 'small' has \[m, 3\]/,
  );
  const wide = te.compute([1, 4], (_, i) => X(0, i), "wide");
  throwsTessera(() => te.scan(wide, at((t, i) => S(t.sub(1), i)), S), /init 'wide' has \[1, 4\]/);
  const ints = te.compute([m, n], (t, i) => te.cast("int32", S(t.sub(1), i)), "ints");
  throwsTessera(
    () => te.scan(init, ints, S),
    /S' is float32 but its init is float32 and its update int32/,
  );
  throwsTessera(
    () => te.scan([init], [at((t, i) => S(t.sub(1), i))], [S, S]),
    /one init and one update per state/,
  );
  throwsTessera(
    () => te.scan(init, at((t, i) => S(t.sub(1), i)), init),
    /must be a te.placeholder/,
  );
});

Deno.test("schedules a scan cannot honour are refused at lowering", () => {
  const mk = () => cumsum();
  {
    const { X, update, C } = mk();
    const s = te.createSchedule(C);
    s.stage(update).split(update.op.axis[0], { factor: 2 });
    throwsTessera(() => te.lower(s, [X, C]), /axis 0 't' is the scan axis, a serial loop/);
  }
  {
    const { X, update, C } = mk();
    const s = te.createSchedule(C);
    s.stage(update).parallel(update.op.axis[0]);
    throwsTessera(
      () => te.lower(s, [X, C]),
      /must stay the outermost loop, unsplit, unfused and unannotated/,
    );
  }
  {
    const { X, update, C } = mk();
    const s = te.createSchedule(C);
    s.stage(update).computeInline();
    throwsTessera(() => te.lower(s, [X, C]), /update of scan 'scan'\) is inlined/);
  }
  {
    const { X, S, C } = mk();
    const s = te.createSchedule(C);
    throwsTessera(() => s.stage(C).split(te.var("z") as never, { factor: 2 }), /./);
    throwsTessera(() => s.stage(C).computeInline(), /is a scan; schedule its update stage's axes/);
    // Found by the property tests: a TypeError before.
    throwsTessera(() => s.cacheRead(X, "local", [s.stage(C)]), /'scan' is a scan, which reads/);
    throwsTessera(() => te.lower(s, [X, S, C]), /'S' is the state placeholder of scan 'scan'/);
  }
  {
    const { X, update, C } = mk();
    const D = te.compute(update.shape, (t, i) => update(t, i).add(C(t, i)), "D");
    throwsTessera(
      () => te.lower(te.createSchedule(D), [X, D]),
      /is read by 'D'; read the scan's output instead/,
    );
  }
});

Deno.test("a stage after the scan reads its output", async () => {
  const { X, C } = cumsum();
  const D = te.compute(C.shape, (t, i) => C(t, i).mul(2), "D");
  const x = nd.array(rand(5 * 3, 5), [5, 3]);
  await check([X, D], [x], () => te.createSchedule(D));
});

Deno.test("a state shorter than its init is refused at the call; one row is the init alone", async () => {
  const { X, C } = cumsum();
  for (const target of ["interpreter", "c", "webgpu"]) {
    const f = await te.build(te.createSchedule(C), [X, C], { target });
    await assert.rejects(
      () => f(nd.empty([0, 3]), nd.empty([0, 3])),
      (e) =>
        e instanceof TesseraError &&
        /rows of scan state 'S'.* must be at\s+least 1/.test(e.message),
    );
    const c = nd.empty([1, 3]);
    await f(nd.array([1, 2, 3], [1, 3]), c);
    assert.deepEqual(Array.from(c.toArray()), [1, 2, 3], target);
  }
});
