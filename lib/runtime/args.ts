/**
 * Checking a kernel's arguments against its parameters, shared by every target: the count,
 * each array's dtype, rank and storage, and every dimension against the declared shape, with
 * symbolic sizes bound from the first dimension they appear in and checked everywhere else.
 * The interpreter needs this to give good errors; the native and GPU targets need it because
 * a wrongly sized buffer reaching an FFI call would be memory corruption, not an error. So
 * it runs before anything executes and says which argument, which dimension, and why.
 */
import { simplify } from "../arith/simplify.ts";
import { TesseraError } from "../error.ts";
import type { Expr, Var } from "../ir/expr.ts";
import { intConst } from "../ir/expr.ts";
import type { PrimFunc } from "../ir/stmt.ts";
import { substitute } from "../ir/visit.ts";
import { hasNativeFloat16, NDArray } from "./ndarray.ts";

const storageName: Record<string, string> = {
  float32: "Float32Array",
  int32: "Int32Array",
  bool: "Uint8Array",
  float16: hasNativeFloat16 ? "Float16Array" : "Uint16Array",
};

/** The value of `e` given the bound sizes, or null when it does not reduce to a constant. */
export function evalSize(e: Expr, sizes: ReadonlyMap<Var, number>): number | null {
  const m = new Map<Var, Expr>();
  for (const [v, x] of sizes) m.set(v, intConst(x));
  const r = simplify(substitute(e, m));
  return r.kind === "const" ? r.value : null;
}

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

  // Bind size variables from the first dimension they appear in; check all the others.
  const sizes = new Map<Var, number>();
  const from = new Map<Var, number>();
  const later: Array<[number, number, Expr]> = [];
  func.params.forEach((p, i) => {
    p.shape.forEach((dim, d) => {
      const actual = arrays[i].shape[d];
      if (dim.kind === "var") {
        const prev = sizes.get(dim);
        if (prev === undefined) {
          sizes.set(dim, actual);
          from.set(dim, i);
        } else if (prev !== actual) {
          fail(
            `${argName(i)} dimension ${d} is ${actual} but ${dim.name} = ${prev} from ` +
              argName(from.get(dim)!),
          );
        }
      } else if (dim.kind === "const") {
        if (dim.value !== actual) {
          fail(`${argName(i)} dimension ${d} is ${actual} but the parameter requires ${dim.value}`);
        }
      } else later.push([i, d, dim]);
    });
  });
  for (const v of func.sizeVars) {
    if (!sizes.has(v)) {
      fail(
        `size variable '${v.name}' does not appear as a dimension of any parameter, so it ` +
          `cannot be bound from the arguments' shapes`,
      );
    }
    if (sizes.get(v)! > 0x7fffffff) fail(`size variable '${v.name}' exceeds int32`);
  }
  for (const [i, d, dim] of later) {
    const actual = arrays[i].shape[d];
    const want = evalSize(dim, sizes);
    if (want === null) fail(`${argName(i)} dimension ${d} (${String(dim)}) cannot be evaluated`);
    if (want !== actual) {
      fail(`${argName(i)} dimension ${d} is ${actual} but the parameter requires ${want}`);
    }
  }
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
