/**
 * Seeded parameter initialization. A parameter that is not given data is filled from the
 * export seed and its own qualified name ("fc1.weight"), so a value depends on nothing but
 * those two: reordering layers, adding one, or exporting twice gives the same numbers for
 * every parameter that did not change. The distributions are PyTorch's defaults, so a seeded
 * model has activations of a realistic scale.
 */
import { TesseraError } from "../error.ts";

/** How a parameter without data is filled. */
export type Init =
  | { kind: "uniform"; bound: number }
  | { kind: "normal"; std: number }
  | { kind: "constant"; value: number };

export const init = {
  /** U(-bound, bound): PyTorch's Linear and Conv default is bound = 1/sqrt(fan_in). */
  uniform: (bound: number): Init => ({ kind: "uniform", bound }),
  normal: (std = 1): Init => ({ kind: "normal", std }),
  constant: (value: number): Init => ({ kind: "constant", value }),
  zeros: (): Init => ({ kind: "constant", value: 0 }),
  ones: (): Init => ({ kind: "constant", value: 1 }),
};

/** FNV-1a over the seed and the name: a 32-bit stream id. */
function hash(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small, well-mixed 32-bit generator; uniform in [0, 1). */
export function rng(seed: number, name = ""): () => number {
  let s = hash(seed, name);
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` float32 values drawn from `how`, for the parameter named `name`. */
export function fill(how: Init, n: number, seed: number, name: string): Float32Array {
  if (!Number.isInteger(seed)) {
    throw new TesseraError(`nn: the seed must be an integer, got ${String(seed)}`);
  }
  const out = new Float32Array(n);
  const next = rng(seed, name);
  switch (how.kind) {
    case "constant":
      out.fill(how.value);
      break;
    case "uniform":
      for (let i = 0; i < n; i++) out[i] = (2 * next() - 1) * how.bound;
      break;
    case "normal":
      for (let i = 0; i < n; i++) {
        // Box-Muller; 1 - u keeps the logarithm finite.
        const u = 1 - next(), v = next();
        out[i] = how.std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
      }
      break;
  }
  return out;
}
