/**
 * Tessera's schedules for the benchmark's conv2d (NCHW input, OIHW weights, zero padding,
 * stride, no bias). Both targets treat it as the matmul it is underneath: output channels
 * times output pixels, reduced over input channels and the kernel window. The zero padding
 * is a stage of its own, computed once at the root, so that the hot loops read a padded
 * input without a bounds test.
 *
 * CPU: the weights are packed as [K/8, C, R, R, 8] and the sums are computed in TVM's
 * channel-blocked layout (NCHW8c, or NCHW16c with AVX-512), so that the output channels of
 * a tile are one vector register; each tile is 8 channels x 7 or 8 neighbouring pixels of one output row, kept in
 * registers: per step of the reduction, one vector load of weights and one broadcast input
 * value per pixel feed one fused multiply-add per pixel. Vectorizing over channels rather
 * than output width keeps every lane busy at widths such as 14 that 8 does not divide,
 * and works the same at stride 2. (16 channels x 6 pixels, the matmul's tile, measured
 * 60 GFLOP/s on one core against 77-85 for this.) Output rows are the parallel loop.
 *
 * WebGPU: each invocation keeps a register tile of 16 channels x up to 16 pixels of a row
 * (224 accumulators at ResNet's sizes, like the 16x16 of examples/matmul_gpu.ts), 4 x 16
 * invocations per workgroup. No workgroup memory: on llvmpipe it is ordinary cache and
 * every barrier costs a context switch.
 */
import { type Schedule, te, type Tensor } from "../../mod.ts";
import { convOut, type Workload } from "../../lib/bench/workload.ts";
import { cpuFeatures, lanes, widestVector } from "../../lib/bench/cpu.ts";

type Conv2d = Extract<Workload, { op: "conv2d" }>;

// One vector register of output channels: 8 with AVX2, 16 with AVX-512 (measured 1.9x faster
// than 8 at ResNet's layer1 and layer3 on Zen 5).
const KB = lanes(widestVector((await cpuFeatures()).flags)) >= 16 ? 16 : 8;

export function conv2dSchedule(w: Conv2d, target: "c" | "webgpu"): { s: Schedule; args: Tensor[] } {
  return target === "c" ? conv2dCpu(w, KB) : conv2dGpu(w);
}

/**
 * How many neighbouring pixels of a row one invocation keeps: as many as possible up to 16,
 * dividing the row (no bounds tests in the reduction loop) into a power-of-two number of
 * groups, so that the flattened (row, group) index splits by shifts. On llvmpipe, ResNet's
 * 56-wide rows took 135 ms in groups of 14, 910 ms in groups of 8 and 290 ms in groups of
 * 4 (a 32-bit division per lane is scalar code there); 14-wide rows 125 ms in one group
 * against 850 ms in two groups of 7.
 */
function gpuRowTile(ow: number): number {
  for (let d = Math.min(16, ow); d > 1; d--) {
    const groups = ow / d;
    if (Number.isInteger(groups) && (groups & (groups - 1)) === 0) return d;
  }
  return Math.min(ow, 8);
}

/** The input with `pad` zeros around each channel. */
function padded(X: Tensor, w: Conv2d): Tensor {
  const { h, w: wd, pad } = w;
  if (pad === 0) return X;
  return te.compute(
    [w.n, w.c, h + 2 * pad, wd + 2 * pad],
    (b, c, y, x) =>
      te.select(
        y.ge(pad).and(y.lt(h + pad)).and(x.ge(pad)).and(x.lt(wd + pad)),
        X(b, c, y.sub(pad), x.sub(pad)),
        0,
      ),
    "Xp",
  );
}

