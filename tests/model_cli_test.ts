/**
 * `deno task model` end to end, as a subprocess: an exported MLP with a dynamic batch is
 * imported, built on C, run on seeded inputs and compared with onnxruntime (exit 0, the error
 * and latency lines printed); misuse exits 2 with a message. The CLI needs `graph.build`; on a
 * branch without it the tests are ignored and say so.
 */
import assert from "node:assert/strict";
import { graph, nn, onnx } from "../mod.ts";

const haveBuild = "build" in graph;
const why = haveBuild ? "" : " (ignored: graph.build is not on this branch)";

function cli(args: string[]) {
  const r = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../tools/model.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test({
  name: `deno task model: an MLP builds on C, runs, and agrees with onnxruntime${why}`,
  ignore: !haveBuild,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const g = new nn.MLP(32, 16, 4).exportGraph({ forward: { x: nn.spec.tensor(["n", 32]) } })
        .graph;
      Deno.writeFileSync(`${dir}/mlp.onnx`, onnx.exportOnnx(g));
      const r = cli([`${dir}/mlp.onnx`, "--compare", "--batch", "3", "--runs", "2"]);
      assert.equal(r.code, 0, r.out + r.err);
      assert.match(r.out, /sizes: n=3/);
      assert.match(r.out, /nodes: 7 in the source graph/);
      assert.match(r.out, /output .*: \(3, 4\) float32/);
      assert.match(r.out, /max abs error: \S+/);
      assert.match(r.out, /max rel error: \S+/);
      assert.match(r.out, /onnxruntime median latency: \S+ ms/);
      assert.match(r.out, /outputs agree/);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: `deno task model: misuse exits 2 with what was wrong${why}`,
  ignore: !haveBuild,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      Deno.writeFileSync(`${dir}/bad.onnx`, new Uint8Array([1, 2, 3]));
      let r = cli([`${dir}/bad.onnx`]);
      assert.equal(r.code, 2);
      assert.match(r.err, /not an ONNX model/);
      r = cli([`${dir}/bad.onnx`, "--target", "tpu"]);
      assert.equal(r.code, 2);
      assert.match(r.err, /--target is c, webgpu or interpret/);
      r = cli([]);
      assert.equal(r.code, 2);
      assert.match(r.err, /usage: deno task model/);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
