/**
 * A shader cannot stop or throw, so where the interpreter raises an error a WGSL helper
 * records it in a small storage buffer instead and computes on: integer division by zero
 * sets a bit of word 0; a failed index check (`checkIndex`, see lib/lower/checkBounds.ts and
 * injectBoundsCheck.ts) raises word 1 to its check's code, whose message the plan keeps. The
 * runtime clears the words before a call's dispatches and reads them back with the outputs;
 * anything recorded becomes a `TesseraError`, and the host outputs are left as they were.
 */
import { TesseraError } from "../../error.ts";

/** The WGSL name of the flags words (module scope, `array<atomic<u32>, 2>`). */
export const FLAGS_VAR = "tsr_flags";

/** Bits of the flags word and what each means. */
export const FLAG_INT_DIV_ZERO = 1;
const MEANING: Record<number, string> = {
  [FLAG_INT_DIV_ZERO]: "integer division or modulo by zero",
};

/** The size of the flags buffer in bytes. */
export const FLAGS_BYTES = 8;

/** WGSL that sets `bit` (an integer constant) in the flags word. */
export function raiseFlag(bit: number): string {
  return `atomicOr(&${FLAGS_VAR}[0], ${bit}u);`;
}

/** WGSL that records the failure of index check `code` (a u32 expression) in word 1. */
export function recordCheck(code: string): string {
  return `atomicMax(&${FLAGS_VAR}[1], ${code});`;
}

/** Whether a shader's text (with its helpers) uses the flags word. */
export function usesFlags(wgsl: string): boolean {
  return wgsl.includes(`&${FLAGS_VAR}[`);
}

/** The declaration of the flags word at `@binding(binding)`. */
export function flagsDecl(binding: number): string {
  return `@group(0) @binding(${binding}) var<storage, read_write> ${FLAGS_VAR}: ` +
    "array<atomic<u32>, 2>;";
}

/**
 * Throws the error the flags read back from a call say happened, if any; `checks[k - 1]` is
 * the message of index check k.
 */
export function raiseFlags(words: Uint32Array, checks: readonly string[], who: string): void {
  const [bits, check] = words;
  if (check !== 0) {
    throw new TesseraError(`${who}: ${checks[check - 1] ?? `index check ${check} failed`}`);
  }
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
