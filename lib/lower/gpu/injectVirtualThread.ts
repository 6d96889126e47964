/**
 * Virtual threads (`bind(axis, "vthread")`, TVM's InjectVirtualThread in small): a loop bound
 * to "vthread" does not become a hardware index. Each invocation runs all its iterations, one
 * after another, as an unrolled loop where the extent is constant (a serial one otherwise).
 * Unrolling (lib/lower/unroll.ts, on WebGPU) then interleaves the virtual threads' code in
 * one invocation, and gives every buffer allocated inside the loop a copy per virtual thread
 * (the printer makes each allocation its own array), which is the expansion TVM makes. In a
 * shader the loop is uniform (same trips in every invocation), so thread loops inside it stay
 * cooperative and their barriers stay legal. On the interpreter and C it is a plain loop,
 * which is what it means.
 */
import { For, type Stmt } from "../../ir/stmt.ts";
import { mapStmt } from "../../ir/visit.ts";

export function injectVirtualThreads(s: Stmt): Stmt {
  const go = (x: Stmt): Stmt => {
    const y = mapStmt(x, (e) => e, go);
    if (y.kind !== "for" || y.threadTag !== "vthread") return y;
    const kind = y.extent.kind === "const" ? "unrolled" : "serial";
    return new For(y.loopVar, y.min, y.extent, kind, y.body, null, y.pragmas);
  };
  return go(s);
}
