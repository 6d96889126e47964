/**
 * Traces: a schedule as the list of primitives that made it, in the spirit of Ansor's
 * transform steps and MetaSchedule's traces. A step names stages and loops by position (the
 * stage's index in the schedule, the loop's index among the stage's current loops), never by
 * object, so a trace is plain JSON: it is stored in tuning records, replayed onto a fresh
 * schedule of the same program, and printed as the Tessera code a user would write. Running
 * that code on a recording schedule gives the trace back, which is how printed code is
 * parsed (and how a hand schedule becomes a trace to seed a search with).
 */
import { TesseraError } from "../error.ts";
import type { Schedule } from "../schedule/schedule.ts";
import type { Stage } from "../schedule/stage.ts";
import { isTensor, type IterVar, type Tensor } from "../te/tensor.ts";

export type Annotation = "unroll" | "vectorize" | "parallel";

export type Step =
  | { p: "split"; s: number; a: number; factor: number }
  | { p: "splitParts"; s: number; a: number; nparts: number }
  | { p: "tile"; s: number; a: [number, number]; f: [number, number] }
  | { p: "fuse"; s: number; a: number[] }
  | { p: "reorder"; s: number; a: number[] }
  | { p: Annotation; s: number; a: number }
  | { p: "bind"; s: number; a: number; tag: string }
  | { p: "pragma"; s: number; a: number; key: string; value: string | number }
  | { p: "storageAlign"; s: number; a: number; factor: number; offset: number }
  | { p: "computeAt"; s: number; at: number; a: number }
  | { p: "computeInline"; s: number }
  | { p: "computeRoot"; s: number }
  | { p: "doubleBuffer"; s: number }
  | { p: "setScope"; s: number; scope: string }
  | { p: "cacheRead"; s: number; scope: string; readers: number[] }
  | { p: "cacheWrite"; s: number; scope: string }
  | { p: "rfactor"; s: number; a: number; factorAxis: number }
  | { p: "pack"; s: number; a: number; factor: number };

export type Trace = Step[];

/** The primitives a trace can hold: stage methods, and the schedule's own. */
const STAGE_PRIMS = new Set([
  "split",
  "tile",
  "fuse",
  "reorder",
  "unroll",
  "vectorize",
  "parallel",
  "bind",
  "pragma",
  "storageAlign",
  "computeAt",
  "computeInline",
  "computeRoot",
  "doubleBuffer",
  "setScope",
  "cacheRead",
  "cacheWrite",
  "rfactor",
  "pack",
]);

function constant(x: unknown, what: string): number {
  const v = typeof x === "number"
    ? x
    : (x as { kind?: string; value?: number })?.kind === "const"
    ? (x as { value: number }).value
    : NaN;
  if (!Number.isInteger(v)) {
    throw new TesseraError(
      `trace: ${what} must be a constant integer to be recorded, got ${String(x)}`,
    );
  }
  return v;
}

/**
 * A schedule that records every primitive applied through it (and applies it). Use the
 * returned schedule as usual; `trace` grows as primitives succeed.
 */
