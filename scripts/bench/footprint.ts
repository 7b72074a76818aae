/**
 * The footprint table of the bench (issue 14): what the extension costs a
 * function beside the floor (a bare extension that only registers,
 * subscribes and waits), measured in the same run, against the goals of a
 * 128 MB function.
 *
 * @module
 */
import type { Summary } from "./stats.ts";

/** Init of one variant, with what follows once the SDK is loaded. */
export interface FootprintInit {
  /** Variant ("source", "portable layer", "floor (bare extension)"). */
  variant: string;
  /** Spawn → first `/event/next` (ms). */
  firstNextMs: Summary;
  /** RSS 200 ms after the first `/event/next` (MB). */
  settledRssMB: Summary;
  /** CPU from spawn to 200 ms after the first `/event/next` (ms). */
  settledCpuMs: Summary;
}

/** One burst at one function memory size. */
export interface FootprintBurst {
  /** `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` of the run (heap flags to match). */
  memoryMB: number;
  /** The buffer bound the extension derived for it (MiB). */
  bufferMiB: number;
  /** Runs that delivered every event / runs. */
  completedRuns: number;
  /** Runs. */
  runs: number;
  /** Peak RSS (VmHWM, MB) over the runs. */
  peakRssMB: Summary;
  /** Extension CPU per 1,000 events delivered (ms). */
  cpuMsPer1000Events: Summary;
}

/** Everything the footprint table shows. */
export interface FootprintFigures {
  /** Name of the floor variant in `init`. */
  floor: string;
  /** Per variant, floor included. */
  init: FootprintInit[];
  /** Extension CPU per steady invocation (20 lines, kpl, ms), when measured. */
  cpuMsPerInvocation?: number;
  /** Bursts at 128 and 1,024 MB. */
  bursts: FootprintBurst[];
}

/** The goals of issue 14, as numbers. */
export const FOOTPRINT_GOALS = {
  /** First `/event/next` at most this × the floor's. */
  firstNextRatio: 1.2,
  /** RSS 200 ms after init at most the floor's + this (MB). */
  settledRssOverFloorMB: 8,
  /** CPU from spawn to 200 ms after init (ms). */
  settledCpuMs: 80,
  /** CPU per steady invocation (ms). */
  cpuMsPerInvocation: 1,
  /** CPU per 1,000 events in a burst (ms). */
  cpuMsPer1000Events: 8,
  /** Peak RSS in a burst at 128 MB (MB); never above half the memory. */
  peakRssMB128: 64,
} as const;

const fmt = (value: number, digits = 1) =>
  value.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });

const judge = (pass: boolean) => pass ? "pass" : "MISS";

/** The Markdown section of the footprint figures. */
export function renderFootprint(figures: FootprintFigures): string {
  const goals = FOOTPRINT_GOALS;
  const floor = figures.init.find((row) => row.variant === figures.floor);
  const lines = [
    "",
    "#### Footprint (issue 14): beside the floor, in the same run",
    "",
    "| variant | first /next median (ms) | × floor | RSS 200 ms after init (MB) | − floor | CPU spawn → 200 ms after init (ms) |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of figures.init) {
    const ratio = floor
      ? row.firstNextMs.median / floor.firstNextMs.median
      : NaN;
    const over = floor
      ? row.settledRssMB.median - floor.settledRssMB.median
      : NaN;
    const isFloor = row.variant === figures.floor;
    lines.push(
      `| ${row.variant} | ${fmt(row.firstNextMs.median)} | ${
        isFloor
          ? "1.00"
          : `${fmt(ratio, 2)} (${
            judge(ratio <= goals.firstNextRatio)
          } ≤ ${goals.firstNextRatio})`
      } | ${fmt(row.settledRssMB.median)} | ${
        isFloor
          ? "–"
          : `${fmt(over)} (${
            judge(over <= goals.settledRssOverFloorMB)
          } ≤ ${goals.settledRssOverFloorMB})`
      } | ${fmt(row.settledCpuMs.median, 0)}${
        isFloor
          ? ""
          : ` (${
            judge(row.settledCpuMs.median <= goals.settledCpuMs)
          } ≤ ${goals.settledCpuMs})`
      } |`,
    );
  }
  lines.push(
    "",
    `CPU per steady invocation (20 lines, kpl, kinesalite): ${
      figures.cpuMsPerInvocation === undefined
        ? "not measured"
        : `${fmt(figures.cpuMsPerInvocation, 2)} ms (${
          judge(figures.cpuMsPerInvocation <= goals.cpuMsPerInvocation)
        } ≤ ${goals.cpuMsPerInvocation} ms)`
    }. CPU from /proc ticks (10 ms each).`,
    "",
    "| burst (null Kinesis, kpl) at function memory | buffer bound (MiB) | runs delivered in full | peak RSS median / max (MB) | ≤ half of memory | CPU per 1,000 events delivered, median (ms) |",
    "| --- | --- | --- | --- | --- | --- |",
  );
  for (const burst of figures.bursts) {
    const half = burst.memoryMB / 2;
    const peakGoal = burst.memoryMB <= 128
      ? Math.min(half, goals.peakRssMB128)
      : half;
    lines.push(
      `| ${burst.memoryMB} MB | ${
        fmt(burst.bufferMiB, 0)
      } | ${burst.completedRuns} of ${burst.runs} | ${
        fmt(burst.peakRssMB.median)
      } / ${fmt(burst.peakRssMB.max)} | ${
        judge(burst.peakRssMB.max <= peakGoal)
      } (≤ ${fmt(peakGoal, 0)}) | ${fmt(burst.cpuMsPer1000Events.median)} (${
        judge(burst.cpuMsPer1000Events.median <= goals.cpuMsPer1000Events)
      } ≤ ${goals.cpuMsPer1000Events}) |`,
    );
  }
  return lines.join("\n") + "\n";
}
