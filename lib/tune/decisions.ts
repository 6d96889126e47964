/**
 * Decisions: the choices a schedule rule makes (a tile size, an unroll depth, how many outer
 * loops run in parallel, whether to inline a stage), made through one function so that the
 * same rules give the default schedule (every choice the rule's own fallback) and the search
 * space (every choice drawn from a seeded generator), as MetaSchedule's sampling
 * instructions do. A `Decisions` object maps each decision's name (the stage's position
 * among the rule's stages and what is decided, "2.tileRows") to the option taken; replaying
 * the rules with it gives the same schedule, and a mutation draws one of them anew.
 */

/** An option a rule offers: plain JSON, so that decisions can be stored and compared. */
export type Option = number | boolean | string;

/** Picks one of `options` for the decision `name`; `fallback` is the default rule's pick. */
export type Decide = <T extends Option>(name: string, options: readonly T[], fallback: T) => T;

export type Decisions = Record<string, Option>;

/** The default rules: every decision is the rule's own. */
export const fallbackDecide: Decide = (_name, _options, fallback) => fallback;

/** A small seeded generator (mulberry32) giving numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A decider that keeps the choices in `given` still offered and draws the others from
 * `random` (the fallback with probability `keepFallback`, which keeps sampled schedules
 * near the default one); `taken` collects every choice made, in order.
 */
export function sampler(
  random: () => number,
  given: Decisions = {},
  keepFallback = 0.25,
): { decide: Decide; taken: Decisions } {
  const taken: Decisions = {};
  const decide: Decide = (name, options, fallback) => {
    const list = options.includes(fallback) ? options : [...options, fallback];
    const old = given[name];
    let pick = list.find((o) => o === old);
    if (pick === undefined) {
      pick = random() < keepFallback ? fallback : list[Math.floor(random() * list.length)];
    }
    taken[name] = pick;
    return pick;
  };
  return { decide, taken };
}

/** `d` with one decision (drawn by `random`) left out, so a replay draws it anew. */
export function withoutOne(d: Decisions, random: () => number): Decisions {
  const names = Object.keys(d);
  if (names.length === 0) return { ...d };
  const drop = names[Math.floor(random() * names.length)];
  const out = { ...d };
  delete out[drop];
  return out;
}

/** Divisors of `n` from `options` that are at most `n` (at least one: 1). */
export function dividing(n: number, options: readonly number[]): number[] {
  const out = options.filter((o) => o >= 1 && o <= n && n % o === 0);
  return out.length ? [...new Set(out)] : [1];
}
