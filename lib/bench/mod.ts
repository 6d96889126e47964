/**
 * The `bench` namespace: cases and suites timed in interleaved rounds with robust statistics,
 * the peers a case can be measured against, the standard workloads, the machine record,
 * result files, comparisons, the roofline and charts. A ten-line script:
 *
 *   const suite = bench.suite("my matmul");
 *   suite.add({ name: "tessera", group: "mm", fn: () => f(a, b, c), flops, baseline: true });
 *   suite.addPeer(bench.peers.tfjsWasm, { op: "matmul", m: 512, n: 512, k: 512 }, { group: "mm" });
 *   const result = await suite.run({ repeats: 20 });
 *   console.log(result.table());
 *   await result.save("mm.json");
 */
import { allPeers, peersAtTheirBest } from "./peers/mod.ts";
import { type RunOptions, Skip, Suite } from "./suite.ts";
import { BenchResult } from "./result.ts";

export { BenchResult } from "./result.ts";
export { type CaseSpec, type RunOptions, Skip, Suite } from "./suite.ts";
export type { CaseResult, EnvRecord, Peak, ResultRecord } from "./schema.ts";
export type { Peer, Prepared } from "./peers/peer.ts";
export type { Workload } from "./workload.ts";
export type { CompareRow } from "./compare.ts";
export type { RooflinePoint } from "./roofline.ts";

import { collectEnv, describeEnv } from "./env.ts";
import { compareResults, formatCompare } from "./compare.ts";
import { attainable, measureRoofline, placeOnRoofline, ridge } from "./roofline.ts";
import { parseResult, readResult } from "./schema.ts";
import { rooflineChartSpec, speedupChartSpec, speedupRows, svgOf } from "./charts.ts";
import { pairedRatio, quantile, summarize } from "./stats.ts";
import * as workloads from "./workload.ts";

export const bench = {
  suite: (name: string, defaults?: RunOptions): Suite => new Suite(name, defaults),
  Skip,
  Result: BenchResult,
  /** Every peer library, by name (whether it can run here is asked when a case is set up). */
  get peers() {
    return Object.fromEntries(allPeers().map((p) => [p.name, p]));
  },
  allPeers,
  peersAtTheirBest,
  workloads,
  load: (path: string): Promise<BenchResult> => BenchResult.load(path),
  readResult,
  parseResult,
  compare: compareResults,
  formatCompare,
  collectEnv,
  describeEnv,
  measureRoofline,
  placeOnRoofline,
  attainable,
  ridge,
  speedupChartSpec,
  speedupRows,
  rooflineChartSpec,
  svgOf,
  summarize,
  quantile,
  pairedRatio,
};
