/**
 * The best-so-far chart a tuning run shows in Jupyter: best time against trials, redrawn in
 * place (one display id) after every round while the search runs, so that one sees the
 * search flatten out. Outside Jupyter it does nothing (the progress line says the same).
 */
import { chart } from "../display/chart.ts";
import { jupyter, type JupyterApi } from "../display/jupyter.ts";

export interface LiveChart {
  /** Shows the points so far: the best time after each trial. */
  update(points: { trial: number; bestMs: number; seconds: number }[]): Promise<void>;
}

/** `kernel`: the Jupyter API (default: this process's, when it is a kernel). */
export function liveChart(title: string, kernel: JupyterApi | null = jupyter()): LiveChart {
  const id = `tessera-tune-${crypto.randomUUID()}`;
  let shown = false;
  return {
    async update(points) {
      if (!kernel || points.length === 0) return;
      try {
        const c = await chart({
          title,
          width: 420,
          height: 200,
          data: { values: points },
          mark: { type: "line", point: true, interpolate: "step-after" },
          encoding: {
            x: { field: "trial", type: "quantitative", title: "trials" },
            y: { field: "bestMs", type: "quantitative", title: "best so far (ms)" },
            tooltip: [{ field: "seconds", type: "quantitative", title: "seconds" }],
          },
        });
        await kernel.display(c.bundle, { raw: true, display_id: id, update: shown });
        shown = true;
      } catch {
        // A chart that fails to draw must not stop the search.
      }
    },
  };
}
