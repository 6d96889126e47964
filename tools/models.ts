/**
 * `deno task models [DIR]`: writes the ONNX files the graph level is tested and measured on
 * into DIR (default model-files/, git-ignored): the quick-start MLP (784-256-10, batch "n"),
 * ResNet-18 (n x 3 x 224 x 224), one BERT-base encoder layer (n x 128 x 768, 12 heads), all
 * from the nn frontend with seeded weights (seed 0, normalization statistics seeded too), and
 * hello_deepa.onnx, a real wake-word classifier (PyTorch-exported, opset 13) taken from the
 * npm package openwakeword-js@0.1.27 with `npm pack` (Apache-2.0).
 */
import { nn, onnx } from "../mod.ts";

const dir = Deno.args[0] ?? "model-files";
Deno.mkdirSync(dir, { recursive: true });

const MODELS: [string, nn.Module, (number | string)[]][] = [
  ["mlp.onnx", new nn.MLP(), ["n", 784]],
  ["resnet18.onnx", nn.seedNormStats(new nn.ResNet18(), 0), ["n", 3, 224, 224]],
  ["bert_layer.onnx", nn.seedNormStats(new nn.BertLayer(), 0), ["n", 128, 768]],
];

for (const [file, model, shape] of MODELS) {
  const { graph } = model.exportGraph({ forward: { x: nn.spec.tensor(shape) } }, { seed: 0 });
  const bytes = onnx.exportOnnx(graph);
  Deno.writeFileSync(`${dir}/${file}`, bytes);
  console.log(
    `${dir}/${file}: ${graph.nodes.length} nodes, ${(bytes.length / 2 ** 20).toFixed(1)} MiB`,
  );
}

const PACKAGE = "openwakeword-js@0.1.27";
const MEMBER = "package/models/hello_deepa.onnx";
const tmp = Deno.makeTempDirSync({ prefix: "tessera-models-" });
try {
  const run = (cmd: string, args: string[]) => {
    const r = new Deno.Command(cmd, { args, cwd: tmp, stdout: "piped", stderr: "piped" })
      .outputSync();
    if (!r.success) {
      throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr).trim()}`);
    }
    return new TextDecoder().decode(r.stdout).trim();
  };
  const tgz = run("npm", ["pack", PACKAGE, "--silent"]).split("\n").pop()!;
  run("tar", ["xzf", tgz, MEMBER]);
  Deno.copyFileSync(`${tmp}/${MEMBER}`, `${dir}/hello_deepa.onnx`);
  console.log(`${dir}/hello_deepa.onnx: from ${PACKAGE}`);
} catch (e) {
  console.error(
    `could not fetch hello_deepa.onnx from ${PACKAGE} (needs npm and the registry): ${
      e instanceof Error ? e.message : e
    }`,
  );
  Deno.exitCode = 1;
} finally {
  Deno.removeSync(tmp, { recursive: true });
}
