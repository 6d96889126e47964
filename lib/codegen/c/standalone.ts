/**
 * A kernel as a self-contained C program: the generated function plus a `main` that fills
 * heap buffers of exactly the arguments' sizes with the arguments' values, calls the
 * kernel once and prints every output element. It exists so that a kernel can be run
 * outside Deno, under tools that need to own the process: AddressSanitizer and UBSan (whose
 * runtime must be linked into the executable, and whose redzones only guard `malloc`ed
 * memory, not JavaScript's), valgrind or gdb.
 */
import { isInt } from "../../ir/dtype.ts";
import type { PrimFunc } from "../../ir/stmt.ts";
import { flattenStorage } from "../../lower/flatten.ts";
import { arraysOf, bindArguments } from "../../runtime/args.ts";
import type { NDArray } from "../../runtime/ndarray.ts";
import { printC } from "./printer.ts";

const storage = {
  float32: "float",
  float16: "_Float16",
  float64: "double",
  int32: "int32_t",
  int8: "int8_t",
  uint8: "uint8_t",
  int64: "int64_t",
  bool: "uint8_t",
};

/** Exact text of a value for C; float16 is given through float, which holds it exactly. */
function literal(x: number, dtype: NDArray["dtype"]): string {
  if (isInt(dtype) || dtype === "bool") return dtype === "int64" ? `${x}LL` : String(x);
  if (Number.isNaN(x)) return "NAN";
  if (!Number.isFinite(x)) return x > 0 ? "INFINITY" : "-INFINITY";
  const t = String(x);
  const f = dtype === "float64" ? "" : "f";
  return /[.e]/.test(t) ? `${t}${f}` : `${t}.0${f}`;
}

/** The C program; it prints `name index value` lines for every output element. */
export function standaloneC(func: PrimFunc, all: ReadonlyArray<NDArray | number>): string {
  const sizes = bindArguments(func, [...all], `standaloneC(${func.name})`);
  const args = arraysOf(func, all) as NDArray[];
  const { source, entry } = printC(flattenStorage(func));
  const lines: string[] = ["#include <stdio.h>", "#include <string.h>", "", "int main(void) {"];
  const callArgs: string[] = [];
  func.params.forEach((_p, i) => {
    const a = args[i], ty = storage[a.dtype], n = a.size, name = `arg${i}`;
    const values = a.dtype === "int64"
      ? Array.from(a.data64, (x) => `${x}LL`)
      : Array.from(a.toArray(), (x) => literal(Number(x), a.dtype));
    lines.push(
      `  static const ${ty} ${name}_init[${Math.max(1, n)}] = {${values.join(", ") || "0"}};`,
      `  ${ty}* ${name} = (${ty}*)malloc(${Math.max(1, n)} * sizeof(${ty}));`,
      `  memcpy(${name}, ${name}_init, ${n} * sizeof(${ty}));`,
    );
    callArgs.push(name);
  });
  for (const v of func.sizeVars) callArgs.push(String(sizes.get(v)));
  for (const v of func.scalars) callArgs.push(literal(sizes.get(v)!, v.dtype));
  lines.push(`  int32_t status = ${entry}(${callArgs.join(", ")});`);
  lines.push(`  if (status != 0) { printf("status %d\\n", status); return 3; }`);
  func.params.forEach((p, i) => {
    if (!func.outputs.includes(p)) return;
    const int = isInt(args[i].dtype) || args[i].dtype === "bool";
    const fmt = args[i].dtype === "int64" ? "%lld" : int ? "%d" : "%.17g";
    const cast = args[i].dtype === "int64" ? "(long long)" : int ? "(int)" : "(double)";
    lines.push(
      `  for (long k = 0; k < ${
        args[i].size
      }; k++) printf("${i} %ld ${fmt}\\n", k, ${cast}arg${i}[k]);`,
    );
  });
  for (let i = 0; i < func.params.length; i++) lines.push(`  free(arg${i});`);
  lines.push("  return 0;", "}");
  return `${source}\n${lines.join("\n")}\n`;
}

/** Parses the program's output into one array of numbers per parameter index. */
export function parseStandaloneOutput(text: string): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const line of text.split("\n")) {
    const m = /^(\d+) (\d+) (\S+)$/.exec(line);
    if (!m) continue;
    const i = Number(m[1]);
    if (!out.has(i)) out.set(i, []);
    const v = m[3].replace(/^(-?)inf$/, "$1Infinity");
    out.get(i)![Number(m[2])] = /nan/.test(v) ? NaN : Number(v);
  }
  return out;
}
