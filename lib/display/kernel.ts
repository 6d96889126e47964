/**
 * A built kernel shows what a person checks after `te.build`: which target, the argument
 * signature to call it with, the last timing, and the generated code (C, WGSL, or the loop IR
 * for the interpreter) folded away in a `<details>` so that a long kernel does not flood the
 * notebook. The text form keeps the code out for the same reason and says where it is.
 */
import type { Kernel } from "../runtime/build.ts";
import type { TimingResult } from "../runtime/timing.ts";
import { bundle, type MimeBundle } from "./bundle.ts";
import { highlight, langOfTarget } from "./highlight.ts";
import { h, type Html } from "./html.ts";
import { signature } from "./primfunc.ts";
import { card } from "./style.ts";
import { formatNumber, formatSeconds } from "./units.ts";

export function timingText(t: TimingResult): string {
  const g = t.gflops ? `, ${formatNumber(t.gflops.median, 3)} GFLOP/s` : "";
  return `median ${formatSeconds(t.median)} (min ${formatSeconds(t.min)}, mean ${
    formatSeconds(t.mean)
  }; ${t.repeat} × ${t.number} calls)${g}`;
}

const LANG_NAME = { c: "C", wgsl: "WGSL", tvmscript: "loop IR" } as const;

export function kernelBundle(k: Kernel): MimeBundle {
  const f = k.func;
  const lang = langOfTarget(k.target);
  const lines = k.source.split("\n").length;
  const timing = k.lastTiming ? timingText(k.lastTiming) : "not timed yet (f.timeEvaluator)";
  const text = [
    `Kernel ${f.name} (target ${k.target})`,
    `  args: ${signature(f)}`,
    `  last timing: ${timing}`,
    `  source: ${lines} lines of ${LANG_NAME[lang]} (kernel.source)`,
  ].join("\n");
  const details = (summary: string, code: Html) =>
    h`<details><summary>${summary}</summary><div class="tsr-code">${code}</div></details>`;
  const row = (k: string, v: string) =>
    h`<tr><th>${k}</th><td style="text-align:left">${v}</td></tr>`;
  return bundle(
    text,
    card(h`<div class="tsr-title">Kernel ${f.name}<span class="tsr-badge">${k.target}</span></div>
<table class="tsr-t">${row("args", signature(f))}${row("last timing", timing)}</table>
${details(`${LANG_NAME[lang]} source (${lines} lines)`, highlight(k.source, lang))}
${lang === "tvmscript" ? null : details("Lowered loop IR", highlight(String(f), "tvmscript"))}`),
  );
}
