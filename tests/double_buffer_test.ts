/**
 * Double buffering (`doubleBuffer()`, lib/lower/gpu/injectDoubleBuffer.ts): the pass on
 * hand-written IR, every loop count from 0 to 5 and a symbolic one, against the loop it
 * replaces; the double-buffered shared-memory GEMM (issue 14's "done when") at ragged sizes,
 * odd and even tile counts, on the interpreter, C and WebGPU, each equal to the unscheduled
 * program; one barrier per step in its shader where the single tile has more; a local tile;
 * the trace; and the refusals, which name the stage and the loop.
 */
import assert from "node:assert/strict";
import { type Expr, nd, type NDArray, type Schedule, te, type Tensor } from "../mod.ts";
import { Buffer, BufferLoad, intConst, Var } from "../lib/ir/expr.ts";
import { evaluate } from "../lib/ir/interpret.ts";
import { Allocate, BufferStore, For, PrimFunc, seq, type Stmt } from "../lib/ir/stmt.ts";
import { walkStmt } from "../lib/ir/visit.ts";
import { injectDoubleBuffer } from "../lib/lower/gpu/injectDoubleBuffer.ts";
import { matmulGpu } from "../examples/matmul_gpu.ts";
import { applyTrace, printTrace, recording } from "../lib/tune/trace.ts";
import { throwsTessera } from "./errors_util.ts";

// --- the pass on hand-written IR ---------------------------------------------------------

/**
 * out[0] = sum over k < n of sum over i < 4 of T[i] * (k + 1), where each step k fills the
 * tile T (4 elements) from A[4k + i]: a running sum in `out` sees every step in order.
 */
function tiledSum(n: Expr) {
  const A = new Buffer("A", "int32", [new Var("len", "int32")]);
  const Out = new Buffer("Out", "int32", [intConst(1)]);
  const T = new Buffer("T", "int32", [intConst(4)], "shared");
  const k = new Var("k", "int32"), i = new Var("i", "int32"), j = new Var("j", "int32");
  const fill = new For(
    i,
    intConst(0),
    intConst(4),
    "serial",
    new BufferStore(T, [i], new BufferLoad(A, [k.mul(4).add(i)])),
  );
  // Out = Out * 3 + T[j] * (k + 1): order-sensitive, so a step out of place shows.
  const use = new For(
    j,
    intConst(0),
    intConst(4),
    "serial",
    new BufferStore(
      Out,
      [intConst(0)],
      new BufferLoad(Out, [intConst(0)]).mul(3).add(new BufferLoad(T, [j]).mul(k.add(1))),
    ),
  );
  const loop = new For(k, intConst(0), n, "serial", new Allocate(T, seq([fill, use])));
  return { A, Out, T, k, loop };
}

function run(body: Stmt, A: Buffer, Out: Buffer, len: number): number {
  const vals = Array.from({ length: len }, (_, x) => ((x * 7) % 13) - 6);
  const out = nd.zeros([1], "int32");
  const f = new PrimFunc("f", [A, Out], [A.shape[0] as Var], body, [Out]);
  evaluate(f, [nd.array(vals, [len], "int32"), out]);
  return out.data[0];
}

Deno.test("injectDoubleBuffer: the same result as the loop it replaces, 0 to 5 steps and symbolic", () => {
  for (const steps of [0, 1, 2, 3, 4, 5]) {
    const { A, Out, T, k, loop } = tiledSum(intConst(steps));
    const target = { stage: "T", buffers: [T], loop: k, where: "loop 'k' of 'Out'" };
    const doubled = injectDoubleBuffer(loop, [target]);
    const allocs: string[] = [];
    let barriers = 0;
    walkStmt(doubled, (x) => {
      if (x.kind === "allocate") allocs.push(x.buffer.name);
      if (x.kind === "barrier") barriers++;
    });
    if (steps <= 1) {
      assert.equal(doubled, loop, "one step or none: nothing to load ahead");
      continue;
    }
    assert.deepEqual(allocs, ["T", "T_1"], "the tile twice, outside the loop");
    assert.equal(barriers, 3, "one after the first load, one after each step of a pair");
    const len = 4 * Math.max(steps, 1);
    assert.equal(run(doubled, A, Out, len), run(loop, A, Out, len), `${steps} steps`);
  }
  // A symbolic count: the pairs and the odd last step are decided at run time.
  const n = new Var("n", "int32");
  const { A, Out, T, k, loop } = tiledSum(n);
  const doubled = injectDoubleBuffer(loop, [{ stage: "T", buffers: [T], loop: k, where: "k" }]);
  for (const steps of [0, 1, 2, 7]) {
    const bind = (s: Stmt) => {
      const f = new PrimFunc("f", [A, Out], [A.shape[0] as Var], s, [Out], [], [n], [
        A,
        Out,
        n,
      ]);
      const vals = Array.from({ length: 4 * steps }, (_, x) => ((x * 5) % 11) - 5);
      const out = nd.zeros([1], "int32");
      evaluate(f, [nd.array(vals, [4 * steps], "int32"), out, steps]);
      return out.data[0];
    };
    assert.equal(bind(doubled), bind(loop), `n = ${steps}`);
  }
});

