/**
 * The targets of issue 7, as checks over measured figures.
 *
 * @module
 */
import type { TargetCheck } from "./report.ts";

/** The figures the targets look at; undefined when not measured. */
export interface TargetInputs {
  /** Median spawn → first `/event/next` (ms) per variant. */
  initMs: { source: number; floor: number; portable?: number };
  /** Median RSS after init (MB) per variant. */
  initRssMB: { source: number; portable?: number };
  /** Steady-rate post-runtime overhead (ms). */
  steady: { median: number; p99: number };
  /** Largest overhead while Kinesis was slow and while it hung (ms). */
  slowMaxMs: number;
  /** Largest overhead while Kinesis hung (ms). */
  hangMaxMs: number;
  /** The configured hold (KINESIS_TELEMETRY_MAX_HOLD_MS). */
  holdMs: number;
  /** Median end-to-end kpl events/s with the extension alone (null Kinesis). */
  extensionEventsPerSecond: number;
  /** Median end-to-end kpl events/s with kinesalite. */
  kinesaliteEventsPerSecond: number;
  /** Median peak RSS in the burst and the RSS after init of that run (MB). */
  burstPeakMB: number;
  /** RSS after init of the burst runs (MB). */
  burstInitMB: number;
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

/** Judges every target. */
export function checkTargets(inputs: TargetInputs): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const ratio = inputs.initMs.source / inputs.initMs.floor;
  checks.push({
    name: "init, from source",
    target: "≤ 1.20 × floor",
    measured: `${ms(inputs.initMs.source)} vs floor ${
      ms(inputs.initMs.floor)
    } = ${ratio.toFixed(2)} ×`,
    pass: ratio <= 1.2,
  });
  if (inputs.initMs.portable !== undefined) {
    const layerRatio = inputs.initMs.portable / inputs.initMs.floor;
    checks.push({
      name: "init, portable layer",
      target: "≤ 1.20 × floor",
      measured: `${ms(inputs.initMs.portable)} = ${layerRatio.toFixed(2)} ×`,
      pass: layerRatio <= 1.2,
    });
  }
  checks.push({
    name: "RSS after init, from source",
    target: "≤ 48 MB",
    measured: `${inputs.initRssMB.source.toFixed(1)} MB`,
    pass: inputs.initRssMB.source <= 48,
  });
  if (inputs.initRssMB.portable !== undefined) {
    checks.push({
      name: "RSS after init, portable layer",
      target: "≤ 48 MB",
      measured: `${inputs.initRssMB.portable.toFixed(1)} MB`,
      pass: inputs.initRssMB.portable <= 48,
    });
  }
  checks.push({
    name: "post-runtime, steady, median",
    target: "≤ 2 ms",
    measured: ms(inputs.steady.median),
    pass: inputs.steady.median <= 2,
  });
  checks.push({
    name: "post-runtime, steady, p99",
    target: "≤ 20 ms",
    measured: ms(inputs.steady.p99),
    pass: inputs.steady.p99 <= 20,
  });
  const bound = inputs.holdMs + HOLD_SLACK_MS;
  checks.push({
    name: "post-runtime, Kinesis slow, max",
    target: `≤ hold ${inputs.holdMs} ms (+${HOLD_SLACK_MS})`,
    measured: ms(inputs.slowMaxMs),
    pass: inputs.slowMaxMs <= bound,
  });
  checks.push({
    name: "post-runtime, Kinesis hanging, max",
    target: `≤ hold ${inputs.holdMs} ms (+${HOLD_SLACK_MS})`,
    measured: ms(inputs.hangMaxMs),
    pass: inputs.hangMaxMs <= bound,
  });
  checks.push({
    name: "throughput kpl, extension alone",
    target: "≥ 50,000 events/s",
    measured: `${Math.round(inputs.extensionEventsPerSecond)} events/s`,
    pass: inputs.extensionEventsPerSecond >= 50_000,
  });
  checks.push({
    name: "throughput kpl, with kinesalite",
    target: "≥ 50,000 events/s",
    measured: `${Math.round(inputs.kinesaliteEventsPerSecond)} events/s`,
    pass: inputs.kinesaliteEventsPerSecond >= 50_000,
  });
  const peakBound = inputs.burstInitMB + inputs.bufferCapMB + inputs.marginMB;
  checks.push({
    name: "peak RSS in the burst",
    target:
      `≤ init + buffer cap ${inputs.bufferCapMB} MB + margin ${inputs.marginMB} MB`,
    measured: `${inputs.burstPeakMB.toFixed(1)} MB vs bound ${
      peakBound.toFixed(1)
    } MB`,
    pass: inputs.burstPeakMB <= peakBound,
  });
  for (const [pattern, savings] of Object.entries(inputs.kplSavings)) {
    checks.push({
      name: `kpl vs json PUT payload units, ${pattern}`,
      target: "≥ 20 × fewer",
      measured: `${savings.toFixed(1)} × fewer`,
      pass: savings >= 20,
    });
  }
  return checks;
}
