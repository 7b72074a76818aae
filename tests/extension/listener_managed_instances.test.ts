/**
 * The listener with Lambda Managed Instances traffic: schema 2025-01-29
 * shapes and many invocations interleaved in every delivery, with no INVOKE
 * event to tell them apart.
 */
import assert from "node:assert/strict";
import { EventBuffer } from "../../extension/buffer.ts";
import { createEnvelopeEncoder } from "../../extension/encoder.ts";
import { createTelemetryHandler } from "../../extension/listener.ts";
import { InvocationProgress } from "../../extension/progress.ts";
import { Stats } from "../../extension/stats.ts";
import { captureLog, textOf } from "./_core_fixtures.ts";

const INVOCATIONS = 1_600;

function lmiEvents(): Array<{ time: string; type: string; record: unknown }> {
  const events: Array<{ time: string; type: string; record: unknown }> = [{
    time: "2026-12-02T05:00:00.000Z",
    type: "platform.initStart",
    record: {
      initializationType: "lambda-managed-instances",
      phase: "init",
      runtimeVersion: "nodejs:22.v1",
      functionName: "orders",
      functionVersion: "3",
      instanceId: "i-0abc",
      instanceMaxMemory: 2147483648,
    },
  }];
  // Each invocation's start, log, runtimeDone and report, interleaved with
  // every other one's (round robin over the phases).
  const phases = [
    (id: string) => ({
      type: "platform.start",
      record: { requestId: id, version: "3" },
    }),
    (id: string) => ({
      type: "function",
      record: {
        timestamp: "2026-12-02T05:00:00.100Z",
        level: "INFO",
        requestId: id,
        message: `hé ${id}`,
      },
    }),
    (id: string) => ({
      type: "platform.runtimeDone",
      record: {
        requestId: id,
        status: "success",
        metrics: { durationMs: 10.5, producedBytes: 2 },
      },
    }),
    (id: string) => ({
      type: "platform.report",
      record: {
        requestId: id,
        status: "success",
        metrics: { durationMs: 11.25 },
      },
    }),
  ];
  for (const phase of phases) {
    for (let index = 0; index < INVOCATIONS; index++) {
      events.push({
        time: "2026-12-02T05:00:01.000Z",
        ...phase(`req-${index}`),
      });
    }
  }
  return events;
}

Deno.test("listener: 1,600 interleaved invocations in 2025-01-29 shapes are buffered whole and tracked within bounds", async () => {
  const buffer = new EventBuffer(64 << 20);
  const stats = new Stats();
  const progress = new InvocationProgress();
  const handler = createTelemetryHandler({
    buffer,
    encode: createEnvelopeEncoder({
      context: {
        functionName: "orders",
        functionVersion: "3",
        region: "eu-west-1",
        accountId: null,
        environmentId: "env-lmi",
      },
      partitionKey: "requestId",
      maxEnvelopeBytes: 4096,
    }),
    stats,
    logger: captureLog("debug").logger,
    progress,
    maxBodyBytes: 4 << 20,
    excludeTypes: new Set(),
    ownLogEvents: new WeakSet(),
    now: () => 1,
  });
  const events = lmiEvents();
  // Lambda's deliveries cut the stream anywhere: 1,000 events per POST.
  for (let offset = 0; offset < events.length; offset += 1_000) {
    const response = await handler(
      new Request("http://sandbox.localdomain:4243", {
        method: "POST",
        body: JSON.stringify(events.slice(offset, offset + 1_000)),
      }),
    );
    assert.equal(response.status, 200);
  }
  assert.equal(stats.received, events.length);
  assert.equal(stats.droppedTotal, 0);
  const buffered = buffer.takeAll();
  assert.equal(buffered.length, events.length);
  buffered.forEach((event, index) => {
    const envelope = JSON.parse(textOf(event));
    assert.deepEqual(envelope.record, events[index].record, "shipped whole");
    const requestId = (events[index].record as { requestId?: string })
      .requestId;
    assert.equal(event.partitionKey, requestId ?? "env-lmi");
  });
  // The tracker keeps recent invocations only: memory stays bounded however
  // many run, and the newest are known (nothing waits on them in LMI).
  assert.ok(progress.has("platform.report", `req-${INVOCATIONS - 1}`));
  assert.ok(progress.has("platform.runtimeDone", `req-${INVOCATIONS - 1}`));
  assert.ok(!progress.has("platform.report", "req-0"));
});
