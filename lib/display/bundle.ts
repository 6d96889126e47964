/**
 * The MIME-bundle protocol Deno's Jupyter kernel speaks: an object with a
 * `Symbol.for("Jupyter.display")` method returning `{ "text/html": ..., "text/plain": ... }`.
 * `Displayable` is the plain carrier for bundles this module builds (diagrams, charts), and
 * `bundleOf` asks any value for its bundle. It has to look at functions as well as objects:
 * tensors and kernels are callable, and Deno's own `Deno.jupyter.display` only asks objects.
 */
import type { Html } from "./html.ts";

export const DISPLAY: symbol = Symbol.for("Jupyter.display");

/** MIME type to content; `text/plain` is always there so terminals have something. */
export type MimeBundle = { "text/plain": string } & Record<string, unknown>;

export function bundle(text: string, html: Html, extra: Record<string, unknown> = {}): MimeBundle {
  return { "text/plain": text, "text/html": html.markup, ...extra };
}

/** A value that shows itself as a fixed bundle, in notebooks and in `console.log`. */
export class Displayable {
  constructor(readonly bundle: MimeBundle) {}
  [Symbol.for("Jupyter.display")](): MimeBundle {
    return this.bundle;
  }
  [Symbol.for("Deno.customInspect")](): string {
    return this.bundle["text/plain"];
  }
  toString(): string {
    return this.bundle["text/plain"];
  }
}

function displayMethod(x: unknown): (() => unknown) | null {
  if (x === null || (typeof x !== "object" && typeof x !== "function")) return null;
  const m = (x as Record<symbol, unknown>)[DISPLAY];
  return typeof m === "function" ? (m as () => unknown).bind(x) : null;
}

/** The bundle a value shows: its own, or its text when it has none. */
export async function bundleOf(x: unknown): Promise<MimeBundle> {
  const m = displayMethod(x);
  if (m) {
    const b = await m() as Record<string, unknown>;
    const text = typeof b?.["text/plain"] === "string" ? b["text/plain"] as string : String(x);
    return { ...b, "text/plain": text };
  }
  const text = typeof x === "string" ? x : Deno.inspect(x, { colors: false });
  return { "text/plain": text };
}
