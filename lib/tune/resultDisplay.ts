/**
 * How a tuning result shows itself: in a terminal a summary line and the best schedule as
 * code; in Jupyter a card with the top schedules, fastest first, each with its time,
 * throughput (GFLOP/s of the workload's operations, GB/s of its compulsory bytes: where it
 * sits against the machine's roofline) and ratio to the seed, and its code. Attached to the
 * result object by the search, so `display(result)` and `console.log(result)` both read well.
 */
import { h } from "../display/html.ts";
import { card } from "../display/style.ts";
import type { TuneResult } from "./search.ts";

const ms = (s: number) => `${(s * 1e3).toFixed(4)} ms`;
const rate = (x: number | null) => (x === null ? "—" : x.toFixed(1));

export function resultText(r: TuneResult): string {
  const head = `tune ${r.label}: ${r.total} trials (${r.measured} this run, ${r.errors} failed)`;
  if (!r.best) return `${head}; no candidate ran correctly`;
  const ratio = r.seedCost ? `, ${(r.seedCost / r.best.cost).toFixed(2)}x the seed` : "";
  const speed = r.best.gflops === null
    ? ""
    : `${rate(r.best.gflops)} GFLOP/s, ${rate(r.best.gbs)} GB/s`;
  const note = [speed, ratio.slice(2)].filter((x) => x).join(", ");
  return `${head}; best ${ms(r.best.cost)}${note ? ` (${note})` : ""}\n${r.best.code}`;
}

export function resultBundle(r: TuneResult): Record<string, unknown> {
  const rows = r.top.map((f, i) =>
    h`<tr><td>${i + 1}</td><td>${ms(f.cost)}</td><td>${rate(f.gflops)}</td><td>${
      rate(f.gbs)
    }</td><td>${
      r.seedCost ? (r.seedCost / f.cost).toFixed(2) : "—"
    }</td><td style="text-align:left"><pre class="tsr-code">${f.code}</pre></td></tr>`
  );
  const html = card(
    h`<div><b>tune ${r.label}</b>: ${r.total} trials (${r.measured} this run, ${r.errors} failed)${
      r.seedCost ? `, seed ${ms(r.seedCost)}` : ""
    }</div><table class="tsr-t"><tr><th>#</th><th>time</th><th>GFLOP/s</th><th>GB/s</th><th>× seed</th><th>schedule</th></tr>${rows}</table>`,
  );
  return { "text/plain": resultText(r), "text/html": html.markup };
}

/** Gives `r` its displays (non-enumerable: the result stays plain data in JSON). */
export function withDisplay(r: TuneResult): TuneResult {
  Object.defineProperties(r, {
    [Symbol.for("Jupyter.display")]: { value: () => resultBundle(r) },
    [Symbol.for("Deno.customInspect")]: { value: () => resultText(r) },
  });
  return r;
}
