/**
 * Marks for `te.build(..., { profile: true })`: each root stage's statements are wrapped in a
 * loop that runs once and carries the pragma `tsr_profile = <stage name>`. As IR it means
 * exactly what it wraps (so every pass and the interpreter stay correct without knowing it);
 * the C printer turns it into a timer around the stage, and the WebGPU plan labels the
 * stage's dispatches with it, for timestamps. Nothing is marked unless profiling was asked
 * for, so an ordinary kernel pays nothing.
 */
import { Var } from "../ir/expr.ts";
import { intConst } from "../ir/expr.ts";
import { For, type Stmt } from "../ir/stmt.ts";
import { walkStmt } from "../ir/visit.ts";

export const PROFILE_PRAGMA = "tsr_profile";

export function markStage(body: Stmt, stage: string): Stmt {
  return new For(new Var("profiled", "int32"), intConst(0), intConst(1), "serial", body, null, [
    [PROFILE_PRAGMA, stage],
  ]);
}

/** The stage a loop marks, or null when it is an ordinary loop. */
export function markedStage(s: For): string | null {
  const p = s.pragmas.find(([k]) => k === PROFILE_PRAGMA);
  return p ? String(p[1]) : null;
}

/** The marked stages of a body, each once, in the order they run. */
export function profiledStages(body: Stmt): string[] {
  const out: string[] = [];
  walkStmt(body, (s) => {
    const name = s.kind === "for" ? markedStage(s) : null;
    if (name !== null && !out.includes(name)) out.push(name);
  });
  return out;
}
