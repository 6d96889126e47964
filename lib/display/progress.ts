/**
 * Progress for long work (tuning, benchmark suites, big builds) that updates in place: in
 * Jupyter one output replaced through its display id, in a terminal one line redrawn with
 * `\r`, and when output is neither (CI logs, pipes) nothing until a single summary line, so
 * logs stay readable. Redraws are throttled; the caller just reports every step.
 */
import { TesseraError } from "../error.ts";
import type { MimeBundle } from "./bundle.ts";
import { h } from "./html.ts";
import { jupyter, type JupyterApi } from "./jupyter.ts";
import { card } from "./style.ts";
import { formatSeconds } from "./units.ts";

export type ProgressMode = "jupyter" | "tty" | "plain";

export interface ProgressOptions {
  /** Where to report; detected when left out (Jupyter, else a terminal, else plain). */
  mode?: ProgressMode;
  /** Terminal output for "tty" and "plain" (default: standard output). */
  write?: (text: string) => void;
  /** The kernel API for "jupyter" (default: `Deno.jupyter`). */
  jupyter?: JupyterApi;
  /** Least time between two redraws, in ms (default 100). */
  minIntervalMs?: number;
}

export interface Progress {
  /** `done` of `total` steps are finished; `message` says what is happening now. */
  update(done: number, message?: string): void;
  /** Ends the progress with a summary line; resolves once it is shown. */
  done(summary?: string): Promise<void>;
}

const BAR = 24;

function stdoutWrite(text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
}

function detect(): ProgressMode {
  if (jupyter()) return "jupyter";
  try {
    return Deno.stdout.isTerminal() ? "tty" : "plain";
  } catch {
    return "plain";
  }
}

function columns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 100;
  }
}

export function progress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  if (typeof label !== "string") throw new TesseraError("progress: the label must be a string");
  if (!Number.isFinite(total) || total < 0) {
    throw new TesseraError(`progress(${label}): total must be a number >= 0, got ${total}`);
  }
  const mode = opts.mode ?? detect();
  const write = opts.write ?? stdoutWrite;
  const interval = opts.minIntervalMs ?? 100;
  const kernel = mode === "jupyter" ? opts.jupyter ?? jupyter() : null;
  if (mode === "jupyter" && !kernel) {
    throw new TesseraError(`progress(${label}): mode "jupyter" needs the Jupyter kernel`);
  }
  const start = performance.now();
  const id = `tessera-progress-${crypto.randomUUID()}`;
  let k = 0, message = "", last = -Infinity, finished = false;
  // Kernel messages go out in order, one after another; a failed one must not stop the work.
  let chain: Promise<void> = Promise.resolve();
  const send = (b: MimeBundle, update: boolean) => {
    chain = chain.then(() => kernel!.display(b, { raw: true, display_id: id, update }))
      .catch(() => {});
  };
  const elapsed = () => formatSeconds((performance.now() - start) / 1000);
  const fraction = () => (total > 0 ? Math.min(1, k / total) : 1);
  const line = () => {
    const filled = Math.round(fraction() * BAR);
    return `${label} [${"#".repeat(filled)}${"-".repeat(BAR - filled)}] ${k}/${total} ${
      Math.floor(fraction() * 100)
    }%${message ? ` ${message}` : ""} · ${elapsed()}`;
  };
  const bar = (text: string): MimeBundle => ({
    "text/plain": text,
    "text/html": card(
      h`<div><b>${label}</b> <progress value="${k}" max="${
        Math.max(total, 1)
      }"></progress> ${k}/${total}${
        message ? ` — ${message}` : ""
      } <span class="tsr-dim">${elapsed()}</span></div>`,
    ).markup,
  });
  if (kernel) send(bar(line()), false);

  return {
    update(done: number, msg?: string) {
      if (finished) return;
      k = Math.max(0, Math.min(total, done));
      if (msg !== undefined) message = msg;
      const now = performance.now();
      if (now - last < interval && k < total) return;
      last = now;
      if (mode === "jupyter") send(bar(line()), true);
      else if (mode === "tty") write(`\r\x1b[2K${line().slice(0, columns() - 1)}`);
    },
    done(summary?: string) {
      if (finished) return chain;
      finished = true;
      const text = `${label}: ${summary ?? `${k}/${total} done`} (${elapsed()})`;
      if (mode === "jupyter") {
        send({
          "text/plain": text,
          "text/html": card(
            h`<div><b>${label}</b>: ${
              summary ?? `${k}/${total} done`
            } <span class="tsr-dim">(${elapsed()})</span></div>`,
          ).markup,
        }, true);
      } else write(`${mode === "tty" ? "\r\x1b[2K" : ""}${text}\n`);
      return chain;
    },
  };
}
