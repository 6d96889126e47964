/**
 * The "webgpu" target: flatten, plan the dispatches and print their WGSL, then hand the plan
 * to the WebGPU runtime. Arguments are checked against the parameters before anything is
 * uploaded or dispatched, exactly as for the C target; host arrays are copied in and out
 * for the caller, device arrays are used in place.
 */
import { TesseraError } from "../../error.ts";
import type { PrimFunc } from "../../ir/stmt.ts";
import { walkStmt } from "../../ir/visit.ts";
import { unrollLoops } from "../../lower/unroll.ts";
import { flattenStorage } from "../../lower/flatten.ts";
import { injectBoundsChecks } from "../../lower/injectBoundsCheck.ts";
import { arraysOf, bindArguments } from "../../runtime/args.ts";
import type { ArrayArg, BuildOptions, TargetKernel } from "../../runtime/build.ts";
import type { KernelArg } from "./runtime.ts";
import { getDevice } from "./device.ts";
import { loopBudget } from "./loop_budget.ts";
import { planWgsl } from "./dispatches.ts";
import { prepareWgsl } from "./runtime.ts";

export async function buildWebgpu(func: PrimFunc, opts: BuildOptions): Promise<TargetKernel> {
  walkStmt(func.body, (s) => {
    if (s.kind === "extern") {
      throw new TesseraError(
        `te.build(${func.name}, webgpu): extern stage '${s.impl.stage}' calls C function ` +
          `'${s.fname}'; extern calls run on the C target only: build with { target: "c" }, ` +
          `or write the stage as a te.compute`,
      );
    }
  });
  const checked = opts.checked ? injectBoundsChecks(func) : func;
  // Unrolled loops are unrolled here: WGSL has no pragma for it, and constant indices let
  // the shader compiler keep a thread's private arrays in registers.
  const unrolled = func.withBody(unrollLoops(checked.body));
  const flat = flattenStorage(unrolled);
  const plan = planWgsl(flat);
  const who = `kernel ${func.name} (webgpu)`;
  const runner = await prepareWgsl(plan, who);
  const budget = (await getDevice()).description.includes("llvmpipe")
    ? loopBudget(flat, who)
    : () => {};
  const source = plan.dispatches.map((d) => d.source).join("\n");
  return {
    source,
    prepare(all: ArrayArg[]) {
      const sizes = bindArguments(func, all, who, { deviceArrays: true });
      const args = arraysOf(func, all) as KernelArg[];
      budget(sizes);
      runner.check(args, sizes);
      return () => runner.run(args, sizes);
    },
    ...(plan.dispatches.some((d) => d.profiled !== undefined)
      ? {
        async profile(all: ArrayArg[]) {
          const sizes = bindArguments(func, all, who, { deviceArrays: true });
          const args = arraysOf(func, all) as KernelArg[];
          budget(sizes);
          runner.check(args, sizes);
          const { seconds, timestamps } = await runner.profile(args, sizes);
          const stages: string[] = [], total: number[] = [];
          plan.dispatches.forEach((d, k) => {
            const name = d.profiled ?? "(unmarked)";
            if (!stages.includes(name)) stages.push(name), total.push(0);
            total[stages.indexOf(name)] += seconds[k];
          });
          return {
            stages,
            seconds: total,
            how: timestamps
              ? "timestamp queries around each dispatch"
              : "host clock around each dispatch submitted alone (no timestamp-query here; " +
                "each includes a submission's overhead)",
          };
        },
      }
      : {}),
    measure(all: ArrayArg[], n: number) {
      const sizes = bindArguments(func, all, who, { deviceArrays: true });
      const args = arraysOf(func, all) as KernelArg[];
      budget(sizes);
      runner.check(args, sizes);
      return runner.measure(args, sizes, n);
    },
  };
}
