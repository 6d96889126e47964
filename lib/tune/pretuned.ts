/**
 * Pre-tuned records (TVM's TopHub): records files committed under one folder, one per
 * machine kind that has been tuned (tune-records/<machine>/<target>.jsonl). `deno task bench`
 * looks there when no --records is given and uses the files with records for this machine's
 * target key; it says when none match, rather than silently benchmarking default schedules.
 */
import { readRecords } from "./records.ts";
import { targetKey } from "./key.ts";
import { targetFacts } from "./target.ts";

export const PRETUNED_DIR = new URL("../../tune-records/", import.meta.url).pathname;

async function* jsonlFiles(dir: string): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return; // no folder: nothing pre-tuned
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = `${dir.replace(/\/$/, "")}/${e.name}`;
    if (e.isDirectory) yield* jsonlFiles(path);
    else if (e.isFile && e.name.endsWith(".jsonl")) yield path;
  }
}

/**
 * The records file under `dir` with the most records for this machine's `target` key, or
 * null when none has any (with the key, to say what was looked for).
 */
export async function pretunedFor(
  target: "c" | "webgpu",
  dir: string = PRETUNED_DIR,
  key?: string,
): Promise<{ path: string | null; key: string }> {
  const want = key ?? targetKey(await targetFacts(target));
  let best: { path: string; n: number } | null = null;
  for await (const path of jsonlFiles(dir)) {
    const n = (await readRecords(path)).records.filter((r) => r.target === want).length;
    if (n > 0 && (!best || n > best.n)) best = { path, n };
  }
  return { path: best?.path ?? null, key: want };
}
