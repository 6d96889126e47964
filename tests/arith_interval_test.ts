import assert from "node:assert/strict";
import fc from "fast-check";
import {
  Binary,
  Buffer,
  BufferLoad,
  Cast,
  type Expr,
  intConst,
  Neg,
  Select,
  Var,
} from "../lib/ir/expr.ts";
import { freeVars } from "../lib/ir/visit.ts";
import { constBound, evalInterval, type Interval } from "../lib/arith/interval.ts";
import { evaluate, exprArb, Overflow, show } from "./arith_util.ts";

const c = intConst;
const i = new Var("i"), n = new Var("n"), x = new Var("x"), y = new Var("y");
const io = new Var("io"), ii = new Var("ii"), z = new Var("z");
const iv = (min: number | Expr, max: number | Expr): Interval => ({
  min: typeof min === "number" ? c(min) : min,
  max: typeof max === "number" ? c(max) : max,
});

function check(e: Expr, relax: Map<Var, Interval>, expected: string | null) {
  const r = evalInterval(e, relax);
  assert.equal(r && `[${show(r.min)}, ${show(r.max)}]`, expected, `interval of ${show(e)}`);
}

Deno.test("evalInterval: leaves, sums and scaling", () => {
  const rx = new Map([[x, iv(2, 5)]]);
  check(c(7), rx, "[7, 7]");
  check(x, rx, "[2, 5]");
  check(y, rx, "[y, y]"); // not relaxed: a fixed symbol
  check(x.add(y), rx, "[y + 2, y + 5]");
  check(y.sub(x), rx, "[y - 5, y - 2]");
  check(x.mul(3), rx, "[6, 15]");
  check(x.mul(-3), rx, "[-15, -6]");
  check(c(-2).mul(x), rx, "[-10, -4]");
  check(new Neg(x), rx, "[-5, -2]");
  check(x.sub(x), rx, "[0, 0]");
  check(x.mul(y), rx, null); // y may be negative
  check(x.mul(x), rx, "[4, 25]");
});

Deno.test("evalInterval: divisions by positive constants", () => {
  const rx = new Map([[x, iv(2, 5)]]);
  check(x.floordiv(4), rx, "[0, 1]");
  check(x.div(2), rx, "[1, 2]");
  check(x.floormod(8), rx, "[2, 5]"); // one period: stays exact
  check(x.floormod(4), rx, "[0, 3]");
  check(x.mod(8), rx, "[2, 5]");
  check(x.floordiv(-2), rx, "[-3, -1]");
  check(x.floormod(-4), rx, null);
  check(x.floordiv(y), rx, null);
  const neg = new Map([[x, iv(-3, 5)]]);
  check(x.mod(4), neg, "[-3, 3]");
  check(x.floormod(4), neg, "[0, 3]");
  check(x.div(2), neg, "[-1, 2]");
  const sym = new Map([[i, iv(0, n.sub(1))]]);
  check(i.floordiv(8), sym, "[0, floordiv(n - 1, 8)]");
  check(io.mul(8).add(i).floormod(8), new Map([[i, iv(0, 7)]]), "[0, 7]");
});

Deno.test("evalInterval: min, max, select and casts", () => {
  const rx = new Map([[x, iv(2, 5)]]);
  check(x.min(4), rx, "[2, 4]");
  check(x.max(y), rx, "[max(y, 2), max(y, 5)]");
  check(new Select(x.lt(3), x, x.add(10)), rx, "[2, 15]");
  check(new Select(y.lt(3), x, c(0)), rx, "[select(y < 3, 2, 0), select(y < 3, 5, 0)]");
  check(new Cast("int32", x.lt(3)), rx, "[0, 1]");
  const buf = new Buffer("A", "int32", [c(8)]);
  check(new BufferLoad(buf, [x]), rx, null);
  check(new BufferLoad(buf, [y]), rx, "[A[y], A[y]]");
  check(new Binary("pow", x, c(2), "int32"), rx, null);
});

Deno.test("evalInterval: ranges that depend on other relaxed variables", () => {
  // Split loop: io in [0, 3], ii in [io*8, io*8 + 7] as seen through a fused index.
  const rel = new Map([[io, iv(0, 3)], [ii, iv(io.mul(8), io.mul(8).add(7))]]);
  check(ii, rel, "[0, 31]");
  check(ii.sub(io.mul(8)), rel, "[0, 7]");
  // The correlation between n - i and i's upper bound n - 1 survives.
  check(n.sub(i), new Map([[i, iv(0, n.sub(1))]]), "[1, n]");
  // Relaxed in dependency order whatever the map order is.
  const rev = new Map([[ii, iv(io.mul(8), io.mul(8).add(7))], [io, iv(0, n.sub(1))]]);
  check(ii.add(1), rev, "[1, n*8]");
});

