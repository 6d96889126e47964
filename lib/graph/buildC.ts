/**
 * A whole model as ONE C shared library: each fused group's lowered function printed by the
 * C printer as a file of its own (its helpers stay static to it, its kernel hidden in the
 * library), plus a driver that calls the kernels in order on pointers into the arena, the
 * param block and the caller's input and output arrays. One inference is one FFI call of
 * the driver; the first kernel that reports a failure stops it and is named in the error.
 */
import { TesseraError } from "../error.ts";
import { flattenStorage } from "../lower/flatten.ts";
import { loadC } from "../codegen/c/compile.ts";
import { C_STATUS, printC } from "../codegen/c/printer.ts";
import type { NDArray } from "../runtime/ndarray.ts";
import { typedInfo } from "../runtime/typed.ts";
import type { GroupKernel, Location } from "./build.ts";
import type { Graph, Value } from "./ir.ts";

const ENTRY = "tsr_model";

export interface GraphC {
  /** The driver's source followed by each kernel's. */
  source: string;
  call(inputs: NDArray[], outputs: NDArray[]): void;
  /** One inference through the timed driver: each kernel's milliseconds, in order. */
  profile(inputs: NDArray[], outputs: NDArray[]): Float64Array;
}

function argOf(loc: Location): string {
  switch (loc.kind) {
    case "input":
      return `(void*)in${loc.index}`;
    case "output":
      return `(void*)out${loc.index}`;
    case "param":
      return `(void*)(params + ${loc.offset})`;
    case "arena":
      return `(void*)(arena + ${loc.offset})`;
  }
}

export async function buildGraphC(
  g: Graph,
  kernels: readonly GroupKernel[],
  where: ReadonlyMap<Value, Location>,
  params: Uint8Array,
  arena: Uint8Array,
): Promise<GraphC> {
  const units = kernels.map((k) => {
    if (k.func.sizeVars.length > 0 || k.func.scalars.length > 0) {
      throw new TesseraError(
        `internal: kernel ${k.func.name} has size or scalar parameters; sizes are bound`,
      );
    }
    const printed = printC(flattenStorage(k.func));
    const m = new RegExp(`int32_t ${printed.entry}\\(\\n\\s*([\\s\\S]*?)\\) \\{`).exec(
      printed.source,
    );
    if (!m) throw new TesseraError(`internal: no signature for ${printed.entry}`);
    const args = [...k.group.inputs, ...k.scratch, ...k.group.outputs].map((v) =>
      argOf(where.get(v)!)
    );
    return { k, printed, proto: `int32_t ${printed.entry}(${m[1].replace(/\s+/g, " ")});`, args };
  });
  const nin = g.inputs.length, nout = g.outputs.length;
  const sig = [
    "uint8_t* arena",
    "uint8_t* params",
    ...g.inputs.map((_, i) => `uint8_t* in${i}`),
    ...g.outputs.map((_, i) => `uint8_t* out${i}`),
    "int32_t* failed",
  ];
  const body = (timed: boolean) =>
    units.flatMap((u, i) => [
      `  if ((s = ${u.printed.entry}(${u.args.join(", ")})) != 0) { failed[0] = ${i}; return s; }`,
      ...(timed ? [`  ms[${i}] = tsr_ms_since(&t); clock_gettime(CLOCK_MONOTONIC, &t);`] : []),
    ]);
  const driver = [
    "#define _POSIX_C_SOURCE 199309L",
    "#include <stdint.h>",
    "#include <time.h>",
    "/* The kernels, one per fused group (each compiled from a file of its own). */",
    ...units.map((u) => u.proto),
    "",
    "/* One inference: every kernel in order, on arena, param and caller offsets. */",
    `__attribute__((visibility("default"))) int32_t ${ENTRY}(${sig.join(", ")}) {`,
    "  int32_t s;",
    ...body(false),
    "  return 0;",
    "}",
    "",
    "static double tsr_ms_since(const struct timespec* t0) {",
    "  struct timespec t;",
    "  clock_gettime(CLOCK_MONOTONIC, &t);",
    "  return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) * 1e-6;",
    "}",
    "",
    "/* The same inference, each kernel's milliseconds written to ms[i] (exe.profile). */",
    `__attribute__((visibility("default"))) int32_t ${ENTRY}_timed(${
      [...sig, "double* ms"].join(", ")
    }) {`,
    "  int32_t s;",
    "  struct timespec t;",
    "  clock_gettime(CLOCK_MONOTONIC, &t);",
    ...body(true),
    "  return 0;",
    "}",
    "",
  ].join("\n");
  const parameters = sig.map(() => "buffer" as const);
  const symbols = {
    [ENTRY]: { parameters, result: "i32" },
    [`${ENTRY}_timed`]: { parameters: [...parameters, "buffer"], result: "i32" },
  } as const;
  const { dl } = await loadC(driver, symbols, {
    sources: units.map((u) => u.printed.source),
    extraFlags: ["-fexcess-precision=standard", "-fvisibility=hidden"],
  });
  const fn = dl.symbols[ENTRY] as unknown as (...a: unknown[]) => number;
  const timed = dl.symbols[`${ENTRY}_timed`] as unknown as (...a: unknown[]) => number;
  const failed = new Int32Array(1);
  const bytes = (a: NDArray, what: string) => {
    const t = typedInfo(a.data);
    if (t === null || t.unfixed !== null) {
      throw new TesseraError(`model ${g.name}: ${what} has no fixed storage (${t?.unfixed})`);
    }
    return new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
  };
  const invoke = (f: typeof fn, inputs: NDArray[], outputs: NDArray[], extra: unknown[]) => {
    if (inputs.length !== nin || outputs.length !== nout) {
      throw new TesseraError(`internal: ${inputs.length} inputs, ${outputs.length} outputs`);
    }
    const s = f(
      arena,
      params,
      ...inputs.map((a, i) => bytes(a, `input ${i}`)),
      ...outputs.map((a, i) => bytes(a, `output ${i}`)),
      failed,
      ...extra,
    );
    if (s !== 0) {
      const u = units[failed[0]];
      const what = C_STATUS[s] ?? u?.printed.statuses[s] ?? `native status ${s}`;
      throw new TesseraError(`model ${g.name}: kernel ${u?.k.func.name} failed: ${what}`);
    }
  };
  return {
    source: [driver, ...units.map((u) => u.printed.source)].join("\n"),
    call: (inputs, outputs) => invoke(fn, inputs, outputs, []),
    profile(inputs, outputs) {
      const ms = new Float64Array(units.length);
      invoke(timed, inputs, outputs, [ms]);
      return ms;
    },
  };
}
