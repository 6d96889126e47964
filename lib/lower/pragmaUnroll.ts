/**
 * The one pragma with a meaning, `auto_unroll_max_step` (TVM's): inside a loop carrying it
 * with value N, every serial loop of constant extent whose unrolled copies would run at most
 * N iterations of the loops it contains becomes an `unroll` loop, innermost first; a loop
 * that cannot be unrolled keeps every loop around it a loop. The targets then unroll as for
 * `stage.unroll` (GCC's pragma in C, copies in WGSL). Keys without a meaning are refused by
 * `stage.pragma`, which lists PRAGMA_KEYS (lib/schedule/stage.ts).
 */
import { For, type Stmt } from "../ir/stmt.ts";
import { mapStmt } from "../ir/visit.ts";

/** Unrolled steps of a statement when every loop it holds is unrolled; null if one is not. */
function steps(s: Stmt): number | null {
  if (s.kind === "for") {
    if (s.forKind !== "unrolled" || s.extent.kind !== "const") return null;
    const inner = steps(s.body);
    return inner === null ? null : s.extent.value * inner;
  }
  let total: number | null = 1;
  mapStmt(s, (e) => e, (c) => {
    const n = steps(c);
    total = total === null || n === null ? null : Math.max(total, n);
    return c;
  });
  return total;
}

export function pragmaUnroll(s: Stmt, limit: number | null = null): Stmt {
  if (s.kind === "for") {
    const p = s.pragmas.find(([k]) => k === "auto_unroll_max_step");
    const max = p ? Number(p[1]) : limit;
    const body = pragmaUnroll(s.body, max);
    const inner = steps(body);
    const unroll = max !== null && s.forKind === "serial" && s.extent.kind === "const" &&
      inner !== null && s.extent.value * inner <= max;
    return body === s.body && !unroll ? s : new For(
      s.loopVar,
      s.min,
      s.extent,
      unroll ? "unrolled" : s.forKind,
      body,
      s.threadTag,
      s.pragmas,
    );
  }
  return mapStmt(s, (e) => e, (c) => pragmaUnroll(c, limit));
}
