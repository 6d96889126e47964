/**
 * How fast the reference interpreter runs a 64x64x64 matmul under a few schedules (the
 * foundation issue asks for well under a second under any schedule). Prints the median of
 * several runs per schedule. Run: `deno task bench:interpreter`.
 */
import { nd, type Schedule, te, type Tensor } from "../mod.ts";

function matmul() {
  const A = te.placeholder([64, 64], "float32", "A");
  const B = te.placeholder([64, 64], "float32", "B");
  const k = te.reduceAxis(64, "k");
  const C = te.compute([64, 64], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");
  return { A, B, C, s: te.createSchedule(C) };
}

const schedules: Array<[string, () => { s: Schedule; args: Tensor[] }]> = [
  ["default", () => {
    const { A, B, C, s } = matmul();
    return { s, args: [A, B, C] };
  }],
  ["tiled 8x8, k split 4, vectorized", () => {
    const { A, B, C, s } = matmul();
    const [i, j] = C.op.axis;
    const [io, jo, ii, ji] = s.stage(C).tile(i, j, 8, 8);
    const [ko, ki] = s.stage(C).split(C.op.reduceAxis[0], { factor: 4 });
    s.stage(C).reorder(io, jo, ko, ki, ii, ji).vectorize(ji).unroll(ki);
    return { s, args: [A, B, C] };
  }],
  ["cacheWrite local + cacheRead B, non-dividing tiles of 7", () => {
    const { A, B, C, s } = matmul();
    const CL = s.cacheWrite(C, "local");
    const BL = s.cacheRead(B, "local", [s.stage(CL)]);
    const [i, j] = s.stage(C).op.axis;
    const [io, jo] = s.stage(C).tile(i, j, 7, 7);
    s.stage(CL).computeAt(s.stage(C), jo);
    s.stage(BL).computeAt(s.stage(CL), s.stage(CL).op.reduceAxis[0]);
    void io;
    return { s, args: [A, B, C] };
  }],
  ["rfactor over k split 16", () => {
    const { A, B, C, s } = matmul();
    const [, ki] = s.stage(C).split(C.op.reduceAxis[0], { factor: 16 });
    s.rfactor(C, ki);
    return { s, args: [A, B, C] };
  }],
];

const a = nd.array(Float32Array.from({ length: 4096 }, () => Math.random()), [64, 64]);
const b = nd.array(Float32Array.from({ length: 4096 }, () => Math.random()), [64, 64]);
const c = nd.empty([64, 64]);
for (const [name, make] of schedules) {
  const { s, args } = make();
  const f = te.lower(s, args);
  const times: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    te.evaluate(f, [a, b, c]);
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  console.log(`${name.padEnd(56)} median ${times[3].toFixed(1)} ms (min ${times[0].toFixed(1)})`);
}
