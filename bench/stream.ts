/**
 * The memory-bound check the C backend is held to: y = relu(a*b + c) over 2^24 float32, fused
 * in one loop, against a plain copy that moves the same bytes (2^25 floats in, 2^25 out),
 * timed in the same interleaved rounds. The fused kernel is the group's baseline and the copy
 * its "peer", so the summary's "Tessera vs fastest peer" is the fused kernel's speed as a
 * fraction of copy speed: a fused elementwise chain should stream as fast as memory allows,
 * and a copy is what memory allows.
 */
import { type Kernel, nd, type NDArray, te, type Tensor } from "../mod.ts";
import type { CaseSpec } from "../lib/bench/suite.ts";

/** A loop over `n` elements split into 64 Ki-element blocks run in parallel, each vectorized. */
function streaming(Y: Tensor) {
  const s = te.createSchedule(Y);
  const st = s.stage(Y);
  const [o, i] = st.split(Y.op.axis[0], { factor: 1 << 16 });
  const [, v] = st.split(i, { factor: 8 });
  st.parallel(o).vectorize(v);
  return s;
}

const fill = (n: number) => Float32Array.from({ length: n }, (_, i) => (i % 7) * 0.5 - 1.5);

export function streamCases(quick: boolean): CaseSpec[] {
  const n = quick ? 1 << 20 : 1 << 24;
  const group = `relu(a*b+c) vs copy ${n} [cpu]`;
  const bytes = 16 * n;
  const A = te.placeholder([n], "float32", "A");
  const B = te.placeholder([n], "float32", "B");
  const C = te.placeholder([n], "float32", "C");
  const Y = te.compute([n], (i) => te.max(A(i).mul(B(i)).add(C(i)), 0), "Y");
  const X2 = te.placeholder([2 * n], "float32", "X");
  const Y2 = te.compute([2 * n], (i) => X2(i), "Y");
  let fused: Kernel | undefined, copy: Kernel | undefined;
  let a: NDArray[] = [], x: NDArray[] = [];
  return [
    {
      name: "copy (same bytes)",
      group,
      device: "cpu",
      bytes,
      async setup() {
        copy = await te.build(streaming(Y2), [X2, Y2], { target: "c", name: "stream_copy" });
        x = [nd.array(fill(2 * n), [2 * n]), nd.empty([2 * n], "float32")];
      },
      fn: () => copy!(...x),
      check() {
        const [src, dst] = x.map((t) => t.data as Float32Array);
        return dst.every((v, i) => v === src[i]) ? 0 : Infinity;
      },
      teardown: () => void (x = []),
    },
    {
      name: "tessera-c fused",
      group,
      device: "cpu",
      baseline: true,
      flops: 3 * n,
      bytes,
      async setup() {
        fused = await te.build(streaming(Y), [A, B, C, Y], { target: "c", name: "stream_fused" });
        a = [nd.array(fill(n), [n]), nd.array(fill(n).reverse(), [n]), nd.array(fill(n), [n])];
        a.push(nd.empty([n], "float32"));
      },
      fn: () => fused!(...a),
      check() {
        const [p, q, r, y] = a.map((t) => t.data as Float32Array);
        let worst = 0;
        for (let i = 0; i < n; i++) {
          const want = Math.max(Math.fround(p[i] * q[i]) + r[i], 0);
          worst = Math.max(worst, Math.abs(y[i] - want) / Math.max(1, Math.abs(want)));
        }
        return worst;
      },
      tolerance: 1e-6,
      teardown: () => void (a = []),
    },
  ];
}
