/**
 * The smoke run CI makes of `deno task bench --quick`: the standard suite at small sizes, in a
 * subprocess as a user would run it, must exit 0 and write a result file that validates, with
 * a case for every workload, Tessera's own kernels checked right, and an HTML report with its
 * charts; `bench:compare` must read it back. Times are never asserted on.
 */
import assert from "node:assert/strict";
import { bench } from "../mod.ts";
import { labelOf, standardWorkloads } from "../lib/bench/workload.ts";

const root = new URL("..", import.meta.url).pathname;
const PERMS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-ffi",
  "--allow-sys",
];

async function deno(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test("deno task bench --quick writes a valid result, a report, and compares", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const json = `${dir}/quick.json`;
    const run = await deno("run", ...PERMS, "bench/main.ts", "--quick", "--json", json);
    assert.equal(run.code, 0, run.text);
    const r = await bench.readResult(json);
    assert.equal(r.suite, "standard suite (quick)");
    const groups = new Set(r.cases.map((c) => c.group));
    for (const w of standardWorkloads(true)) {
      assert.ok(groups.has(`${labelOf(w)} [cpu]`), `no CPU group for ${labelOf(w)}`);
    }
    const c = r.cases.filter((x) => x.name === "tessera-c");
    assert.equal(c.length, standardWorkloads(true).length);
    for (const x of c) {
      assert.equal(x.status, "ok", `${x.group}: ${x.reason}`);
      assert.equal(x.check?.ok, true, `${x.group}: error ${x.check?.error}`);
      assert.ok(x.baseline);
    }
    for (const x of r.cases.filter((x) => x.status !== "ok")) {
      assert.ok(x.reason && x.reason.length > 10, `${x.name} in ${x.group} has no reason`);
    }
    assert.ok(r.roofline?.cpu, "no CPU roofline");
    assert.match(run.text, /tessera-c \*/);
    const html = await Deno.readTextFile(`${dir}/quick.html`);
    assert.ok((html.match(/<svg/g) ?? []).length >= 2, "the report lacks its charts");

    const same = await deno("run", "--allow-read", "--allow-env", "bench/compare.ts", json, json);
    assert.equal(same.code, 0, same.text);
    assert.match(same.text, /tessera-c\s+\S+\s+\S+\s+1\.00x\s+same/);
    const text = await Deno.readTextFile(json);
    await Deno.writeTextFile(`${dir}/cut.json`, text.slice(0, 1000));
    const cut = await deno(
      "run",
      "--allow-read",
      "--allow-env",
      "bench/compare.ts",
      json,
      `${dir}/cut.json`,
    );
    assert.equal(cut.code, 1);
    assert.match(cut.text, /cut\.json is not JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the ten-line example writes its table, JSON and chart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = await deno("run", ...PERMS, "examples/bench_matmul.ts", dir);
    assert.equal(run.code, 0, run.text);
    assert.match(run.text, /mine \*/);
    const r = await bench.readResult(`${dir}/my_matmul.json`);
    assert.deepEqual(r.cases.map((c) => c.name), ["mine", "tfjs-wasm"]);
    assert.match(await Deno.readTextFile(`${dir}/my_matmul.svg`), /^<svg/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task bench writes the other reports when one cannot be written, and fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = await deno(
      "run",
      ...PERMS,
      "bench/main.ts",
      "--quick",
      "--no-roofline",
      "--filter",
      "elementwise.*cpu.*/ tessera-c",
      "--json",
      "/dev/null/cannot.json", // /dev/null is no directory
      "--html",
      `${dir}/r.html`,
      "--markdown",
      `${dir}/r.md`,
    );
    assert.equal(run.code, 1, run.text);
    assert.match(run.text, /FAILED: cannot write \/dev\/null\/cannot\.json/);
    assert.match(await Deno.readTextFile(`${dir}/r.html`), /tessera-c/);
    assert.match(await Deno.readTextFile(`${dir}/r.md`), /tessera-c/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