Deno.test("injectDoubleBuffer refuses a tile whose producer is written inside the same loop", () => {
  const { A, Out, T, k, loop } = tiledSum(intConst(3));
  // A stage P attached at the same loop, and the tile reading it.
  const P = new Buffer("P", "int32", [intConst(4)], "shared");
  const i = new Var("p", "int32");
  const body = (loop.body as Allocate).body as Stmt & { kind: "seq" };
  const fillP = new For(
    i,
    intConst(0),
    intConst(4),
    "serial",
    new BufferStore(P, [i], new BufferLoad(A, [k.mul(4).add(i)])),
  );
  const fillT = body.stmts[0] as For;
  const readsP = new For(
    fillT.loopVar,
    fillT.min,
    fillT.extent,
    "serial",
    new BufferStore(T, [fillT.loopVar], new BufferLoad(P, [fillT.loopVar])),
  );
  const bad = new For(
    k,
    intConst(0),
    intConst(3),
    "serial",
    new Allocate(P, new Allocate(T, seq([fillP, readsP, body.stmts[1]]))),
  );
  void Out;
  throwsTessera(
    () =>
      injectDoubleBuffer(bad, [{ stage: "T", buffers: [T], loop: k, where: "loop 'k' of 'Out'" }]),
    /doubleBuffer\(stage 'T'\): the tile reads 'P', which is written inside loop 'k' of 'Out'/,
  );
});

// --- the double-buffered shared-memory GEMM ---------------------------------------------------

function rand(shape: number[], seed: number): NDArray {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  return nd.array(
    Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) % 2 ** 31) % 17) - 8),
    shape,
  );
}

function doubled(s: Schedule, ...names: string[]): Schedule {
  for (const n of names) s.stages.find((x) => x.name === n)!.doubleBuffer();
  return s;
}

async function equalToPlain(s: Schedule, args: Tensor[], inputs: NDArray[], what: string) {
  const out = args[args.length - 1];
  const shape = out.shape.map((d) => (d as Expr & { value: number }).value);
  const want = nd.empty(shape);
  await (await te.build(te.createSchedule(out), args))(...inputs, want);
  for (const target of ["interpreter", "c", "webgpu"] as const) {
    const got = nd.empty(shape);
    got.data.fill(NaN);
    await (await te.build(s, args, { target }))(...inputs, got);
    assert.deepEqual([...got.data], [...want.data], `${what} on ${target}`);
  }
}

Deno.test("a double-buffered shared-memory GEMM equals the interpreter: ragged, odd and even tile counts", async () => {
  // k / tk: 29 / 8 (4 tiles, the last partial), 40 / 8 (5), 8 / 8 (1), 3 / 8 (1, partial).
  for (const [m, n, k] of [[37, 50, 29], [16, 16, 40], [9, 13, 8], [5, 6, 3]]) {
    for (const opts of [{ threads: 4, reg: 2, tk: 8 }, { threads: 8, reg: 1, tk: 8, vec: 1 }]) {
      // The example's own option: TVM's GEMM with double_buffer on both shared blocks.
      const { s, args } = matmulGpu(m, n, k, { ...opts, double: true });
      await equalToPlain(
        s,
        args,
        [rand([m, k], 1), rand([k, n], 2)],
        `${m}x${n}x${k} ${JSON.stringify(opts)}`,
      );
    }
  }
});

Deno.test("double buffering the loop a reduction's init nest also runs over (property seed 1036992196)", async () => {
  // k outside i: the init of C runs over i too, before the k loop; the tile is attached at
  // the i inside k.
  const A = te.placeholder([5, 6], "float32", "A");
  const k = te.reduceAxis([0, 6], "k");
  const C = te.compute([5], (i) => te.sum(A(i, k), [k]), "C");
  const s = te.createSchedule(C);
  const AS = s.cacheRead(A, "shared", [s.stage(C)]);
  const st = s.stage(C);
  st.reorder(k, C.op.axis[0]);
  s.stage(AS).computeAt(st, C.op.axis[0]).doubleBuffer();
  assert.match(String(te.lower(s, [A, C])), /A_shared_1 = T\.alloc_buffer/);
  await equalToPlain(s, [A, C], [rand([5, 6], 5)], "init nest over the attach loop");
});

