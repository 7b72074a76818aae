/**
 * The bench's results: their shape in results.json, the targets they are
 * judged against, and the Markdown table printed and written beside them.
 *
 * @module
 */
import type { KinesisCost } from "./cost.ts";
import type { FootprintFigures } from "./footprint.ts";
import type { Summary } from "./stats.ts";

/** Init of one variant (ms from spawn; RSS in MB once in `/event/next`). */
export interface InitFigures {
  /** Spawn → registered. */
  registerMs: Summary;
  /** Spawn → subscribed. */
  subscribeMs: Summary;
  /** Spawn → first `/event/next`. */
  firstNextMs: Summary;
  /** Resident memory then. */
  rssMB: Summary;
}

/** Post-runtime overhead of one steady run. */
export interface OverheadFigures {
  /** What ran (e.g. "kinesalite", "Kinesis +50 ms"). */
  label: string;
  /** Invocations. */
  invocations: number;
  /**
   * Post-runtime overhead per invocation (ms), after the first: the first
   * after init waits for its runtimeDone (nothing is known yet about how
   * much the function logs) and is reported apart.
   */
  postRuntimeMs: Summary;
  /** Post-runtime overhead of the first invocation after init (ms). */
  firstPostRuntimeMs?: number;
  /** Event time → stored in Kinesis (ms), per stored event. */
  deliveryLatencyMs?: Summary;
  /** Peak RSS of the extension over the run (MB, VmHWM). */
  peakRssMB: number;
}

/** One burst's throughput. */
export interface ThroughputFigures {
  /** What ran. */
  label: string;
  /** Events in the burst. */
  events: number;
  /** Events per second over repeated runs. */
  eventsPerSecond: Summary;
  /** Extension CPU seconds per 100,000 events. */
  cpuSecondsPer100k: Summary;
  /** kinesalite CPU seconds per 100,000 events, where it took part. */
  kinesisCpuSecondsPer100k?: Summary;
  /** Peak RSS of the extension (MB). */
  peakRssMB: Summary;
}

/** Kinesis bill per 10,000 events for one format and flush pattern. */
export interface CostFigures {
  /** Record format. */
  format: string;
  /** How events reached Kinesis ("per invocation" or "bulk"). */
  pattern: string;
  /** Events the figures were measured on. */
  measuredEvents: number;
  /** PutRecords requests per 10,000 events. */
  requests: number;
  /** Records, bytes, PUT payload units, on-demand KB per 10,000 events. */
  cost: KinesisCost;
}

/** A target and whether the measurement meets it. */
export interface TargetCheck {
  /** What is judged. */
  name: string;
  /** The target in words. */
  target: string;
  /** The measured figure in words. */
  measured: string;
  /** Met or not; null when it could not be measured. */
  pass: boolean | null;
}

/** Everything one bench run writes to results.json. */
export interface BenchResults {
  /** When, where, with what. */
  meta: {
    date: string;
    deno: string;
    v8: string;
    cpus: number;
    cpuModel: string;
    commit: string;
    durationSeconds: number;
    /** 1-minute load average at the start and end (2 = both cores busy). */
    loadAverage: { start: number; end: number };
  };
  /** Init per variant ("source", "floor", "portable layer"). */
  init: Record<string, InitFigures>;
  /** Why a variant could not be measured. */
  notMeasured: Record<string, string>;
  /** Post-runtime overhead runs. */
  overhead: OverheadFigures[];
  /** Bursts. */
  throughput: ThroughputFigures[];
  /** Listener-only and Kinesis-only rates of the split burst (events/s). */
  split: {
    ingestEventsPerSecond: number;
    flushEventsPerSecond: number;
    label: string;
  }[];
  /** Kinesis bill per format. */
  cost: CostFigures[];
  /** Memory bound settings. */
  memory: { maxBufferMB: number; marginMB: number };
  /** Targets. */
  targets: TargetCheck[];
  /** The footprint figures beside the floor (issue 14). */
  footprint?: FootprintFigures;
}

const fmt = (value: number, digits = 1) =>
  value.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });

const verdict = (pass: boolean | null) =>
  pass === null ? "n/a" : pass ? "pass" : "MISS";

