/**
 * Storage scope follows the attach point, as in TVM: a stage whose scope the user did not
 * set (setScope, cacheRead, cacheWrite) lives where the loops around it put it. Inside a
 * loop bound to `threadIdx.*` each thread needs its own copy: `local`. Under `blockIdx.*`
 * only, the threads of a workgroup share one copy: `shared`. Elsewhere `global`. The old
 * default (global everywhere) made every thread compute the whole region, and in a shader
 * gave every invocation a private copy of it. Bound inference relaxes the region over the
 * thread loops the scope is shared across, and the allocation says what was chosen and why.
 */
import type { Scope, Stage } from "../../schedule/stage.ts";
import { enclosingLoops } from "../bounds.ts";

export interface ScopeChoice {
  scope: Scope;
  /** Why, when the scope was inferred from thread loops (shown on the allocation). */
  note: string | null;
}

export function inferScope(st: Stage): ScopeChoice {
  if (st.scopeExplicit || st.attach.type !== "scope") return { scope: st.scope, note: null };
  let block: string | null = null;
  let s: Stage = st;
  // enclosingLoops is innermost first; the tag of each comes from the stage owning the loop.
  const owners: Array<[Stage, number]> = [];
  for (; s.attach.type === "scope"; s = s.attach.stage) {
    owners.push([s.attach.stage, s.attach.stage.leafIterVars.indexOf(s.attach.axis)]);
  }
  for (const v of enclosingLoops(st)) {
    const owner = owners.find(([o]) => o.leafIterVars.includes(v))![0];
    const tag = owner.attrs.get(v)?.threadTag;
    if (tag?.startsWith("threadIdx")) {
      return {
        scope: "local",
        note:
          `no setScope, inside ${tag} loop '${v.name}' of '${owner.name}': local (a copy per thread)`,
      };
    }
    if (tag?.startsWith("blockIdx") && !block) {
      block =
        `no setScope, under ${tag} loop '${v.name}' of '${owner.name}' and no thread loop: shared (a copy per workgroup)`;
    }
  }
  return block ? { scope: "shared", note: block } : { scope: "global", note: null };
}
