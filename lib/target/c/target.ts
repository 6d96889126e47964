/**
 * The "c" target: flatten, print C, compile (cached) and load (checked), and call. Everything
 * about an argument is checked in TypeScript before the native call, because after it there
 * is no checking at all: dtypes, ranks and shapes through `bindArguments`, outputs that
 * overlap another argument (the kernel's pointers are `restrict`), and every size passed as
 * an int32. A nonzero status from the kernel (integer division by zero, a failed
 * allocation) becomes a TesseraError, as the interpreter would have thrown.
 */
import { TesseraError } from "../../error.ts";
import type { PrimFunc } from "../../ir/stmt.ts";
import { flattenStorage } from "../../lower/flatten.ts";
import { injectBoundsChecks } from "../../lower/injectBoundsCheck.ts";
import { bindArguments, checkNoOutputAliasing } from "../../runtime/args.ts";
import type { ArrayArg, BuildOptions, TargetKernel } from "../../runtime/build.ts";
import type { NDArray } from "../../runtime/ndarray.ts";
import { loadC } from "./compile.ts";
import { C_STATUS, printC } from "./printer.ts";

/** Flags the C printer's output needs on top of the driver's: float16 rounds per operation. */
const PRINTER_FLAGS = ["-fexcess-precision=standard"];

export async function buildC(func: PrimFunc, opts: BuildOptions): Promise<TargetKernel> {
  const flat = flattenStorage(opts.checked ? injectBoundsChecks(func) : func);
  const { source, entry, statuses } = printC(flat);
  const parameters = [
    ...func.params.map(() => "buffer" as const),
    ...func.sizeVars.map(() => "i32" as const),
  ];
  const { dl } = await loadC(
    source,
    {
      [entry]: { parameters, result: "i32" },
      nonblocking: { name: entry, parameters, result: "i32", nonblocking: true },
    } as const,
    { flags: opts.flags, cc: opts.cc, extraFlags: PRINTER_FLAGS },
  );
  const sync = dl.symbols[entry] as (...a: unknown[]) => number;
  const async = dl.symbols.nonblocking as (...a: unknown[]) => Promise<number>;
  const who = `kernel ${func.name} (c)`;
  const status = (code: number) => {
    if (code !== 0) {
      const what = C_STATUS[code] ?? statuses[code] ?? `native status ${code}`;
      throw new TesseraError(`${who}: ${what}`);
    }
  };
  return {
    source,
    prepare(arrays: ArrayArg[]) {
      const sizes = bindArguments(func, arrays, who);
      const args = arrays as NDArray[]; // bindArguments accepts host arrays only
      checkNoOutputAliasing(func, args, who);
      const ffiArgs: unknown[] = args.map((a) =>
        new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength)
      );
      for (const v of func.sizeVars) ffiArgs.push(sizes.get(v)!);
      if (opts.nonblocking) return async () => status(await async(...ffiArgs));
      return () => status(sync(...ffiArgs));
    },
  };
}
