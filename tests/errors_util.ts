/**
 * The two assertions every test of bad input makes: the call fails with a TesseraError (not
 * a TypeError from deep inside, and not a wrong result), and its message says what was wrong.
 * `rejectsTessera` takes a function that throws or one whose promise rejects.
 */
import assert from "node:assert/strict";
import { TesseraError } from "../mod.ts";

function isTessera(re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TesseraError, `expected a TesseraError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  };
}

export function throwsTessera(f: () => unknown, re: RegExp): void {
  assert.throws(f, isTessera(re));
}

export async function rejectsTessera(f: () => unknown, re: RegExp): Promise<void> {
  await assert.rejects(async () => await f(), isTessera(re));
}
