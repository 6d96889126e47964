/**
 * `te.scan`: recurrences, in TVM's shape. A state placeholder `S` of shape `[m, ...]` names the
 * result; `init` gives its first rows and `update` (a compute over `S`'s shape) gives row `t`
 * from rows before `t`, read through `S`. Several states may update together, each reading
 * the others. This file checks that the pieces fit (shapes, dtypes, that every read of a
 * state looks strictly back along the scan axis) so that lowering (lib/lower/scan.ts) can
 * build the serial loop without second-guessing.
 */
import { simplify } from "../arith/simplify.ts";
import { TesseraError } from "../error.ts";
import { binary, type Expr, exprPrinterHook } from "../ir/expr.ts";
import { walkExpr } from "../ir/visit.ts";
import {
  checkName,
  type ComputeOp,
  inputOps,
  isTensor,
  type Operation,
  type ScanGroup,
  ScanOp,
  type Tensor,
  tensorOf,
} from "./tensor.ts";

const sameExpr = (a: Expr, b: Expr) => a === b || String(simplify(a)) === String(simplify(b));

/**
 * `te.scan(init, update, state, inputs?)`: one state gives one tensor; arrays of inits,
 * updates and states give an array of tensors, one per state. `inputs` (the tensors the
 * update reads, as TVM takes them) is accepted for TVM's signature; reads are found from the
 * bodies.
 */
