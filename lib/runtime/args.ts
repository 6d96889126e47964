/**
 * Checking a kernel's arguments against its parameters, shared by every target: the count,
 * each array's dtype, rank and storage, and every dimension against the declared shape, with
 * symbolic sizes bound from the first dimension they appear in and checked everywhere else.
 * The interpreter needs this to give good errors; the native and GPU targets need it because
 * a wrongly sized buffer reaching an FFI call would be memory corruption, not an error. So
 * it runs before anything executes and says which argument, which dimension, and why.
 */
import { TesseraError } from "../error.ts";
import type { Var } from "../ir/expr.ts";
import type { PrimFunc } from "../ir/stmt.ts";
import { hasNativeFloat16, NDArray } from "./ndarray.ts";
import { bindSizes, checkSizes } from "./sizes.ts";

const storageName: Record<string, string> = {
  float32: "Float32Array",
  int32: "Int32Array",
  bool: "Uint8Array",
  float16: hasNativeFloat16 ? "Float16Array" : "Uint16Array",
};

export { evalSize } from "./sizes.ts";

/** What a kernel argument must have: host NDArrays and device arrays both do. */
export interface ArrayLikeArg {
  readonly shape: readonly number[];
  readonly dtype: string;
}

const isDeviceArray = (a: unknown): a is ArrayLikeArg & { device: string } =>
  !(a instanceof NDArray) && typeof a === "object" && a !== null &&
  Array.isArray((a as ArrayLikeArg).shape) && typeof (a as ArrayLikeArg).dtype === "string" &&
  typeof (a as { device?: unknown }).device === "string";

/**
 * Checks `args` against `func`'s parameters and returns the value of every size variable.
 * `who` prefixes every message (e.g. "evaluate(matmul)"). Targets that run on a device pass
 * `{ deviceArrays: true }` to accept its arrays too (their storage is the device's to check);
 * the others reject them, saying how to bring them to the host.
 */
export function bindArguments(
  func: PrimFunc,
  args: unknown[],
  who: string,
  opts: { deviceArrays?: boolean } = {},
): Map<Var, number> {
  const fail = (msg: string): never => {
    throw new TesseraError(`${who}: ${msg}`);
  };
  if (args.length !== func.params.length) {
    fail(
      `expected ${func.params.length} arguments (${
        func.params.map((p) => p.name).join(", ")
      }) but got ${args.length}`,
    );
  }
  const argName = (i: number) => `argument ${i + 1} '${func.params[i].name}'`;
  const arrays = args.map((a, i) => {
    if (isDeviceArray(a) && !opts.deviceArrays) {
      fail(
        `${argName(i)} is an array on the ${a.device} device, but this target takes host ` +
          `arrays; pass \`await x.toHost()\` instead`,
      );
    }
    if (!(a instanceof NDArray) && !isDeviceArray(a)) {
      fail(`${argName(i)} is not an NDArray (make one with nd.array or nd.empty)`);
    }
    return a as ArrayLikeArg;
  });
  func.params.forEach((p, i) => {
    const a = arrays[i];
    if (a.dtype !== p.dtype) {
      fail(`${argName(i)} has dtype ${a.dtype} but the parameter is ${p.dtype}`);
    }
    if (a.shape.length !== p.shape.length) {
      fail(
        `${argName(i)} has rank ${a.shape.length} (shape [${a.shape.join(", ")}]) but the ` +
          `parameter has rank ${p.shape.length}`,
      );
    }
    // NDArray's constructor guarantees this, but a native call must not trust it.
    const n = a.shape.reduce((x, y) => x * y, 1);
    if (!(a instanceof NDArray)) return;
    if (a.data.constructor.name !== storageName[a.dtype] || a.data.length !== n) {
      fail(
        `${argName(i)} has ${a.data.length} elements of ${a.data.constructor.name} storage ` +
          `but shape [${a.shape.join(", ")}] of ${a.dtype} needs ${n} in a ${storageName[a.dtype]}`,
      );
    }
  });

  // Size variables come from the dimensions (exactly, never wrapped); then the loops and
  // temporaries those sizes make are checked against their limits.
  const dims = func.params.flatMap((p, i) =>
    p.shape.map((expr, d) => ({
      expr,
      actual: arrays[i].shape[d],
      where: `${argName(i)} dimension ${d}`,
      arg: argName(i),
    }))
  );
  const sizes = bindSizes(func, dims, fail);
  checkSizes(func, sizes, fail);
  return sizes;
}

/**
 * Native kernels declare their pointers `restrict`, so an output may share no memory with
 * any other argument. Inputs may overlap each other (nothing writes them).
 */
export function checkNoOutputAliasing(func: PrimFunc, args: NDArray[], who: string): void {
  const range = (a: NDArray) => [a.data.byteOffset, a.data.byteOffset + a.data.byteLength];
  func.params.forEach((p, i) => {
    if (!func.outputs.includes(p)) return;
    const [lo, hi] = range(args[i]);
    args.forEach((b, j) => {
      if (j === i || b.data.buffer !== args[i].data.buffer || hi === lo) return;
      const [lo2, hi2] = range(b);
      if (lo < hi2 && lo2 < hi) {
        throw new TesseraError(
          `${who}: output argument ${i + 1} '${p.name}' shares memory with argument ${j + 1} ` +
            `'${func.params[j].name}'; pass separate arrays (copy the input first)`,
        );
      }
    });
  });
}
