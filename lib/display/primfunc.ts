/**
 * A lowered function shows as the TVMScript-like text `String(func)` gives (so the text form
 * is exactly what tests and users already read), syntax-coloured in HTML, under a one-line
 * signature of its parameters.
 */
import type { PrimFunc } from "../ir/stmt.ts";
import { bundle, type MimeBundle } from "./bundle.ts";
import { highlight } from "./highlight.ts";
import { h } from "./html.ts";
import { mathText } from "./math.ts";
import { card } from "./style.ts";

/** `A: float32[n, 64], B: float32[64, 32], C: float32[n, 32] (out); n: int32`. */
export function signature(f: PrimFunc): string {
  const params = f.params.map((p) =>
    `${p.name}: ${p.dtype}[${p.shape.map(mathText).join(", ")}]${
      f.outputs.includes(p) ? " (out)" : ""
    }`
  );
  const sizes = f.sizeVars.map((v) => `${v.name}: ${v.dtype}`);
  const scalars = f.scalars.map((v) => `${v.name}: ${v.dtype}`);
  return params.join(", ") + (sizes.length ? `; sizes ${sizes.join(", ")}` : "") +
    (scalars.length ? `; scalars ${scalars.join(", ")}` : "");
}

export function primFuncBundle(f: PrimFunc): MimeBundle {
  const code = String(f);
  return bundle(
    code,
    card(h`<div class="tsr-title">PrimFunc ${f.name}</div>
<div class="tsr-dim">${signature(f)}</div>
<div class="tsr-code">${highlight(code, "tvmscript")}</div>`),
  );
}
