/**
 * The models the graph level is measured on, written with the nn layers: TVM's quick-start MLP
 * (784 -> 256 -> 10), torchvision's ResNet-18 and one BERT-base encoder layer (Hugging Face's
 * BertLayer: self-attention, add & LayerNorm, GELU feed-forward, add & LayerNorm). Parameter
 * names follow the originals' so that a reader can match them.
 */
import { GELU, ReLU } from "./layers/activation.ts";
import { MultiHeadAttention } from "./layers/attention.ts";
import { Sequential } from "./layers/container.ts";
import { Conv2d } from "./layers/conv.ts";
import { Flatten } from "./layers/flatten.ts";
import { Linear } from "./layers/linear.ts";
import { BatchNorm2d, LayerNorm } from "./layers/norm.ts";
import { AdaptiveAvgPool2d, MaxPool2d } from "./layers/pool.ts";
import { Module } from "./module.ts";
import type { Tensor } from "./tensor.ts";

/** TVM's quick-start MLP. */
export class MLP extends Module {
  fc1: Linear;
  relu1 = new ReLU();
  fc2: Linear;
  constructor(inFeatures = 784, hidden = 256, outFeatures = 10) {
    super();
    this.fc1 = new Linear(inFeatures, hidden);
    this.fc2 = new Linear(hidden, outFeatures);
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.relu1.forward(this.fc1.forward(x)));
  }
}

/** torchvision's BasicBlock: two 3x3 convolutions and a skip (1x1 downsample on change). */
export class BasicBlock extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu = new ReLU();
  conv2: Conv2d;
  bn2: BatchNorm2d;
  downsample: Sequential | null = null;

  constructor(inPlanes: number, planes: number, stride = 1) {
    super();
    this.conv1 = new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    if (stride !== 1 || inPlanes !== planes) {
      this.downsample = new Sequential(
        new Conv2d(inPlanes, planes, 1, { stride, bias: false }),
        new BatchNorm2d(planes),
      );
    }
  }

  forward(x: Tensor): Tensor {
    let out = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    out = this.bn2.forward(this.conv2.forward(out));
    const identity = this.downsample ? this.downsample.forward(x) : x;
    return this.relu.forward(out.add(identity));
  }
}

/** ResNet-18 (torchvision's layout and names) on (N, 3, H, W) images. */
export class ResNet18 extends Module {
  conv1 = new Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false });
  bn1 = new BatchNorm2d(64);
  relu = new ReLU();
  maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
  layer1 = new Sequential(new BasicBlock(64, 64), new BasicBlock(64, 64));
  layer2 = new Sequential(new BasicBlock(64, 128, 2), new BasicBlock(128, 128));
  layer3 = new Sequential(new BasicBlock(128, 256, 2), new BasicBlock(256, 256));
  layer4 = new Sequential(new BasicBlock(256, 512, 2), new BasicBlock(512, 512));
  avgpool = new AdaptiveAvgPool2d(1);
  flatten = new Flatten(1);
  fc: Linear;

  constructor(numClasses = 1000) {
    super();
    this.fc = new Linear(512, numClasses);
  }

  forward(x: Tensor): Tensor {
    x = this.maxpool.forward(this.relu.forward(this.bn1.forward(this.conv1.forward(x))));
    for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) {
      x = layer.forward(x);
    }
    return this.fc.forward(this.flatten.forward(this.avgpool.forward(x)));
  }
}

/** One BERT encoder layer on (B, S, hidden): BERT-base is hidden 768, 12 heads, 3072. */
export class BertLayer extends Module {
  attention: MultiHeadAttention;
  attention_norm: LayerNorm;
  intermediate: Linear;
  act = new GELU();
  output: Linear;
  output_norm: LayerNorm;

  constructor(hidden = 768, heads = 12, intermediate = 3072, eps = 1e-12) {
    super();
    this.attention = new MultiHeadAttention(hidden, heads);
    this.attention_norm = new LayerNorm(hidden, eps);
    this.intermediate = new Linear(hidden, intermediate);
    this.output = new Linear(intermediate, hidden);
    this.output_norm = new LayerNorm(hidden, eps);
  }

  forward(x: Tensor): Tensor {
    const h = this.attention_norm.forward(x.add(this.attention.forward(x)));
    const ff = this.output.forward(this.act.forward(this.intermediate.forward(h)));
    return this.output_norm.forward(h.add(ff));
  }
}
