/**
 * Throughput scenarios: a burst of telemetry through listener → buffer →
 * Kinesis, with the extension's CPU time and peak memory.
 *
 * - `endToEnd`: the driver posts 1,000-event bodies as fast as the listener
 *   takes them while the platform hands out an INVOKE whenever the
 *   extension is back in `/event/next` (each INVOKE is a flush), preceded
 *   by the previous invocation's `platform.report` as Lambda sends it.
 * - `split`: the whole burst is posted first into a buffer large enough to
 *   hold it (listener speed alone), then one INVOKE flushes it (batching,
 *   encoding and Kinesis alone).
 *
 * @module
 */
import { launchExtension } from "./extension_process.ts";
import { postAll, postEvents, reportEvent } from "./listener_driver.ts";
import { startBenchPlatform } from "./platform.ts";
import { cpuSeconds, processMemory } from "./proc.ts";
import { failOnExit, within } from "./run_helpers.ts";

/** Settings of one burst. */
export interface BurstOptions {
  /** Command line of the extension. */
  argv: readonly string[];
  /** Kinesis endpoint. */
  endpoint: string;
  /** Stream (empty, created beforehand). */
  stream: string;
  /** Record format. */
  format: "kpl" | "json" | "ndjson";
  /** Pre-encoded POST bodies. */
  bodies: readonly Uint8Array<ArrayBuffer>[];
  /** Events in `bodies`. */
  events: number;
  /** kinesalite's pid, to account its CPU time apart. */
  kinesisPid: number;
  /** Extra extension variables. */
  env?: Record<string, string>;
  /**
   * End-to-end mode: longest run. A burst still not delivered then is
   * reported as stalled, with what was delivered, instead of failing.
   */
  limitMs?: number;
}

/** What one burst measured. */
export interface BurstResult {
  /** Whether every event was delivered within the limit. */
  completed: boolean;
  /** Events delivered (the burst plus the reports the platform added). */
  delivered: number;
  /** First POST → last event stored (ms). */
  wallMs: number;
  /** Burst events delivered per second end to end (of those delivered when stalled). */
  eventsPerSecond: number;
  /** Extension CPU seconds during the burst. */
  cpuSeconds: number;
  /** kinesalite CPU seconds during the burst. */
  kinesisCpuSeconds: number;
  /** Resident memory after init (KiB). */
  rssAfterInitKiB: number;
  /** Peak resident memory (VmHWM) at the end of the burst (KiB). */
  peakRssKiB: number;
  /** Bodies refused with 503 (retried). */
  refusals: number;
  /** INVOKEs handed out. */
  invocations: number;
  /** PutRecords requests (from the summary). */
  kinesisRequests: number;
  /** Split mode only: posting phase (listener → buffer). */
  ingest?: { ms: number; eventsPerSecond: number; cpuSeconds: number };
  /** Split mode only: flush phase (buffer → Kinesis). */
  flush?: {
    ms: number;
    eventsPerSecond: number;
    cpuSeconds: number;
    kinesisCpuSeconds: number;
  };
}

