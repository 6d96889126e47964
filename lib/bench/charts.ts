/**
 * The two pictures of a benchmark run, as vega-lite specs: bars of each group's baseline
 * speedup over every other case (ratios measured in the same run), and the roofline with every
 * measured case placed under it. Specs are plain data; `chart()` from the display module turns
 * one into a notebook bundle with an SVG that vega renders in Deno, and `svgOf` gives the SVG
 * alone for reports written from a terminal.
 */
import type { TopLevelSpec } from "vega-lite";
import { chart } from "../display/chart.ts";
import type { ResultRecord } from "./schema.ts";

/**
 * Rows of (group, case, how many times faster the case is than its group's baseline): the
 * table's "vs baseline" column, the same way round.
 */
export function speedupRows(
  r: ResultRecord,
): { group: string; case: string; baseline: string; speedup: number }[] {
  return r.cases.filter((c) => c.status === "ok" && c.ratio && !c.baseline).map((c) => ({
    group: c.group,
    case: c.name,
    baseline: c.ratio!.vs,
    speedup: c.ratio!.median,
  }));
}

/**
 * Bars from 1 (as fast as the baseline) to each case's ratio, on a log scale so that 2x
 * faster and 2x slower are the same length: a bar from 0 has no start on a log scale, and
 * vega draws it with no width at all.
 */
export function speedupChartSpec(r: ResultRecord): TopLevelSpec {
  return {
    title: {
      text: `${r.suite}: each case against its group's baseline`,
      subtitle: "times faster than the baseline, same run, interleaved rounds; < 1 is slower",
    },
    data: { values: speedupRows(r) },
    layer: [
      {
        mark: { type: "bar", tooltip: true },
        encoding: {
          y: { field: "group", type: "nominal", title: null },
          yOffset: { field: "case", type: "nominal" },
          x: {
            field: "speedup",
            type: "quantitative",
            scale: { type: "log" },
            title: "times faster than the baseline (log scale)",
          },
          x2: { datum: 1 },
          color: { field: "case", type: "nominal" },
        },
      },
      { mark: { type: "rule", color: "#666" }, encoding: { x: { datum: 1 } } },
    ],
    width: 520,
  } as TopLevelSpec;
}

/** The roof of one device, sampled at log-spaced intensities from 1/16 to 1024 FLOP/byte. */
function roofRows(r: ResultRecord) {
  const rows: { device: string; intensity: number; gflops: number }[] = [];
  for (const device of ["cpu", "webgpu"] as const) {
    const peak = r.roofline?.[device];
    if (!peak) continue;
    const ridge = peak.gflops / peak.gbs;
    const xs = [1 / 16, ridge, 1024].sort((a, b) => a - b);
    for (const x of xs) {
      rows.push({ device, intensity: x, gflops: Math.min(peak.gflops, x * peak.gbs) });
    }
  }
  return rows;
}

export function rooflineChartSpec(r: ResultRecord): TopLevelSpec {
  const ok = r.cases.filter((c) => c.status === "ok");
  const placed = ok.filter((c) => c.flops && c.bytes && c.device && r.roofline?.[c.device]);
  // A case without FLOP and byte counts (or a measured roof for its device) has no place on
  // the chart; say so rather than leave it out silently.
  const left = ok.filter((c) => !placed.includes(c)).map((c) => `${c.name} (${c.group})`);
  const subtitle = ["measured peaks of this machine"];
  if (left.length) {
    subtitle.push(`not shown, no flops/bytes or no roof for the device: ${left.join(", ")}`);
  }
  const points = placed.map((c) => ({
    case: `${c.name} (${c.group})`,
    device: c.device,
    intensity: c.flops! / c.bytes!,
    gflops: c.flops! / c.stats!.median / 1e9,
  }));
  const x = {
    field: "intensity",
    type: "quantitative",
    scale: { type: "log" },
    title: "arithmetic intensity (FLOP/byte)",
  };
  const y = { field: "gflops", type: "quantitative", scale: { type: "log" }, title: "GFLOP/s" };
  return {
    title: { text: `${r.suite}: roofline`, subtitle },
    width: 520,
    height: 320,
    layer: [
      {
        data: { values: roofRows(r) },
        mark: { type: "line", color: "#888" },
        encoding: { x, y, strokeDash: { field: "device", type: "nominal" } },
      },
      {
        data: { values: points },
        mark: { type: "point", filled: true, size: 60, tooltip: true },
        encoding: {
          x,
          y,
          color: { field: "case", type: "nominal", legend: { columns: 1, labelLimit: 360 } },
          shape: { field: "device", type: "nominal" },
        },
      },
    ],
  } as TopLevelSpec;
}

/** An SVG of a spec, rendered by vega in this process. */
export async function svgOf(spec: TopLevelSpec): Promise<string> {
  return (await chart(spec)).bundle["image/svg+xml"] as string;
}
