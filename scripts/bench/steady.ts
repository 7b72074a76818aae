/**
 * Steady-rate scenario in the local sandbox: a real Node function logging
 * N lines of M bytes per invocation, the extension from source, Lambda's
 * freeze between invocations. Measures each invocation's post-runtime
 * overhead (runtime done → extension back in `/event/next`), then reads the
 * stream back for what Kinesis stored, how late, and what it would bill.
 *
 * @module
 */
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import { decodeRecord } from "../lib/decode.ts";
import { readAllRecords } from "../lib/kinesis_read.ts";
import { projectExtension } from "../sandbox/extension_specs.ts";
import { startSandbox } from "../sandbox/sandbox.ts";
import { costOf, type KinesisCost } from "./cost.ts";
import { cpuSeconds } from "./proc.ts";
import { REPO_ROOT, sleep, summaryOf, within } from "./run_helpers.ts";

/** Settings of one steady run. */
export interface SteadyOptions {
  /** Invocations. */
  invocations: number;
  /** Log lines per invocation (besides the demo function's own few). */
  logLines: number;
  /** Bytes per log line. */
  lineBytes: number;
  /** Kinesis endpoint the extension uses (kinesalite, or a proxy in front). */
  endpoint: string;
  /** Stream (created beforehand, empty). */
  stream: string;
  /** Client of kinesalite itself, to read the stream back. */
  reader: KinesisClient;
  /** Extra extension variables (format, flush strategy…). */
  env?: Record<string, string>;
  /** Pause between invocations (the environment stays frozen meanwhile). */
  gapMs?: number;
}

/** What one steady run measured. */
export interface SteadyResult {
  /** Post-runtime overhead of every invocation (ms). */
  postRuntimeMs: number[];
  /** Telemetry events the sandbox emitted. */
  emittedEvents: number;
  /** Envelopes found in the stream. */
  storedEvents: number;
  /**
   * Event time → Kinesis arrival, per stored envelope of the invocations
   * that had a next one (ms): "stored by the end of the next invocation".
   */
  latencyMs: number[];
  /** The same for the last invocation's envelopes, stored at SHUTDOWN (ms). */
  lastInvocationLatencyMs: number[];
  /** What Kinesis stored, as billed. */
  cost: KinesisCost;
  /** The extension's shutdown summary. */
  summary: Record<string, unknown> | undefined;
  /** Peak resident memory of the extension (MB, from the sandbox). */
  extensionPeakMB: number;
  /**
   * Extension CPU (ms) per invocation after the first (which loads the SDK
   * and opens the connection), over the run.
   */
  cpuMsPerInvocation?: number;
}

/** Runs the function `options.invocations` times and reads the stream back. */
export async function runSteady(options: SteadyOptions): Promise<SteadyResult> {
  const sandbox = await startSandbox({
    fn: {
      runtime: "node",
      taskRoot: `${REPO_ROOT}infra/demo-function`,
      handler: "index.handler",
    },
    extensions: [projectExtension({
      KINESIS_TELEMETRY_STREAM: options.stream,
      KINESIS_TELEMETRY_LISTENER_PORT: "0",
      AWS_ENDPOINT_URL_KINESIS: options.endpoint,
      ...options.env,
    })],
    // These are the unconstrained figures; the Lambda profile has the others.
    limits: false,
  });
  const postRuntimeMs: number[] = [];
  let extensionPeakMB = 0;
  let summary: Record<string, unknown> | undefined;
  let cpuMsPerInvocation: number | undefined;
  const extensionPid = () =>
    Object.values(sandbox.processIds().extensions)[0] as number | undefined;
  let cpuAfterFirst: number | undefined;
  let lastInvokedAt = Infinity;
  try {
    for (let i = 0; i < options.invocations; i++) {
      lastInvokedAt = Date.now();
      const record = await within(
        sandbox.invoke({
          logLines: options.logLines,
          lineBytes: options.lineBytes,
        }),
        30_000,
        `invocation ${i} did not finish`,
      );
      postRuntimeMs.push(record.postRuntimeMs);
      const pid = extensionPid();
      if (pid !== undefined && i === 0) cpuAfterFirst = await cpuSeconds(pid);
      if (
        pid !== undefined && cpuAfterFirst !== undefined &&
        i === options.invocations - 1 && i > 0
      ) {
        cpuMsPerInvocation = ((await cpuSeconds(pid)) - cpuAfterFirst) *
          1000 / i;
      }
      if (options.gapMs) await sleep(options.gapMs);
      extensionPeakMB = Math.max(
        extensionPeakMB,
        ...Object.values(record.extensionMaxMemoryMB),
      );
    }
    await sandbox.shutdown();
    summary = summaryOf(sandbox.extensionLog);
  } finally {
    await sandbox.stop();
  }
  const stored = await readAllRecords(options.reader, options.stream);
  const arrivals: { eventAt: number; arrivedAt: number }[] = [];
  let storedEvents = 0;
  const keyBytes = new TextEncoder();
  for (const record of stored) {
    const arrivedAt = record.arrivedAt?.getTime();
    for (const decoded of decodeRecord(record.data)) {
      storedEvents++;
      if (arrivedAt !== undefined) {
        arrivals.push({
          eventAt: Date.parse(decoded.envelope.time),
          arrivedAt,
        });
      }
    }
  }
  const { latencyMs, lastInvocationLatencyMs } = splitLatencies(
    arrivals,
    lastInvokedAt,
  );
  return {
    postRuntimeMs,
    emittedEvents: sandbox.events.length,
    storedEvents,
    latencyMs,
    lastInvocationLatencyMs,
    cost: costOf(stored.map((record) => ({
      dataBytes: record.data.byteLength,
      partitionKeyBytes: keyBytes.encode(record.partitionKey).byteLength,
    }))),
    summary,
    extensionPeakMB,
    cpuMsPerInvocation,
  };
}

/**
 * Event → arrival latencies, split at the last invocation's start: events
 * from then on have no next invocation to be stored by, and go at SHUTDOWN
 * (after the run's last gap and the shutdown sequence), so they are kept
 * apart from the "stored by the end of the next one" figure.
 */
export function splitLatencies(
  arrivals: readonly { eventAt: number; arrivedAt: number }[],
  lastInvokedAt: number,
): { latencyMs: number[]; lastInvocationLatencyMs: number[] } {
  const latencyMs: number[] = [];
  const lastInvocationLatencyMs: number[] = [];
  for (const { eventAt, arrivedAt } of arrivals) {
    (eventAt >= lastInvokedAt ? lastInvocationLatencyMs : latencyMs).push(
      arrivedAt - eventAt,
    );
  }
  return { latencyMs, lastInvocationLatencyMs };
}
