/**
 * The WebGPU peers of the benchmark against the workloads' float64 reference, with the checks
 * of ./peers_util.ts that the CPU peers' file uses. Where a peer cannot run (no adapter, the
 * library fails under Deno) its test is registered as ignored with the reason in its name, so
 * a skip never shows as a pass.
 */
import { allPeers } from "../lib/bench/peers/mod.ts";
import { checkPeers } from "./peers_util.ts";

await checkPeers(allPeers().filter((p) => p.device === "webgpu"));