Deno.test("double buffering leaves one barrier per step where the single tile had more", async () => {
  const barriers = async (double: boolean) => {
    const { s, args } = matmulGpu(16, 16, 64, { threads: 4, reg: 2, tk: 8, vec: 1 });
    if (double) doubled(s, "A_shared", "B_shared");
    const ir = te.lower(s, args);
    const f = await te.build(s, args, { target: "webgpu" });
    const shader = f.source.split("@compute")[1];
    return {
      ir: String(ir),
      text: shader,
      count: shader.split("\n").filter((l) => l.includes("workgroupBarrier")).length,
    };
  };
  const one = await barriers(false), two = await barriers(true);
  assert.match(two.ir, /A_shared_1 = T\.alloc_buffer\(\(8, 8\), scope="shared"\)/);
  assert.match(two.ir, /for k_outer_pair in range\(4\):/);
  // The first load's barrier, then one after each of the two steps of a trip.
  assert.equal(two.count, 3, two.text);
  const loop = two.text.slice(two.text.indexOf("v_k_outer_pair < 4i"));
  const lines = loop.split("\n");
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  // The next tile's load comes before this step's compute, with no barrier between them.
  const nextLoad = at(/b_A_shared_1\[.*\] = b_A\[/), compute = at(/b_A_shared\[v_i_inner/);
  assert.ok(nextLoad >= 0 && compute > nextLoad, "the next tile is loaded first");
  assert.ok(
    !lines.slice(nextLoad, compute).some((l) => l.includes("Barrier")),
    "no barrier between the next tile's load and this step's compute",
  );
  // The single tile: two in the loop of 8 steps (before the load overwrites what the last
  // step read, and before the step reads the load), 16 in all against 9.
  assert.equal(one.count, 2, one.text);
  assert.match(one.text.slice(one.text.indexOf("v_k_outer < 8i")), /Barrier[^]*Barrier/);
});

Deno.test("a local tile double-buffers too, per thread (no barriers needed)", async () => {
  const { s, args } = matmulGpu(21, 18, 37, { threads: 4, reg: 2, tk: 4, vec: 1 });
  // A per-thread copy of the A row that each k_inner step reads, loaded one step ahead.
  const CL = s.stages.find((x) => x.name === "C_local")!;
  const AS = s.stages.find((x) => x.name === "A_shared")!;
  const AL = s.cacheRead(AS.op.output, "local", [CL]);
  const ki = CL.leafIterVars.find((v) => v.name === "k_inner")!;
  s.stage(AL).computeAt(CL, ki).doubleBuffer();
  const ir = String(te.lower(s, args));
  assert.match(ir, /A_shared_local_1 = T\.alloc_buffer\(\(2, 1\), scope="local"\)/);
  assert.match(ir, /for k_inner_pair in range\(2\):/);
  await equalToPlain(s, args, [rand([21, 37], 3), rand([37, 18], 4)], "local tile");
});

Deno.test("doubleBuffer is recorded in traces, printed as code and replayed", () => {
  const A = te.placeholder([32, 32], "float32", "A");
  const k = te.reduceAxis([0, 32], "k");
  const C = te.compute([32], (i) => te.sum(A(i, k), [k]), "C");
  const { schedule, trace } = recording(te.createSchedule(C));
  const AS = schedule.cacheRead(A, "shared", [schedule.stage(C)]);
  const [ko] = schedule.stage(C).split(k, { factor: 8 });
  schedule.stage(AS).computeAt(schedule.stage(C), ko).doubleBuffer();
  assert.deepEqual(trace.at(-1), {
    p: "doubleBuffer",
    s: schedule.stages.indexOf(schedule.stage(AS)),
  });
  assert.match(printTrace(te.createSchedule(C), trace).code, /\.doubleBuffer\(\);/);
  const replayed = applyTrace(te.createSchedule(C), trace);
  assert.match(String(te.lower(replayed, [A, C])), /A_shared_1 = T\.alloc_buffer/);
});

Deno.test("doubleBuffer is refused where it cannot apply, naming the stage and the loop", () => {
  const make = () => {
    const A = te.placeholder([32, 32], "float32", "A");
    const k = te.reduceAxis([0, 32], "k");
    const C = te.compute([32], (i) => te.sum(A(i, k), [k]), "C");
    const s = te.createSchedule(C);
    const AS = s.cacheRead(A, "shared", [s.stage(C)]);
    const st = s.stage(C);
    const [ko, ki] = st.split(k, { factor: 8 });
    return { s, A, C, AS: s.stage(AS), st, ko, ki };
  };
  {
    const { s, A, C, AS } = make();
    AS.doubleBuffer();
    throwsTessera(
      () => te.lower(s, [A, C]),
      /doubleBuffer\(stage 'A_shared'\): the stage is computed at the root/,
    );
  }
  for (const how of ["unroll", "threadIdx.x", "vthread"] as const) {
    const { s, A, C, AS, st, ko } = make();
    // A virtual thread is a data loop: attach there.
    const at = how === "vthread" ? st.split(C.op.axis[0], { factor: 4 })[1] : ko;
    if (how === "unroll") st.unroll(at);
    else st.bind(at, how);
    AS.computeAt(st, at).doubleBuffer();
    const loop = how === "vthread" ? "i_inner" : "k_outer";
    throwsTessera(
      () => te.lower(s, [A, C]),
      new RegExp(
        `doubleBuffer\\(stage 'A_shared'\\): it is attached at loop '${loop}' of 'C', which is ${
          how === "unroll" ? "unrolled" : `bound to ${how.replace(".", "\\.")}`
        }`,
      ),
    );
  }
  {
    const { s, A } = make();
    throwsTessera(
      () => s.stage(A).doubleBuffer(),
      /doubleBuffer\(stage 'A'\): 'A' is a placeholder/,
    );
  }
});