export function scan(
  init: Tensor,
  update: Tensor,
  state: Tensor,
  inputs?: Tensor[],
  name?: string,
): Tensor;
export function scan(
  init: Tensor[],
  update: Tensor[],
  state: Tensor[],
  inputs?: Tensor[],
  name?: string,
): Tensor[];
export function scan(
  init: Tensor | Tensor[],
  update: Tensor | Tensor[],
  state: Tensor | Tensor[],
  inputs: Tensor[] = [],
  name = "scan",
): Tensor | Tensor[] {
  checkName(name, "te.scan");
  const many = Array.isArray(state);
  const [inits, updates, states] = [init, update, state].map((x) => (Array.isArray(x) ? x : [x]));
  const where = "te.scan";
  if (![...inits, ...updates, ...states].every(isTensor)) {
    throw new TesseraError(`${where}: init, update and state must be tensors (or arrays of them)`);
  }
  if (!Array.isArray(inputs) || !inputs.every(isTensor)) {
    throw new TesseraError(`${where}: inputs must be an array of tensors`);
  }
  if (states.length === 0 || inits.length !== states.length || updates.length !== states.length) {
    throw new TesseraError(
      `${where}: give one init and one update per state; got ${inits.length} init(s), ` +
        `${updates.length} update(s) and ${states.length} state(s)`,
    );
  }
  states.forEach((S, k) => {
    const I = inits[k], U = updates[k];
    const w = `${where}: state ${k} '${S.name}'`;
    if (S.op.kind !== "placeholder") {
      throw new TesseraError(`${w} must be a te.placeholder (the name of the result being built)`);
    }
    if (U.op.kind !== "compute" || I.op.kind !== "compute") {
      throw new TesseraError(`${w}: its init and update must be te.compute tensors`);
    }
    if (S.ndim < 1) throw new TesseraError(`${w} has no axis to scan over`);
    if (I.dtype !== S.dtype || U.dtype !== S.dtype) {
      throw new TesseraError(
        `${w} is ${S.dtype} but its init is ${I.dtype} and its update ${U.dtype}; they must agree`,
      );
    }
    const shape = (t: Tensor) => `[${t.shape.map(String).join(", ")}]`;
    if (U.ndim !== S.ndim || !U.shape.every((d, i) => sameExpr(d, S.shape[i]))) {
      throw new TesseraError(
        `${w} has shape ${shape(S)} but update '${U.name}' has ${shape(U)}; they must be equal`,
      );
    }
    if (I.ndim !== S.ndim || !I.shape.every((d, i) => i === 0 || sameExpr(d, S.shape[i]))) {
      throw new TesseraError(
        `${w} has shape ${shape(S)} but init '${I.name}' has ${shape(I)}; the init must have ` +
          `the state's shape except in axis 0 (its rows)`,
      );
    }
    const [ir, m] = [I.shape[0], S.shape[0]];
    if (ir.kind !== "const" || ir.value < 1 || (m.kind === "const" && ir.value > m.value)) {
      throw new TesseraError(
        `${w}: init '${I.name}' has ${String(ir)} rows; it must have a constant number of rows, ` +
          `at least 1 and at most the state's ${String(m)}`,
      );
    }
  });
  const rows = (t: Tensor) => t.shape[0];
  if (!states.every((S) => sameExpr(rows(S), rows(states[0])))) {
    throw new TesseraError(`${where}: the states must have the same length along axis 0`);
  }
  if (!inits.every((I) => sameExpr(rows(I), rows(inits[0])))) {
    throw new TesseraError(`${where}: the inits must have the same number of rows`);
  }
  const stateOps = new Set(states.map((t) => t.op));
  const minRows = Math.min(...inits.map((t) => (t.shape[0] as { value: number }).value));
  bodyOps({ update: updates, state: states }).forEach((op) => {
    const t = op.axis[0];
    const U = { name: op.name };
    if (t === undefined) {
      throw new TesseraError(`${where}: '${op.name}' reads a state but has no axis 0 (the row)`);
    }
    walkExpr(op.body, (e) => {
      if (e.kind !== "tensorRead") return;
      const read = e.tensor as Tensor;
      if (updates.some((u) => u.op === read.op) || read.op instanceof ScanOp) {
        throw new TesseraError(
          `${where}: update '${U.name}' reads '${read.name}'; an update reads earlier rows ` +
            `through the state placeholders only`,
        );
      }
      if (!stateOps.has(read.op)) return;
      const back = simplify(binary("sub", e.indices[0], t));
      const c = back.kind === "const" ? -back.value : null;
      if (c === null || c < 1 || c > minRows) {
        throw new TesseraError(
          `${where}: '${U.name}' reads state '${read.name}' at row ${
            exprPrinterHook.print(e.indices[0])
          }; it may read only earlier rows, ${t.name} - c with a constant c from 1 to ${minRows} ` +
            `(the init's rows), never row ${t.name} or later`,
        );
      }
    });
  });
  inits.forEach((I) =>
    walkExpr((I.op as { body: Expr }).body, (e) => {
      if (e.kind === "tensorRead" && stateOps.has((e.tensor as Tensor).op)) {
        throw new TesseraError(`${where}: init '${I.name}' reads a state; the init comes first`);
      }
    })
  );
  const group: ScanGroup = { init: inits, update: updates, state: states, members: [] };
  states.forEach((_, k) => group.members.push(new ScanOp(many ? `${name}_${k}` : name, group, k)));
  const out = group.members.map((op) => tensorOf(op));
  // One state gives a tensor, several an array, as TVM's scan does (`inputs` only documents).
  return many ? out : out[0];
}

/**
 * The scan's body: the updates and every compute they read that reads a state, directly or
 * not, producers first. These run once per row, inside the scan loop; each reads rows of the
 * states before its own row (its axis 0).
 */
export function bodyOps(g: Pick<ScanGroup, "update" | "state">): ComputeOp[] {
  const states = new Set<Operation>(g.state.map((t) => t.op));
  const memo = new Map<Operation, boolean>();
  const order: ComputeOp[] = [];
  const visit = (op: Operation): boolean => {
    if (memo.has(op)) return memo.get(op)!;
    memo.set(op, false);
    if (op.kind !== "compute") return false;
    let reads = false;
    for (const p of inputOps(op)) reads = (states.has(p) || visit(p)) || reads;
    memo.set(op, reads);
    if (reads) order.push(op);
    return reads;
  };
  g.update.forEach((u) => visit(u.op));
  return order;
}
