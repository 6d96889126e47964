/**
 * The one stylesheet every HTML bundle carries. Jupyter front ends put output HTML into the
 * page itself, so every class is prefixed `tsr-` to stay out of the notebook's own styles,
 * and colours are chosen to read on light and dark themes alike.
 */
import { h, type Html, type HtmlValue, rawHtml } from "./html.ts";

const CSS = [
  ".tsr{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;line-height:1.45}",
  ".tsr-title{font-weight:600;margin-bottom:4px}",
  ".tsr-dim{opacity:.65}",
  ".tsr-code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;",
  "background:rgba(127,127,127,.08);padding:6px 8px;border-radius:4px;overflow:auto;",
  "white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0}",
  ".tsr-kw{color:#a626a4}.tsr-ty{color:#0184bc}.tsr-num{color:#b76b01}.tsr-str{color:#50a14f}",
  ".tsr-com{color:#8a8b90;font-style:italic}.tsr-fn{color:#4078f2}.tsr-pp{color:#c18401}",
  ".tsr-badge{display:inline-block;padding:0 5px;margin-left:4px;border-radius:3px;",
  "font-size:11px;background:rgba(127,127,127,.15)}",
  ".tsr-parallel{background:rgba(66,133,244,.22)}.tsr-vectorized{background:rgba(52,168,83,.22)}",
  ".tsr-unrolled{background:rgba(251,188,5,.28)}.tsr-thread{background:rgba(156,39,176,.2)}",
  ".tsr-reduce{background:rgba(234,67,53,.18)}",
  ".tsr-nest{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}",
  ".tsr-nest div{white-space:pre-wrap;overflow-wrap:anywhere}",
  "table.tsr-t{border-collapse:collapse;font-family:ui-monospace,Menlo,Consolas,monospace;",
  "font-size:12px}",
  "table.tsr-t td,table.tsr-t th{border:1px solid rgba(127,127,127,.3);padding:1px 6px;",
  "text-align:right}",
  "table.tsr-t th{font-weight:600;opacity:.7}",
  ".tsr details>summary{cursor:pointer}",
].join("");

// A constant of ours, and <style> content is raw text in HTML: escaping would break it.
const STYLE: Html = rawHtml(`<style>${CSS}</style>`);

/** Wraps a bundle's body in the styled container every bundle uses. */
export function card(body: HtmlValue): Html {
  return h`<div class="tsr">${STYLE}${body}</div>`;
}
