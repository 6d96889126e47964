/**
 * The list of peers a benchmark measures beside Tessera's own kernels, and a description of
 * the machine to print next to the numbers, since a GFLOP/s figure means little without the
 * CPU, core count and runtime it came from.
 */
import { jaxJsPeer } from "./jax_js.ts";
import { naivePeer } from "./naive.ts";
import { numpyPeer } from "./numpy.ts";
import { onnxruntimePeer } from "./onnxruntime.ts";
import { openblasPeer } from "./openblas.ts";
import type { Peer } from "./peer.ts";
import { tfjsCpuPeer, tfjsWasmPeer } from "./tfjs.ts";
import { jaxJsWebgpuPeer, tfjsWebgpuPeer } from "./webgpu.ts";

export type { Device, Peer, Prepared } from "./peer.ts";
export { peersAtTheirBest } from "./peer.ts";

/**
 * Every peer: the CPU ones (fastest kind first), then the WebGPU ones, which are measured
 * against Tessera's webgpu target rather than its C kernels (see each peer's `device`). Ask
 * each `available()` and `supports(w)` before using it. A script that ran jax-js-wasm must end
 * with `Deno.exit()`, since its worker pool cannot be shut down.
 */
export function allPeers(): Peer[] {
  return [
    openblasPeer,
    numpyPeer,
    onnxruntimePeer,
    jaxJsPeer,
    tfjsWasmPeer,
    tfjsCpuPeer,
    naivePeer,
    tfjsWebgpuPeer,
    jaxJsWebgpuPeer,
  ];
}
