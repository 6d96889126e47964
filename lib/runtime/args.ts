/**
 * Checking a kernel's arguments against its parameters, shared by every target: the count,
 * each array's dtype, rank and storage, and every dimension against the declared shape, with
 * symbolic sizes bound from the first dimension they appear in and checked everywhere else.
 * The interpreter needs this to give good errors; the native and GPU targets need it because
 * a wrongly sized buffer reaching an FFI call would be memory corruption, not an error. So
 * it runs before anything executes and says which argument, which dimension, and why.
 */
import { TesseraError } from "../error.ts";
import { Var } from "../ir/expr.ts";
import type { PrimFunc } from "../ir/stmt.ts";
import { checkStorage, NDArray } from "./ndarray.ts";
import { typedInfo } from "./typed.ts";
import { bindSizes, checkSizes, type Dim } from "./sizes.ts";
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
  args: readonly unknown[],
  who: string,
  opts: { deviceArrays?: boolean } = {},
): Map<Var, number> {
  const fail = (msg: string): never => {
    throw new TesseraError(`${who}: ${msg}`);
  };
  const sig = func.signature;
  if (args.length !== sig.length) {
    fail(
      `expected ${sig.length} arguments (${
        sig.map((p) => p.name).join(", ")
      }) but got ${args.length}`,
    );
  }
  // Positions in the caller's order, so that messages count arguments as the caller does.
  const pos = func.params.map((p) => sig.indexOf(p));
  const argName = (i: number) => `argument ${pos[i] + 1} '${func.params[i].name}'`;
  const scalars = scalarArguments(func, args, fail);
  const arrays = arraysOf(func, args).map((a, i) => {
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
  // (Named only in a message: building the names on every call cost more than the checks.)
  const dims: Dim[] = [];
  func.params.forEach((p, i) =>
    p.shape.forEach((expr, d) => dims.push({ expr, actual: arrays[i].shape[d], param: i, dim: d }))
  );
  const sizes = bindSizes(func, dims, fail, argName);
  for (const [v, { value, where }] of scalars) {
    // A size variable listed among the arguments is bound from the shapes; the number
    // passed for it must agree.
    if (sizes.has(v) && sizes.get(v) !== value) {
      fail(`${where} is ${value} but the shapes give ${v.name} = ${sizes.get(v)}`);
    }
    sizes.set(v, value);
  }
  checkSizes(func, sizes, fail);
  checkRequirements(func, sizes, who);
  return sizes;
}

/** The array arguments in `func.params` order (the caller's order has scalars among them). */
export function arraysOf<T>(func: PrimFunc, args: readonly T[]): T[] {
  return func.params.map((p) => args[func.signature.indexOf(p)]);
}

/**
 * The numbers passed for scalar arguments, checked before anything runs: an int32 scalar must
 * be an integer in int32's range (never wrapped); a float32 one any number, NaN and the
 * infinities included, rounded to float32 as the kernel will see it.
 */
function scalarArguments(
  func: PrimFunc,
  args: readonly unknown[],
  fail: (msg: string) => never,
): Map<Var, { value: number; where: string }> {
  const out = new Map<Var, { value: number; where: string }>();
  func.signature.forEach((p, i) => {
    if (!(p instanceof Var)) return;
    const x = args[i];
    const where = `argument ${i + 1} '${p.name}'`;
    if (typeof x !== "number") {
      fail(
        `${where} is a ${p.dtype} scalar; pass a JavaScript number, got ${
          x instanceof NDArray ? "an NDArray" : typeof x === "bigint" ? "a BigInt" : typeof x
        }`,
      );
    }
    const n = x as number;
    if (p.dtype === "int32" && !(Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31)) {
      fail(`${where} is ${n}; an int32 scalar must be an integer in [-2147483648, 2147483647]`);
    }
    out.set(p, { value: p.dtype === "float32" ? Math.fround(n) : n, where });
  });
  return out;
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
        const at = (k: number) => func.signature.indexOf(func.params[k]) + 1;
        throw new TesseraError(
          `${who}: output argument ${at(i)} '${p.name}' shares memory with argument ${at(j)} ` +
            `'${func.params[j].name}'; pass separate arrays (copy the input first)`,
        );
      }
    });
  });
}
