/**
 * Lowering `te.scan`: the init stages fill the first rows of each state's buffer, then one
 * serial loop over the scan axis runs every update stage for row `t`. Each update stage is
 * built as an ordinary root stage (so its inner axes keep their splits, vectorize, parallel,
 * bindings and attached producers) and its outermost loop, the scan axis, becomes the scan's
 * loop. Init and update stages write the scan's buffer, and reads of a state placeholder read
 * it too. What this cannot express (a split scan axis, an update inlined or read elsewhere)
 * is refused here with the reason.
 */
import { TesseraError } from "../error.ts";
import { binary, type Expr, type Var } from "../ir/expr.ts";
import { For, seq, type SizeRequirement, type Stmt } from "../ir/stmt.ts";
import { mapStmtExprs, substitute } from "../ir/visit.ts";
import type { Schedule } from "../schedule/schedule.ts";
import type { Stage } from "../schedule/stage.ts";
import { bodyOps } from "../te/scan.ts";
import { type ComputeOp, inputOps, type ScanGroup, type ScanOp } from "../te/tensor.ts";

/** Init and update stages, and state placeholders, by the scan stage whose buffer they use. */
export function scanParts(s: Schedule): Map<Stage, Stage> {
  const parts = new Map<Stage, Stage>();
  for (const st of s.stages) {
    if (st.op.kind !== "scan") continue;
    const { group, index } = st.op;
    for (const t of [group.init[index], group.update[index], group.state[index]]) {
      const p = s.stageOfOp(t.op);
      if (p) parts.set(p, st);
    }
  }
  return parts;
}

/** Refuses schedules of scans that the serial loop cannot honour. */
export function checkScanSchedule(s: Schedule, parts: ReadonlyMap<Stage, Stage>): void {
  for (const [st, owner] of parts) {
    if (st.op.kind === "placeholder") continue;
    const where = `te.lower: stage '${st.name}' (${
      owner.op.kind === "scan" && (owner.op as ScanOp).group.init.some((t) => t.op === st.op)
        ? "init"
        : "update"
    } of scan '${owner.name}')`;
    if (st.attach.type !== "root") {
      throw new TesseraError(
        `${where} is ${
          st.attach.type === "inline" ? "inlined" : "attached to a loop"
        }; it writes the scan's rows, so it stays at the root (schedule its inner loops instead)`,
      );
    }
    if (st.isOutput) {
      throw new TesseraError(`${where} writes the scan's rows; pass the scan itself as the output`);
    }
    for (const r of s.stages) {
      if (r.op.kind === "compute" && !parts.has(r) && inputOps(r.op).includes(st.op)) {
        throw new TesseraError(
          `${where} is read by '${r.name}'; read the scan's output instead (its rows are the scan's)`,
        );
      }
    }
    const op = st.op as ComputeOp;
    if ((owner.op as ScanOp).group.update.some((t) => t.op === st.op)) {
      const t = op.axis[0];
      if (st.leafIterVars[0] !== t || st.attrs.get(t)?.forKind) {
        throw new TesseraError(
          `${where}: its axis 0 '${t.name}' is the scan axis, a serial loop, so it must stay ` +
            `the outermost loop, unsplit, unfused and unannotated (loops: ${st.leafNames()}); ` +
            `schedule the other axes`,
        );
      }
    }
  }
}

/** Stages of a scan's body besides its updates run per row: inside an update, or inlined. */
export function checkScanBody(s: Schedule, group: ScanGroup): void {
  const updates = new Set(group.update.map((t) => s.stageOfOp(t.op)));
  for (const op of bodyOps(group)) {
    const st = s.stageOfOp(op);
    if (!st || updates.has(st) || st.attach.type === "inline") continue;
    let at: Stage | null = st;
    while (at && at.attach.type === "scope" && !updates.has(at)) at = at.attach.stage;
    if (at && updates.has(at)) continue;
    throw new TesseraError(
      `te.lower: stage '${st.name}' reads a state of scan '${group.members[0].name}', so it ` +
        `runs once per row inside the scan: attach it in an update's loop ` +
        `(s.stage(${st.name}).computeAt(s.stage(${
          group.update[0].name
        }), ...)) or computeInline it`,
    );
  }
}

/**
 * The statement of a scan: inits, then `for t in [rows, m)` over every update's row `t`.
 * `build` builds a stage's nest as lowering does for any root stage.
 */
export function scanLoop(s: Schedule, group: ScanGroup, build: (st: Stage) => Stmt): Stmt {
  const inits = group.init.map((t) => build(s.stage(t)));
  const updates = group.update.map((t) => s.stage(t));
  const tv = (updates[0].op as ComputeOp).axis[0];
  const bodies = updates.map((st) => {
    const own = (st.op as ComputeOp).axis[0];
    const nest = build(st);
    if (nest.kind !== "for" || nest.loopVar !== own) {
      throw new TesseraError(
        `te.lower: update '${st.name}' could not be placed in the scan loop (its nest does not ` +
          `start with the scan axis '${own.name}'); keep axis 0 its outermost loop`,
      );
    }
    if (own === tv) return nest.body;
    const map = new Map<Var, Expr>([[own, tv]]);
    return mapStmtExprs(nest.body, (e) => substitute(e, map));
  });
  const rows = group.init[0].shape[0];
  const m = group.state[0].shape[0];
  const loop = new For(tv, rows, binary("sub", m, rows), "serial", seq(bodies));
  return seq([...inits, loop]);
}

/** What the sizes must satisfy: the state has at least the init's rows (which it holds). */
export function scanRequirement(group: ScanGroup): SizeRequirement {
  const rows = group.init[0].shape[0], m = group.state[0].shape[0];
  return {
    value: binary("add", binary("sub", m, rows), 1),
    what: `the rows of scan state '${group.state[0].name}' less the init's ${
      String(rows)
    }, plus 1,`,
  };
}
