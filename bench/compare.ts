/**
 * `deno task bench:compare before.json after.json`: two result files of `deno task bench` (or
 * of any suite saved with `result.save`) side by side, each case's speedup, and changes
 * beyond the noise of both runs marked. A damaged file is refused with the field at fault.
 */
import { bench, TesseraError } from "../mod.ts";

if (Deno.args.length !== 2) {
  console.error("usage: deno task bench:compare before.json after.json");
  Deno.exit(2);
}
try {
  const [a, b] = await Promise.all(Deno.args.map((p) => bench.readResult(p)));
  console.log(bench.formatCompare(a, b));
} catch (e) {
  if (!(e instanceof TesseraError)) throw e;
  console.error(`bench:compare: ${e.message}`);
  Deno.exit(1);
}
