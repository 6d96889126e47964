/**
 * User names never collide with the target language or its headers (issue 11, class 3):
 * every name a user can give — tensor, compute, loop, reduce axis, size variable, kernel —
 * is mangled under a prefix in generated C and WGSL, so libc macros (`HUGE_VAL` expands to
 * a function, `NULL`, `M_PI`, `INT32_MAX`, `MB_CUR_MAX`), GNU predefined macros (`linux`,
 * `unix`), keywords (`asm`, `alignas`) and WGSL's reserved words (`storage`, `uniform`,
 * `read`, `read_write`) all compile and compute what the interpreter computes.
 */
import assert from "node:assert/strict";
import { nd, NDArray, te, TesseraError } from "../mod.ts";
import { Buffer, BufferLoad, intConst, Var } from "../lib/ir/expr.ts";
import { BufferStore, For, PrimFunc } from "../lib/ir/stmt.ts";
import { useTestCache } from "./c_util.ts";
import { HOSTILE_NAMES } from "./gen/names.ts";

// Every hostile name the property tests draw from (tests/gen/names.ts).
const HOSTILE = HOSTILE_NAMES;

/** Parameters, size variable, compute, loop and reduce axis all named `name`. */
function program(name: string) {
  const n = te.var(name);
  const A = te.placeholder([n, 3], "float32", name);
  const k = te.reduceAxis(3, name);
  // The compute's loop is named by the lambda's parameter, so make one named `name`.
  const fn = new Function("A", "k", "te", `return (${name}) => te.sum(A(${name}, k), [k]);`)(
    A,
    k,
    te,
  );
  const B = te.compute([n], fn, name);
  const C = te.compute([n], (i) => B(i).mul(2).add(A(i, 0)), name);
  return { A, B, C };
}

async function run(name: string, target: string): Promise<number[]> {
  const { A, B, C } = program(name);
  const s = te.createSchedule(C);
  if (target === "webgpu") {
    const [i] = C.op.axis;
    const [bo, bi] = s.stage(C).split(i, { factor: 4 });
    s.stage(C).bind(bo, "blockIdx.x").bind(bi, "threadIdx.x");
    const [j] = B.op.axis;
    const [jo, ji] = s.stage(B).split(j, { factor: 4 });
    s.stage(B).bind(jo, "blockIdx.x").bind(ji, "threadIdx.x");
  }
  const f = await te.build(s, [A, C], { target, name });
  const a = nd.array(Array.from({ length: 15 }, (_, i) => i - 7), [5, 3]);
  const c = new NDArray([5], "float32");
  await f(a, c);
  return Array.from(c.toArray());
}

// Each row: sum(A[i]) * 2 + A[i][0] with A[i] = [3i-7, 3i-6, 3i-5].
const WANT = [0, 1, 2, 3, 4].map((i) => (9 * i - 18) * 2 + 3 * i - 7);

Deno.test("names: macro and keyword names compute the right answer in C", async () => {
  useTestCache();
  for (const name of HOSTILE) {
    assert.deepEqual(await run(name, "interpreter"), WANT, name);
    assert.deepEqual(await run(name, "c"), WANT, `${name} (c)`);
  }
});

Deno.test("names: reserved WGSL words and macros compute the right answer on WebGPU", async () => {
  for (const name of HOSTILE) {
    assert.deepEqual(await run(name, "webgpu"), WANT, `${name} (webgpu)`);
  }
});

Deno.test("names: generated code spells every user name under a prefix", async () => {
  useTestCache();
  const { A, C } = program("HUGE_VAL");
  const f = await te.build(te.createSchedule(C), [A, C], { target: "c", name: "NULL" });
  assert.match(f.source, /int32_t k_NULL\(/);
  // No identifier HUGE_VAL stands alone: each use is prefixed (b_HUGE_VAL, v_HUGE_VAL).
  assert.doesNotMatch(f.source, /(?<![A-Za-z0-9_])HUGE_VAL(?![A-Za-z0-9_])/);
});

Deno.test("names: names that are not identifiers are refused wherever a name is given", () => {
  const isRefusal = (e: unknown) =>
    e instanceof TesseraError && /is not allowed; use letters, digits and '_'/.test(e.message);
  const X = te.placeholder([4], "float32", "X");
  for (const bad of ["a b", "é", "Å1", "x-y", "1x", "", "x".repeat(65), "a\nb", "*/"]) {
    assert.throws(() => te.placeholder([4], "float32", bad), isRefusal, bad);
    assert.throws(() => te.var(bad), isRefusal, bad);
    assert.throws(() => te.reduceAxis(4, bad), isRefusal, bad);
    assert.throws(() => te.compute([4], (i) => X(i), bad), isRefusal, bad);
    const Y = te.compute([4], (i) => X(i), "Y");
    assert.throws(() => te.lower(te.createSchedule(Y), [X, Y], { name: bad }), isRefusal, bad);
  }
  // A loop named by a non-ASCII parameter falls back to a plain name.
  const Z = te.compute([4], (é) => X(é), "Z");
  assert.equal(Z.op.axis[0].name, "ax0");
});

Deno.test("names: a function built below the te layer cannot inject WGSL", async () => {
  // Nothing checks names below te; the printer keeps even the function's name in a comment safe.
  const evil = "f\n@compute @workgroup_size(1) fn evil() {}\n//";
  const X = new Buffer("x\nfn y() {}", "float32", [intConst(4)]);
  const Y = new Buffer("read_write", "float32", [intConst(4)]);
  const i = new Var("i */ fn z() {} /*");
  const body = new For(
    i,
    intConst(0),
    intConst(4),
    "serial",
    new BufferStore(Y, [i], new BufferLoad(X, [i])),
  );
  const f = await te.build(new PrimFunc(evil, [X, Y], [], body, [Y]), undefined, {
    target: "webgpu",
  });
  assert.doesNotMatch(f.source, /fn (evil|y|z)\(/);
  const y = nd.empty([4]);
  await f(nd.array([1, 2, 3, 4]), y);
  assert.deepEqual(Array.from(y.toArray()), [1, 2, 3, 4]);
});
