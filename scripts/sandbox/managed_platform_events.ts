/**
 * Records of the `platform.*` events on Lambda Managed Instances, shaped as
 * in Telemetry API schema 2025-01-29 (the only schema accepted there):
 * `initializationType` is `lambda-managed-instances`, `platform.initStart`
 * names the instance instead of the function's ARN, and `platform.report`
 * metrics hold only `durationMs` (no billed duration, memory or init
 * duration: instances are billed per instance, not per invocation) plus the
 * response spans. An invocation has `platform.start` (with the invoked ARN,
 * no tracing) and `platform.report`, and no `platform.runtimeDone`. The
 * shapes follow AWS's Runtime Interface Emulator in its LMI mode
 * (`internal/lambda-managed-instances/interop/model.go`), as observed by
 * `deno task conformance --mode lmi`.
 *
 * @module
 */
import {
  type PlatformStatus,
  roundMs,
  runtimeDoneRecord,
  type RuntimeDoneTimings,
} from "./platform_events.ts";

/** `initializationType` on Lambda Managed Instances. */
export const MANAGED_INIT_TYPE = "lambda-managed-instances";

/** `platform.initStart` on a managed instance. */
export function managedInitStartRecord(context: {
  functionName: string;
  functionVersion: string;
  runtimeVersion: string;
  instanceId: string;
  instanceMaxMemoryBytes: number;
}): Record<string, unknown> {
  return {
    initializationType: MANAGED_INIT_TYPE,
    phase: "init",
    runtimeVersion: context.runtimeVersion,
    runtimeVersionArn:
      `arn:aws:lambda:local::runtime:${context.runtimeVersion}`,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    instanceId: context.instanceId,
    instanceMaxMemory: context.instanceMaxMemoryBytes,
  };
}

/** `platform.initRuntimeDone` (and, with metrics, `platform.initReport`) on a managed instance. */
export function managedInitPhaseRecord(
  status: PlatformStatus,
  extra: { errorType?: string; durationMs?: number } = {},
): Record<string, unknown> {
  return {
    initializationType: MANAGED_INIT_TYPE,
    phase: "init",
    status,
    ...(extra.errorType ? { errorType: extra.errorType } : {}),
    ...(extra.durationMs !== undefined
      ? { metrics: { durationMs: roundMs(extra.durationMs) } }
      : {}),
  };
}

/** `platform.start` on a managed instance: the invoked function's ARN, no `tracing`. */
export function managedStartRecord(
  requestId: string,
  version: string,
  functionArn: string,
): Record<string, unknown> {
  return { requestId, version, functionArn };
}

/**
 * `platform.report` on a managed instance: metrics hold only `durationMs`,
 * and the spans that ordinary functions put in `platform.runtimeDone`
 * (`responseLatency`, `responseDuration`) are here, since LMI sends no
 * `platform.runtimeDone`.
 */
export function managedReportRecord(
  requestId: string,
  status: PlatformStatus,
  durationMs: number,
  timings: RuntimeDoneTimings,
  errorType?: string,
): Record<string, unknown> {
  return {
    requestId,
    status,
    ...(errorType ? { errorType } : {}),
    metrics: { durationMs: roundMs(durationMs) },
    // The same spans as an ordinary function's platform.runtimeDone.
    spans: runtimeDoneRecord(requestId, status, timings).spans,
  };
}
