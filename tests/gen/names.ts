/**
 * Hostile names for property tests: the programs' tensors, stages, loops, reduce axes and
 * size variables are now and then named like a C keyword, a libc or GNU macro (`HUGE_VAL`
 * expands to a function; `linux` to 1), a WGSL reserved word, a name the runtime itself
 * emits (`main`, `tsr_err`, `lid`) or a mangled name (`v_x`, `b_A`), and the same name is
 * drawn again for other things. Names that are not identifiers are refused at the API
 * (tests/names_test.ts), so they cannot take part here.
 */
import type { Choices } from "./choices.ts";

export const HOSTILE_NAMES = [
  "HUGE_VAL",
  "HUGE_VALF",
  "MB_CUR_MAX",
  "NULL",
  "M_PI",
  "INT32_MAX",
  "EOF",
  "errno",
  "asm",
  "linux",
  "unix",
  "int",
  "float",
  "restrict",
  "alignas",
  "storage",
  "uniform",
  "read",
  "read_write",
  "f32",
  "select",
  "main",
  "tsr_err",
  "tsr_div",
  "tsr_sizes",
  "TsrSizes",
  "wid",
  "lid",
  "k_main",
  "v_i",
  "b_A",
  "_",
] as const;

/** `base`, or (one time in five) a hostile name. */
export function nameFor(c: Choices, base: string): string {
  return c.chance(20) ? c.one(HOSTILE_NAMES) : base;
}

/**
 * `f` as a function whose parameters are named `names` (te.compute names its loops after
 * the parameters it reads from the function's source). Names must be distinct.
 */
export function withParams<F extends (...a: never[]) => unknown>(names: string[], f: F): F {
  const ps = names.join(", ");
  return new Function("f", `return (${ps}) => f(${ps});`)(f);
}

/** `n` distinct loop names: each is `base<d>` or a hostile name not yet taken. */
export function loopNames(c: Choices, n: number, base = "ax"): string[] {
  const out: string[] = [];
  for (let d = 0; d < n; d++) {
    const x = nameFor(c, `${base}${d}`);
    out.push(out.includes(x) ? `${base}${d}` : x);
  }
  return out;
}
