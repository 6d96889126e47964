/**
 * What `f.profile(...args)` returns: where one call's time goes, stage by stage, with each
 * stage's work (FLOPs, compulsory bytes; lib/lower/stageWork.ts), its speed, and, given the
 * machine's roofs, how close it gets to them. This is Halide's profiling build and TVM's
 * per-operator profiler in one object: the kernel built with `{ profile: true }` carries a
 * timer around each root stage (and nothing when built without it).
 */
import { TesseraError } from "../error.ts";

export interface StageProfile {
  stage: string;
  /** Median seconds per call over the profiled calls. */
  seconds: number;
  /** Arithmetic operations per call; null when the stage's work could not be counted. */
  flops: number | null;
  /** Compulsory bytes per call: each tensor read once, the output written once. */
  bytes: number | null;
  gflops: number | null;
  gbs: number | null;
  /** FLOPs per byte. */
  intensity: number | null;
  /** Set by `onRoofline`: the roof above the stage and the fraction of it reached. */
  attainable?: number;
  fraction?: number;
  bound?: "memory" | "compute";
}

export interface Roofs {
  /** Peak GFLOP/s. */
  gflops: number;
  /** Peak GB/s. */
  gbs: number;
}

/** Set by lib/display: a profile's Jupyter MIME bundle. */
export const profileDisplayHook: { bundle: (p: Profile) => Record<string, unknown> } = {
  bundle: (p) => ({ "text/plain": p.toString() }),
};

export class Profile {
  constructor(
    readonly kernel: string,
    readonly target: string,
    readonly stages: StageProfile[],
    /** How the stages were timed. */
    readonly how: string,
    /** The number of calls each median is taken over. */
    readonly calls: number,
    /** The lowered loop IR, for displays that show the stages beside their loops. */
    readonly ir: string,
    readonly roofs: Roofs | null = null,
  ) {}

  /** Seconds of all stages together, per call. */
  get seconds(): number {
    return this.stages.reduce((s, x) => s + x.seconds, 0);
  }

  /** The stages placed under the roofs of a machine (e.g. `await bench.measureRoofline("cpu")`). */
  onRoofline(roofs: Roofs): Profile {
    if (!(roofs?.gflops > 0) || !(roofs?.gbs > 0)) {
      throw new TesseraError(
        "profile.onRoofline: expects { gflops, gbs }, both positive (bench.measureRoofline gives them)",
      );
    }
    const ridge = roofs.gflops / roofs.gbs;
    const stages = this.stages.map((s) => {
      if (s.intensity === null || s.gflops === null || s.gbs === null) return { ...s };
      const attainable = Math.min(roofs.gflops, s.intensity * roofs.gbs);
      const memory = s.intensity < ridge;
      // Under the memory roof the fraction is of the bandwidth, which also places a stage
      // that only moves data (no FLOPs, intensity 0).
      return {
        ...s,
        attainable,
        fraction: memory ? s.gbs / roofs.gbs : s.gflops / roofs.gflops,
        bound: memory ? "memory" as const : "compute" as const,
      };
    });
    return new Profile(this.kernel, this.target, stages, this.how, this.calls, this.ir, roofs);
  }

  toString(): string {
    const total = this.seconds;
    const lines = this.stages.map((s) => {
      const share = total > 0 ? (100 * s.seconds / total).toFixed(1) : "0.0";
      const speed = [
        s.gflops !== null ? `${s.gflops.toFixed(2)} GFLOP/s` : null,
        s.gbs !== null ? `${s.gbs.toFixed(2)} GB/s` : null,
        s.fraction !== undefined
          ? `${(100 * s.fraction).toFixed(0)}% of its ${s.bound} roof`
          : null,
      ].filter((x) => x !== null).join(", ");
      return `  ${s.stage}: ${fmt(s.seconds)} (${share}%)${speed ? `, ${speed}` : ""}`;
    });
    return [
      `Profile of ${this.kernel} (${this.target}), median of ${this.calls} calls: ${fmt(total)}`,
      ...lines,
      `  timed by ${this.how}`,
    ].join("\n");
  }

  [Symbol.for("Jupyter.display")](): Record<string, unknown> {
    return profileDisplayHook.bundle(this);
  }
}

function fmt(s: number): string {
  return s >= 1
    ? `${s.toFixed(3)} s`
    : s >= 1e-3
    ? `${(s * 1e3).toFixed(3)} ms`
    : `${(s * 1e6).toFixed(1)} µs`;
}
