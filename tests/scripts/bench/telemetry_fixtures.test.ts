import assert from "node:assert/strict";
import {
  DEFAULT_BATCHING,
  eventsPerInvocation,
  invocationEvents,
  logMessage,
  telemetryBodies,
  TYPICAL_TRAFFIC,
} from "../../../scripts/bench/telemetry_fixtures.ts";

Deno.test("log messages have exactly the asked size and differ by seed", () => {
  for (const bytes of [1, 10, 400, 4000]) {
    assert.equal(logMessage(bytes, 7).length, bytes);
  }
  assert.notEqual(logMessage(400, 1), logMessage(400, 2));
  assert.equal(logMessage(400, 3), logMessage(400, 3));
});

Deno.test("an invocation has a start, its lines, a runtimeDone and a report", () => {
  const events = invocationEvents(
    "req-1",
    TYPICAL_TRAFFIC,
    Date.UTC(2026, 0, 1),
  );
  assert.equal(events.length, eventsPerInvocation(TYPICAL_TRAFFIC));
  assert.equal(events.length, 23);
  assert.deepEqual(
    events.map((e) => e.type).filter((t) => t !== "function"),
    ["platform.start", "platform.runtimeDone", "platform.report"],
  );
  const line = events[1];
  assert.equal(line.time, "2026-01-01T00:00:00.000Z");
  assert.match(
    line.record as string,
    /^2026-01-01T00:00:00\.000Z\treq-1\tINFO\t/,
  );
  // A typical log line is about 400 bytes of message plus Node's prefix.
  const bytes = new TextEncoder().encode(line.record as string).length;
  assert.ok(bytes > 400 && bytes < 500, `${bytes}`);
  for (const event of events.filter((e) => e.type.startsWith("platform."))) {
    assert.equal((event.record as { requestId: string }).requestId, "req-1");
  }
});

Deno.test("bodies hold exactly `total` events, cut at maxItems or maxBytes", () => {
  const decode = (body: Uint8Array) =>
    JSON.parse(new TextDecoder().decode(body));
  const byItems = telemetryBodies(2_345, TYPICAL_TRAFFIC, {
    maxItems: 1000,
    maxBytes: 10_000_000,
  }, 0).map(decode);
  assert.deepEqual(byItems.map((events) => events.length), [1000, 1000, 345]);
  const requestIds = new Set(
    byItems.flat().filter((e) => e.type === "platform.start").map((e) =>
      e.record.requestId
    ),
  );
  assert.equal(requestIds.size, Math.ceil(2_345 / 23));

  const bodies = telemetryBodies(2_345, TYPICAL_TRAFFIC, undefined, 0);
  assert.equal(DEFAULT_BATCHING.maxBytes, 262_144);
  let events = 0;
  for (const body of bodies) {
    assert.ok(
      body.byteLength <= DEFAULT_BATCHING.maxBytes,
      `${body.byteLength}`,
    );
    // Cut by bytes, not by count: ~650-byte events fill 256 KiB at ~400.
    assert.ok(
      body.byteLength > DEFAULT_BATCHING.maxBytes - 1_000 ||
        body === bodies.at(-1),
    );
    events += decode(body).length;
  }
  assert.equal(events, 2_345);
  assert.deepEqual(
    bodies.flatMap(decode),
    byItems.flat(),
  );
});
