/**
 * numpy, the reference most researchers compare against: its matmul is the OpenBLAS it bundles,
 * and its softmax, layer norm and elementwise chain are the few array expressions anyone would
 * write. It runs in one persistent `python3` subprocess that receives each workload's inputs
 * once, then runs or times it on request; the timing is taken inside Python (time.perf_counter
 * around the calls), so a sample does not include the pipe's round trip. numpy has no
 * convolution, and an im2col written here would measure our code, not numpy's. Python or numpy
 * missing is a reason to skip, never a failure. Set TESSERA_PYTHON to use another interpreter.
 */
import { cpuFeatures, openblasOverride, openblasSpin } from "../cpu.ts";
import { inputShapes, outputShape, type Workload } from "../workload.ts";
import { atTheirBest, checkPrepare, firstLine, type Peer } from "./peer.ts";

/**
 * The server: one request per line of JSON, inputs as raw float32 bytes after it; one answer
 * line of JSON, a result's bytes after it. Its first answer describes numpy and its BLAS: the
 * core from threadpoolctl when installed, else from the bundled OpenBLAS itself through ctypes,
 * else numpy's build configuration.
 */
const SERVER = String.raw`
import json, sys, time, ctypes
import numpy as np
inp, out = sys.stdin.buffer, sys.stdout.buffer
def blas():
    d = {"numpy": np.__version__, "python": sys.version.split()[0]}
    try:
        from threadpoolctl import threadpool_info
        for i in threadpool_info():
            if i.get("user_api") == "blas":
                d.update(blas=f"{i.get('internal_api')} {i.get('version')}", core=str(i.get("architecture")), threads=i.get("num_threads"), source="threadpoolctl")
                return d
    except Exception:
        pass
    try:
        libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "openblas" in l.split()[-1]})
        for path in libs:
            lib = ctypes.CDLL(path)
            for pre, suf in (("scipy_", "64_"), ("scipy_", ""), ("", "64_"), ("", "")):
                try:
                    core, conf, nt = (getattr(lib, f"{pre}openblas_get_{n}{suf}") for n in ("corename", "config", "num_threads"))
                except AttributeError:
                    continue
                core.restype = conf.restype = ctypes.c_char_p
                d.update(blas=conf().decode(), core=core().decode(), threads=nt(), source="ctypes " + path)
                return d
    except Exception:
        pass
    try:
        b = np.__config__.CONFIG["Build Dependencies"]["blas"]
        d.update(blas=f"{b.get('name')} {b.get('version')}", core="unknown (build: " + str(b.get("openblas configuration")) + ")", source="np.__config__")
    except Exception:
        d.update(blas="unknown", core="unknown", source="none")
    return d
def fn(w, xs):
    op = w["op"]
    if op in ("matmul", "batch_matmul"):
        a, b = xs
        c = np.empty(a.shape[:-1] + b.shape[-1:], np.float32)
        return lambda: np.matmul(a, b, out=c)
    if op == "softmax":
        (x,) = xs
        def f():
            e = np.exp(x - x.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return f
    if op == "layernorm":
        x, g, b = xs
        eps = np.float32(w["eps"])
        def f():
            m = x.mean(axis=1, keepdims=True)
            v = x.var(axis=1, keepdims=True)
            return (x - m) / np.sqrt(v + eps) * g + b
        return f
    if op == "elementwise":
        a, b, c = xs
        return lambda: np.maximum(a * b + c, np.float32(0)) - np.float32(0.5) * a
    raise ValueError("numpy peer: no " + op)
def send(d, data=b""):
    out.write((json.dumps(d) + "\n").encode()); out.write(data); out.flush()
send(blas())
jobs = {}
for line in inp:
    q = json.loads(line)
    try:
        j = jobs.get(q.get("id"))
        if q["cmd"] == "prepare":
            xs = [np.frombuffer(inp.read(4 * n), np.float32).reshape(s).copy() for s, n in q["inputs"]]
            f = fn(q["w"], xs)
            jobs[q["id"]] = {"f": f, "y": None}
            send({})
        elif q["cmd"] == "run":
            j["y"] = j["f"](); send({})
        elif q["cmd"] == "time":
            f = j["f"]; t = time.perf_counter()
            for _ in range(q["calls"]): y = f()
            s = time.perf_counter() - t
            j["y"] = y; send({"seconds": s})
        elif q["cmd"] == "result":
            y = np.ascontiguousarray(j["y"], np.float32).tobytes(); send({"bytes": len(y)}, y)
        elif q["cmd"] == "dispose":
            jobs.pop(q["id"], None); send({})
    except Exception as e:
        send({"error": f"{type(e).__name__}: {e}"})
`;

