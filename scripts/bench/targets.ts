/**
 * The targets of issue 7, as checks over measured figures.
 *
 * @module
 */
import type { TargetCheck } from "./report.ts";

/** The figures the targets look at; undefined when not measured. */
export interface TargetInputs {
  /** Median spawn → first `/event/next` (ms) per variant. */
  initMs?: { source: number; floor: number; portable?: number };
  /** Median RSS after init (MB) per variant. */
  initRssMB?: { source: number; portable?: number };
  /** Steady-rate post-runtime overhead (ms). */
  steady?: { median: number; p99: number };
  /**
   * Invocations `gapMs` apart, frozen in between, flush=invoke: post-runtime
   * p99 after the first invocation (ms), and the longest event time →
   * stored (ms).
   */
  sparse?: { gapMs: number; p99: number; latencyMaxMs?: number };
  /** Largest overhead while Kinesis was slow (ms). */
  slowMaxMs?: number;
  /** Largest overhead while Kinesis hung (ms). */
  hangMaxMs?: number;
  /** The configured hold (KINESIS_TELEMETRY_MAX_HOLD_MS). */
  holdMs: number;
  /** Median end-to-end kpl events/s with the extension alone (null Kinesis). */
  extensionEventsPerSecond?: number;
  /** Median end-to-end kpl events/s with kinesalite. */
  kinesaliteEventsPerSecond?: number;
  /** Median peak RSS in the burst (MB). */
  burstPeakMB?: number;
  /** RSS after init of the burst runs (MB). */
  burstInitMB?: number;
  /** Buffer cap (MB) and the stated margin (MB). */
  bufferCapMB: number;
  /** Margin allowed above init RSS + buffer cap (MB). */
  marginMB: number;
  /** json PUT payload units ÷ kpl PUT payload units, per flush pattern. */
  kplSavings: Record<string, number>;
}

/** Scheduling slack allowed beyond the hold before it counts as exceeded. */
export const HOLD_SLACK_MS = 25;

const ms = (value: number) => `${value.toFixed(1)} ms`;

/** A target whose figure is missing: shown, judged neither way. */
function unmeasured(name: string, target: string): TargetCheck {
  return { name, target, measured: "not measured", pass: null };
}

/** Judges every target; a missing figure gives a check with `pass: null`. */
export function checkTargets(inputs: TargetInputs): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (
    name: string,
    target: string,
    figure: number | undefined,
    describe: (value: number) => string,
    meets: (value: number) => boolean,
  ) =>
    checks.push(
      figure === undefined
        ? unmeasured(name, target)
        : { name, target, measured: describe(figure), pass: meets(figure) },
    );
  const init = inputs.initMs;
  check(
    "init, from source",
    "≤ 1.20 × floor",
    init ? init.source / init.floor : undefined,
    (ratio) =>
      `${ms(init!.source)} vs floor ${ms(init!.floor)} = ${ratio.toFixed(2)} ×`,
    (ratio) => ratio <= 1.2,
  );
  if (init?.portable !== undefined) {
    check(
      "init, portable layer",
      "≤ 1.20 × floor",
      init.portable / init.floor,
      (ratio) => `${ms(init.portable!)} = ${ratio.toFixed(2)} ×`,
      (ratio) => ratio <= 1.2,
    );
  }
  const mb = (value: number) => `${value.toFixed(1)} MB`;
  check(
    "RSS after init, from source",
    "≤ 48 MB",
    inputs.initRssMB?.source,
    mb,
    (value) => value <= 48,
  );
  if (inputs.initRssMB?.portable !== undefined) {
    check(
      "RSS after init, portable layer",
      "≤ 48 MB",
      inputs.initRssMB.portable,
      mb,
      (value) => value <= 48,
    );
  }
  check(
    "post-runtime, steady, median",
    "≤ 2 ms",
    inputs.steady?.median,
    ms,
    (value) => value <= 2,
  );
  check(
    "post-runtime, steady, p99",
    "≤ 20 ms",
    inputs.steady?.p99,
    ms,
    (value) => value <= 20,
  );
  const gapMs = inputs.sparse?.gapMs ?? 300;
  check(
    `post-runtime, ${gapMs} ms apart, p99 after the first`,
    "≤ 50 ms",
    inputs.sparse?.p99,
    ms,
    (value) => value <= 50,
  );
  // Stored by the end of the next invocation: within two gaps of the event.
  check(
    `delivery, ${gapMs} ms apart, latest`,
    `≤ 2 × ${gapMs} ms`,
    inputs.sparse?.latencyMaxMs,
    ms,
    (value) => value <= 2 * gapMs,
  );
  const bound = inputs.holdMs + HOLD_SLACK_MS;
  const holdTarget = `≤ hold ${inputs.holdMs} ms (+${HOLD_SLACK_MS})`;
  check(
    "post-runtime, Kinesis slow, max",
    holdTarget,
    inputs.slowMaxMs,
    ms,
    (value) => value <= bound,
  );
  check(
    "post-runtime, Kinesis hanging, max",
    holdTarget,
    inputs.hangMaxMs,
    ms,
    (value) => value <= bound,
  );
  const rate = (value: number) => `${Math.round(value)} events/s`;
  check(
    "throughput kpl, extension alone",
    "≥ 50,000 events/s",
    inputs.extensionEventsPerSecond,
    rate,
    (value) => value >= 50_000,
  );
  check(
    "throughput kpl, with kinesalite",
    "≥ 50,000 events/s",
    inputs.kinesaliteEventsPerSecond,
    rate,
    (value) => value >= 50_000,
  );
  const peakBound = (inputs.burstInitMB ?? 0) + inputs.bufferCapMB +
    inputs.marginMB;
  check(
    "peak RSS in the burst",
    `≤ init + buffer cap ${inputs.bufferCapMB} MB + margin ${inputs.marginMB} MB`,
    inputs.burstInitMB === undefined ? undefined : inputs.burstPeakMB,
    (value) => `${value.toFixed(1)} MB vs bound ${peakBound.toFixed(1)} MB`,
    (value) => value <= peakBound,
  );
  for (const [pattern, savings] of Object.entries(inputs.kplSavings)) {
    check(
      `kpl vs json PUT payload units, ${pattern}`,
      "≥ 20 × fewer",
      savings,
      (value) => `${value.toFixed(1)} × fewer`,
      (value) => value >= 20,
    );
  }
  return checks;
}
