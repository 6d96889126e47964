/**
 * The outputs a tuning candidate is checked against, for a task that is not a standard
 * workload: the interpreter's for a small program, the unscheduled C kernel's above
 * INTERPRETER_REFERENCE_FLOPS. Both must be the interpreter's values.
 */
import assert from "node:assert/strict";
import { nd, te } from "../mod.ts";
import { dataOf, INTERPRETER_REFERENCE_FLOPS, type Program } from "../lib/tune/task.ts";

function matmulProgram(n: number, k: number, m: number): Program {
  const A = te.placeholder([n, k], "float32", "A");
  const B = te.placeholder([k, m], "float32", "B");
  const r = te.reduceAxis([0, k], "r");
  const C = te.compute([n, m], (i, j) => te.sum(A(i, r).mul(B(r, j)).add(1), [r]), "C");
  return {
    label: "mm",
    args: [A, B, C],
    inputs: [A, B],
    outputs: [C],
    flops: null,
    bytes: null,
    op: null,
    record: { module: "mm" },
  };
}

Deno.test("a task's reference equals the interpreter's result, below and above the C cutoff", async () => {
  // 3 operations a point of the reduction: 64 * 48 * k * 3 either side of the cutoff.
  const small = 100, big = Math.ceil(INTERPRETER_REFERENCE_FLOPS / (64 * 48 * 3)) + 1;
  for (const k of [small, big]) {
    const p = matmulProgram(64, k, 48);
    const { inputs, want } = await dataOf({}, p);
    const f = await te.build(te.createSchedule(p.outputs), p.args, { target: "interpreter" });
    const out = nd.empty([64, 48]);
    await f(nd.array(inputs[0], [64, k]), nd.array(inputs[1], [k, 48]), out);
    const got = want[0], ref = out.data as Float32Array;
    assert.equal(got.length, ref.length);
    for (let i = 0; i < ref.length; i++) {
      assert.ok(
        Math.abs(got[i] - ref[i]) <= 1e-4 * Math.max(1, Math.abs(ref[i])),
        `k=${k}, element ${i}: ${got[i]} vs ${ref[i]}`,
      );
    }
  }
});
