/**
 * A profile in Jupyter: a bar per stage (its share of the call), its speed and, once placed on
 * the roofline, the fraction of its roof it reaches, with the loop IR beside it in a fold. The
 * bars are plain HTML boxes rather than a vega chart, so the display is synchronous and
 * survives every export.
 */
import type { Profile } from "../runtime/profile.ts";
import { bundle, type MimeBundle } from "./bundle.ts";
import { highlight } from "./highlight.ts";
import { h } from "./html.ts";
import { card } from "./style.ts";
import { formatSeconds } from "./units.ts";

export function profileBundle(p: Profile): MimeBundle {
  const total = p.seconds;
  const num = (x: number | null | undefined, digits = 2) => (x == null ? "–" : x.toFixed(digits));
  const rows = p.stages.map((s) => {
    const share = total > 0 ? s.seconds / total : 0;
    const bar = h`<div style="background:rgba(66,133,244,.55);height:10px;width:${
      Math.max(1, Math.round(160 * share))
    }px"></div>`;
    const roof = s.fraction !== undefined
      ? `${(100 * s.fraction).toFixed(0)}% of ${s.bound} roof`
      : "–";
    return h`<tr><th style="text-align:left">${s.stage}</th><td>${
      formatSeconds(s.seconds)
    }</td><td style="text-align:left">${bar}</td><td>${(100 * share).toFixed(1)}%</td><td>${
      num(s.gflops)
    }</td><td>${num(s.gbs)}</td><td>${num(s.intensity)}</td><td>${roof}</td></tr>`;
  });
  return bundle(
    p.toString(),
    card(h`<div class="tsr-title">Profile of ${p.kernel}<span class="tsr-badge">${p.target}</span>
<span class="tsr-dim">${formatSeconds(total)} per call, median of ${p.calls}</span></div>
<table class="tsr-t"><tr><th>stage</th><th>time</th><th></th><th>share</th><th>GFLOP/s</th>
<th>GB/s</th><th>FLOP/byte</th><th>roofline</th></tr>${rows}</table>
<div class="tsr-dim">timed by ${p.how}</div>
<details><summary>Loop IR</summary><div class="tsr-code">${
      highlight(p.ir, "tvmscript")
    }</div></details>`),
  );
}
