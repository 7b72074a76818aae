import assert from "node:assert/strict";
import type { Subscription } from "../../../scripts/sandbox/subscription.ts";
import {
  type DroppedBatch,
  type EmittedEvent,
  TelemetryDelivery,
} from "../../../scripts/sandbox/telemetry_delivery.ts";

/** A loopback listener that records every POST and answers with `statuses` in turn (then 200). */
function startListener(statuses: number[] = []) {
  const posts: unknown[][] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const body = await request.json();
      const status = statuses.shift() ?? 200;
      if (status === 200) posts.push(body);
      return new Response(null, { status });
    },
  );
  return { posts, server, port: server.addr.port };
}

function subscription(
  port: number,
  buffering: Partial<Subscription["buffering"]> = {},
): Subscription {
  return {
    schemaVersion: "2022-12-13",
    types: ["platform", "function", "extension"],
    buffering: {
      maxItems: 1000,
      maxBytes: 262144,
      timeoutMs: 25,
      ...buffering,
    },
    destinationUri: `http://sandbox.localdomain:${port}`,
    deliveryUrl: `http://127.0.0.1:${port}/`,
  };
}

function event(index: number, padding = 0): EmittedEvent {
  const value = {
    time: new Date(1_800_000_000_000 + index).toISOString(),
    type: "function",
    record: `line ${index} ${"x".repeat(padding)}`,
  };
  return {
    event: value,
    bytes: new TextEncoder().encode(JSON.stringify(value)).length,
    acknowledgedBy: [],
    droppedBy: [],
    acknowledgedAt: null,
  };
}

Deno.test("events go out in order after the buffering timeout and are marked acknowledged", async () => {
  const listener = startListener();
  const delivery = new TelemetryDelivery({
    subscriber: "ext",
    subscription: subscription(listener.port),
  });
  const events = [event(1), event(2), event(3)];
  for (const entry of events) delivery.enqueue(entry);
  assert.equal(delivery.pending, 3);
  await delivery.flush();
  await delivery.close();
  await listener.server.shutdown();
  assert.deepEqual(listener.posts, [events.map((entry) => entry.event)]);
  for (const entry of events) {
    assert.deepEqual(entry.acknowledgedBy, ["ext"]);
    assert.ok(entry.acknowledgedAt! > 0);
  }
});

