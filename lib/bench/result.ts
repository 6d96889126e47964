/**
 * What a suite's run returns: the validated result record, with the things a user does next
 * one call away — print the table, save the JSON, make the charts, show it in a notebook.
 * The record itself is plain data (the JSON file's content), so nothing here is needed to
 * read a result back later: `bench.load(path)` gives the same object.
 */
import { Displayable, type MimeBundle } from "../display/bundle.ts";
import { chart } from "../display/chart.ts";
import { rooflineChartSpec, speedupChartSpec, svgOf } from "./charts.ts";
import { formatMarkdown, formatTable, htmlReport, resultHtml } from "./report.ts";
import { type CaseResult, readResult, type ResultRecord, writeResult } from "./schema.ts";

export class BenchResult {
  constructor(readonly record: ResultRecord) {}

  static async load(path: string): Promise<BenchResult> {
    return new BenchResult(await readResult(path));
  }

  get cases(): CaseResult[] {
    return this.record.cases;
  }

  /** The case `name` of `group` (the only group when left out). */
  get(name: string, group?: string): CaseResult | undefined {
    return this.record.cases.find((c) =>
      c.name === name && (group === undefined || c.group === group)
    );
  }

  table(): string {
    return formatTable(this.record);
  }

  markdown(): string {
    return formatMarkdown(this.record);
  }

  /** Writes the JSON result file (validated, atomically). */
  save(path: string): Promise<void> {
    return writeResult(path, this.record);
  }

  /** Bars of each group's baseline speedup over the other cases. */
  speedupChart(): Promise<Displayable> {
    return chart(speedupChartSpec(this.record));
  }

  /** The roofline with every case on it (needs a run with `roofline: true`). */
  rooflineChart(): Promise<Displayable> {
    return chart(rooflineChartSpec(this.record));
  }

  /** The speedup bars as an SVG document, for a report or a file. */
  speedupSvg(): Promise<string> {
    return svgOf(speedupChartSpec(this.record));
  }

  rooflineSvg(): Promise<string> {
    return svgOf(rooflineChartSpec(this.record));
  }

  /** A self-contained HTML page with the table, the charts and the machine record. */
  html(): Promise<string> {
    return htmlReport(this.record);
  }

  [Symbol.for("Jupyter.display")](): MimeBundle {
    return new Displayable({ "text/plain": this.table(), "text/html": resultHtml(this.record) })
      .bundle;
  }

  [Symbol.for("Deno.customInspect")](): string {
    return this.table();
  }
}
