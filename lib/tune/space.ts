/**
 * The search space: the default-schedule rules (lib/tune/default.ts) with their decisions
 * sampled instead of fixed (lib/tune/decisions.ts), as Ansor fills its sketches' tile sizes
 * at random. A candidate is the decisions taken and the trace they produced; the trace is
 * what is measured, stored and replayed. A mutation draws one decision anew and replays the
 * rest, so a candidate's neighbours differ in one tile size, one unroll depth, one
 * compute location.
 */
import { Schedule } from "../schedule/schedule.ts";
import type { Tensor } from "../te/tensor.ts";
import { applyDefault, type Facts } from "./default.ts";
import { type Decisions, fallbackDecide, sampler, withoutOne } from "./decisions.ts";
import type { Trace } from "./trace.ts";

export interface Candidate {
  /** The choices made; null for a candidate that did not come from the rules (a hand schedule). */
  decisions: Decisions | null;
  trace: Trace;
}

export interface Space {
  outputs: Tensor[];
  target: string;
  facts: Facts;
  /** Intermediates passed as arguments (never inlined). */
  keep?: Tensor[];
}

/** The default schedule as a candidate (every decision the rule's own). */
export function defaultCandidate(space: Space): Candidate {
  const taken: Decisions = {};
  const trace = applyDefault(
    new Schedule(space.outputs),
    space.target,
    space.facts,
    space.keep,
    (name, options, fallback) => (taken[name] = fallbackDecide(name, options, fallback)),
  );
  return { decisions: taken, trace };
}

/** A candidate with the decisions in `given` kept where still offered, the rest drawn. */
export function sample(space: Space, random: () => number, given: Decisions = {}): Candidate {
  const { decide, taken } = sampler(random, given);
  const trace = applyDefault(
    new Schedule(space.outputs),
    space.target,
    space.facts,
    space.keep,
    decide,
  );
  return { decisions: taken, trace };
}

/** `c` with one decision drawn anew (a candidate without decisions gives a fresh sample). */
export function mutate(space: Space, c: Candidate, random: () => number): Candidate {
  return sample(space, random, c.decisions ? withoutOne(c.decisions, random) : {});
}

/** A key that tells equal traces apart from different ones. */
export const traceKey = (t: Trace): string => JSON.stringify(t);
