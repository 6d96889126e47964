/**
 * Numbers as people read them in a summary line: times with a unit that keeps three or four
 * significant digits in view, and counts with their SI prefix.
 */

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return String(s);
  const a = Math.abs(s);
  if (a >= 100) return `${s.toFixed(0)} s`;
  if (a >= 1) return `${s.toPrecision(3)} s`;
  if (a >= 1e-3) return `${(s * 1e3).toPrecision(3)} ms`;
  if (a >= 1e-6) return `${(s * 1e6).toPrecision(3)} µs`;
  if (a === 0) return "0 s";
  return `${(s * 1e9).toPrecision(3)} ns`;
}

/** A value to `digits` significant digits, without a trailing exponent for ordinary sizes. */
export function formatNumber(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "NaN" : x > 0 ? "inf" : "-inf";
  if (x !== 0 && (Math.abs(x) >= 1e6 || Math.abs(x) < 1e-3)) return x.toExponential(digits - 1);
  return String(Number(x.toPrecision(digits)));
}
