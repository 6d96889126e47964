/**
 * The graph's notebook display: the listing as text, and the DAG picture with a box per
 * fused group and each edge's shape and size; user names are escaped in the HTML.
 */
import assert from "node:assert/strict";
import { graph, GraphBuilder, showPartition } from "../mod.ts";
import { bundleOf } from "../lib/display/bundle.ts";

function model() {
  const b = new GraphBuilder();
  const x = b.input("<x>", [2, 8]);
  const w = b.param("w", new Float32Array(32), [8, 4]);
  const h = b.call("relu", [
    b.call("add", [b.call("matmul", [x, w]), b.param("b", new Float32Array(4), [4])]),
  ]);
  b.output(b.call("softmax", [h]));
  return b.build();
}

Deno.test("display: a graph shows its listing and its DAG", async () => {
  const g = model();
  const bd = await bundleOf(g);
  assert.equal(bd["text/plain"], graph.printGraph(g));
  const html = bd["text/html"] as string;
  assert.ok(!html.includes("<x>"), "a user's name is escaped");
  assert.match(html, /&lt;x&gt;/);
  const svg = bd["image/svg+xml"] as string;
  assert.match(svg, /^<svg /);
  for (const op of ["matmul", "add", "relu", "softmax"]) assert.match(svg, new RegExp(`>${op}<`));
  assert.match(svg, /\(2, 8\) · 64 B/);
  assert.match(svg, /\(2, 4\) · 32 B/);
  assert.doesNotMatch(svg, /stroke-dasharray/, "no groups before fusion");
});

Deno.test("display: fused groups are boxes; a built model shows its summary", async () => {
  const g = model();
  const p = graph.passes.fuseOps(g);
  const svg = (await bundleOf(showPartition(p)))["image/svg+xml"] as string;
  const multi = p.groups.filter((x) => x.nodes.length > 1).length;
  assert.ok(multi >= 1);
  assert.equal((svg.match(/stroke-dasharray/g) ?? []).length, multi);
  const exe = await graph.build(g, { target: "interpreter" });
  const bd = await bundleOf(exe);
  assert.match(bd["text/plain"], /^target interpreter\nnodes: 4 in the source graph/);
  assert.match(bd["text/html"] as string, /Model main \(interpreter\): 2 kernels/);
});