Deno.test("maxItems and maxBytes cut batches", async () => {
  const listener = startListener();
  const delivery = new TelemetryDelivery({
    subscriber: "ext",
    subscription: subscription(listener.port, { timeoutMs: 30_000 }),
  });
  // 1,500 small events: the first 1,000 are due at once (maxItems), the
  // rest only at the flush.
  const events = Array.from({ length: 1_500 }, (_, index) => event(index));
  for (const entry of events) delivery.enqueue(entry);
  const deadline = Date.now() + 5_000;
  while (listener.posts.length === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.deepEqual(listener.posts.map((post) => post.length), [1_000]);
  await delivery.flush();
  assert.deepEqual(listener.posts.map((post) => post.length), [1_000, 500]);

  // ~100 KB events: at most two fit 262,144 bytes.
  const big = Array.from({ length: 5 }, (_, index) => event(index, 100_000));
  for (const entry of big) delivery.enqueue(entry);
  await delivery.flush();
  await delivery.close();
  await listener.server.shutdown();
  assert.deepEqual(listener.posts.slice(2).map((post) => post.length), [
    2,
    2,
    1,
  ]);
  assert.deepEqual(
    listener.posts.flat().map((value) => (value as { record: string }).record),
    [...events, ...big].map((entry) => entry.event.record),
  );
});

Deno.test("a failing listener is retried until it answers 2xx", async () => {
  const listener = startListener([500, 503]);
  const delivery = new TelemetryDelivery({
    subscriber: "ext",
    subscription: subscription(listener.port),
    policy: {
      maxAttempts: 3,
      initialBackoffMs: 1,
      maxBackoffMs: 2,
      requestTimeoutMs: 2_000,
    },
  });
  const entry = event(1);
  delivery.enqueue(entry);
  await delivery.flush();
  await delivery.close();
  await listener.server.shutdown();
  assert.equal(listener.posts.length, 1);
  assert.deepEqual(entry.acknowledgedBy, ["ext"]);
});

Deno.test("after the last attempt the batch is dropped and reported", async () => {
  const listener = startListener([500, 500, 500]);
  const dropped: DroppedBatch[] = [];
  const delivery = new TelemetryDelivery({
    subscriber: "ext",
    subscription: subscription(listener.port),
    policy: {
      maxAttempts: 2,
      initialBackoffMs: 1,
      maxBackoffMs: 1,
      requestTimeoutMs: 2_000,
    },
    onDropped: (batch) => dropped.push(batch),
  });
  const entries = [event(1), event(2)];
  for (const entry of entries) delivery.enqueue(entry);
  await delivery.flush();
  await delivery.close();
  await listener.server.shutdown();
  assert.equal(dropped.length, 1);
  assert.equal(dropped[0].records, 2);
  assert.equal(
    dropped[0].bytes,
    entries.reduce((sum, entry) => sum + entry.bytes, 0),
  );
  assert.equal(dropped[0].onlyDropNotices, false);
  assert.match(dropped[0].lastError, /500/);
  for (const entry of entries) {
    assert.deepEqual(entry.droppedBy, ["ext"]);
    assert.deepEqual(entry.acknowledgedBy, []);
  }
});

Deno.test("connection errors count as failed attempts", async () => {
  const closed = startListener();
  const port = closed.port;
  await closed.server.shutdown();
  const dropped: DroppedBatch[] = [];
  const delivery = new TelemetryDelivery({
    subscriber: "ext",
    subscription: subscription(port),
    policy: {
      maxAttempts: 2,
      initialBackoffMs: 1,
      maxBackoffMs: 1,
      requestTimeoutMs: 2_000,
    },
    onDropped: (batch) => dropped.push(batch),
  });
  delivery.enqueue(event(1));
  await delivery.flush();
  await delivery.close();
  assert.equal(dropped.length, 1);
  assert.notEqual(dropped[0].lastError, "");
});

Deno.test("paused delivery holds events until resumed", async () => {
  const listener = startListener();
  const delivery = new TelemetryDelivery({
    subscriber: "ext",
    subscription: subscription(listener.port),
  });
  await delivery.pause();
  delivery.enqueue(event(1));
  // Well past the 25 ms buffering timeout: nothing may go while paused.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(listener.posts.length, 0);
  assert.equal(delivery.pending, 1);
  delivery.resume();
  await delivery.flush();
  assert.equal(listener.posts.length, 1);
  await delivery.close();
  await listener.server.shutdown();
});

Deno.test("close leaves queued events undelivered and resolves pending flushes", async () => {
  const listener = startListener();
  const delivery = new TelemetryDelivery({
    subscriber: "ext",
    subscription: subscription(listener.port),
  });
  await delivery.pause();
  const entry = event(1);
  delivery.enqueue(entry);
  const flushed = delivery.flush();
  await delivery.close();
  await flushed;
  delivery.enqueue(event(2));
  assert.deepEqual(entry.acknowledgedBy, []);
  assert.equal(listener.posts.length, 0);
  await listener.server.shutdown();
});

Deno.test("flush('due') sends the buffer only once its oldest event's timeout passed", async () => {
  const listener = startListener();
  const delivery = new TelemetryDelivery({
    subscriber: "ext",
    subscription: subscription(listener.port, { timeoutMs: 200 }),
  });
  await delivery.pause();
  const fresh = event(1);
  delivery.enqueue(fresh);
  delivery.resume();
  await delivery.flush("due");
  assert.deepEqual(listener.posts, []);
  assert.equal(delivery.pending, 1);
  await delivery.pause();
  await new Promise((resolve) => setTimeout(resolve, 250));
  const later = event(2);
  delivery.enqueue(later);
  delivery.resume();
  await delivery.flush("due");
  assert.deepEqual(listener.posts, [[fresh.event, later.event]]);
  await delivery.close();
  await listener.server.shutdown();
});
