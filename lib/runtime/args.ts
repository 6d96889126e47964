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
import { checkStorage, NDArray } from "./ndarray.ts";
import { typedInfo } from "./typed.ts";
import { bindSizes, checkSizes } from "./sizes.ts";
import { evalExact } from "../arith/exact.ts";

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
    // NDArray's constructor checked this, but its storage may have been detached, resized or
    // (bool) written since, and a native call must not trust it.
    if (a instanceof NDArray) {
      checkStorage(a.data, a.dtype, a.shape.reduce((x, y) => x * y, 1), `${who}: ${argName(i)}`);
    }
  });
  checkNoOutputAliasing(func, arrays, who);

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
  checkRequirements(func, sizes, who);
  return sizes;
}

/** The facts a schedule needs of the sizes (a symbolic split factor of at least 1). */
function checkRequirements(func: PrimFunc, sizes: ReadonlyMap<Var, number>, who: string): void {
  for (const r of func.requires) {
    const v = evalExact(r.value, sizes);
    if (v !== null && v >= 1) continue;
    const bound = [...sizes].map(([x, n]) => `${x.name} = ${n}`).join(", ");
    throw new TesseraError(
      `${who}: ${r.what} is ${v ?? "not computable"} for this call (${bound}); it must be at ` +
        `least 1, so pass arrays whose sizes make it positive`,
    );
  }
}

/**
 * An output may share no memory with any other argument, on every target: native kernels
 * declare their pointers `restrict`, WebGPU forbids a buffer bound twice when one binding is
 * writable, and the interpreter follows the same rule so that all agree. Inputs may overlap
 * each other (nothing writes them). Device arrays are the device's to check.
 */
export function checkNoOutputAliasing(func: PrimFunc, args: ArrayLikeArg[], who: string): void {
  const mem = args.map((a) => (a instanceof NDArray ? typedInfo(a.data) : null));
  func.params.forEach((p, i) => {
    const m = mem[i];
    if (!func.outputs.includes(p) || m === null || m.byteLength === 0) return;
    mem.forEach((o, j) => {
      if (j === i || o === null || o.buffer !== m.buffer) return;
      if (
        m.byteOffset < o.byteOffset + o.byteLength && o.byteOffset < m.byteOffset + m.byteLength
      ) {
        throw new TesseraError(
          `${who}: output argument ${i + 1} '${p.name}' shares memory with argument ${j + 1} ` +
            `'${func.params[j].name}'; pass separate arrays (copy the input first)`,
        );
      }
    });
  });
}