export function recording(s: Schedule): { schedule: Schedule; trace: Trace } {
  const trace: Trace = [];
  const real = new WeakMap<object, Stage>();
  const index = (st: Stage) => s.stages.indexOf(st);
  const stageOf = (x: unknown): Stage => {
    if (isTensor(x)) return s.stage(x);
    const st = real.get(x as object) ?? (x as Stage);
    if (!s.stages.includes(st)) throw new TesseraError("trace: a stage of another schedule");
    return st;
  };
  const loop = (st: Stage, v: unknown) => {
    const i = st.leafIterVars.indexOf(v as IterVar);
    // An axis that is not a current loop: let the primitive itself explain the mistake.
    return i >= 0 ? i : (st.leaf("trace", v), -1);
  };
  const proxies = new Map<Stage, Stage>();
  const wrapStage = (st: Stage): Stage => {
    const known = proxies.get(st);
    if (known) return known;
    const proxy = new Proxy(st, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof prop !== "string" || !STAGE_PRIMS.has(prop) || typeof value !== "function") {
          return value;
        }
        return (...args: unknown[]) => {
          const step = stepOf(prop, target, args);
          const out = stagePrim(target, prop, args);
          trace.push(step);
          return out === target ? proxy : out;
        };
      },
    });
    real.set(proxy, st);
    proxies.set(st, proxy);
    return proxy;
  };
  // The real stages behind recording ones, also inside an array (cacheRead's readers).
  const unwrap = (a: unknown): unknown =>
    Array.isArray(a) ? a.map(unwrap) : real.get(a as object) ?? a;
  const wrapResult = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(wrapResult)
      : x !== null && typeof x === "object" && s.stages.includes(x as Stage)
      ? wrapStage(x as Stage)
      : x;
  const stagePrim = (st: Stage, prim: string, args: unknown[]): unknown => {
    const fn = (st as unknown as Record<string, (...a: unknown[]) => unknown>)[prim];
    return fn.apply(st, args.map(unwrap));
  };
  const stepOf = (prim: string, st: Stage, args: unknown[]): Step => {
    const s0 = index(st);
    switch (prim) {
      case "split": {
        const by = args[1] as { factor?: unknown; nparts?: unknown };
        return by && "nparts" in by
          ? { p: "splitParts", s: s0, a: loop(st, args[0]), nparts: constant(by.nparts, "nparts") }
          : { p: "split", s: s0, a: loop(st, args[0]), factor: constant(by?.factor, "factor") };
      }
      case "tile":
        return {
          p: "tile",
          s: s0,
          a: [loop(st, args[0]), loop(st, args[1])],
          f: [constant(args[2], "factor"), constant(args[3], "factor")],
        };
      case "fuse":
      case "reorder":
        return { p: prim, s: s0, a: args.map((v) => loop(st, v)) };
      case "unroll":
      case "vectorize":
      case "parallel":
        return { p: prim, s: s0, a: loop(st, args[0]) };
      case "bind":
        return { p: "bind", s: s0, a: loop(st, args[0]), tag: String(args[1]) };
      case "pragma":
        return {
          p: "pragma",
          s: s0,
          a: loop(st, args[0]),
          key: String(args[1]),
          value: (args[2] ?? 1) as string | number,
        };
      case "storageAlign":
        return {
          p: "storageAlign",
          s: s0,
          a: loop(st, args[0]),
          factor: constant(args[1], "factor"),
          offset: constant(args[2], "offset"),
        };
      case "computeAt": {
        const at = stageOf(args[0]);
        return { p: "computeAt", s: s0, at: index(at), a: loop(at, args[1]) };
      }
      case "computeInline":
      case "computeRoot":
      case "doubleBuffer":
        return { p: prim, s: s0 };
      case "setScope":
      case "cacheWrite":
        return { p: prim, s: s0, scope: String(args[0]) };
      case "cacheRead":
        return {
          p: "cacheRead",
          s: index(stageOf(args[0])),
          scope: String(args[1]),
          readers: (args[2] as unknown[]).map((r) => index(stageOf(r))),
        };
      case "rfactor":
        return {
          p: "rfactor",
          s: s0,
          a: loop(st, args[0]),
          factorAxis: constant(args[1] ?? 0, "factor axis"),
        };
      case "pack":
        return { p: "pack", s: s0, a: loop(st, args[0]), factor: constant(args[1], "factor") };
    }
    throw new TesseraError(`trace: cannot record '${prim}'`);
  };
  const schedule = new Proxy(s, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop === "stage" || prop === "get") {
        return (t: Tensor) => wrapStage(target.stage(t));
      }
      if (prop === "cacheRead" || prop === "cacheWrite" || prop === "rfactor" || prop === "pack") {
        // The schedule's forms take the tensor first; record them as the stage's.
        return (t: Tensor, ...rest: unknown[]) => {
          const st = target.stage(t);
          const args = prop === "cacheRead" ? [t, ...rest] : rest;
          const step = stepOf(prop, st, args);
          const out = stagePrim(st, prop, args);
          trace.push(step);
          return out;
        };
      }
      // Stages reached any other way (s.stages, s.readers) record too.
      return typeof value === "function"
        ? (...args: unknown[]) => wrapResult(value.apply(target, args.map(unwrap)))
        : wrapResult(value);
    },
  });
  return { schedule, trace };
}

function stageAt(s: Schedule, i: number, k: number): Stage {
  const st = s.stages[i];
  if (!st) {
    throw new TesseraError(`trace step ${k}: no stage ${i} (the schedule has ${s.stages.length})`);
  }
  return st;
}

function loopAt(st: Stage, a: number, k: number): IterVar {
  const v = st.leafIterVars[a];
  if (!v) {
    throw new TesseraError(
      `trace step ${k}: stage '${st.name}' has no loop ${a} (loops: ${st.leafNames()})`,
    );
  }
  return v;
}