Deno.test("constBound: numeric bounds, symbolic ranges honoured", () => {
  const split = new Map([[io, { min: c(0), extent: c(4) }], [ii, { min: c(0), extent: c(8) }]]);
  assert.deepEqual(constBound(io.mul(8).add(ii), split), { min: 0, max: 31 });
  assert.deepEqual(constBound(x, split), { min: -Infinity, max: Infinity });
  assert.deepEqual(constBound(x.floormod(8), split), { min: 0, max: 7 });
  assert.deepEqual(constBound(x.floormod(8).sub(3), split), { min: -3, max: 4 });
  assert.deepEqual(constBound(io.sub(io), new Map()), { min: 0, max: 0 });
  const sym = new Map([[i, { min: c(0), extent: n }]]);
  assert.deepEqual(constBound(n.sub(i), sym), { min: 1, max: Infinity });
  assert.deepEqual(constBound(i, sym), { min: 0, max: Infinity });
  assert.deepEqual(constBound(i.lt(3), sym), { min: 0, max: 1 });
});

// ---- properties ---------------------------------------------------------------------------

const NUM_RUNS = 500;

const caseArb = fc.record({
  zv: fc.integer({ min: -6, max: 6 }),
  a: fc.integer({ min: -5, max: 5 }),
  ex: fc.integer({ min: 0, max: 6 }),
  m: fc.integer({ min: -2, max: 2 }),
  b: fc.integer({ min: -5, max: 5 }),
  ey: fc.integer({ min: 0, max: 6 }),
  samples: fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 }),
});

function skipValue(e: Expr, env: Map<Var, number>): number | null {
  try {
    return evaluate(e, env, true);
  } catch (err) {
    if (err instanceof Overflow || (err instanceof Error && /by zero/.test(err.message))) {
      return null;
    }
    throw err;
  }
}

Deno.test("property: evalInterval is sound under dependent relaxation", () => {
  let bounded = 0, gaveUp = 0;
  fc.assert(
    fc.property(exprArb([x, y, z], { negativeDivisors: false }), caseArb, (e, r) => {
      // x in [z + a, z + a + ex], y in [x*m + b, x*m + b + ey]; z is a fixed symbol.
      const relax = new Map<Var, Interval>([
        [y, iv(x.mul(r.m).add(r.b), x.mul(r.m).add(r.b + r.ey))],
        [x, iv(z.add(r.a), z.add(r.a + r.ex))],
      ]);
      const res = evalInterval(e, relax);
      if (!res) {
        gaveUp++;
        return;
      }
      bounded++;
      for (const end of [res.min, res.max]) {
        for (const v of freeVars(end)) assert.equal(v, z, `relaxed var left in ${show(end)}`);
      }
      const zenv = new Map([[z, r.zv]]);
      const lo = skipValue(res.min, zenv), hi = skipValue(res.max, zenv);
      if (lo === null || hi === null) return;
      for (const [sx, sy] of r.samples) {
        const xv = r.zv + r.a + (sx % (r.ex + 1));
        const yv = xv * r.m + r.b + (sy % (r.ey + 1));
        const val = skipValue(e, new Map([[x, xv], [y, yv], [z, r.zv]]));
        if (val === null) continue;
        assert.ok(
          lo <= val && val <= hi,
          `${show(e)} = ${val} at x=${xv} y=${yv} z=${r.zv} outside [${show(res.min)}, ${
            show(res.max)
          }] = [${lo}, ${hi}]`,
        );
      }
    }),
    { numRuns: NUM_RUNS },
  );
  assert.ok(bounded > gaveUp, `evalInterval gave up too often: ${gaveUp} of ${bounded + gaveUp}`);
});

Deno.test("property: constBound is sound", () => {
  fc.assert(
    fc.property(exprArb([x, y, z]), caseArb, (e, r) => {
      const ranges = new Map([
        [x, { min: c(r.a), extent: c(r.ex + 1) }],
        [y, { min: x.mul(r.m).add(r.b), extent: c(r.ey + 1) }],
      ]);
      const bd = constBound(e, ranges);
      for (const [sx, sy] of r.samples) {
        const xv = r.a + (sx % (r.ex + 1));
        const yv = xv * r.m + r.b + (sy % (r.ey + 1));
        const val = skipValue(e, new Map([[x, xv], [y, yv], [z, r.zv]]));
        if (val === null) continue;
        assert.ok(
          bd.min <= val && val <= bd.max,
          `${show(e)} = ${val} outside [${bd.min}, ${bd.max}]`,
        );
      }
    }),
    { numRuns: NUM_RUNS },
  );
});
