/**
 * Compact displays for the small objects a notebook cell often ends with: expressions,
 * variables and loop variables, buffers, device arrays, timing results and errors. Without
 * them Jupyter shows Deno's dump of the object's fields (a device array's is 3 KB of the
 * adapter's limits). Each says what the object is in one or two lines; none reads the GPU.
 */
import type { Buffer, Expr, Var } from "../ir/expr.ts";
import type { DeviceArray } from "../runtime/device_array.ts";
import type { TimingResult } from "../runtime/timing.ts";
import type { IterVar } from "../te/tensor.ts";
import type { EnvRecord } from "../bench/schema.ts";
import { bundle, type MimeBundle } from "./bundle.ts";
import { h } from "./html.ts";
import { mathText, rangeOf } from "./math.ts";
import { card } from "./style.ts";
import { formatSeconds } from "./units.ts";

function oneLine(kind: string, text: string): MimeBundle {
  return bundle(
    `${kind} ${text}`,
    card(h`<span class="tsr-badge">${kind}</span> <code>${text}</code>`),
  );
}

export function exprBundle(e: Expr): MimeBundle {
  return oneLine(`Expr ${e.dtype}:`, mathText(e));
}

export function varBundle(v: Var): MimeBundle {
  return oneLine("Var", `${v.name}: ${v.dtype}`);
}

export function iterVarBundle(v: IterVar): MimeBundle {
  const dom = v.dom ? ` ∈ ${rangeOf(v.dom.min, v.dom.extent)}` : "";
  return oneLine(v.iterType === "reduce" ? "IterVar (reduce)" : "IterVar", `${v.name}${dom}`);
}

export function bufferBundle(b: Buffer): MimeBundle {
  const parts = [`${b.name}: ${b.dtype}[${b.shape.map(mathText).join(", ")}]`, b.scope];
  if (b.strides) parts.push(`strides [${b.strides.map(mathText).join(", ")}]`);
  if (b.aliasOf) parts.push(`view of ${b.aliasOf.name}`);
  return oneLine("Buffer", parts.join(", "));
}

export function deviceArrayBundle(a: DeviceArray): MimeBundle {
  return oneLine(
    "DeviceArray",
    `${a.dtype}[${a.shape.join(", ")}] on ${a.device}${a.destroyed ? " (destroyed)" : ""}`,
  );
}

export function timingBundle(t: TimingResult): MimeBundle {
  const gf = t.gflops ? `, ${t.gflops.median.toFixed(1)} GFLOP/s` : "";
  const text = `median ${formatSeconds(t.median)} per call (min ${formatSeconds(t.min)}, mean ${
    formatSeconds(t.mean)
  })${gf}; ${t.repeat} measurements of ${t.number} call${t.number === 1 ? "" : "s"}`;
  return oneLine("Timing", text);
}

export function errorBundle(e: Error): MimeBundle {
  return bundle(
    `${e.name}: ${e.message}`,
    card(h`<div class="tsr-title">${e.name}</div><div class="tsr-code">${e.message}</div>`),
  );
}

/** The machine record of a benchmark: the facts a reader needs, a row each. */
export function envBundle(env: EnvRecord): MimeBundle {
  const gpu = "adapter" in env.webgpu ? env.webgpu.adapter : `none (${env.webgpu.unavailable})`;
  const rows: [string, string][] = [
    ["CPU", `${env.cpu}, ${env.cores} cores${env.memoryGiB ? `, ${env.memoryGiB} GiB` : ""}`],
    ["system", `${env.os}/${env.arch}; Deno ${env.deno}`],
    ["C compiler", env.compiler ? env.compiler.version : "none"],
    ["WebGPU", gpu],
    [
      "Tessera",
      env.tessera
        ? `${env.tessera.commit.slice(0, 10)}${env.tessera.dirty ? " (dirty)" : ""}`
        : "?",
    ],
    ...Object.entries(env.libraries).map(([k, v]): [string, string] => [k, v]),
    ...Object.entries(env.peers ?? {}).map(([name, d]): [string, string] => [
      `peer ${name}`,
      Object.entries(d).map(([k, v]) => `${k} ${v}`).join(", "),
    ]),
  ];
  const row = ([k, v]: [string, string]) =>
    h`<tr><th>${k}</th><td style="text-align:left">${v}</td></tr>`;
  return bundle(
    [`Machine (${env.date})`, ...rows.map(([k, v]) => `  ${k}: ${v}`)].join("\n"),
    card(h`<div class="tsr-title">Machine<span class="tsr-badge">${env.date}</span></div>
<table class="tsr-t">${rows.map(row)}</table>`),
  );
}
