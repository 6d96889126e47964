/**
 * The display module: every bundle has the MIME types a notebook needs and well-formed HTML,
 * user text is escaped (names built below the `te` layer included), the iteration-space
 * diagram counts tiles and footprints exactly as the schedule makes them, charts carry an SVG
 * rendered here, and progress stays quiet when output is not a terminal.
 */
import assert from "node:assert/strict";
import {
  bundleOf,
  chart,
  display,
  iterationSpace,
  type MimeBundle,
  progress,
} from "../lib/display/mod.ts";
import { rectsOf } from "../lib/display/diagram.ts";
import { highlight } from "../lib/display/highlight.ts";
import { compile } from "../lib/display/evalIndex.ts";
import { h } from "../lib/display/html.ts";
import type { JupyterApi, JupyterDisplayOptions } from "../lib/display/jupyter.ts";
import { Buffer, BufferLoad, Const, Var } from "../lib/ir/expr.ts";
import { BufferStore, For, PrimFunc } from "../lib/ir/stmt.ts";
import { inferBounds } from "../lib/lower/bounds.ts";
import { inlineBodies } from "../lib/lower/inline.ts";
import { nd, te, TesseraError } from "../mod.ts";
import type { Kernel } from "../lib/runtime/build.ts";
import { useTestCache } from "./c_util.ts";
import { bench } from "../mod.ts";
import { blankCharts, dataMarks, pngSize } from "../tools/notebooks.ts";

useTestCache();

const DISPLAY = Symbol.for("Jupyter.display");

const VOID = new Set(["br", "hr", "img", "meta", "input", "col", "wbr", "link", "source"]);
const RAW_TEXT = new Set(["style"]);

/**
 * Throws unless `markup` is well-formed: tags balance, attribute values are quoted, every `&`
 * starts an entity, and no `<` or `>` appears in text (escaped text never has one). `<style>`
 * content is raw text in HTML and is skipped; `<script>` is refused outright.
 */
