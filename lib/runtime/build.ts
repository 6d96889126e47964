/**
 * `te.build`: lowers a schedule and hands the `PrimFunc` to a target, returning a kernel the
 * user calls as `await f(...arrays)` with arrays in the order of `args`. Targets register
 * themselves here; the interpreter is always present, the C and WebGPU backends add theirs.
 */
import { z } from "zod";
import { TesseraError } from "../error.ts";
import { evaluate } from "../ir/interpret.ts";
import { PrimFunc } from "../ir/stmt.ts";
import { lower } from "../lower/lower.ts";
import type { Schedule } from "../schedule/schedule.ts";
import type { Tensor } from "../te/tensor.ts";
import type { NDArray } from "./ndarray.ts";

export interface Kernel {
  (...args: NDArray[]): Promise<void>;
  readonly func: PrimFunc;
  readonly target: string;
  /** The code the target runs: the printed loop IR for the interpreter. */
  readonly source: string;
}

export interface BuildOptions {
  target?: string;
  name?: string;
}

type TargetFn = (
  func: PrimFunc,
) => Promise<{ run: (args: NDArray[]) => Promise<void>; source: string }>;

const targets = new Map<string, TargetFn>([
  ["interpreter", (func) =>
    Promise.resolve({
      run: (args: NDArray[]) => Promise.resolve(evaluate(func, args)),
      source: String(func),
    })],
]);

export function registerTarget(name: string, fn: TargetFn): void {
  targets.set(name, fn);
}

const optsSchema = z.object({ target: z.string().optional(), name: z.string().optional() })
  .strict();

export async function build(
  s: Schedule | PrimFunc,
  args?: Tensor[],
  opts: BuildOptions = {},
): Promise<Kernel> {
  const o = optsSchema.safeParse(opts);
  if (!o.success) {
    throw new TesseraError(
      `te.build: bad options ${JSON.stringify(opts)}; expected { target?, name? }`,
    );
  }
  const target = o.data.target ?? "interpreter";
  const fn = targets.get(target);
  if (!fn) {
    throw new TesseraError(
      `te.build: target '${target}' is not available; available: ${[...targets.keys()].join(", ")}`,
    );
  }
  let func: PrimFunc;
  if (s instanceof PrimFunc) func = s;
  else {
    if (!args) throw new TesseraError("te.build: pass the argument tensors (inputs and outputs)");
    func = lower(s, args, { name: o.data.name });
  }
  const { run, source } = await fn(func);
  const kernel = (...arrays: NDArray[]) => run(arrays);
  Object.defineProperties(kernel, {
    func: { value: func },
    target: { value: target },
    source: { value: source },
  });
  return kernel as unknown as Kernel;
}
