import assert from "node:assert/strict";
import {
  initReportRecord,
  logsDroppedRecord,
  reportRecord,
  roundMs,
  runtimeDoneRecord,
} from "../../../scripts/sandbox/platform_events.ts";

Deno.test("report: billed duration is the duration rounded up to the ms", () => {
  const record = reportRecord("r-1", "success", {
    durationMs: 12.0004,
    memorySizeMB: 128,
    maxMemoryUsedMB: 47,
    initDurationMs: 150.12345,
  });
  assert.deepEqual(record, {
    requestId: "r-1",
    status: "success",
    metrics: {
      durationMs: 12,
      billedDurationMs: 13,
      memorySizeMB: 128,
      maxMemoryUsedMB: 47,
      initDurationMs: 150.123,
    },
  });
  const failed = reportRecord("r-2", "error", {
    durationMs: 3,
    memorySizeMB: 128,
    maxMemoryUsedMB: 47,
  }, "Error") as { errorType: string; metrics: Record<string, number> };
  assert.equal(failed.errorType, "Error");
  assert.equal(failed.metrics.billedDurationMs, 3);
  assert.ok(!("initDurationMs" in failed.metrics));
});

Deno.test("runtimeDone: metrics and the two response spans", () => {
  const startedAt = Date.parse("2026-11-26T10:00:00.000Z");
  assert.deepEqual(
    runtimeDoneRecord("r-1", "success", {
      startedAt,
      latencyMs: 10,
      responseMs: 0.5,
      producedBytes: 42,
    }),
    {
      requestId: "r-1",
      status: "success",
      metrics: { durationMs: 10.5, producedBytes: 42 },
      spans: [
        {
          name: "responseLatency",
          start: "2026-11-26T10:00:00.000Z",
          durationMs: 10,
        },
        {
          name: "responseDuration",
          start: "2026-11-26T10:00:00.010Z",
          durationMs: 0.5,
        },
      ],
    },
  );
});

Deno.test("initReport and logsDropped carry Lambda's fields", () => {
  assert.deepEqual(initReportRecord("success", 99.99999), {
    initializationType: "on-demand",
    phase: "init",
    status: "success",
    metrics: { durationMs: 100 },
  });
  const dropped = logsDroppedRecord(3, 300);
  assert.equal(dropped.droppedRecords, 3);
  assert.equal(dropped.droppedBytes, 300);
  assert.equal(typeof dropped.reason, "string");
  assert.equal(roundMs(1.23456), 1.235);
});
