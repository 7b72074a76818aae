import assert from "node:assert/strict";
import {
  CARRIED_MIN_MS,
  type CarriedEnd,
  type CarriedRequest,
  CarriedRequests,
} from "../../extension/carried.ts";
import {
  KinesisRequestError,
  type PutRecordsResult,
} from "../../extension/kinesis_client.ts";
import type { OutgoingRecord } from "../../extension/types.ts";
import { eventOf, fakeTime } from "./_core_fixtures.ts";

function recordOf(name: string): OutgoingRecord {
  return {
    data: new TextEncoder().encode(name),
    partitionKey: name,
    events: [eventOf(name)],
  };
}

/** A carried request whose answer the test settles, and whose abort it sees. */
function pending(name: string, awakeBudgetMs = 4_000) {
  let resolve!: (answer: PutRecordsResult) => void;
  let reject!: (error: unknown) => void;
  const answer = new Promise<PutRecordsResult>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  const state = { aborted: false };
  const request: CarriedRequest = {
    records: [recordOf(name)],
    answer,
    abort: () => {
      state.aborted = true;
      reject(
        new KinesisRequestError("aborted", {
          outcomeKnown: false,
          permanent: false,
          code: "Abandoned",
        }),
      );
    },
    awakeBudgetMs,
  };
  return { request, resolve, reject, state };
}

function setUp(maxRequests?: number) {
  const time = fakeTime();
  const ends: { names: string[]; end: CarriedEnd; at: number }[] = [];
  const carried = new CarriedRequests({
    timers: time.timers,
    now: time.now,
    maxRequests,
    onEnd: (records, end) =>
      ends.push({
        names: records.map((r) => r.partitionKey),
        end,
        at: time.now(),
      }),
  });
  return { time, carried, ends };
}

Deno.test("carried: an answer ends the request once, with the answer", async () => {
  const { time, carried, ends } = setUp();
  const a = pending("a");
  assert.equal(carried.add(a.request), true);
  assert.equal(carried.size, 1);
  a.resolve({ failedRecordCount: 0, entries: [{}] });
  await time.settle();
  assert.equal(carried.size, 0);
  assert.equal(ends.length, 1);
  assert.deepEqual(ends[0].names, ["a"]);
  assert.equal(ends[0].end.answer?.failedRecordCount, 0);
  assert.equal(time.pending(), 0, "its timer cleared");
  assert.equal(a.state.aborted, false);
});

Deno.test("carried: a rejection ends it with the client's error; a foreign error counts as unknown", async () => {
  const { time, carried, ends } = setUp();
  const a = pending("a");
  const b = pending("b");
  carried.add(a.request);
  carried.add(b.request);
  a.reject(
    new KinesisRequestError("refused", {
      outcomeKnown: true,
      permanent: false,
      code: "ProvisionedThroughputExceededException",
    }),
  );
  b.reject(new TypeError("socket closed"));
  await time.settle();
  assert.equal(ends[0].end.error?.outcomeKnown, true);
  assert.equal(ends[1].end.error?.outcomeKnown, false);
  assert.equal(ends[1].end.error?.code, "UnknownError");
});

Deno.test("carried: unanswered for its awake time, it is aborted and ends as unknown", async () => {
  const { time, carried, ends } = setUp();
  const a = pending("a", 2_000);
  carried.add(a.request);
  await time.tick(1_999);
  assert.equal(ends.length, 0);
  await time.tick(1);
  assert.equal(a.state.aborted, true);
  assert.equal(ends.length, 1, "the abort's rejection is not a second end");
  assert.equal(ends[0].end.error?.code, "Abandoned");
  assert.equal(ends[0].end.error?.outcomeKnown, false);
  await time.settle();
  assert.equal(ends.length, 1);
});

Deno.test("carried: time runs only between resume and suspend", async () => {
  const { time, carried, ends } = setUp();
  const a = pending("a", 2_000);
  carried.add(a.request);
  await time.tick(1_500);
  carried.suspend();
  await time.tick(60_000); // frozen
  assert.equal(ends.length, 0);
  carried.resume();
  await time.tick(499);
  assert.equal(ends.length, 0);
  await time.tick(1);
  assert.equal(ends.length, 1);
  assert.equal(ends[0].end.error?.code, "Abandoned");
});

Deno.test("carried: one added while suspended starts its clock at resume; suspend and resume are idempotent", async () => {
  const { time, carried, ends } = setUp();
  carried.suspend();
  carried.suspend();
  carried.add(pending("a", 1_000).request);
  await time.tick(10_000);
  assert.equal(ends.length, 0);
  carried.resume();
  carried.resume();
  await time.tick(999);
  assert.equal(ends.length, 0);
  await time.tick(1);
  assert.equal(ends.length, 1);
  assert.equal(time.pending(), 0, "one timer, not two");
});

Deno.test("carried: the awake budget is at least CARRIED_MIN_MS", async () => {
  const { time, carried, ends } = setUp();
  carried.add(pending("a", 3).request);
  await time.tick(CARRIED_MIN_MS - 1);
  assert.equal(ends.length, 0);
  await time.tick(1);
  assert.equal(ends.length, 1);
});

Deno.test("carried: a full set refuses more", () => {
  const { carried } = setUp(1);
  assert.equal(carried.add(pending("a").request), true);
  assert.equal(carried.add(pending("b").request), false);
  assert.equal(carried.size, 1);
});

Deno.test("carried: abortAll ends every request, newest first (each goes back to the buffer's front)", async () => {
  const { time, carried, ends } = setUp();
  const a = pending("a");
  const b = pending("b");
  carried.add(a.request);
  carried.add(b.request);
  carried.abortAll();
  assert.deepEqual(ends.map((e) => e.names[0]), ["b", "a"]);
  assert.ok(a.state.aborted && b.state.aborted);
  assert.equal(carried.size, 0);
  await time.settle();
  assert.equal(ends.length, 2);
  assert.equal(time.pending(), 0);
});

Deno.test("carried: whenAnyEnds wakes at the first end or after its timeout", async () => {
  const { time, carried } = setUp();
  let woke = false;
  await carried.whenAnyEnds(100); // nothing carried: at once
  const a = pending("a");
  carried.add(a.request);
  const waiting = carried.whenAnyEnds(10_000).then(() => woke = true);
  await time.tick(50);
  assert.equal(woke, false);
  a.resolve({ failedRecordCount: 0, entries: [{}] });
  await time.settle();
  await waiting;
  assert.equal(woke, true);
  assert.equal(time.pending(), 0, "its timeout cleared");
  const b = pending("b");
  carried.add(b.request);
  let timedOut = false;
  const timing = carried.whenAnyEnds(100).then(() => timedOut = true);
  await time.tick(100);
  await timing;
  assert.equal(timedOut, true);
  assert.equal(carried.size, 1);
});

Deno.test("carried: shorten caps what is left of each request's time, never lengthens it", async () => {
  const { time, carried, ends } = setUp();
  carried.add(pending("long", 4_000).request);
  carried.add(pending("short", 1_000).request);
  await time.tick(200);
  carried.shorten(900);
  await time.tick(799);
  assert.equal(ends.length, 0);
  await time.tick(1);
  assert.deepEqual(ends.map((e) => e.names[0]), ["short"], "its own 800 ms");
  await time.tick(99);
  assert.equal(ends.length, 1);
  await time.tick(1);
  assert.deepEqual(ends.map((e) => e.names[0]), ["short", "long"]);
  assert.equal(time.pending(), 0);
});