function checkMarkup(markup: string): void {
  const stack: string[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`${why} at ${i}: ...${markup.slice(Math.max(0, i - 60), i + 60)}...`);
  };
  const tag = /^<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<>]*")*)\s*(\/?)>/;
  while (i < markup.length) {
    const c = markup[i];
    if (c === "<") {
      if (markup.startsWith("<!--", i)) {
        const end = markup.indexOf("-->", i);
        if (end < 0) fail("unclosed comment");
        i = end + 3;
        continue;
      }
      const m = tag.exec(markup.slice(i));
      if (!m) fail("stray '<' or malformed tag");
      const [all, close, name, , selfClose] = m!;
      const lower = name.toLowerCase();
      if (lower === "script") fail("a <script> element");
      if (close) {
        const open = stack.pop();
        if (open !== lower) fail(`</${name}> closes <${open ?? "nothing"}>`);
      } else if (!selfClose && !VOID.has(lower)) {
        stack.push(lower);
        if (RAW_TEXT.has(lower)) {
          const end = markup.indexOf(`</${lower}>`, i + all.length);
          if (end < 0) fail(`unclosed <${lower}>`);
          i = end;
          continue;
        }
      }
      i += all.length;
    } else if (c === ">") {
      fail("stray '>' in text");
    } else if (c === "&") {
      if (!/^&(?:[a-z]+|#\d+|#x[0-9a-f]+);/i.test(markup.slice(i, i + 12))) fail("stray '&'");
      i++;
    } else i++;
  }
  if (stack.length) throw new Error(`unclosed tags: ${stack.join(", ")}`);
}

/** The bundle of `x`, checked: text/plain always, and every markup type well-formed. */
async function bundle(x: unknown, types = ["text/plain", "text/html"]): Promise<MimeBundle> {
  const b = await bundleOf(x);
  for (const t of types) assert.ok(typeof b[t] === "string", `missing ${t}`);
  for (const t of ["text/html", "image/svg+xml"]) {
    if (typeof b[t] === "string") checkMarkup(b[t] as string);
  }
  return b;
}

function matmul(n: number | Var = 64, m = 32, kk = 64) {
  const A = te.placeholder([n, kk], "float32", "A");
  const B = te.placeholder([kk, m], "float32", "B");
  const k = te.reduceAxis([0, kk], "k");
  const C = te.compute([n, m], (i, j) => te.sum(A(i, k).mul(B(k, j)), [k]), "C");
  return { A, B, C, s: te.createSchedule(C) };
}

Deno.test("the markup checker itself rejects what it should", () => {
  checkMarkup('<div class="a"><b>x</b> &amp; <br><svg><rect x="1"/></svg></div>');
  for (const bad of ["<div>", "<b></i>", "a < b", "a > b", "A & B", "<script>1</script>"]) {
    assert.throws(() => checkMarkup(bad), Error, bad);
  }
});

Deno.test("a tensor shows its name, shape, dtype and definition as math", async () => {
  const n = te.var("n");
  const { A, C } = matmul(n);
  const b = await bundle(C);
  assert.equal(
    b["text/plain"],
    "Tensor C: float32[n, 32]\n  C[i, j] = Σ_k A[i, k] · B[k, j]\n  i ∈ [0, n), j ∈ [0, 32), k ∈ [0, 64)",
  );
  assert.match(b["text/html"] as string, /C\[i, j\] = Σ<sub>k<\/sub> A\[i, k\] · B\[k, j\]/);
  assert.match((await bundle(A))["text/plain"], /^Tensor A: float32\[n, 64\] \(input\)$/);
  // Tensors are callable: the symbol is on the function, and String() is what it was.
  assert.equal(typeof (C as unknown as Record<symbol, unknown>)[DISPLAY], "function");
  assert.equal(String(C), "Tensor(C, [n,32], float32)");
});

Deno.test("math covers the operators: floor division, select, intrinsics, conditions", async () => {
  const X = te.placeholder([16], "float32", "X");
  const r = te.reduceAxis([0, 4], "r");
  const Y = te.compute(
    [4],
    (i) => te.max(te.select(i.ge(1), te.sqrt(X(i.mul(4).add(r))), X(i.floordiv(2))), [r]),
    "Y",
  );
  const text = (await bundle(Y))["text/plain"];
  assert.match(text, /Y\[i\] = max_r \(i ≥ 1 \? √\(X\[i · 4 \+ r\]\) : X\[⌊i \/ 2⌋\]\)/);
});

Deno.test("a schedule shows each loop's kind, extent and the stages attached in it", async () => {
  const { B, C, s } = matmul(te.var("n"));
  const st = s.stage(C);
  const [i, j] = st.op.axis;
  const [io, jo, ii, ji] = st.tile(i, j, 8, 8);
  const [ko, ki] = st.split(st.op.reduceAxis[0], { factor: 4 });
  st.reorder(io, jo, ko, ki, ii, ji).parallel(io).unroll(ki).vectorize(ji).pragma(
    jo,
    "auto_unroll_max_step",
    2,
  );
  const BL = s.cacheRead(B, "local", [C]);
  s.stage(BL).computeAt(st, ko);
  const text = (await bundle(s))["text/plain"];
  const want = [
    "Schedule of C (4 stages)",
    "  input A: float32[n, 64]",
    "  input B: float32[64, 32]",
    "  stage C [root, global]",
    /^ {4}for i_outer in \[0, ⌊\(n \+ 7\) \/ 8⌋\) +parallel$/,
    /^ {6}for j_outer in \[0, 4\) +serial, pragma auto_unroll_max_step=2$/,
    /^ {8}for k_outer in \[0, 16\) +serial, reduce$/,
    "          stage B_local [computed at C.k_outer, local]",
    /^ {12}for ax0 in \[0, 4\) +serial$/,
    /^ {14}for ax1 in \[0, 8\) +serial$/,
    "                B_local[ax0, ax1] = B[ax0, ax1]",
    /^ {10}for k_inner in \[0, 4\) +unrolled, reduce$/,
    /^ {12}for i_inner in \[0, 8\) +serial$/,
    /^ {14}for j_inner in \[0, 8\) +vectorized$/,
    "                C[i, j] = Σ_k A[i, k] · B_local[k, j]",
  ];
  const lines = text.split("\n");
  assert.equal(lines.length, want.length, text);
  want.forEach((w, k) =>
    typeof w === "string" ? assert.equal(lines[k], w) : assert.match(lines[k], w)
  );
  const h = (await bundle(s))["text/html"] as string;
  assert.match(h, /class="tsr-badge tsr-parallel">parallel</);
  assert.match(h, /class="tsr-badge tsr-vectorized">vectorized</);
  assert.match(h, /class="tsr-badge tsr-unrolled">unrolled</);
  // String() of the schedule and stage is unchanged by the display module.
  assert.equal(
    String(st),
    "stage C [root, global]: i_outer:parallel, j_outer, k_outer, k_inner:unrolled, i_inner, j_inner:vectorized",
  );
});

Deno.test("a stage shows its own nest; thread bindings and inlined stages are named", async () => {
  const X = te.placeholder([64], "float32", "X");
  const T = te.compute([64], (i) => X(i).mul(2), "T");
  const Y = te.compute([64], (i) => T(i).add(1), "Y");
  const s = te.createSchedule(Y);
  s.stage(T).computeInline();
  const [bo, bi] = s.stage(Y).split(s.stage(Y).op.axis[0], { factor: 16 });
  s.stage(Y).bind(bo, "blockIdx.x").bind(bi, "threadIdx.x");
  const text = (await bundle(s.stage(Y)))["text/plain"];
  assert.match(text, /^Stage Y \[root, global\]\n/);
  assert.match(text, /for i_outer in \[0, 4\) +bound to blockIdx\.x/);
  assert.match(text, /for i_inner in \[0, 16\) +bound to threadIdx\.x/);
  assert.match((await bundle(s))["text/plain"], /stage T \[inlined into its consumers, global\]/);
  assert.match((await bundle(s.stage(X)))["text/plain"], /an input: it has no loops/);
});

Deno.test("a lowered function shows its TVMScript text, highlighted", async () => {
  const { A, B, C, s } = matmul();
  const f = te.lower(s, [A, B, C], { name: "mm" });
  const b = await bundle(f);
  assert.equal(b["text/plain"], String(f));
  const h = b["text/html"] as string;
  assert.match(h, /<span class="tsr-kw">for<\/span> i <span class="tsr-kw">in<\/span>/);
  assert.match(h, /A: float32\[64, 64\], B: float32\[64, 32\], C: float32\[64, 32\] \(out\)/);
});

Deno.test("names built below te are escaped everywhere they appear", async () => {
  const evil = "<script>alert(1)</script>";
  assert.throws(() => te.placeholder([4], "float32", evil), TesseraError);
  const buf = new Buffer(evil, "float32", [new Const(4, "int32")]);
  const out = new Buffer(`a"b&c`, "float32", [new Const(4, "int32")]);
  const i = new Var(`<i onload="x">`);
  const func = new PrimFunc(
    "f",
    [buf, out],
    [],
    new For(
      i,
      new Const(0, "int32"),
      new Const(4, "int32"),
      "serial",
      new BufferStore(out, [i], new BufferLoad(buf, [i])),
    ),
    [out],
  );
  const kernel = await te.build(func);
  for (const x of [func, kernel]) {
    const b = await bundle(x);
    const h = b["text/html"] as string;
    assert.doesNotMatch(h, /<script|<i /);
    assert.match(h, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(h, /a&quot;b&amp;c/);
    assert.match(b["text/plain"], /<script>alert\(1\)<\/script>/);
  }
  // The highlighter escapes operators and strings inside code too.
  const code = highlight('if (a < b && s == "<b>") x = 1.5f; // <tag>', "c").markup;
  checkMarkup(code);
  assert.match(code, /&lt; b &amp;&amp;/);
  assert.match(code, /<span class="tsr-str">&quot;&lt;b&gt;&quot;<\/span>/);
  assert.match(code, /<span class="tsr-com">\/\/ &lt;tag&gt;<\/span>/);
  assert.equal(h`<b>${evil}</b>`.markup, "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>");
});

Deno.test("a kernel shows target, signature, timing and collapsible source", async () => {
  const { A, B, C, s } = matmul(16, 8, 8);
  const f = await te.build(s, [A, B, C]);
  let b = await bundle(f);
  assert.match(b["text/plain"], /^Kernel main \(target interpreter\)\n/);
  assert.match(
    b["text/plain"],
    /args: A: float32\[16, 8\], B: float32\[8, 8\], C: float32\[16, 8\] \(out\)/,
  );
  assert.match(b["text/plain"], /not timed yet/);
  const args = [nd.zeros([16, 8]), nd.zeros([8, 8]), nd.zeros([16, 8])];
  await f.timeEvaluator({ repeat: 2, flops: 2 * 16 * 8 * 8 })(...args);
  b = await bundle(f);
  assert.match(
    b["text/plain"],
    /last timing: median [\d.]+ [µm]?s \(min .*; 2 × 1 calls\), [\d.e+-]+ GFLOP\/s/,
  );
  assert.match(b["text/html"] as string, /<details><summary>loop IR source/);
});

Deno.test("a C kernel's source is highlighted as C, with the lowered IR beside it", async () => {
  const { A, B, C, s } = matmul(16, 8, 8);
  const [i] = s.stage(C).op.axis;
  s.stage(C).parallel(i);
  const f: Kernel = await te.build(s, [A, B, C], { target: "c" });
  const h = (await bundle(f))["text/html"] as string;
  assert.match(h, /<summary>C source \(\d+ lines\)<\/summary>/);
  assert.match(h, /<span class="tsr-pp">#pragma omp parallel for[^<]*<\/span>/);
  assert.match(h, /<summary>Lowered loop IR<\/summary>/);
});

Deno.test("arrays: a table when small, a heatmap when 2-D, statistics when large", async () => {
  const small = await bundle(nd.array([[1, 2, 3], [4, NaN, 6]]), [
    "text/plain",
    "text/html",
    "image/svg+xml",
  ]);
  assert.match(small["text/html"] as string, /<table class="tsr-t">/);
  assert.match(small["text/html"] as string, /<td>NaN<\/td>/);
  assert.match(small["image/svg+xml"] as string, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal((small["image/svg+xml"] as string).match(/<title>/g)?.length, 6);
  const big = nd.array(Float32Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? NaN : i)));
  const b = await bundle(big);
  assert.match(
    b["text/plain"],
    /^NDArray float32\[1000\]\nmin 1, max 999, mean 500, NaN 100, ±inf 0\n/,
  );
  assert.doesNotMatch(b["text/html"] as string, /<table/);
  assert.equal(b["image/svg+xml"], undefined);
  // A large 2-D map is averaged into blocks, so it stays small.
  const map = await bundle(nd.zeros([300, 200]), ["text/plain", "image/svg+xml"]);
  assert.match(map["image/svg+xml"] as string, /300×200; colour: mean of each 7×7 block/);
  assert.ok((map["image/svg+xml"] as string).length < 20000);
  await bundle(nd.array([[[1, 2], [3, 4]]]));
  await bundle(nd.array(new Uint8Array([1, 0, 1])));
  assert.equal(String(nd.array([1, 2])), "[1. 2.]");
});

/** The box the heatmap's cells cover, from their rects. */
function cellBox(svg: string): [number, number] {
  const rects = [
    ...svg.matchAll(
      /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="(?!url)/g,
    ),
  ]
    .map((m) => m.slice(1, 5).map(Number));
  return [
    Math.max(...rects.map(([x, , w]) => x + w)),
    Math.max(...rects.map(([, y, , hh]) => y + hh)),
  ];
}

Deno.test("a heatmap keeps the array's proportions, averaged or not", async () => {
  for (const [r, c] of [[64, 48], [48, 64], [3, 7], [1000, 10], [200, 200]]) {
    const svg = (await bundle(nd.zeros([r, c]), ["image/svg+xml"]))["image/svg+xml"] as string;
    const [w, hh] = cellBox(svg);
    assert.ok(Math.abs(w / hh - c / r) < 0.02 * (c / r), `${r}×${c} drawn ${w}×${hh}`);
  }
});

Deno.test("a heatmap's colour bar says what it spans: values, or block means beside the data's range", async () => {
  const n = 1000;
  const sin = nd.array(Float32Array.from({ length: n * n }, (_, i) => Math.sin(i)), [n, n]);
  const svg = (await bundle(sin, ["image/svg+xml"]))["image/svg+xml"] as string;
  const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  // The bar's ends are the block means (close to 0 for a sine), and it says so; the data's
  // own range is written beside it.
  assert.ok(Math.abs(Number(texts[0])) < 0.2 && Math.abs(Number(texts[1])) < 0.2, `${texts}`);
  assert.equal(texts[2], "1000×1000; colour: mean of each 21×21 block");
  const m = /^data: min (\S+), max (\S+)$/.exec(texts[3]);
  assert.ok(m && Number(m[1]) < -0.999 && Number(m[2]) > 0.999, texts[3]);
  const small = (await bundle(nd.array([[1, 2], [3, 4]]), ["image/svg+xml"]))["image/svg+xml"];
  assert.deepEqual(
    [...(small as string).matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((x) => x[1]),
    ["1", "4", "2×2; colour: value"],
  );
});

Deno.test("diagram: a 10×10 output tiled 4×4 has 9 tiles, 5 of them partial", async () => {
  const X = te.placeholder([10, 10], "float32", "X");
  const Y = te.compute([10, 10], (i, j) => X(i, j).add(1), "Y");
  const s = te.createSchedule(Y);
  const [i, j] = s.stage(Y).op.axis;
  s.stage(Y).tile(i, j, 4, 4);
  const sp = iterationSpace(s.stage(Y));
  assert.equal(sp.tiles.length, 9);
  assert.equal(sp.tiles.filter((t) => t.partial).length, 5);
  assert.deepEqual(sp.tiles.map((t) => t.points), [16, 16, 8, 16, 16, 8, 8, 8, 4]);
  assert.deepEqual(sp.chosenBox, [[0, 3], [0, 3]]);
  const d = s.stage(Y).show({ at: { i_outer: 2, j_outer: 2 } });
  const b = await bundle(d, ["text/plain", "text/html", "image/svg+xml"]);
  assert.match(b["text/plain"], /9 tiles, 5 partial/);
  assert.match(b["text/plain"], /computes Y\[8:10, 8:10\] \(4 points, partial\)/);
  assert.match(b["text/plain"], /reads X\[8:10, 8:10\] \(4 elements\)/);
  // Every tile is one rectangle; the chosen one is drawn in the highlight colour.
  const svg = b["image/svg+xml"] as string;
  assert.equal(svg.match(/fill="#f28e2b"/g)?.length, 2);
  assert.equal(svg.match(/stroke-dasharray/g)?.length, 5);

  // 10×12: only the last row of tiles is cut.
  const Z = te.compute([10, 12], (i, j) => i.add(j), "Z");
  const s2 = te.createSchedule(Z);
  const [a, c] = s2.stage(Z).op.axis;
  s2.stage(Z).tile(a, c, 4, 4);
  const sp2 = iterationSpace(s2.stage(Z));
  assert.equal(sp2.tiles.length, 9);
  assert.equal(sp2.tiles.filter((t) => t.partial).length, 3);
});

Deno.test("diagram: a matmul tile reads its rows of A across all of k, and its columns of B", () => {
  const { C, s } = matmul(10, 12, 16);
  const [i, j] = s.stage(C).op.axis;
  const [, , ii] = s.stage(C).tile(i, j, 4, 4);
  s.stage(C).reorder(s.stage(C).op.reduceAxis[0], ii);
  const sp = iterationSpace(s.stage(C), { at: { i_outer: 1, j_outer: 2 } });
  assert.deepEqual(sp.chosenBox, [[4, 7], [8, 11]]);
  const [A, B] = sp.footprints;
  assert.equal(A.tensor, "A");
  assert.deepEqual(A.box, [[4, 7], [0, 15]]);
  assert.equal(A.elements, 4 * 16);
  const wantA = new Set<number>();
  for (let r = 4; r < 8; r++) for (let k = 0; k < 16; k++) wantA.add(r * 16 + k);
  assert.deepEqual(A.cells, wantA);
  assert.deepEqual(B.box, [[0, 15], [8, 11]]);
  assert.equal(B.elements, 16 * 4);
  assert.deepEqual(rectsOf(A.cells, A.cols), [[4, 0, 4, 16]]);
});

Deno.test("diagram: a tile's footprint of an attached stage is the region bound inference gives it", () => {
  const { B, C, s } = matmul(16, 24, 32);
  const st = s.stage(C);
  const [i, j] = st.op.axis;
  const [, jo] = st.tile(i, j, 4, 8);
  const BL = s.cacheRead(B, "local", [C]);
  s.stage(BL).computeAt(st, jo);
  const at = { i_outer: 2, j_outer: 1 };
  const fp = iterationSpace(st, { at }).footprints.find((f) => f.tensor === "B_local")!;
  const b = inferBounds(s, inlineBodies(s)).get(s.stage(BL))!;
  const slots = new Map<Var, number>(st.leafIterVars.map((v, k) => [v, k]));
  const env = new Float64Array(st.leafIterVars.map((v) => at[v.name as keyof typeof at] ?? 0));
  const mins = b.regionMin!.map((e) => compile(e, slots, () => undefined)!(env));
  const exts = b.allocShape.map((e) => compile(e, slots, () => undefined)!(env));
  assert.deepEqual(fp.box, mins.map((m, d) => [m, m + exts[d] - 1]));
  assert.deepEqual(fp.box, [[0, 31], [8, 15]]);
});

Deno.test("diagram: outer reduction loops, symbolic sizes, padding and fused loops", () => {
  // A reduction loop outside the tile stays at its value: one k-chunk is read.
  const { C, s } = matmul(te.var("n"), 8, 16);
  const st = s.stage(C);
  const [ko, ki] = st.split(st.op.reduceAxis[0], { factor: 4 });
  const [io, ii] = st.split(st.op.axis[0], { factor: 4 });
  st.reorder(ko, io, ii, ki);
  assert.throws(
    () => iterationSpace(st),
    /pass concrete sizes, e\.g\. show\(\{ sizes: \{ n: 16 \} \}\)/,
  );
  const sp = iterationSpace(st, { sizes: { n: 8 }, at: { k_outer: 2, i_outer: 1 } });
  assert.equal(sp.footprints[0].tensor, "A");
  assert.deepEqual(sp.footprints[0].box, [[4, 7], [8, 11]]);
  assert.match(sp.notes.join("\n"), /reduction loops outside the tile \(k_outer\)/);
});

Deno.test("diagram: options are checked", () => {
  const { C, s } = matmul(8, 8, 8);
  const st = s.stage(C);
  assert.throws(
    () => st.show({ at: { nope: 0 } }),
    /at\.nope: no loop has this name; loops are i, j, k/,
  );
  assert.throws(() => st.show({ at: { i: 8 } }), /at\.i is 8; the loop runs over \[0, 8\)/);
  assert.throws(() => st.show({ at: { i: -1 } }), TesseraError);
  assert.throws(() => st.show({ colour: 1 } as never), TesseraError);
  assert.throws(() => s.stage(s.stage(C).op).show({ at: { k: 1.5 } }), TesseraError);
  const X = te.placeholder([8], "float32", "X");
  const T = te.compute([8], (i) => X(i).mul(2), "T");
  const Y = te.compute([8], (i) => T(i), "Y");
  const s2 = te.createSchedule(Y);
  s2.stage(T).computeInline();
  assert.throws(() => s2.stage(T).show(), /inlined into its consumers/);
  assert.throws(() => s2.stage(X).show(), /is an input/);
  // No split: one tile, the whole space; at: { i } makes each row a tile.
  const { C: C2, s: s3 } = matmul(6, 5, 3);
  assert.equal(iterationSpace(s3.stage(C2)).tiles.length, 1);
  const rows = iterationSpace(s3.stage(C2), { at: { i: 2 } });
  assert.equal(rows.tiles.length, 6);
  assert.deepEqual(rows.footprints[0].box, [[2, 2], [0, 2]]);
});

Deno.test("diagram: padded reads through select are not counted; inlined producers are seen through", () => {
  const X = te.placeholder([8], "float32", "X");
  const P = te.compute([10], (i) => te.select(i.ge(1).and(i.le(8)), X(i.sub(1)), 0), "P");
  const Y = te.compute([8], (i) => P(i).add(P(i.add(2))), "Y");
  const s = te.createSchedule(Y);
  s.stage(P).computeInline();
  s.stage(Y).split(s.stage(Y).op.axis[0], { factor: 4 });
  const sp = iterationSpace(s.stage(Y));
  assert.equal(sp.rowAxis, null);
  assert.equal(sp.tiles.length, 2);
  // i in [0, 4): P(i) reads X[i-1] for i >= 1, P(i+2) reads X[i+1]: X[0..4].
  assert.equal(sp.footprints.length, 1);
  assert.deepEqual(sp.footprints[0].box, [[0, 4]]);
  assert.deepEqual([...sp.footprints[0].cells].sort((a, b) => a - b), [0, 1, 2, 3, 4]);
});

Deno.test("diagram: fused loops and nparts splits give tiles the schedule really runs", () => {
  const X = te.placeholder([6, 4], "float32", "X");
  const Y = te.compute([6, 4], (i, j) => X(i, j), "Y");
  const s = te.createSchedule(Y);
  const [i, j] = s.stage(Y).op.axis;
  const f = s.stage(Y).fuse(i, j);
  s.stage(Y).split(f, { factor: 5 });
  const sp = iterationSpace(s.stage(Y), { at: { i_j_fused_outer: 1 } });
  assert.equal(sp.tiles.length, 5);
  assert.equal(sp.tiles.filter((t) => t.partial).length, 1);
  assert.deepEqual(sp.chosen.cells, [5, 6, 7, 8, 9]);
  // Non-rectangular tiles are drawn as row runs.
  assert.deepEqual(rectsOf(sp.chosen.cells, 4), [[1, 1, 1, 3], [2, 0, 1, 2]]);
  // nparts = 4 over 10 with inner extent 3 leaves the last outer iteration with 1 point.
  const Z = te.compute([10], (a) => a.mul(2), "Z");
  const s2 = te.createSchedule(Z);
  s2.stage(Z).split(s2.stage(Z).op.axis[0], { nparts: 4 });
  const sp2 = iterationSpace(s2.stage(Z), { at: { a_outer: 3 } });
  assert.deepEqual(sp2.tiles.map((t) => t.points), [3, 3, 3, 1]);
  assert.deepEqual(sp2.chosenBox, [[9, 9]]);
});

Deno.test("diagram: batched outputs are drawn as the plane through the chosen tile", async () => {
  const X = te.placeholder([3, 4, 4], "float32", "X");
  const Y = te.compute([3, 4, 4], (b, i, j) => X(b, j, i), "Y");
  const s = te.createSchedule(Y);
  const [, i, j] = s.stage(Y).op.axis;
  s.stage(Y).tile(i, j, 2, 2);
  const sp = iterationSpace(s.stage(Y), { at: { b: 2, i_outer: 1, j_outer: 0 } });
  assert.deepEqual(sp.fixed, [["b", 2]]);
  assert.equal(sp.tiles.length, 4);
  assert.equal(sp.totalTiles, 12);
  assert.deepEqual(sp.footprints[0].box, [[2, 2], [0, 1], [2, 3]]);
  const text =
    (await bundle(s.stage(Y).show({ at: { b: 2, i_outer: 1, j_outer: 0 } })))["text/plain"];
  assert.match(text, /4 tiles in this plane \(12 in all\)/);
  assert.match(text, /note: the plane drawn fixes b = 2/);
});

Deno.test("diagram: thousands of tiles are drawn as boundary lines, not one shape each", async () => {
  const Z = te.compute([130, 130], (i, j) => i.add(j), "Z");
  const s = te.createSchedule(Z);
  const [i, j] = s.stage(Z).op.axis;
  s.stage(Z).tile(i, j, 2, 2);
  const b = await bundle(s.stage(Z).show({ at: { i_outer: 10, j_outer: 20 } }), [
    "text/plain",
    "text/html",
    "image/svg+xml",
  ]);
  const svg = b["image/svg+xml"] as string;
  assert.match(b["text/plain"], /^Iteration space of Z: i × j = 130 × 130, 4225 tiles, 0 partial/);
  assert.equal(svg.match(/<line /g)?.length, 64 + 64);
  assert.equal(svg.match(/fill="#f28e2b"/g)?.length, 1);
});

Deno.test("a vega-lite chart bundles the spec, an SVG rendered in Deno, and a summary", async () => {
  const c = await chart({
    title: "matmul",
    data: { values: [{ lib: "tessera", gflops: 150 }, { lib: "openblas", gflops: 175 }] },
    mark: "bar",
    encoding: {
      x: { field: "lib", type: "nominal" },
      y: { field: "gflops", type: "quantitative" },
    },
  });
  const b = await bundle(c, ["text/plain", "image/svg+xml"]);
  const spec = b["application/vnd.vegalite.v5+json"] as Record<string, unknown>;
  assert.equal(spec.$schema, "https://vega.github.io/schema/vega-lite/v5.json");
  assert.match(b["image/svg+xml"] as string, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  // Two bars: the marks vega drew from the data, not just axes.
  assert.equal(
    (b["image/svg+xml"] as string).match(/<path[^>]*aria-roledescription="bar"/g)?.length,
    2,
  );
  assert.match(
    b["text/plain"],
    /^Chart matmul: bar of x=lib \(nominal\), y=gflops \(quantitative\); 2 rows\n {2}lib +gflops\n {2}tessera +150\n {2}openblas +175$/,
  );
  await assert.rejects(() => chart(null as never), TesseraError);
  await assert.rejects(() => chart({ mark: "nonsense" } as never), TesseraError);
});

/** A result record with the given (group, case, ratio to the group's baseline) cases. */
async function speedupRecord(cases: [string, string, number][]) {
  const stats = bench.summarize([1e-3]);
  const of = (group: string, name: string, median: number, baseline = false) => ({
    group,
    name,
    status: "ok" as const,
    samples: [1e-3],
    stats,
    ...(baseline ? { baseline: true } : {}),
    ratio: { vs: "base", median, q1: median, q3: median },
  });
  const groups = [...new Set(cases.map(([g]) => g))];
  return {
    format: "tessera-bench" as const,
    version: 1 as const,
    suite: "s",
    env: await bench.collectEnv({ webgpu: false }),
    options: {},
    cases: [...groups.map((g) => of(g, "base", 1, true)), ...cases.map(([g, n, r]) => of(g, n, r))],
  };
}

Deno.test("the speedup chart draws a bar per case from 1 to its ratio, the table's way round", async () => {
  const r = await speedupRecord([["g1", "slow", 0.5], ["g1", "fast", 2.5], ["g2", "peer", 1.2]]);
  const c = await new bench.Result(r).speedupChart();
  const svg = c.bundle["image/svg+xml"] as string;
  const bars = dataMarks(svg).filter((m) => m.role === "bar");
  assert.equal(bars.length, 3);
  for (const b of bars) assert.ok(b.width > 0 && b.height > 0, JSON.stringify(b));
  assert.equal(blankCharts(svg), 0);
  // Log scale, bars from 1: 2.5x faster is longer than 2x slower, and 1.2x shortest.
  const width = (name: string) => {
    const m = new RegExp(`<path[^>]*case: ${name}"[^>]*d="M([-\\d.]+),[-\\d.]+h([-\\d.]+)`)
      .exec(svg)!;
    return [Number(m[1]), Number(m[2])];
  };
  const [[xs, ws], [xf, wf], [xp, wp]] = [width("slow"), width("fast"), width("peer")];
  // The same way round as the table's "vs baseline": faster cases reach right of 1.
  assert.ok(Math.abs(xs + ws - xf) < 1e-6 && Math.abs(xf - xp) < 1e-6, `${[xs, ws, xf, xp]}`);
  assert.ok(wf > ws && ws > wp && wp > 0, `${[ws, wf, wp]}`);
  assert.deepEqual(bench.speedupRows(r).map((x) => x.speedup), [0.5, 2.5, 1.2]);
});

Deno.test("a chart's HTML carries the SVG and a PNG of it for exports that strip SVG", async () => {
  const r = await speedupRecord([["g", "peer", 2]]);
  const c = await chart(bench.speedupChartSpec(r));
  const b = await bundle(c, ["text/plain", "text/html", "image/svg+xml"]);
  const html = b["text/html"] as string;
  const svg = b["image/svg+xml"] as string;
  assert.ok(html.includes(svg), "the SVG inline");
  const png = /<img src="data:image\/png;base64,([^"]+)" width="([\d.]+)" height="([\d.]+)"/
    .exec(html);
  assert.ok(png, "a PNG <img>");
  const bytes = Uint8Array.from(atob(png[1]), (ch) => ch.charCodeAt(0));
  assert.deepEqual(pngSize(bytes), [2 * Number(png[2]), 2 * Number(png[3])]);
  // Shown in place of an SVG whose shapes a cleaner stripped, hidden otherwise.
  assert.match(html, /<style>[^<]*:not\(:has\(svg path[^<]*>img\{display:block\}/);
});

Deno.test("the roofline chart names the cases it cannot place", async () => {
  const r = {
    ...await speedupRecord([["g", "peer", 2]]),
    roofline: { cpu: { gflops: 100, gbs: 10, method: "test" } },
  };
  Object.assign(r.cases[0], { device: "cpu", flops: 1e9, bytes: 1e8 });
  Object.assign(r.cases[1], { device: "cpu", flops: 1e9 });
  const svg = (await chart(bench.rooflineChartSpec(r as never))).bundle["image/svg+xml"] as string;
  assert.equal(dataMarks(svg).filter((m) => m.role === "point").length, 1);
  assert.match(svg, /not shown, no flops\/bytes or no roof for the device: peer \(g\)/);
});

Deno.test("long code and IR lines wrap instead of being clipped", async () => {
  const html = (await bundle(matmul().C))["text/html"] as string;
  assert.match(html, /\.tsr-code\{[^}]*white-space:pre-wrap/);
  assert.match(html, /\.tsr-nest div\{white-space:pre-wrap/);
});

Deno.test("the page check counts a chart whose bars have no width as blank", () => {
  const chartSvg = (d: string) =>
    `<svg class="marks" width="9" height="9"><path d="M0,0h9"/><path role="graphics-symbol" aria-roledescription="bar" d="${d}"/></svg>`;
  assert.equal(blankCharts(chartSvg("M0,30h0v20h0Z")), 1);
  assert.equal(blankCharts(chartSvg("M181.7,30h78.3v20h-78.3Z")), 0);
  assert.deepEqual(
    dataMarks(
      '<path role="graphics-symbol" aria-roledescription="point" d="M2,0A2,2,0,1,1,-2,0A2,2,0,1,1,2,0"/>',
    ).map((m) => m.width > 0),
    [true],
  );
});

Deno.test("progress without a terminal prints one summary line and nothing else", async () => {
  let out = "";
  const p = progress("tuning", 40, { mode: "plain", write: (s) => (out += s) });
  for (let k = 1; k <= 40; k++) p.update(k, `trial ${k}`);
  await p.done("best 1.2 ms");
  assert.match(out, /^tuning: best 1\.2 ms \([\d.]+ [µm]?s\)\n$/);
  // Not a terminal here, so the detected mode is plain too.
  let out2 = "";
  const q = progress("build", 2, { write: (s) => (out2 += s) });
  q.update(1);
  await q.done();
  assert.match(out2, /^build: 1\/2 done \(/);
  assert.equal(out2.split("\n").length, 2);
  assert.throws(() => progress("x", -1), TesseraError);
});

Deno.test("progress in a terminal redraws one line; in Jupyter it updates one output", async () => {
  let out = "";
  const p = progress("bench", 3, { mode: "tty", write: (s) => (out += s), minIntervalMs: 0 });
  p.update(1, "a");
  p.update(3, "c");
  await p.done("ok");
  const frames = out.split("\r\x1b[2K").filter((s) => s.length > 0);
  assert.equal(frames.length, 3);
  assert.match(frames[0], /^bench \[#{8}-{16}\] 1\/3 33% a · /);
  assert.match(frames[2], /^bench: ok \(.*\)\n$/);
  assert.equal(out.split("\n").length, 2);

  const calls: Array<[MimeBundle, JupyterDisplayOptions]> = [];
  const kernel: JupyterApi = {
    display: (b, o) => {
      calls.push([b as MimeBundle, o ?? {}]);
      return Promise.resolve();
    },
    broadcast: () => Promise.resolve(),
  };
  const j = progress("tune", 10, { mode: "jupyter", jupyter: kernel, minIntervalMs: 0 });
  j.update(5, "<half>");
  await j.done("done");
  assert.equal(calls.length, 3);
  const id = calls[0][1].display_id;
  assert.match(id ?? "", /^tessera-progress-/);
  assert.deepEqual(calls.map(([, o]) => [o.raw, o.update, o.display_id]), [
    [true, false, id],
    [true, true, id],
    [true, true, id],
  ]);
  checkMarkup(calls[1][0]["text/html"] as string);
  assert.match(calls[1][0]["text/html"] as string, /&lt;half&gt;/);
  assert.match(calls[2][0]["text/plain"], /^tune: done/);
});

Deno.test("small objects show a compact bundle that names them, not a dump of their fields", async () => {
  const n = te.var("n");
  const A = te.placeholder([n, 32], "float32", "A");
  const k = te.reduceAxis([0, 32], "k");
  const C = te.compute([n], (i) => te.sum(A(i, k), [k]), "C");
  const [i] = C.op.axis;
  const fc = await te.build(te.createSchedule(C), [A, C], { target: "c" });
  const a = nd.array(new Float32Array(4 * 32), [4, 32]);
  const timing = await fc.timeEvaluator({ repeat: 2, flops: 128 })(a, nd.empty([4]));
  const dev = await nd.array([1, 2, 3, 4, 5, 6], [2, 3]).to("webgpu");
  const cases: [unknown, RegExp][] = [
    [i.mul(4).add(k), /^Expr int32: i · 4 \+ k$/],
    [n, /^Var n: int32$/],
    [i, /^IterVar i ∈ \[0, n\)$/],
    [k, /^IterVar \(reduce\) k ∈ \[0, 32\)$/],
    [
      new Buffer("A", "float32", [n, new Const(32, "int32")]),
      /^Buffer A: float32\[n, 32\], global$/,
    ],
    [dev, /^DeviceArray float32\[2, 3\] on webgpu$/],
    [
      timing,
      /^Timing median [\d.]+ [µmn]?s per call \(min .*GFLOP\/s; 2 measurements of \d+ calls?$/,
    ],
    [new TesseraError("split: bad factor 0"), /^TesseraError: split: bad factor 0$/],
  ];
  try {
    for (const [x, text] of cases) {
      const b = await bundle(x);
      assert.match(b["text/plain"], text);
      // Compact: a line of text, and HTML of a few hundred bytes beside the shared stylesheet.
      assert.ok(b["text/plain"].length < 200, b["text/plain"]);
      const html = (b["text/html"] as string).replace(/<style>[\s\S]*?<\/style>/, "");
      assert.ok(html.length < 400, html);
    }
  } finally {
    dev.destroy();
  }
  // The timing result stays plain data.
  assert.deepEqual(Object.keys(timing).sort(), [
    "gflops",
    "mean",
    "median",
    "min",
    "number",
    "repeat",
    "results",
  ]);
});

Deno.test("display() prints the text form outside Jupyter", async () => {
  const { C } = matmul();
  const logged: unknown[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void logged.push(...a);
  try {
    await display(C);
    await display("plain words");
    await display({ x: 1 });
  } finally {
    console.log = log;
  }
  assert.match(String(logged[0]), /^Tensor C: float32\[64, 32\]/);
  assert.equal(logged[1], "plain words");
  assert.equal(logged[2], "{ x: 1 }");
});

Deno.test("the machine record shows as a table of its facts and stays plain data", async () => {
  const env = await bench.collectEnv({ webgpu: false });
  const b = await bundle(env);
  assert.match(b["text/plain"], /^Machine \(.*\)\n {2}CPU: .+, \d+ cores/);
  assert.match(b["text/plain"], /\n {2}WebGPU: none \(/);
  assert.match(b["text/html"] as string, /<table class="tsr-t">/);
  assert.ok(!JSON.stringify(env).includes("Jupyter"));
  bench.parseResult({
    format: "tessera-bench",
    version: 1,
    suite: "x",
    env,
    options: {},
    cases: [],
  });
});

Deno.test("a tensor of a multi-output compute shows every output, its own first", async () => {
  const A = te.placeholder([4], "float32", "A");
  const [lo, hi] = te.compute([4], (i) => [A(i).sub(1), A(i).add(1)], ["lo", "hi"]);
  const text = (await bundle(hi))["text/plain"];
  assert.match(
    text,
    /^Tensor hi: float32\[4\]\n {2}hi\[i\] = A\[i\] \+ 1\.0\n {2}lo\[i\] = A\[i\] - 1\.0\n/,
  );
  assert.match((await bundle(lo))["text/plain"], /\n {2}lo\[i\] = .*\n {2}hi\[i\] = /);
});
