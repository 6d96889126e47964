/**
 * Tessera itself as a benchmark peer, so that its hand-scheduled kernels (./schedules/) are
 * timed by the same harness, on the same inputs and with the same result check as every
 * other library: "tessera-c" builds each workload's CPU schedule for the C target and
 * calls it on host arrays; "tessera-webgpu" builds the GPU schedule for the webgpu target
 * and keeps inputs and output resident on the device, so that a run is one dispatch and
 * one wait for it, never an upload or a download. With a tuning records file,
 * "tessera-c-tuned" and "tessera-webgpu-tuned" build the workload's plain program with the
 * best record for this machine instead (`te.build(..., { records })`; with none, the default
 * schedule, and te.build says so).
 */
import { nd, te } from "../mod.ts";
import { DeviceArray } from "../lib/runtime/device_array.ts";
import { getDevice } from "../lib/codegen/wgsl/device.ts";
import { checkInputs, firstLine, type Peer, type Prepared } from "../lib/bench/peers/peer.ts";
import { inputShapes, outputShape, type Workload } from "../lib/bench/workload.ts";
import { scheduleFor, type Target } from "./schedules/mod.ts";
import { definition } from "../lib/tune/workloads.ts";

export function tesseraPeer(target: Target, records?: string): Peer {
  const name = records ? `tessera-${target}-tuned` : `tessera-${target}`;
  return {
    name,
    device: target === "c" ? "cpu" : "webgpu",
    async available() {
      if (target === "c") return null;
      try {
        await getDevice();
        return null;
      } catch (e) {
        return firstLine(e);
      }
    },
    supports: () => null,
    async prepare(w: Workload, inputs: Float32Array[]): Promise<Prepared> {
      checkInputs(name, w, inputs);
      // A name per workload, so that a kernel's C or WGSL is told apart in caches and errors.
      const f = records
        ? await (() => {
          const args = definition(w);
          return te.build(args[args.length - 1], args, {
            target,
            records,
            name: `bench_${w.op}_tuned`,
          });
        })()
        : await (() => {
          const { s, args } = scheduleFor(w, target);
          return te.build(s, args, { target, name: `bench_${w.op}` });
        })();
      const shapes = inputShapes(w);
      const hostIn = inputs.map((x, i) => nd.array(x, shapes[i])); // copies

      if (target === "c") {
        const out = nd.empty(outputShape(w));
        return {
          run: () => f(...hostIn, out),
          result: () => Promise.resolve((out.data as Float32Array).slice()),
          dispose() {},
        };
      }
      const devIn: DeviceArray[] = [];
      let out: DeviceArray | null = null;
      try {
        for (const x of hostIn) devIn.push(await x.to("webgpu"));
        out = await DeviceArray.empty(outputShape(w), "float32");
      } catch (e) {
        for (const d of devIn) d.destroy();
        throw e;
      }
      const y = out;
      const run = async () => {
        // With device arrays only, the call submits and returns; wait here, once.
        await f(...devIn, y);
        await y.gpu.device.queue.onSubmittedWorkDone();
      };
      return {
        run,
        result: async () => (await y.toArray()) as Float32Array, // a fresh copy
        dispose() {
          for (const d of [...devIn, y]) d.destroy();
        },
      };
    },
  };
}