/** Reads lines and byte counts from the server's stdout. */
class Reader {
  #buf = new Uint8Array(0);
  constructor(private readonly r: ReadableStreamDefaultReader<Uint8Array>) {}
  async #more(): Promise<void> {
    const { value, done } = await this.r.read();
    if (done) throw new Error("numpy: the python3 subprocess ended");
    const b = new Uint8Array(this.#buf.length + value.length);
    b.set(this.#buf);
    b.set(value, this.#buf.length);
    this.#buf = b;
  }
  async line(): Promise<string> {
    let i;
    while ((i = this.#buf.indexOf(10)) < 0) await this.#more();
    const text = new TextDecoder().decode(this.#buf.subarray(0, i));
    this.#buf = this.#buf.slice(i + 1);
    return text;
  }
  async bytes(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) await this.#more();
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }
}

interface Server {
  info: Record<string, string | number>;
  /** One request at a time: its answer, and the bytes after it when it announced some. */
  ask(
    q: object,
    data?: Uint8Array[],
  ): Promise<{ answer: Record<string, unknown>; data?: Uint8Array }>;
  child: Deno.ChildProcess;
}

const python = () => {
  try {
    return Deno.env.get("TESSERA_PYTHON") ?? "python3";
  } catch {
    return "python3";
  }
};

let started: Promise<Server | string> | undefined;
let tuning = "the environment as found";

async function start(): Promise<Server | string> {
  const exe = python();
  const env: Record<string, string> = {};
  if (atTheirBest()) {
    const get = (k: string) => Deno.env.get(k);
    const o = openblasOverride(
      { OPENBLAS_CORETYPE: get("OPENBLAS_CORETYPE"), OPENBLAS_L2_SIZE: get("OPENBLAS_L2_SIZE") },
      await cpuFeatures(),
    );
    if (o) {
      env.OPENBLAS_CORETYPE = o.OPENBLAS_CORETYPE;
      // An empty value is what OpenBLAS reads as unset.
      env.OPENBLAS_L2_SIZE = o.OPENBLAS_L2_SIZE ?? "";
      tuning = `${o.why}: the subprocess gets OPENBLAS_CORETYPE=${o.OPENBLAS_CORETYPE}, ` +
        `OPENBLAS_L2_SIZE=${o.OPENBLAS_L2_SIZE ?? "(unset)"}`;
    }
    const spin = openblasSpin({ OPENBLAS_THREAD_TIMEOUT: get("OPENBLAS_THREAD_TIMEOUT") });
    if (spin) {
      env.OPENBLAS_THREAD_TIMEOUT = spin;
      const said = `OPENBLAS_THREAD_TIMEOUT=${spin} (idle workers spin ~1 ms, not ~130 ms)`;
      tuning = o ? `${tuning}; ${said}` : `the subprocess gets ${said}`;
    }
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(exe, {
      args: ["-u", "-c", SERVER],
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) return `numpy needs --allow-run to start ${exe}`;
    return `${exe} not found (${firstLine(e)}); install Python 3 with numpy ` +
      "(apt-get install python3-numpy) or set TESSERA_PYTHON";
  }
  const reader = new Reader(child.stdout.getReader());
  const writer = child.stdin.getWriter();
  let info: Record<string, string | number>;
  try {
    info = JSON.parse(await reader.line());
  } catch {
    const err = await new Response(child.stderr).text().catch(() => "");
    const last = err.trim().split("\n").at(-1) ?? "";
    return /No module named .?numpy/.test(err)
      ? `${exe} has no numpy; pip install numpy (or apt-get install python3-numpy)`
      : `${exe} could not start the numpy server: ${last}`;
  }
  // The server stays until the process ends; it keeps the process alive only while a request
  // is waiting for its answer, never a finished `deno test` or script.
  child.unref();
  let queue: Promise<unknown> = Promise.resolve();
  const ask: Server["ask"] = (q, data = []) => {
    const next = queue.then(async () => {
      child.ref();
      await writer.write(new TextEncoder().encode(JSON.stringify(q) + "\n"));
      for (const d of data) await writer.write(d);
      try {
        const answer = JSON.parse(await reader.line());
        if (answer.error) throw new Error(`numpy: ${answer.error}`);
        return {
          answer,
          ...(typeof answer.bytes === "number" ? { data: await reader.bytes(answer.bytes) } : {}),
        };
      } finally {
        child.unref();
      }
    });
    queue = next.catch(() => {});
    return next;
  };
  return { info, ask, child };
}

const server = () => started ??= start();
let ids = 0;

export const numpyPeer: Peer = {
  name: "numpy",
  device: "cpu",
  async available() {
    const s = await server();
    return typeof s === "string" ? s : null;
  },
  supports: (w) =>
    w.op === "conv2d"
      ? "numpy has no convolution (an im2col written here would measure our code, not numpy)"
      : null,
  async describe(): Promise<Record<string, string | number>> {
    const s = await server();
    return typeof s === "string" ? { unavailable: s } : { ...s.info, tuning };
  },
  async prepare(w: Workload, inputs: Float32Array[]) {
    checkPrepare(numpyPeer, w, inputs);
    const s = await server();
    if (typeof s === "string") throw new Error(`numpy: ${s}`);
    const id = ++ids;
    const shapes = inputShapes(w);
    await s.ask(
      { cmd: "prepare", id, w, inputs: shapes.map((sh, i) => [sh, inputs[i].length]) },
      inputs.map((x) => new Uint8Array(x.slice().buffer)),
    );
    const n = outputShape(w).reduce((a, b) => a * b, 1);
    return {
      async run() {
        await s.ask({ cmd: "run", id });
      },
      async time(calls: number) {
        return (await s.ask({ cmd: "time", id, calls })).answer.seconds as number;
      },
      async result() {
        const { data } = await s.ask({ cmd: "result", id });
        const out = new Float32Array(data!.slice().buffer);
        if (out.length !== n) throw new Error(`numpy: ${out.length} results, want ${n}`);
        return out;
      },
      dispose() {
        s.ask({ cmd: "dispose", id }).catch(() => {});
      },
    };
  },
};
