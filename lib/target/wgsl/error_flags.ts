/**
 * A shader cannot stop or throw, so where the interpreter raises an error (integer division
 * by zero) a WGSL helper sets a bit in a one-word storage buffer of flags instead and
 * computes on. The runtime clears the word before a call's dispatches and reads it back
 * with the outputs; a set bit becomes a `TesseraError`, and the host outputs are left as
 * they were. Kept apart from the printer and the runtime so that other checks (a checked
 * build's bounds checks, say) can claim further bits of the same word.
 */
import { TesseraError } from "../../error.ts";

/** The WGSL name of the flags word (module scope, `array<atomic<u32>, 1>`). */
export const FLAGS_VAR = "tsr_flags";

/** Bits of the flags word and what each means. */
export const FLAG_INT_DIV_ZERO = 1;
const MEANING: Record<number, string> = {
  [FLAG_INT_DIV_ZERO]: "integer division or modulo by zero",
};

/** The size of the flags buffer in bytes. */
export const FLAGS_BYTES = 4;

/** WGSL that sets `bit` (an integer constant) in the flags word. */
export function raiseFlag(bit: number): string {
  return `atomicOr(&${FLAGS_VAR}[0], ${bit}u);`;
}

/** Whether a shader's text (with its helpers) uses the flags word. */
export function usesFlags(wgsl: string): boolean {
  return wgsl.includes(`&${FLAGS_VAR}[`);
}

/** The declaration of the flags word at `@binding(binding)`. */
export function flagsDecl(binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, read_write> ${FLAGS_VAR}: ` +
    "array<atomic<u32>, 1>;";
}

/** Throws the error the flags read back from a call say happened, if any. */
export function raiseFlags(bits: number, who: string): void {
  if (bits === 0) return;
  const what = Object.entries(MEANING)
    .filter(([bit]) => (bits & Number(bit)) !== 0)
    .map(([, m]) => m);
  const unknown = bits & ~Object.keys(MEANING).reduce((a, b) => a | Number(b), 0);
  if (unknown) what.push(`error flags 0x${unknown.toString(16)}`);
  throw new TesseraError(
    `${who}: ${what.join(" and ")} in the kernel (the interpreter and the C target ` +
      "refuse it too); the outputs were not written",
  );
}
