/**
 * knownDivisor (lib/arith/modular.ts), which the WGSL printer trusts to prove a vector load
 * aligned: examples, and a property that the divisor it claims divides every value the
 * expression takes (overflow aside).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { type Expr, intConst, Var } from "../lib/ir/expr.ts";
import { isMultipleOf, knownDivisor } from "../lib/arith/modular.ts";
import { evaluate, exprArb, Overflow, show } from "./arith_util.ts";

const c = intConst;
const x = new Var("x"), y = new Var("y"), z = new Var("z");

Deno.test("knownDivisor: sums keep the gcd, products multiply, the rest gives 1", () => {
  assert.equal(knownDivisor(c(12)), 12);
  assert.equal(knownDivisor(c(0)), 0);
  assert.equal(knownDivisor(x), 1);
  assert.equal(knownDivisor(x.mul(12).add(y.mul(8))), 4);
  assert.equal(knownDivisor(x.mul(12).add(y.mul(8)).add(2)), 2);
  assert.equal(knownDivisor(x.mul(4).mul(y.mul(3))), 12);
  assert.equal(knownDivisor(x.mul(4).sub(c(0).mul(y))), 4);
  assert.equal(knownDivisor(x.mul(8).floordiv(2)), 1);
  assert.ok(isMultipleOf(x.mul(64).add(y.mul(4)), 4));
  assert.ok(!isMultipleOf(x.mul(64).add(y), 4));
  assert.ok(!isMultipleOf(x.mul(4).add(1), 2));
});

Deno.test("property: the known divisor divides every value (overflow aside)", () => {
  let nontrivial = 0;
  fc.assert(
    fc.property(
      exprArb([x, y, z]),
      fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 3, maxLength: 3 }),
      (e: Expr, [vx, vy, vz]) => {
        const d = knownDivisor(e);
        let v: number;
        try {
          v = evaluate(e, new Map([[x, vx], [y, vy], [z, vz]]), true);
        } catch (err) {
          if (err instanceof Overflow || (err instanceof Error && /by zero/.test(err.message))) {
            return;
          }
          throw err;
        }
        if (d > 1) nontrivial++;
        assert.ok(d === 0 ? v === 0 : v % d === 0, `${show(e)} = ${v}, claimed divisor ${d}`);
      },
    ),
    { numRuns: 2000 },
  );
  assert.ok(nontrivial > 100, `only ${nontrivial} cases had a divisor above 1`);
});
