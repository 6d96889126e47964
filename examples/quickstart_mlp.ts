/**
 * TVM's quick start (docs/get_started/tutorials/quick_start.py), its model written line for
 * line in TypeScript: an MLP 784 -> 256 -> 10 as an nn.Module, exported to the graph IR with
 * a symbolic batch and shown as a listing. Run: deno run -A examples/quickstart_mlp.ts
 */
import { graph, nn } from "../mod.ts";

export class MLPModel extends nn.Module {
  fc1 = new nn.Linear(784, 256);
  relu1 = new nn.ReLU();
  fc2 = new nn.Linear(256, 10);

  forward(x: nn.Tensor): nn.Tensor {
    x = this.fc1.forward(x);
    x = this.relu1.forward(x);
    x = this.fc2.forward(x);
    return x;
  }
}

if (import.meta.main) {
  const { graph: mod, params } = new MLPModel().exportGraph({
    forward: { x: nn.spec.tensor(["n", 784], "float32") },
  });
  console.log(graph.printGraph(mod));
  console.log([...params.keys()].join(", "));
}
