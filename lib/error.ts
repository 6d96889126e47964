/**
 * The one error class a user sees. Every mistake a user can make (a wrong shape, a bad
 * schedule primitive, an inconsistent symbolic size) becomes a `TesseraError` whose message
 * says what was wrong, where, and what would be right, and it is raised before any lowering
 * output, native code or GPU work is produced from the bad input.
 */
export class TesseraError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TesseraError";
  }
}

/** Throws a TesseraError when `cond` is false. */
export function check(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new TesseraError(typeof message === "string" ? message : message());
}
