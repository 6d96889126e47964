/**
 * The `nn` namespace (mod.ts re-exports this file as `nn`, so `nn.Module`, `nn.Tensor` work
 * as types too): `Module`, the layers, `spec` for export input types, seeded `init`, and
 * `Parameter`. `model.exportGraph({ forward: { x: nn.spec.tensor(["n", 784]) } })` traces a
 * model into the graph IR.
 */
export { init } from "./init.ts";
export type { Init } from "./init.ts";
export { Module, spec } from "./module.ts";
export type { ExportedModel, ExportOptions, TensorSpec } from "./module.ts";
export { Parameter } from "./parameter.ts";
export { Tensor } from "./tensor.ts";
export { Dropout, GELU, ReLU, Sigmoid, Softmax, Tanh } from "./layers/activation.ts";
export { MultiHeadAttention } from "./layers/attention.ts";
export { Residual, Sequential } from "./layers/container.ts";
export { Conv2d } from "./layers/conv.ts";
export type { Conv2dOptions } from "./layers/conv.ts";
export { Embedding } from "./layers/embedding.ts";
export { Flatten } from "./layers/flatten.ts";
export { Linear } from "./layers/linear.ts";
export { BatchNorm2d, LayerNorm } from "./layers/norm.ts";
export { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from "./layers/pool.ts";
export { BasicBlock, BertLayer, MLP, ResNet18 } from "./models.ts";
export { seedNormStats } from "./seeded.ts";
