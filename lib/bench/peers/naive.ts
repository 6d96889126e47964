/**
 * The floor every other number is read against: each workload as plain loops over typed arrays
 * in TypeScript, as someone would write it without thinking about caches or SIMD. It is the
 * workload's own float64 reference, so the floor and the check are the same obviously correct
 * code.
 */
import { reference } from "../workload.ts";
import { checkPrepare, type Peer, type Prepared } from "./peer.ts";

export const naivePeer: Peer = {
  name: "naive-ts",
  device: "cpu",
  available: () => Promise.resolve(null),
  supports: () => null,
  prepare(w, inputs): Promise<Prepared> {
    // A bad input rejects the promise, as with every other peer, rather than throwing here.
    try {
      checkPrepare(naivePeer, w, inputs);
    } catch (e) {
      return Promise.reject(e);
    }
    const copies = inputs.map((x) => x.slice());
    let out: Float32Array | undefined;
    return Promise.resolve({
      run() {
        out = reference(w, copies);
      },
      result() {
        if (!out) return Promise.reject(new Error("naive-ts: result() before run()"));
        return Promise.resolve(out.slice());
      },
      dispose() {},
    });
  },
};
