/**
 * `display(x)`, the one call a notebook cell needs. Deno's kernel sometimes publishes a
 * cell's last-expression result after reporting idle (and headless runs then drop it), and it
 * never asks callable values such as tensors and kernels for their bundle; an explicit
 * `await display(x)` avoids both. Outside Jupyter the same call prints the text form.
 */
import { bundleOf } from "./bundle.ts";
import { jupyter } from "./jupyter.ts";

export interface DisplayOptions {
  /** Names the output so that a later call with `update: true` replaces it in place. */
  display_id?: string;
  update?: boolean;
}

export async function display(x: unknown, opts: DisplayOptions = {}): Promise<void> {
  const b = await bundleOf(x);
  const j = jupyter();
  if (j) {
    await j.display(b, { raw: true, ...opts });
    // Deno 2.9's kernel can report a cell done before its last display message is sent,
    // and headless clients then drop it; a short pause lets the message go out first.
    await new Promise((ok) => setTimeout(ok, 30));
  } else console.log(b["text/plain"]);
}
