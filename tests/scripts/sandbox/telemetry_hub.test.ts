import assert from "node:assert/strict";
import type { Subscription } from "../../../scripts/sandbox/subscription.ts";
import {
  TelemetryHub,
  typeCategory,
} from "../../../scripts/sandbox/telemetry_hub.ts";

function startListener() {
  const received: { type: string }[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      received.push(...await request.json());
      return new Response(null, { status: 200 });
    },
  );
  return { received, server };
}

function subscription(
  port: number,
  types: Subscription["types"],
): Subscription {
  return {
    schemaVersion: "2022-12-13",
    types,
    buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 25 },
    destinationUri: `http://sandbox.localdomain:${port}`,
    deliveryUrl: `http://127.0.0.1:${port}/`,
  };
}

Deno.test("typeCategory groups every platform.* type", () => {
  assert.equal(typeCategory("platform.report"), "platform");
  assert.equal(typeCategory("platform.somethingNew"), "platform");
  assert.equal(typeCategory("function"), "function");
  assert.equal(typeCategory("extension"), "extension");
});

Deno.test("a first subscription gets the backlog of its types, then new events", async () => {
  const listener = startListener();
  const hub = new TelemetryHub();
  hub.emit("platform.initStart", { phase: "init" });
  hub.emit("extension", "not subscribed");
  hub.emit("function", "early line");
  hub.subscribe(
    "ext",
    subscription(listener.server.addr.port, ["platform", "function"]),
  );
  hub.emit("function", "later line");
  await hub.flush(2_000);
  await hub.close();
  await listener.server.shutdown();
  assert.deepEqual(listener.received.map((event) => event.type), [
    "platform.initStart",
    "function",
    "platform.telemetrySubscription",
    "function",
  ]);
  assert.deepEqual(hub.events.map((entry) => entry.acknowledgedBy), [
    ["ext"],
    [],
    ["ext"],
    ["ext"],
    ["ext"],
  ]);
});

Deno.test("while paused nothing goes out; resume and flush deliver", async () => {
  const listener = startListener();
  const hub = new TelemetryHub();
  hub.subscribe("ext", subscription(listener.server.addr.port, ["function"]));
  await hub.pause();
  hub.emit("function", "held");
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(listener.received.length, 0);
  hub.resume();
  await hub.flush(2_000);
  assert.equal(listener.received.length, 1);
  await hub.close();
  await listener.server.shutdown();
});

Deno.test("a listener that is gone leads to one platform.logsDropped, not a chain", async () => {
  const gone = startListener();
  const port = gone.server.addr.port;
  await gone.server.shutdown();
  const hub = new TelemetryHub({
    policy: {
      maxAttempts: 1,
      initialBackoffMs: 1,
      maxBackoffMs: 1,
      requestTimeoutMs: 1_000,
    },
  });
  hub.subscribe("ext", subscription(port, ["platform", "function"]));
  hub.emit("function", "lost");
  await hub.flush(2_000);
  // The notice itself cannot be delivered either; it is not reported again.
  await hub.flush(2_000);
  await hub.close();
  const notices = hub.events.filter((entry) =>
    entry.event.type === "platform.logsDropped"
  );
  assert.equal(notices.length, 1);
  assert.deepEqual(notices[0].droppedBy, ["ext"]);
  assert.equal(
    (notices[0].event.record as { droppedRecords: number }).droppedRecords,
    2,
  );
});
