/**
 * What a parallel kernel costs when it is called in short bursts after the process sat idle,
 * the situation in which libgomp's passive workers were found stacked on the caller's CPU
 * (README, semantics: the thread pool). Each round sleeps, then times a few back-to-back calls
 * of a 512³ matmul and reads every thread's run and run-queue wait time from
 * /proc/self/task/N/schedstat (Linux): two busy threads on one CPU, one of them waiting about
 * as long as it ran, is the stacking. Only ratios within one run mean anything.
 *
 *   deno run -A bench/wakeup.ts [--size N (512)] [--rounds R (6)] [--calls C (8)] [--sleep MS (50)]
 */
import { bench, nd, te } from "../mod.ts";
import { matmulSchedule } from "./schedules/matmul.ts";

const arg = (name: string, dflt: number) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
};
const n = arg("size", 512), rounds = arg("rounds", 6), calls = arg("calls", 8);
const pause = arg("sleep", 50);

const w = { op: "matmul", m: n, n, k: n } as const;
const { s, args } = matmulSchedule(w, "c");
const f = await te.build(s, args, { target: "c" });
const [a, b] = bench.workloads.inputsOf(w).map((x) => nd.array(x, [n, n]));
const c = nd.empty([n, n]);

/** Per thread: nanoseconds run, nanoseconds waited, its name and the CPU it last ran on. */
function threads(): Map<string, { run: number; wait: number; where: string }> {
  const out = new Map<string, { run: number; wait: number; where: string }>();
  try {
    for (const t of Deno.readDirSync("/proc/self/task")) {
      const [run, wait] = Deno.readTextFileSync(`/proc/self/task/${t.name}/schedstat`)
        .split(" ").map(Number);
      const stat = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`);
      const name = /\((.*)\)/.exec(stat)![1].slice(0, 8);
      const cpu = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[36];
      out.set(t.name, { run, wait, where: `${name}@cpu${cpu}` });
    }
  } catch {
    // no /proc (not Linux): times only
  }
  return out;
}

for (let i = 0; i < 20; i++) f(a, b, c);
console.log(`matmul ${n}³, ${calls} calls after each ${pause} ms pause (ms per call)`);
for (let r = 0; r < rounds; r++) {
  await new Promise((res) => setTimeout(res, pause));
  const before = threads();
  const times: string[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    f(a, b, c);
    times.push((performance.now() - t0).toFixed(2));
  }
  const busy = [...threads()].flatMap(([id, t]) => {
    const was = before.get(id) ?? { run: 0, wait: 0 };
    const run = (t.run - was.run) / 1e6, wait = (t.wait - was.wait) / 1e6;
    return run > 0.3 ? [`${t.where} ran ${run.toFixed(1)} waited ${wait.toFixed(1)}`] : [];
  });
  console.log(times.join(" "), busy.length ? `| ${busy.join("; ")}` : "");
}