export function conv2dCpu(
  w: Conv2d,
  kb = 8,
  xb = [8, 7, 6].find((d) => convOut(w).ow % d === 0) ?? 8,
  // Channel blocks outside the rows when the weights would not stay in a core's L2.
  kOuter = w.k * w.c * w.r * w.r * 4 > 256 * 1024,
) {
  const { oh, ow } = convOut(w);
  const X = te.placeholder([w.n, w.c, w.h, w.w], "float32", "X");
  const W = te.placeholder([w.k, w.c, w.r, w.r], "float32", "W");
  const Xp = padded(X, w);
  const Wp = te.compute(
    [Math.ceil(w.k / kb), w.c, w.r, w.r, kb],
    (ko, c, ry, rx, ki) => {
      const k = ko.mul(kb).add(ki);
      return w.k % kb === 0 ? W(k, c, ry, rx) : te.select(k.lt(w.k), W(k, c, ry, rx), 0);
    },
    "Wp",
  );
  const rc = te.reduceAxis([0, w.c], "rc");
  const ry = te.reduceAxis([0, w.r], "ry");
  const rx = te.reduceAxis([0, w.r], "rx");
  // The sums in a channel-blocked layout [N, K/kb, OH, OW, kb] (TVM's NCHW8c), so that a
  // tile's kb channels of one pixel are adjacent in the local tile and fill vector lanes;
  // O only copies the tile out to NCHW.
  const Ob = te.compute(
    [w.n, Math.ceil(w.k / kb), oh, ow, kb],
    (b, ko, y, x, ki) =>
      te.sum(
        Xp(b, rc, y.mul(w.stride).add(ry), x.mul(w.stride).add(rx)).mul(Wp(ko, rc, ry, rx, ki)),
        [rc, ry, rx],
      ),
    "Ob",
  );
  const O = te.compute(
    [w.n, w.k, oh, ow],
    (b, k, y, x) => Ob(b, k.floordiv(kb), y, x, k.floormod(kb)),
    "O",
  );
  const s = te.createSchedule(O);
  const o = s.stage(O);
  const [b, k, y, x] = o.op.axis;
  const [ko, ki] = o.split(k, { factor: kb });
  const [xo, xi] = o.split(x, { factor: xb });
  // Output rows are the parallel loop. Packed weights are read with an index that has no
  // term from it: GCC does not know the range of an OpenMP loop variable in the outlined
  // body, so under -fwrapv such an index might wrap and it reads the weights with gathers
  // (20x slower). With small weights, channel blocks are a serial loop inside each row;
  // otherwise they are the outer loop, each block packed on its own and kept in cache
  // over all rows (ResNet's 256-channel layer: 77 against 73 GFLOP/s on one core).
  // The tile's copy-out walks each channel's pixels, which are contiguous in O.
  if (kOuter) {
    o.reorder(b, ko, y, xo, ki, xi);
    o.parallel(y);
  } else {
    o.reorder(b, y, ko, xo, ki, xi);
    o.parallel(o.fuse(b, y));
  }
  const l = s.stage(Ob).setScope("local").computeAt(o, xo);
  const [, , , lx, lk] = l.op.axis;
  const [lc, lry, lrx] = l.op.reduceAxis;
  l.reorder(lc, lry, lrx, lx, lk).unroll(lx).vectorize(lk);
  if (Xp !== X) {
    const p = s.stage(Xp);
    const [pb, pc, , px] = p.op.axis;
    p.parallel(p.fuse(pb, pc)).vectorize(px);
  }
  const wp = s.stage(Wp);
  if (kOuter) wp.computeAt(o, ko).vectorize(wp.op.axis[4]);
  else wp.parallel(wp.op.axis[0]).vectorize(wp.op.axis[4]);
  return { s, args: [X, W, O] };
}

export function conv2dGpu(
  w: Conv2d,
  ty = 4,
  kr = 16,
  tx = 16,
  xr = gpuRowTile(convOut(w).ow),
) {
  const { oh, ow } = convOut(w);
  const X = te.placeholder([w.n, w.c, w.h, w.w], "float32", "X");
  const W = te.placeholder([w.k, w.c, w.r, w.r], "float32", "W");
  const Xp = padded(X, w);
  const rc = te.reduceAxis([0, w.c], "rc");
  const ry = te.reduceAxis([0, w.r], "ry");
  const rx = te.reduceAxis([0, w.r], "rx");
  const O = te.compute(
    [w.n, w.k, oh, ow],
    (b, k, y, x) =>
      te.sum(
        Xp(b, rc, y.mul(w.stride).add(ry), x.mul(w.stride).add(rx)).mul(W(k, rc, ry, rx)),
        [rc, ry, rx],
      ),
    "O",
  );
  const s = te.createSchedule(O);
  const OL = s.cacheWrite(O, "local");
  const o = s.stage(O);
  const [b, k, y, x] = o.op.axis;
  const [kB, kin] = o.split(k, { factor: ty * kr });
  const [tk, kreg] = o.split(kin, { nparts: ty });
  // Each invocation's pixels are xr neighbours in one row, so that its register tile is a
  // box (a tile spanning rows of a flattened pixel axis would be as wide as the image).
  // Rows and pixel groups are then flattened for the threads, so that narrow feature maps
  // such as 14x14 still fill workgroups.
  const [xo, xreg] = o.split(x, { factor: xr });
  const [pB, tp] = o.split(o.fuse(y, xo), { factor: tx });
  o.reorder(b, kB, pB, tk, tp, kreg, xreg).unroll(kreg).unroll(xreg);
  o.bind(o.fuse(b, kB), "blockIdx.y").bind(pB, "blockIdx.x");
  o.bind(tk, "threadIdx.y").bind(tp, "threadIdx.x");
  const l = s.stage(OL).computeAt(o, tp);
  const [, lk, ly, lx] = l.op.axis;
  const [lc, lry, lrx] = l.op.reduceAxis;
  l.reorder(lc, lry, lrx, lk, ly, lx).unroll(lk).unroll(ly).unroll(lx);
  if (Xp !== X) {
    const p = s.stage(Xp);
    const [pb, pc, py, px] = p.op.axis;
    const [bo, t] = p.split(p.fuse(pb, pc, py, px), { factor: 256 });
    p.bind(bo, "blockIdx.x").bind(t, "threadIdx.x");
  }
  return { s, args: [X, W, O] };
}
