/**
 * Measuring candidates without trusting them: each batch goes to a separate Deno process
 * (lib/tune/worker.ts) that builds the batch in parallel, checks every output against the
 * float64 reference, and times it. A candidate that makes that process die (a segfault, an
 * out-of-memory kill) or go silent past the timeout (a hang) is recorded as an error, the
 * process is killed and started again, and the rest of the batch goes on: one bad candidate
 * costs one trial, never the tuner. The same measurer serves the C target and WebGPU (the
 * worker opens the adapter itself).
 */
import { TesseraError } from "../error.ts";
import type { Trace } from "./trace.ts";
import type { WorkerMessage, WorkerTask } from "./worker.ts";

export interface MeasureResult {
  /** Seconds per call, one per measurement; empty on error. */
  costs: number[];
  error?: string;
}

export interface MeasurerOptions {
  /** Most ms a candidate may go without news (building, checking, timing); default 60 000. */
  timeoutMs?: number;
  /**
   * Most ms the worker may take to prepare a task before building (its inputs and expected
   * outputs: a task module's come from the interpreter, minutes for a large fused group, once
   * per measuring process); default 600 000.
   */
  prepareMs?: number;
  /** The worker script (a test passes a fake one that crashes); default lib/tune/worker.ts. */
  worker?: string | URL;
}

const ROOT = new URL("../../", import.meta.url);

/** Lines of a byte stream, one by one, with a deadline for each. */
class Lines {
  private buffer = "";
  private readonly reader: ReadableStreamDefaultReader<string>;
  private ended = false;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** The next line, "end" when the stream closed, "timeout" past `ms`. */
  async next(ms: number): Promise<string | "end" | "timeout"> {
    while (true) {
      const nl = this.buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        return line;
      }
      if (this.ended) return "end";
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms));
      const read = await Promise.race([this.reader.read(), timeout]);
      clearTimeout(timer);
      if (read === "timeout") return "timeout";
      if (read.done) this.ended = true;
      else this.buffer += read.value;
    }
  }
}

interface Running {
  child: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  lines: Lines;
  stderr: { text: string };
}

export class Measurer {
  private running: Running | null = null;
  private readonly timeoutMs: number;
  private readonly prepareMs: number;
  private readonly worker: string;

  constructor(readonly task: WorkerTask, opts: MeasurerOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.prepareMs = opts.prepareMs ?? 600_000;
    if (!(this.prepareMs >= 0)) {
      throw new TesseraError(`measure: prepareMs must be >= 0 ms, got ${opts.prepareMs}`);
    }
    if (!(this.timeoutMs > 0)) {
      throw new TesseraError(`measure: timeoutMs must be > 0 ms, got ${opts.timeoutMs}`);
    }
    const w = opts.worker ?? new URL("./worker.ts", import.meta.url);
    this.worker = w instanceof URL ? w.pathname : w;
  }

  private start(): Running {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", "--config", new URL("deno.json", ROOT).pathname, this.worker],
      // Cold timing flushes the caches for ~10 ms before each call: the thread pool's workers
      // keep spinning through it (pool.ts), as they do between a model's kernels, instead of
      // going to sleep and charging every timed call for waking them.
      ...(this.task.coldCache ? { env: { TESSERA_SPIN_US: "200000" } } : {}),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = { text: "" };
    // Keep the last of the worker's complaints for the error record; never let it block.
    (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        stderr.text = (stderr.text + chunk).slice(-2000);
      }
    })().catch(() => {});
    return { child, stdin: child.stdin.getWriter(), lines: new Lines(child.stdout), stderr };
  }

  private async stop(kill: boolean): Promise<string> {
    const r = this.running;
    this.running = null;
    if (!r) return "";
    try {
      await r.stdin.close();
    } catch { /* already gone */ }
    if (kill) {
      try {
        r.child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    const status = await r.child.status;
    const how = status.signal ? `killed by ${status.signal}` : `exit code ${status.code}`;
    const said = r.stderr.text.trim().split("\n").slice(-3).join(" | ");
    return said ? `${how}: ${said}` : how;
  }

  /**
   * Measures `traces`, calling `onResult` with each result as soon as it is known (records
   * are written from there), and returns all of them in order.
   */
  async measure(
    traces: Trace[],
    onResult?: (i: number, r: MeasureResult) => Promise<void> | void,
    /** Another task for this batch (one measuring process serves a model's tasks). */
    task: WorkerTask = this.task,
  ): Promise<MeasureResult[]> {
    const results: (MeasureResult | undefined)[] = traces.map(() => undefined);
    const settle = async (i: number, r: MeasureResult) => {
      if (results[i]) return;
      results[i] = r;
      await onResult?.(i, r);
    };
    while (results.some((r) => !r)) {
      const pending = traces.flatMap((t, i) => (results[i] ? [] : [{ id: i, trace: t }]));
      this.running ??= this.start();
      const { stdin, lines } = this.running;
      const line = JSON.stringify({ task, candidates: pending }) + "\n";
      try {
        await stdin.write(new TextEncoder().encode(line));
      } catch { /* a dead worker: found below as the end of its output */ }
      let inFlight: number | null = null;
      // Preparing the task comes first (the worker says "prepared"), then building the
      // batch: a compile per candidate, a few at a time.
      const building = this.timeoutMs * Math.max(1, Math.ceil(pending.length / 2));
      let wait = this.prepareMs + building;
      while (pending.some((p) => !results[p.id])) {
        const got = await lines.next(wait);
        wait = this.timeoutMs;
        if (got.trim() === '{"prepared":true}') {
          wait = building;
          continue;
        }
        if (got === "end" || got === "timeout") {
          const blamed = inFlight ?? pending.find((p) => !results[p.id])!.id;
          const how = await this.stop(got === "timeout");
          await settle(blamed, {
            costs: [],
            error: got === "timeout"
              ? `timeout: no result within ${this.timeoutMs} ms (the measuring process was killed)`
              : `crash: the measuring process died (${how})`,
          });
          break;
        }
        let m: Extract<WorkerMessage, { id: number }>;
        try {
          m = JSON.parse(got);
        } catch {
          continue; // a stray line some library printed
        }
        if (typeof m?.id !== "number" || m.id < 0 || m.id >= traces.length) continue;
        if ("start" in m) inFlight = m.id;
        else {
          if (m.id === inFlight) inFlight = null;
          if ("costs" in m) await settle(m.id, { costs: m.costs });
          else await settle(m.id, { costs: [], error: m.error });
        }
      }
    }
    return results as MeasureResult[];
  }

  /** Ends the measuring process. */
  async close(): Promise<void> {
    await this.stop(false);
  }
}
