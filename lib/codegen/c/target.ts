/**
 * The "c" target: flatten, print C, compile (cached) and load (checked), and call. Everything
 * about an argument is checked in TypeScript before the native call, because after it there
 * is no checking at all: dtypes, ranks, shapes, real storage and outputs that overlap
 * another argument (the kernel's pointers are `restrict`) through `bindArguments`, and every
 * size passed as an int32. A nonzero status from the kernel (integer division by zero, a failed
 * allocation) becomes a TesseraError, as the interpreter would have thrown.
 */
import { TesseraError } from "../../error.ts";
import type { PrimFunc } from "../../ir/stmt.ts";
import { walkStmt } from "../../ir/visit.ts";
import { flattenStorage } from "../../lower/flatten.ts";
import { injectBoundsChecks } from "../../lower/injectBoundsCheck.ts";
import { arraysOf, bindArguments } from "../../runtime/args.ts";
import type { ArrayArg, BuildOptions, TargetKernel } from "../../runtime/build.ts";
import type { NDArray } from "../../runtime/ndarray.ts";
import { typedInfo } from "../../runtime/typed.ts";
import { profiledStages } from "../../lower/profileMarks.ts";
import { loadC } from "./compile.ts";
import { C_STATUS, printC } from "./printer.ts";

/** Flags the C printer's output needs on top of the driver's: float16 rounds per operation. */
const PRINTER_FLAGS = ["-fexcess-precision=standard"];

/** The C sources and libraries the extern stages of `f` need, each once. */
function externParts(f: PrimFunc): { sources: string[]; libs: string[] } {
  const sources = new Set<string>(), libs = new Set<string>();
  walkStmt(f.body, (s) => {
    if (s.kind !== "extern") return;
    if (s.impl.cSource !== null) sources.add(s.impl.cSource);
    s.impl.libs.forEach((l) => libs.add(l));
  });
  return { sources: [...sources], libs: [...libs] };
}

export async function buildC(func: PrimFunc, opts: BuildOptions): Promise<TargetKernel> {
  const flat = flattenStorage(opts.checked ? injectBoundsChecks(func) : func);
  const { source, entry, statuses } = printC(flat);
  // A profiling build times each stage into a float64 slot of one more argument.
  const profiled = profiledStages(flat.body);
  const parameters = [
    ...func.params.map(() => "buffer" as const),
    ...func.sizeVars.map(() => "i32" as const),
    ...func.scalars.map((v) => v.dtype === "float32" ? "f32" as const : "i32" as const),
    ...(profiled.length > 0 ? ["buffer" as const] : []),
  ];
  // Users' C sources may use any OpenMP, so a kernel with them keeps libgomp (pool.ts).
  const externs = externParts(flat);
  const { dl } = await loadC(
    source,
    {
      [entry]: { parameters, result: "i32" },
      nonblocking: { name: entry, parameters, result: "i32", nonblocking: true },
    } as const,
    {
      flags: opts.flags,
      cc: opts.cc,
      extraFlags: PRINTER_FLAGS,
      ...externs,
      pool: !externs.sources.length,
    },
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
  const prepare = (arrays: ArrayArg[], slots: Float64Array) => {
    const sizes = bindArguments(func, arrays, who);
    // Views made from the arrays' internal slots (bindArguments checked them, and that the
    // storage is fixed and attached), not from properties a caller could have replaced.
    const views = (arraysOf(func, arrays) as NDArray[]).map((a) => {
      const t = typedInfo(a.data)!;
      return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
    });
    const bytes = views.map((v) => v.byteLength);
    const ffiArgs: unknown[] = [...views];
    for (const v of [...func.sizeVars, ...func.scalars]) ffiArgs.push(sizes.get(v)!);
    if (profiled.length > 0) ffiArgs.push(slots);
    // A prepared call may run again later (timeEvaluator): a buffer detached since then
    // has no memory left, and the native code must not be handed it.
    const attached = () => {
      views.forEach((v, i) => {
        if (v.byteLength !== bytes[i] || typedInfo(v)!.unfixed !== null) {
          throw new TesseraError(
            `${who}: argument ${func.signature.indexOf(func.params[i]) + 1} ` +
              `'${func.params[i].name}' lost its storage (its ` +
              `ArrayBuffer was detached or transferred) after the call was checked`,
          );
        }
      });
    };
    if (opts.nonblocking) {
      return async () => {
        attached();
        status(await async(...ffiArgs));
      };
    }
    return () => {
      attached();
      status(sync(...ffiArgs));
    };
  };
  return {
    source,
    prepare: (arrays: ArrayArg[]) => prepare(arrays, new Float64Array(profiled.length)),
    ...(profiled.length > 0
      ? {
        async profile(arrays: ArrayArg[]) {
          const slots = new Float64Array(profiled.length);
          await prepare(arrays, slots)();
          return { stages: profiled, seconds: [...slots], how: "clock_gettime around each stage" };
        },
      }
      : {}),
  };
}
