/**
 * Default schedules (lib/tune/default.ts) against the unscheduled program and the hand
 * schedules of bench/schedules/, on the standard workloads: is "auto" never slower than
 * doing nothing, and how far is it from a person's schedule? Each kernel's result is
 * checked against the workload's float64 reference first. Rounds are interleaved (each
 * round times every variant once, in a rotating order) and the table shows medians over
 * rounds; ratios are only meaningful within one run on one machine.
 *
 *   deno run -A bench/auto.ts [--target c|webgpu] [--quick] [--rounds N] [--only OP]
 *
 * WebGPU runs the quick (small) sizes unless --full is given: on llvmpipe an unscheduled
 * program is one invocation and is refused past 65535 loop iterations.
 */
import { nd, te, TesseraError } from "../mod.ts";
import type { Kernel, Schedule, Tensor } from "../mod.ts";
import { DeviceArray } from "../lib/runtime/device_array.ts";
import {
  inputShapes,
  inputsOf,
  labelOf,
  maxRelError,
  outputShape,
  reference,
  standardWorkloads,
  TOLERANCE,
  type Workload,
} from "../lib/bench/workload.ts";
import { defaultSchedule } from "../lib/tune/default.ts";
import { definition } from "../lib/tune/workloads.ts";
import { scheduleFor } from "./schedules/mod.ts";

const argv = Deno.args;
const flag = (name: string) => argv.includes(`--${name}`);
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const target = (value("target") ?? "c") as "c" | "webgpu";
const rounds = Number(value("rounds") ?? 5);
const quick = flag("quick") || (target === "webgpu" && !flag("full"));
const only = value("only");

type Variant = "unscheduled" | "default" | "hand";
const VARIANTS: Variant[] = ["unscheduled", "default", "hand"];

function variant(w: Workload, v: Variant): { s: Schedule; args: Tensor[] } | Promise<never> {
  if (v === "hand") return scheduleFor(w, target);
  const args = definition(w);
  return { s: te.createSchedule(args[args.length - 1]), args };
}

interface Built {
  call: (() => Promise<void>) | null;
  time: (() => Promise<number>) | null;
  note: string;
}

async function prepare(w: Workload, v: Variant, inputs: Float32Array[]): Promise<Built> {
  const { s: plain, args } = await variant(w, v);
  const s = v === "default"
    ? (await defaultSchedule(args[args.length - 1], target)).schedule
    : plain;
  let f: Kernel;
  try {
    f = await te.build(s, args, { target, name: `auto_${w.op}_${v}` });
  } catch (e) {
    if (e instanceof TesseraError) return { call: null, time: null, note: e.message.slice(0, 80) };
    throw e;
  }
  const shapes = inputShapes(w);
  const host = inputs.map((x, i) => nd.array(x, shapes[i]));
  const out = nd.empty(outputShape(w));
  const ins = target === "webgpu" ? await Promise.all(host.map((a) => a.to("webgpu"))) : host;
  const o = target === "webgpu" ? await DeviceArray.empty(outputShape(w), "float32") : out;
  const call = () => f(...ins, o);
  const t0 = performance.now();
  try {
    await call();
  } catch (e) {
    if (e instanceof TesseraError) return { call: null, time: null, note: e.message.slice(0, 80) };
    throw e;
  }
  const got = o instanceof DeviceArray ? await o.toHost() : out;
  const err = maxRelError(got.data as Float32Array, reference(w, inputs));
  if (!(err <= TOLERANCE)) throw new Error(`${labelOf(w)} ${v}: wrong result (error ${err})`);
  // A call of seconds (the unscheduled 2048^3 matmul takes 5) is timed once a round.
  const slow = performance.now() - t0 > 1000;
  const timer = f.timeEvaluator(
    slow ? { repeat: 1, budgetMs: 60_000 } : { repeat: 3, minRepeatMs: 20, budgetMs: 20_000 },
  );
  return { call, time: async () => (await timer(...ins, o)).median, note: "" };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (x: number | null) => (x === null ? "—" : (x * 1e3).toFixed(3));
const ratio = (a: number | null, b: number | null) =>
  a === null || b === null ? "—" : (a / b).toFixed(2);

const rows: string[][] = [];
for (const w of standardWorkloads(quick)) {
  if (only && w.op !== only) continue;
  const inputs = inputsOf(w);
  const built = new Map<Variant, Built>();
  for (const v of VARIANTS) built.set(v, await prepare(w, v, inputs));
  const times = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const v = VARIANTS[(k + r) % VARIANTS.length];
      const b = built.get(v)!;
      if (b.time) times.get(v)!.push(await b.time());
    }
  }
  const med = (v: Variant) => (times.get(v)!.length ? median(times.get(v)!) : null);
  const [u, d, h] = VARIANTS.map(med);
  const notes = VARIANTS.filter((v) => built.get(v)!.note).map((v) =>
    `${v}: ${built.get(v)!.note}`
  );
  rows.push([labelOf(w), ms(u), ms(d), ms(h), ratio(u, d), ratio(h, d), notes.join("; ")]);
  console.error(`${labelOf(w)}: done`);
}

const head = [
  "workload",
  "unscheduled ms",
  "default ms",
  "hand ms",
  "unscheduled/default",
  "hand/default",
  "notes",
];
console.log(`target ${target}, ${rounds} interleaved rounds, medians (ratios > 1: default faster)`);
console.log(`| ${head.join(" | ")} |`);
console.log(`|${head.map(() => "---").join("|")}|`);
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