/** Applies `trace` to `s` (a fresh schedule of the program it was recorded on). */
export function applyTrace(s: Schedule, trace: Trace, first = 0): Schedule {
  trace.forEach((step, i) => {
    const k = first + i;
    const st = stageAt(s, step.s, k);
    const at = (a: number) => loopAt(st, a, k);
    switch (step.p) {
      case "split":
        st.split(at(step.a), { factor: step.factor });
        break;
      case "splitParts":
        st.split(at(step.a), { nparts: step.nparts });
        break;
      case "tile":
        st.tile(at(step.a[0]), at(step.a[1]), step.f[0], step.f[1]);
        break;
      case "fuse":
        st.fuse(...step.a.map(at));
        break;
      case "reorder":
        st.reorder(...step.a.map(at));
        break;
      case "unroll":
      case "vectorize":
      case "parallel":
        st[step.p](at(step.a));
        break;
      case "bind":
        st.bind(at(step.a), step.tag as Parameters<Stage["bind"]>[1]);
        break;
      case "pragma":
        st.pragma(at(step.a), step.key, step.value);
        break;
      case "storageAlign":
        st.storageAlign(at(step.a), step.factor, step.offset);
        break;
      case "computeAt": {
        const parent = stageAt(s, step.at, k);
        st.computeAt(parent, loopAt(parent, step.a, k));
        break;
      }
      case "computeInline":
        st.computeInline();
        break;
      case "computeRoot":
        st.computeRoot();
        break;
      case "doubleBuffer":
        st.doubleBuffer();
        break;
      case "setScope":
        st.setScope(step.scope as Parameters<Stage["setScope"]>[0]);
        break;
      case "cacheRead":
        s.cacheRead(
          st.op.output,
          step.scope as Parameters<Stage["setScope"]>[0],
          step.readers.map((r) => stageAt(s, r, k)),
        );
        break;
      case "cacheWrite":
        st.cacheWrite(step.scope as Parameters<Stage["setScope"]>[0]);
        break;
      case "rfactor":
        st.rfactor(at(step.a), step.factorAxis);
        break;
      case "pack":
        st.pack(at(step.a), step.factor);
        break;
    }
  });
  return s;
}

const RESERVED = new Set(
  ("break case catch class const continue debugger default delete do else enum export extends " +
    "false finally for function if import in instanceof new null return super switch this throw " +
    "true try typeof var void while with yield let static implements interface package private " +
    "protected public await s te").split(" "),
);

/**
 * The trace as Tessera code: `s` is the schedule and each of the program's tensors is a
 * variable named as the tensor (`tensors` maps the names used to them, for a caller that runs
 * the code). Loops get the names of their axes, made unique.
 */