/** The Markdown report: targets, then the detailed tables. */
export function renderMarkdown(results: BenchResults): string {
  const lines: string[] = [];
  const { meta } = results;
  lines.push(
    `### kinesis-telemetry bench — ${meta.date}`,
    "",
    `Deno ${meta.deno} (V8 ${meta.v8}), ${meta.cpus} × ${meta.cpuModel}, commit ${meta.commit}, bench took ${
      fmt(meta.durationSeconds, 0)
    } s, load average ${fmt(meta.loadAverage.start, 2)} → ${
      fmt(meta.loadAverage.end, 2)
    }. Medians and p99 over repeated runs (nearest-rank p99: with fewer than 100 samples it is the largest).`,
    "",
    "| target | goal | measured | result |",
    "| --- | --- | --- | --- |",
  );
  for (const check of results.targets) {
    lines.push(
      `| ${check.name} | ${check.target} | ${check.measured} | ${
        verdict(check.pass)
      } |`,
    );
  }
  lines.push(
    "",
    "| init (ms from spawn) | register | subscribe | first /next (median / p99) | RSS after init (MB) |",
    "| --- | --- | --- | --- | --- |",
  );
  for (const [variant, init] of Object.entries(results.init)) {
    lines.push(
      `| ${variant} (n=${init.firstNextMs.count}) | ${
        fmt(init.registerMs.median)
      } | ${fmt(init.subscribeMs.median)} | ${fmt(init.firstNextMs.median)} / ${
        fmt(init.firstNextMs.p99)
      } | ${fmt(init.rssMB.median)} |`,
    );
  }
  for (const [variant, reason] of Object.entries(results.notMeasured)) {
    lines.push(`| ${variant} | not measured: ${reason} | | | |`);
  }
  lines.push(
    "",
    "| steady invocations (20 log lines of 400 B each) | invocations | first after init (ms) | post-runtime median, the others (ms) | p99 | max | delivery latency median (ms) | p99 | peak RSS MB |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const run of results.overhead) {
    const latency = run.deliveryLatencyMs;
    lines.push(
      `| ${run.label} | ${run.invocations} | ${
        run.firstPostRuntimeMs === undefined ? "–" : fmt(run.firstPostRuntimeMs)
      } | ${fmt(run.postRuntimeMs.median)} | ${fmt(run.postRuntimeMs.p99)} | ${
        fmt(run.postRuntimeMs.max)
      } | ${latency ? fmt(latency.median, 0) : "–"} | ${
        latency ? fmt(latency.p99, 0) : "–"
      } | ${fmt(run.peakRssMB, 0)} |`,
    );
  }
  lines.push(
    "",
    "| burst (100,000 events, kpl) | runs | events/s median | slowest run | CPU s / 100k | kinesalite CPU s / 100k | peak RSS MB |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const burst of results.throughput) {
    lines.push(
      `| ${burst.label} | ${burst.eventsPerSecond.count} | ${
        fmt(burst.eventsPerSecond.median, 0)
      } | ${fmt(burst.eventsPerSecond.min, 0)} | ${
        fmt(burst.cpuSecondsPer100k.median, 2)
      } | ${
        burst.kinesisCpuSecondsPer100k
          ? fmt(burst.kinesisCpuSecondsPer100k.median, 2)
          : "–"
      } | ${fmt(burst.peakRssMB.median)} |`,
    );
  }
  for (const split of results.split) {
    lines.push(
      `| ${split.label}: listener → buffer only | 1 | ${
        fmt(split.ingestEventsPerSecond, 0)
      } | | | | |`,
      `| ${split.label}: buffer → Kinesis only | 1 | ${
        fmt(split.flushEventsPerSecond, 0)
      } | | | | |`,
    );
  }
  lines.push(
    "",
    "| Kinesis cost per 10,000 events | pattern | requests | records | MB | PUT payload units | on-demand billed KB |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const row of results.cost) {
    lines.push(
      `| ${row.format} | ${row.pattern} (measured on ${row.measuredEvents}) | ${
        fmt(row.requests, 0)
      } | ${fmt(row.cost.records, 0)} | ${fmt(row.cost.bytes / 1e6, 2)} | ${
        fmt(row.cost.putPayloadUnits, 0)
      } | ${fmt(row.cost.onDemandBilledKB, 0)} |`,
    );
  }
  return lines.join("\n") + "\n";
}
