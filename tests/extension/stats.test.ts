import assert from "node:assert/strict";
import { Stats } from "../../extension/stats.ts";

Deno.test("stats: drops add up by cause and in total", () => {
  const stats = new Stats();
  assert.equal(stats.droppedTotal, 0);
  stats.drop("invalid_event", 2);
  stats.drop("shutdown_deadline", 3);
  stats.drop("invalid_event", 1);
  assert.deepEqual(stats.dropped, {
    invalid_event: 3,
    shutdown_deadline: 3,
    kinesis_rejected: 0,
    spill_lost: 0,
  });
  assert.equal(stats.droppedTotal, 6);
});

Deno.test("stats: the summary carries every counter and a copy of the drops", () => {
  const stats = new Stats();
  stats.received = 10;
  stats.delivered = 6;
  stats.filtered = 1;
  stats.truncated = 2;
  stats.retried = 4;
  stats.possibleDuplicates = 1;
  stats.refused = 5;
  stats.refusedDeliveries = 2;
  stats.spilled = 6;
  stats.rejectedBodies = 1;
  stats.kinesisRequests = 3;
  stats.kinesisRequestFailures = 1;
  stats.carriedRequests = 2;
  stats.carriedDelivered = 3;
  stats.flushesCutShort = 1;
  stats.invocations = 7;
  stats.drop("kinesis_rejected", 2);
  const summary = stats.summary(1);
  assert.deepEqual(summary, {
    received: 10,
    delivered: 6,
    filtered: 1,
    dropped: {
      invalid_event: 0,
      shutdown_deadline: 0,
      kinesis_rejected: 2,
      spill_lost: 0,
    },
    droppedTotal: 2,
    buffered: 1,
    truncated: 2,
    retried: 4,
    possibleDuplicates: 1,
    refused: 5,
    refusedDeliveries: 2,
    spilled: 6,
    rejectedBodies: 1,
    kinesisRequests: 3,
    kinesisRequestFailures: 1,
    carriedRequests: 2,
    carriedDelivered: 3,
    flushesCutShort: 1,
    invocations: 7,
  });
  (summary.dropped as Record<string, number>).kinesis_rejected = 99;
  assert.equal(stats.dropped.kinesis_rejected, 2);
});
