/**
 * Seeded "trained-looking" statistics for the normalization layers of a model: PyTorch starts
 * BatchNorm at the identity (mean 0, var 1, scale 1, shift 0) and LayerNorm at scale 1,
 * shift 0, which would let a wrong import or a wrong BatchNorm fold pass unnoticed. These
 * give every normalization parameter of a model seeded values of a realistic spread.
 */
import { rng } from "./init.ts";
import type { Module } from "./module.ts";

const RANGES: [RegExp, number, number][] = [
  [/running_var$/, 0.5, 1.5],
  [/running_mean$/, -0.2, 0.2],
  [/norm[^.]*\.weight$|bn\d*\.weight$|downsample\.1\.weight$/, 0.5, 1.5],
  [/norm[^.]*\.bias$|bn\d*\.bias$|downsample\.1\.bias$/, -0.2, 0.2],
];

/** Assigns seeded data to every normalization parameter of `m` (by name); returns m. */
export function seedNormStats<M extends Module>(m: M, seed: number): M {
  for (const [name, p] of m.namedParameters()) {
    const r = RANGES.find(([re]) => re.test(name));
    if (!r || p.dtype !== "float32") continue;
    const next = rng(seed, `stats:${name}`);
    p.assign(Float32Array.from({ length: p.size }, () => r[1] + (r[2] - r[1]) * next()));
  }
  return m;
}
