/**
 * Records of the `platform.*` telemetry events the sandbox emits, shaped as
 * in the Telemetry API schema 2022-12-13. Only data in, data out: timing is
 * measured by the lifecycle.
 *
 * @module
 */

/** How an invocation or the init ended, as Lambda names it. */
export type PlatformStatus = "success" | "error" | "failure" | "timeout";

/** Rounds a duration to Lambda's three decimals. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** `platform.initStart`. */
export function initStartRecord(context: {
  functionName: string;
  functionVersion: string;
  runtimeVersion: string;
}): Record<string, unknown> {
  return {
    initializationType: "on-demand",
    phase: "init",
    runtimeVersion: context.runtimeVersion,
    runtimeVersionArn:
      `arn:aws:lambda:local::runtime:${context.runtimeVersion}`,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
  };
}

/** `platform.initRuntimeDone`. */
export function initRuntimeDoneRecord(
  status: PlatformStatus,
  errorType?: string,
): Record<string, unknown> {
  return {
    initializationType: "on-demand",
    phase: "init",
    status,
    ...(errorType ? { errorType } : {}),
  };
}

/** `platform.initReport`. */
export function initReportRecord(
  status: PlatformStatus,
  durationMs: number,
): Record<string, unknown> {
  return {
    initializationType: "on-demand",
    phase: "init",
    status,
    metrics: { durationMs: roundMs(durationMs) },
  };
}

/** `platform.extension`: an extension registered. */
export function extensionRecord(
  name: string,
  events: string[],
): Record<string, unknown> {
  return { name, state: "Ready", events };
}

/** `platform.telemetrySubscription`. */
export function telemetrySubscriptionRecord(
  name: string,
  types: string[],
): Record<string, unknown> {
  return { name, state: "Subscribed", types };
}

/** `platform.start`. */
export function startRecord(
  requestId: string,
  version: string,
  traceValue: string,
): Record<string, unknown> {
  return {
    requestId,
    version,
    tracing: { type: "X-Amzn-Trace-Id", value: traceValue },
  };
}

/** Timings of one runtime response. */
export interface RuntimeDoneTimings {
  /** Epoch ms when the invocation was handed to the runtime. */
  startedAt: number;
  /** Invocation handed out → response request arrived. */
  latencyMs: number;
  /** Response request arrived → its body fully read. */
  responseMs: number;
  /** Size of the response body. */
  producedBytes: number;
}

/** `platform.runtimeDone`. */
export function runtimeDoneRecord(
  requestId: string,
  status: PlatformStatus,
  timings: RuntimeDoneTimings,
  errorType?: string,
): Record<string, unknown> {
  const responseStart = timings.startedAt + timings.latencyMs;
  return {
    requestId,
    status,
    ...(errorType ? { errorType } : {}),
    metrics: {
      durationMs: roundMs(timings.latencyMs + timings.responseMs),
      producedBytes: timings.producedBytes,
    },
    spans: [
      {
        name: "responseLatency",
        start: new Date(timings.startedAt).toISOString(),
        durationMs: roundMs(timings.latencyMs),
      },
      {
        name: "responseDuration",
        start: new Date(responseStart).toISOString(),
        durationMs: roundMs(timings.responseMs),
      },
    ],
  };
}

/** Measurements of one finished invocation. */
export interface ReportMetrics {
  /** Whole invoke phase: handed out → runtime and every extension back in /next. */
  durationMs: number;
  /** Configured memory. */
  memorySizeMB: number;
  /** Peak resident memory of the function process. */
  maxMemoryUsedMB: number;
  /** Init duration, on the environment's first report only. */
  initDurationMs?: number;
}

/** `platform.report`. */
export function reportRecord(
  requestId: string,
  status: PlatformStatus,
  metrics: ReportMetrics,
  errorType?: string,
): Record<string, unknown> {
  return {
    requestId,
    status,
    ...(errorType ? { errorType } : {}),
    metrics: {
      durationMs: roundMs(metrics.durationMs),
      billedDurationMs: Math.ceil(metrics.durationMs),
      memorySizeMB: metrics.memorySizeMB,
      maxMemoryUsedMB: metrics.maxMemoryUsedMB,
      ...(metrics.initDurationMs !== undefined
        ? { initDurationMs: roundMs(metrics.initDurationMs) }
        : {}),
    },
  };
}

/** `platform.logsDropped`. */
export function logsDroppedRecord(
  droppedRecords: number,
  droppedBytes: number,
): Record<string, unknown> {
  return {
    reason:
      "Some logs were dropped because the downstream consumer is slower than the logs production rate",
    droppedRecords,
    droppedBytes,
  };
}
