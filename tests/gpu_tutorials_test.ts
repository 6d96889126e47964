/**
 * TVM's GPU tutorials as their authors wrote them, ported line for line to Tessera: the
 * convolution of `opt_conv_cuda` (shared and local caches, virtual threads, vectorized
 * cooperative loads), at sizes the interpreter and llvmpipe finish quickly. Each runs on the
 * interpreter, C and WebGPU and must equal the unscheduled program on the interpreter. The
 * reduction tutorial and the virtual-thread GEMM are in gpu_passes_test.ts.
 */
import assert from "node:assert/strict";
import { nd, type NDArray, te } from "../mod.ts";

function ints(shape: number[], seed: number): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return nd.array(Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 11) - 5), shape);
}

Deno.test("TVM's opt_conv_cuda schedule runs as written on every target, equal to the interpreter", async () => {
  // The tutorial's layout (HWCN), 3x3 kernel, pad 1, stride 1; sizes cut down from
  // 14x14, 256 -> 512 channels, batch 256, keeping every factor of the schedule.
  const batch = 64, inChannel = 8, outChannel = 64, inSize = 3, kernel = 3, pad = 1;
  const stride = 1;
  const outSize = (inSize - kernel + 2 * pad) / stride + 1;
  const A = te.placeholder([inSize, inSize, inChannel, batch], "float32", "A");
  const W = te.placeholder([kernel, kernel, inChannel, outChannel], "float32", "W");
  const Apad = te.compute(
    [inSize + 2 * pad, inSize + 2 * pad, inChannel, batch],
    (yy, xx, cc, nn) =>
      te.ifThenElse(
        yy.ge(pad).and(yy.lt(inSize + pad)).and(xx.ge(pad)).and(xx.lt(inSize + pad)),
        A(yy.sub(pad), xx.sub(pad), cc, nn),
        0,
      ),
    "Apad",
  );
  const rc = te.reduceAxis([0, inChannel], "rc");
  const ry = te.reduceAxis([0, kernel], "ry");
  const rx = te.reduceAxis([0, kernel], "rx");
  const B = te.compute(
    [outSize, outSize, outChannel, batch],
    (yy, xx, ff, nn) =>
      te.sum(
        Apad(yy.mul(stride).add(ry), xx.mul(stride).add(rx), rc, nn).mul(W(ry, rx, rc, ff)),
        [ry, rx, rc],
      ),
    "B",
  );
  const args = [A, W, B];
  const inputs = [
    ints([inSize, inSize, inChannel, batch], 1),
    ints([3, 3, inChannel, outChannel], 2),
  ];
  const want = nd.empty([outSize, outSize, outChannel, batch]);
  await (await te.build(te.createSchedule(B), args, { target: "interpreter" }))(...inputs, want);

  const s = te.createSchedule(B);
  s.stage(Apad).computeInline();
  const AA = s.cacheRead(Apad, "shared", [s.stage(B)]);
  const WW = s.cacheRead(W, "shared", [s.stage(B)]);
  const AL = s.cacheRead(AA, "local", [s.stage(B)]);
  const WL = s.cacheRead(WW, "local", [s.stage(B)]);
  const BL = s.cacheWrite(B, "local");

  const tile = 8, numThread = 8, blockFactor = tile * numThread, step = 8, vthread = 2;
  const b = s.stage(B);
  const [hi, wi, fi0, ni0] = b.op.axis;
  const bz = b.fuse(hi, wi);
  const [by, fi1] = b.split(fi0, { factor: blockFactor });
  const [bx, ni1] = b.split(ni0, { factor: blockFactor });
  b.bind(bz, "blockIdx.z").bind(by, "blockIdx.y").bind(bx, "blockIdx.x");
  const [tyz, fi2] = b.split(fi1, { nparts: vthread });
  const [txz, ni2] = b.split(ni1, { nparts: vthread });
  const [ty, fi] = b.split(fi2, { nparts: numThread });
  const [tx, ni] = b.split(ni2, { nparts: numThread });
  b.reorder(bz, by, bx, tyz, txz, ty, tx, fi, ni);
  b.bind(tyz, "vthread").bind(txz, "vthread").bind(ty, "threadIdx.y").bind(tx, "threadIdx.x");

  const bl = s.stage(BL).computeAt(b, tx);
  const [yi, xi, blf, bln] = bl.op.axis;
  const [bry, brx, brc] = bl.op.reduceAxis;
  const [rco, rci] = bl.split(brc, { factor: step });
  bl.reorder(rco, bry, brx, rci, blf, bln);
  void yi, xi;

  s.stage(AA).computeAt(bl, brx);
  s.stage(WW).computeAt(bl, brx);
  s.stage(AL).computeAt(bl, rci);
  s.stage(WL).computeAt(bl, rci);

  for (const S of [AA, WW]) {
    const st = s.stage(S);
    const [y, x, c0, last0] = st.op.axis;
    const [sty, c] = st.split(c0, { nparts: numThread });
    const [stx, last1] = st.split(last0, { nparts: numThread });
    const [, last] = st.split(last1, { factor: 4 });
    st.reorder(sty, stx, y, x, c, last);
    st.bind(sty, "threadIdx.y").bind(stx, "threadIdx.x");
    st.vectorize(last);
  }

  const ir = String(te.lower(s, args));
  assert.match(ir, /A_shared|Apad_shared/, "the padded input is staged in shared memory");
  assert.match(ir, /scope="shared"/);
  assert.match(ir, /T\.unroll\(2\)/, "the virtual threads are unrolled");
  for (const target of ["interpreter", "c", "webgpu"] as const) {
    const got = nd.empty([outSize, outSize, outChannel, batch]);
    got.data.fill(NaN);
    await (await te.build(s, args, { target }))(...inputs, got);
    assert.deepEqual([...got.data], [...want.data], `opt_conv_cuda on ${target}`);
  }
});
