/**
 * Pre-tuned records (lib/tune/pretuned.ts): under a folder of machine kinds, the file with
 * the most records for the target key at hand is found; none is found for a key no file
 * has, nor in a folder that does not exist; files that are not records are skipped.
 */
import assert from "node:assert/strict";
import { pretunedFor } from "../lib/tune/pretuned.ts";
import { RecordWriter } from "../lib/tune/records.ts";

Deno.test("pre-tuned records: the file with this machine's records is found, else none", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = async (path: string, keys: string[]) => {
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      const w = await RecordWriter.open(path);
      for (const target of keys) {
        await w.append({ workload: "w1", target, trace: [], costs: [1e-3] });
      }
      w.close();
    };
    await write(`${dir}/zen3/c.jsonl`, ["c-aaaa", "c-bbbb"]);
    await write(`${dir}/zen5/c.jsonl`, ["c-bbbb", "c-bbbb"]);
    await Deno.writeTextFile(`${dir}/zen5/notes.jsonl`, "not a record\n");
    assert.deepEqual(await pretunedFor("c", dir, "c-bbbb"), {
      path: `${dir}/zen5/c.jsonl`,
      key: "c-bbbb",
    });
    assert.equal((await pretunedFor("c", dir, "c-aaaa")).path, `${dir}/zen3/c.jsonl`);
    assert.equal((await pretunedFor("c", dir, "c-cccc")).path, null);
    assert.equal((await pretunedFor("c", `${dir}/none`, "c-aaaa")).path, null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
