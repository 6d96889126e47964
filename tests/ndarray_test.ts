/**
 * Host arrays are the boundary every backend shares, so these tests pin down shape and
 * dtype inference, the validation messages a user sees, and the printed form.
 */
import assert from "node:assert/strict";
import { bitsToF16, f16ToBits, nd, NDArray } from "../lib/runtime/ndarray.ts";
import { throwsTessera } from "./errors_util.ts";

Deno.test("nd.array infers shape from nested arrays and defaults to float32", () => {
  const a = nd.array([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(a.shape, [2, 3]);
  assert.equal(a.dtype, "float32");
  assert.equal(a.size, 6);
  assert.ok(a.data instanceof Float32Array);
  assert.deepEqual(Array.from(a.toArray()), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(a.toNested(), [[1, 2, 3], [4, 5, 6]]);
  const s = nd.array(2.5);
  assert.deepEqual(s.shape, []);
  assert.equal(s.size, 1);
  assert.deepEqual(nd.array([]).shape, [0]);
  assert.deepEqual(nd.array([[[1], [2]]]).shape, [1, 2, 1]);
});

Deno.test("nd.array takes the dtype from typed arrays and reshapes flat data", () => {
  const i = nd.array(new Int32Array([1, -2, 3, 4]), [2, 2]);
  assert.equal(i.dtype, "int32");
  assert.ok(i.data instanceof Int32Array);
  assert.deepEqual(i.shape, [2, 2]);
  const b = nd.array(new Uint8Array([0, 1, 1]));
  assert.equal(b.dtype, "bool");
  assert.deepEqual(b.shape, [3]);
  const f = nd.array(new Float64Array([0.1]), undefined, "float32");
  assert.equal(f.dtype, "float32");
  assert.equal(f.data[0], Math.fround(0.1));
  assert.equal(nd.array(new Float64Array([0.1])).dtype, "float64");
  // An explicit dtype converts.
  const c = nd.array([[0, 2], [-3, 0]], undefined, "bool");
  assert.deepEqual(Array.from(c.data), [0, 1, 1, 0]);
  const h = nd.array([1.1, 65520], [2], "float16");
  assert.equal(h.dtype, "float16");
  assert.deepEqual(Array.from(h.toArray()), [Math.f16round(1.1), Infinity]);
});

Deno.test("nd.array copies its input", () => {
  const src = new Float32Array([1, 2]);
  const a = nd.array(src);
  src[0] = 9;
  assert.equal(a.data[0], 1);
  const out = a.toArray();
  out[1] = 7;
  assert.equal(a.data[1], 2);
});

Deno.test("nd.array and friends validate with clear messages", () => {
  throwsTessera(
    () => nd.array([1, 2, 3], [2, 2]),
    /nd\.array: data has 3 elements but shape \[2, 2\] needs 4/,
  );
  throwsTessera(() => nd.array([1, 2], [-1, -2]), /shape\[0\] is -1; .*non-negative integers/);
  throwsTessera(() => nd.zeros([2.5]), /nd\.zeros: shape\[0\] is 2\.5/);
  throwsTessera(
    () => nd.array([1], [1], "complex64" as never),
    /nd\.array: unknown dtype "complex64"; expected one of float32, float16, float64, int32, int8/,
  );
  throwsTessera(() => nd.empty([2], "int16" as never), /nd\.empty: unknown dtype "int16"/);
  throwsTessera(
    () => nd.array([[1, 2], [3]]),
    /ragged nested array: data\[1\] has length 1 but dimension 1 has length 2/,
  );
  throwsTessera(
    () => nd.array([1.5], undefined, "int32"),
    /element 0 is 1\.5, which is not an int32/,
  );
  throwsTessera(
    () => new NDArray([2], "float32", new Int32Array(2)),
    /data must be a Float32Array for float32, but is a Int32Array/,
  );
});

Deno.test("nd.empty and nd.zeros allocate typed storage of the right size", () => {
  const z = nd.zeros([2, 3, 4], "int32");
  assert.ok(z.data instanceof Int32Array);
  assert.equal(z.size, 24);
  assert.ok(z.data.every((x) => x === 0));
  const e = nd.empty([0, 5]);
  assert.equal(e.size, 0);
  assert.equal(e.dtype, "float32");
  assert.ok(nd.zeros([3], "bool").data instanceof Uint8Array);
});

Deno.test("toString looks like numpy's str", () => {
  assert.equal(nd.array([[1, 2.5], [-3, 4]]).toString(), "[[ 1.   2.5]\n [-3.   4. ]]");
  assert.equal(nd.array([1, 22, 333], undefined, "int32").toString(), "[  1  22 333]");
  assert.equal(nd.array([1, 0], undefined, "bool").toString(), "[ True False]");
  assert.equal(nd.array([NaN, Infinity]).toString(), "[nan inf]");
  assert.equal(nd.array(0.1).toString(), "0.1");
  assert.equal(
    nd.zeros([2, 2, 2], "int32").toString(),
    "[[[0 0]\n  [0 0]]\n\n [[0 0]\n  [0 0]]]",
  );
  // Big arrays are summarized like numpy: three elements from each end.
  const big = nd.array(Int32Array.from({ length: 2000 }, (_, i) => i));
  assert.equal(big.toString(), "[   0    1    2 ... 1997 1998 1999]");
  const big2 = nd.array(Int32Array.from({ length: 40 * 40 }, (_, i) => i), [40, 40]);
  const lines = big2.toString().split("\n");
  assert.equal(lines.length, 7);
  assert.equal(lines[0], "[[   0    1    2 ...   37   38   39]");
  assert.equal(lines[3], " ...");
  assert.equal(lines[6], " [1560 1561 1562 ... 1597 1598 1599]]");
});

Deno.test("float16 bit conversion round-trips and rounds to nearest even", () => {
  for (const x of [0, -0, 1, -2.5, 65504, 2 ** -24, 2 ** -14, 0.1, 1e-8, 1e6, Infinity]) {
    assert.ok(Object.is(bitsToF16(f16ToBits(x)), Math.f16round(x)), `value ${x}`);
  }
  assert.ok(Number.isNaN(bitsToF16(f16ToBits(NaN))));
  assert.equal(f16ToBits(1), 0x3c00);
  assert.equal(f16ToBits(1 + 2 ** -11), 0x3c00); // halfway, rounds to even
  assert.equal(f16ToBits(1 + 3 * 2 ** -11), 0x3c02);
});

Deno.test("array storage starts on a 64-byte boundary, and is exactly the array's elements", () => {
  // Vectorized kernels load 64 bytes at a time: storage 16 bytes past a boundary (what V8
  // gives) splits every load across two cache lines. Allocation with FFI permission aligns it.
  const address = (d: ArrayBufferView) =>
    BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(d)));
  const dtypes = [
    "float32",
    "int32",
    "bool",
    "uint8",
    "int8",
    "int64",
    "float64",
    "float16",
  ] as const;
  for (const dtype of dtypes) {
    for (const n of [16, 17, 1000, 250_001]) {
      for (
        const a of [
          nd.empty([n], dtype),
          nd.zeros([n], dtype),
          nd.array(new Array(n).fill(1), [n], dtype),
        ]
      ) {
        const bytes = a.data.BYTES_PER_ELEMENT * n;
        if (bytes >= 64) assert.equal(address(a.data) % 64n, 0n, `${dtype} [${n}]`);
        assert.equal(a.data.length, n);
        assert.equal(a.data.byteLength, bytes);
      }
      const z = nd.zeros([n], dtype).data;
      assert.ok(Array.from(z as ArrayLike<number | bigint>).every((x) => Number(x) === 0));
    }
  }
});

Deno.test("without FFI permission arrays are still made (unaligned), with no prompt", async () => {
  const mod = new URL("../lib/runtime/ndarray.ts", import.meta.url).href;
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(
    `${dir}/run.ts`,
    `import { nd } from "${mod}";
const ffi = Deno.permissions.querySync({ name: "ffi" }).state;
const a = nd.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17], [17]);
const b = nd.empty([100000]);
console.log(ffi, a.data[16] + a.data.length + b.data.length);`,
  );
  try {
    const o = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-read",
        "--config",
        new URL("../deno.json", import.meta.url).pathname,
        `${dir}/run.ts`,
      ],
      env: { NO_COLOR: "1" },
    }).output();
    assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
    assert.equal(new TextDecoder().decode(o.stdout).trim(), `prompt ${17 + 17 + 100000}`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
