import assert from "node:assert/strict";
import { readAllRecords } from "../../../scripts/lib/kinesis_read.ts";
import {
  eventsOfForwardedRecord,
  forwarderExtension,
} from "../../../scripts/bench/forwarder_extension.ts";
import { startLocalKinesis } from "../../../scripts/sandbox/kinesis_local.ts";
import { startSandbox } from "../../../scripts/sandbox/sandbox.ts";

Deno.test("eventsOfForwardedRecord reads a delivery body back as its events", () => {
  const events = [
    { time: "2026-01-01T00:00:00.000Z", type: "function", record: "héllo 🚀" },
    { time: "2026-01-01T00:00:00.001Z", type: "platform.start", record: {} },
  ];
  assert.deepEqual(
    eventsOfForwardedRecord(new TextEncoder().encode(JSON.stringify(events))),
    events,
  );
});

Deno.test("the forwarding yardstick ships every event of its invocations to Kinesis", async () => {
  const kinesis = await startLocalKinesis();
  try {
    await kinesis.createStream("forwarded");
    const sandbox = await startSandbox({
      fn: {
        runtime: "node",
        taskRoot:
          new URL("../../../infra/demo-function", import.meta.url).pathname,
        handler: "index.handler",
      },
      extensions: [forwarderExtension("forwarded", kinesis.endpoint)],
    });
    try {
      await sandbox.invoke({ logLines: 3_000, lineBytes: 100 });
      await sandbox.invoke({ logLines: 0 });
      await sandbox.shutdown();
    } finally {
      await sandbox.stop();
    }
    const keyOf = (event: { type: string; record: unknown }) =>
      `${event.type}|${JSON.stringify(event.record)}`;
    const stored = new Map<string, number>();
    for (const record of await readAllRecords(kinesis.client, "forwarded")) {
      for (const event of eventsOfForwardedRecord(record.data)) {
        stored.set(keyOf(event), (stored.get(keyOf(event)) ?? 0) + 1);
      }
    }
    const functionLines = sandbox.events.filter((emitted) =>
      emitted.event.type === "function"
    );
    assert.ok(functionLines.length >= 3_000, `${functionLines.length} lines`);
    const missing = functionLines.filter((emitted) =>
      !stored.has(keyOf(emitted.event))
    );
    assert.equal(missing.length, 0, "function lines not forwarded");
  } finally {
    await kinesis.stop();
  }
});