/** Runs one burst in `mode`. */
export async function runBurst(
  options: BurstOptions,
  mode: "endToEnd" | "split",
): Promise<BurstResult> {
  const platform = startBenchPlatform();
  const extension = launchExtension({
    argv: options.argv,
    runtimeApi: platform.runtimeApi,
    env: {
      KINESIS_TELEMETRY_STREAM: options.stream,
      KINESIS_TELEMETRY_FORMAT: options.format,
      KINESIS_TELEMETRY_LISTENER_PORT: "0",
      // The bench counts deliveries from the extension's `flushed` lines.
      KINESIS_TELEMETRY_LOG_LEVEL: "debug",
      AWS_ENDPOINT_URL_KINESIS: options.endpoint,
      ...options.env,
    },
  });
  const early = failOnExit(extension.exited, "extension", extension.lines);
  early.catch(() => {});
  try {
    await within(
      Promise.race([platform.whenWaiting(), early]),
      10_000,
      "extension init timed out",
    );
    const listenerUrl = platform.listenerUrl!;
    const { rssKiB: rssAfterInitKiB } = await processMemory(extension.pid);
    const cpuBefore = await cpuSeconds(extension.pid);
    const kinesisCpuBefore = await cpuSeconds(options.kinesisPid);
    let invocations = 0;
    let reports = 0;
    let previous: string | undefined;
    // Lambda sends an invocation's report at the next thaw; without it the
    // extension waits (bounded) for it at every INVOKE.
    const invokeNext = async () => {
      if (previous) {
        await postEvents(listenerUrl, [reportEvent(previous)]);
        reports++;
      }
      previous = crypto.randomUUID();
      invocations++;
      platform.invoke(previous, Date.now() + 120_000);
    };

    const started = performance.now();
    let result: Partial<BurstResult> = {};
    let finishedAt: number;
    let refusals: number;
    let completed = true;
    if (mode === "endToEnd") {
      // Not AbortSignal.timeout: its timer would keep the bench alive after
      // a burst that finished in time.
      const limiter = new AbortController();
      const limitTimer = setTimeout(
        () => limiter.abort(),
        options.limitMs ?? 120_000,
      );
      const limit = limiter.signal;
      const stalled = new Promise<void>((resolve) =>
        limit.addEventListener("abort", () => resolve())
      );
      let posting = true;
      const invoker: Promise<void> = (async () => {
        // Each cycle adds one report event; keep going until all are stored.
        while (!limit.aborted) {
          await Promise.race([platform.whenWaiting(), stalled]);
          if (limit.aborted) return;
          if (!posting && extension.delivered >= options.events + reports) {
            return;
          }
          await invokeNext();
        }
      })();
      invoker.catch(() => {});
      const posting$ = postAll(listenerUrl, options.bodies, limit);
      posting$.catch(() => {});
      const posted = await Promise.race([posting$, stalled, early]);
      posting = false;
      refusals = posted ? posted.refusals : 0;
      await Promise.race([invoker, stalled, early]);
      completed = !limit.aborted;
      clearTimeout(limitTimer);
      finishedAt = performance.now();
    } else {
      const posted = await within(
        Promise.race([postAll(listenerUrl, options.bodies), early]),
        120_000,
        "burst not accepted within 120 s",
      );
      refusals = posted.refusals;
      const ingestedAt = performance.now();
      const cpuIngested = await cpuSeconds(extension.pid);
      const kinesisCpuIngested = await cpuSeconds(options.kinesisPid);
      await invokeNext();
      await within(
        Promise.race([extension.whenDelivered(options.events), early]),
        120_000,
        "flush not delivered within 120 s",
      );
      finishedAt = performance.now();
      const ingestMs = ingestedAt - started;
      const flushMs = finishedAt - ingestedAt;
      result = {
        ingest: {
          ms: ingestMs,
          eventsPerSecond: options.events / (ingestMs / 1000),
          cpuSeconds: cpuIngested - cpuBefore,
        },
        flush: {
          ms: flushMs,
          eventsPerSecond: options.events / (flushMs / 1000),
          cpuSeconds: (await cpuSeconds(extension.pid)) - cpuIngested,
          kinesisCpuSeconds: (await cpuSeconds(options.kinesisPid)) -
            kinesisCpuIngested,
        },
      };
    }
    const cpuAfter = await cpuSeconds(extension.pid);
    const kinesisCpuAfter = await cpuSeconds(options.kinesisPid);
    const { peakRssKiB } = await processMemory(extension.pid);
    if (completed) {
      await platform.whenWaiting();
      platform.shutdown(2_000);
      await within(extension.exited, 5_000, "extension did not exit");
    }
    const wallMs = finishedAt - started;
    return {
      ...result,
      completed,
      delivered: extension.delivered,
      wallMs,
      eventsPerSecond: Math.min(extension.delivered, options.events) /
        (wallMs / 1000),
      cpuSeconds: cpuAfter - cpuBefore,
      kinesisCpuSeconds: kinesisCpuAfter - kinesisCpuBefore,
      rssAfterInitKiB,
      peakRssKiB,
      refusals,
      invocations,
      kinesisRequests: Number(extension.summary?.kinesisRequests ?? 0),
    };
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; extension's last lines:\n${
        extension.lines.slice(-8).join("\n")
      }`,
    );
  } finally {
    extension.kill();
    await extension.exited;
    await platform.close();
  }
}
