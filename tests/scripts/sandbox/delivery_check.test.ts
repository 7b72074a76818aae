import assert from "node:assert/strict";
import type { Envelope } from "../../../scripts/lib/decode.ts";
import { checkDelivery } from "../../../scripts/sandbox/delivery_check.ts";
import type { EmittedEvent } from "../../../scripts/sandbox/telemetry_delivery.ts";

function emitted(
  index: number,
  record: unknown,
  acknowledgedBy: string[] = ["ext"],
  droppedBy: string[] = [],
): EmittedEvent {
  return {
    event: {
      time: `2026-11-26T10:00:00.${String(index).padStart(3, "0")}Z`,
      type: typeof record === "string" ? "function" : "platform.report",
      record,
    },
    bytes: 10,
    acknowledgedBy,
    droppedBy,
    acknowledgedAt: acknowledgedBy.length ? 1 : null,
  };
}

function envelope(
  entry: EmittedEvent,
  overrides: Partial<Envelope> = {},
): Envelope {
  return {
    ...entry.event,
    function: "f:$LATEST",
    region: "us-east-1",
    accountId: null,
    environmentId: "env-1",
    seq: Number(entry.event.time.slice(20, 23)),
    ...overrides,
  };
}

Deno.test("every acknowledged event found once: nothing lost", () => {
  const events = [emitted(1, "a ✓"), emitted(2, { requestId: "r", n: 1 })];
  const check = checkDelivery(
    events,
    events.map((entry) => envelope(entry)),
    "ext",
  );
  assert.equal(check.emitted, 2);
  assert.equal(check.received, 2);
  assert.equal(check.delivered, 2);
  assert.deepEqual(check.lost, []);
  assert.deepEqual(check.duplicates, []);
  assert.deepEqual(check.environmentIds, ["env-1"]);
});

Deno.test("a missing event is lost, a second copy is a duplicate, a changed record is unexpected", () => {
  const events = [emitted(1, "a"), emitted(2, "b"), emitted(3, { n: 1 })];
  const check = checkDelivery(events, [
    envelope(events[0]),
    envelope(events[0]),
    envelope(events[2], { record: { n: 2 } }),
  ]);
  assert.deepEqual(check.lost.map((event) => event.record), ["b", { n: 1 }]);
  assert.equal(check.duplicates.length, 1);
  assert.equal(check.repeatedIds, 1);
  assert.deepEqual(check.unexpected.map((found) => found.record), [{ n: 2 }]);
});

Deno.test("identical events are counted as many times as they were emitted", () => {
  const twin = emitted(1, "same");
  const events = [twin, { ...twin, acknowledgedBy: ["ext"] }];
  const once = checkDelivery(events, [envelope(twin)]);
  assert.equal(once.lost.length, 1);
  const twice = checkDelivery(events, [
    envelope(twin, { seq: 1 }),
    envelope(twin, { seq: 2 }),
  ]);
  assert.equal(twice.lost.length, 0);
  assert.equal(twice.duplicates.length, 0);
  // Two events, two ids: no re-send.
  assert.equal(twice.repeatedIds, 0);
});

Deno.test("truncated envelopes match by prefix of the record's text", () => {
  const big = emitted(1, { requestId: "r", text: "x".repeat(100) });
  const prefix = JSON.stringify(big.event.record).slice(0, 30);
  const check = checkDelivery([big], [
    envelope(big, { record: prefix, truncated: { originalBytes: 500 } }),
  ]);
  assert.equal(check.truncated, 1);
  assert.equal(check.delivered, 1);
  const wrong = checkDelivery([big], [
    envelope(big, { record: "nope", truncated: { originalBytes: 500 } }),
  ]);
  assert.equal(wrong.lost.length, 1);
});

Deno.test("events never acknowledged or dropped by the platform are told apart", () => {
  const late = emitted(1, "summary", []);
  const dropped = emitted(2, "gone", [], ["ext"]);
  const check = checkDelivery([late, dropped], []);
  assert.equal(check.received, 0);
  assert.deepEqual(check.neverReceived.map((event) => event.record), [
    "summary",
  ]);
  assert.deepEqual(
    check.droppedBeforeListener.map((event) => event.record),
    ["gone"],
  );
  assert.deepEqual(check.lost, []);
});

Deno.test("envelopes of other environments are ignored", () => {
  const ours = emitted(1, "mine");
  const foreign = envelope(emitted(2, "theirs"), { environmentId: "env-2" });
  const check = checkDelivery([ours], [envelope(ours), foreign]);
  assert.deepEqual(check.unexpected, []);
});