export function printTrace(
  fresh: Schedule,
  trace: Trace,
): { code: string; tensors: Map<string, Tensor> } {
  const s = fresh;
  const lines: string[] = [];
  const taken = new Set<string>();
  const unique = (base: string) => {
    let name = RESERVED.has(base) ? `${base}_` : base, n = 1;
    while (taken.has(name)) name = `${base}_${n++}`;
    taken.add(name);
    return name;
  };
  const tensors = new Map<string, Tensor>();
  const tensorName = new Map<Stage, string>();
  const handle = new Map<Stage, string>();
  const loopName = new Map<IterVar, string>();
  for (const st of s.stages) {
    const name = unique(st.origOp.name);
    tensorName.set(st, name);
    tensors.set(name, st.origOp.output);
  }
  const stageVar = (st: Stage) => {
    let h = handle.get(st);
    if (!h) {
      h = unique(`s${st.name}`);
      handle.set(st, h);
      lines.push(`const ${h} = s.stage(${tensorName.get(st)});`);
    }
    return h;
  };
  /** Names every loop of `st` that has none yet (the current operation's axes). */
  const nameLoops = (st: Stage) => {
    const op = st.op as { axis: IterVar[]; reduceAxis: IterVar[] };
    for (const [list, field] of [[op.axis, "axis"], [op.reduceAxis, "reduceAxis"]] as const) {
      if (list.length === 0 || list.every((v) => loopName.has(v))) continue;
      const names = list.map((v) => {
        const n = unique(v.name);
        loopName.set(v, n);
        return n;
      });
      lines.push(`const [${names.join(", ")}] = ${stageVar(st)}.op.${field};`);
    }
  };
  const loop = (st: Stage, v: IterVar) => {
    if (!loopName.has(v)) nameLoops(st);
    return loopName.get(v)!;
  };
  const bind = (vars: IterVar[]) =>
    vars.map((v) => {
      const n = unique(v.name);
      loopName.set(v, n);
      return n;
    });
  trace.forEach((step, k) => {
    const st = stageAt(s, step.s, k);
    const h = stageVar(st);
    const at = (a: number) => loop(st, loopAt(st, a, k));
    switch (step.p) {
      case "split":
      case "splitParts": {
        const parent = at(step.a);
        const [o, i] = step.p === "split"
          ? st.split(loopAt(st, step.a, k), { factor: step.factor })
          : st.split(loopAt(st, step.a, k), { nparts: step.nparts });
        const by = step.p === "split" ? `factor: ${step.factor}` : `nparts: ${step.nparts}`;
        lines.push(`const [${bind([o, i]).join(", ")}] = ${h}.split(${parent}, { ${by} });`);
        break;
      }
      case "tile": {
        const [x, y] = [at(step.a[0]), at(step.a[1])];
        const out = st.tile(loopAt(st, step.a[0], k), loopAt(st, step.a[1], k), ...step.f);
        lines.push(
          `const [${bind(out).join(", ")}] = ${h}.tile(${x}, ${y}, ${step.f.join(", ")});`,
        );
        break;
      }
      case "fuse": {
        const names = step.a.map(at);
        const f = st.fuse(...step.a.map((a) => loopAt(st, a, k)));
        lines.push(`const ${bind([f])[0]} = ${h}.fuse(${names.join(", ")});`);
        break;
      }
      case "rfactor": {
        const a = at(step.a);
        const t = st.rfactor(loopAt(st, step.a, k), step.factorAxis);
        const fs = s.stage(t);
        const name = unique(fs.name);
        tensorName.set(fs, name);
        lines.push(`const ${name} = s.rfactor(${tensorName.get(st)}, ${a}, ${step.factorAxis});`);
        break;
      }
      case "pack": {
        const a = at(step.a);
        const names = st.pack(loopAt(st, step.a, k), step.factor).map((t) => {
          const ps = s.stage(t);
          const name = unique(ps.name);
          tensorName.set(ps, name);
          return name;
        });
        lines.push(
          `const [${names.join(", ")}] = s.pack(${tensorName.get(st)}, ${a}, ${step.factor});`,
        );
        break;
      }
      case "cacheRead":
      case "cacheWrite": {
        // Stages are named before the new stage shifts their indices.
        const readers = step.p === "cacheRead"
          ? `, [${step.readers.map((r) => stageVar(stageAt(s, r, k))).join(", ")}]`
          : "";
        const t = step.p === "cacheRead"
          ? s.cacheRead(
            st.op.output,
            step.scope as Parameters<Stage["setScope"]>[0],
            step.readers.map((r) => stageAt(s, r, k)),
          )
          : st.cacheWrite(step.scope as Parameters<Stage["setScope"]>[0]);
        const cs = s.stage(t);
        const name = unique(cs.name);
        tensorName.set(cs, name);
        lines.push(
          `const ${name} = s.${step.p}(${tensorName.get(st)}, ${
            JSON.stringify(step.scope)
          }${readers});`,
        );
        break;
      }
      default: {
        const text = printSimple(step, at, (i, a) => {
          const p = stageAt(s, i, k);
          return `${stageVar(p)}, ${loop(p, loopAt(p, a, k))}`;
        });
        applyTrace(s, [step], k);
        lines.push(`${h}.${text};`);
      }
    }
  });
  return { code: lines.join("\n"), tensors };
}

/** A primitive that makes no new loops or tensors, as the call after `stage.`. */
function printSimple(
  step: Step,
  at: (a: number) => string,
  parentLoop: (stage: number, a: number) => string,
): string {
  switch (step.p) {
    case "reorder":
      return `reorder(${step.a.map(at).join(", ")})`;
    case "unroll":
    case "vectorize":
    case "parallel":
      return `${step.p}(${at(step.a)})`;
    case "bind":
      return `bind(${at(step.a)}, ${JSON.stringify(step.tag)})`;
    case "pragma":
      return `pragma(${at(step.a)}, ${JSON.stringify(step.key)}, ${JSON.stringify(step.value)})`;
    case "storageAlign":
      return `storageAlign(${at(step.a)}, ${step.factor}, ${step.offset})`;
    case "computeAt":
      return `computeAt(${parentLoop(step.at, step.a)})`;
    case "computeInline":
    case "computeRoot":
    case "doubleBuffer":
      return `${step.p}()`;
    case "setScope":
      return `setScope(${JSON.stringify(step.scope)})`;
  }
  throw new TesseraError(`trace: '${step.p}' is not a simple primitive`);
}

/**
 * Runs printed trace code (`printTrace`) on a recording schedule and returns the trace it
 * makes: the inverse of printing, and the way a hand schedule written as code becomes a
 * trace. `tensors` binds the names the code uses.
 */
export function traceOfCode(
  fresh: Schedule,
  code: string,
  tensors: ReadonlyMap<string, Tensor>,
): Trace {
  const { schedule, trace } = recording(fresh);
  const names = [...tensors.keys()];
  const run = new Function("s", ...names, code) as (...a: unknown[]) => void;
  run(schedule, ...names.map((n) => tensors.get(n)));
  return trace;
}
