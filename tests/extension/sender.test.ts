import assert from "node:assert/strict";
import { KinesisRequestError } from "../../extension/kinesis_client.ts";
import type { CarriedRequest } from "../../extension/carried.ts";
import {
  type Carry,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  sendBatch,
  type SendContext,
  type SendResult,
} from "../../extension/sender.ts";
import type { Batch, OutgoingRecord } from "../../extension/types.ts";
import {
  after,
  eventOf,
  failEntries,
  type FakeTime,
  fakeTime,
  hang,
  type PutterAnswer,
  rejectWith,
  ScriptedPutter,
  storeAll,
} from "./_core_fixtures.ts";

/** A record named `name` carrying `events` events. */
function record(name: string, events = 1): OutgoingRecord {
  return {
    data: new TextEncoder().encode(name),
    partitionKey: name,
    events: Array.from({ length: events }, (_, i) => eventOf(`${name}.${i}`)),
  };
}

function batchOf(...records: OutgoingRecord[]): Batch {
  return { records, bytes: 0 };
}

const names = (records: readonly OutgoingRecord[]) =>
  records.map((r) => r.partitionKey);

interface Run {
  result: SendResult;
  putter: ScriptedPutter;
  /** Fake time when sendBatch resolved. */
  endedAt: number;
  start: number;
}

/** Runs sendBatch on fake time until it resolves. */
async function run(
  batch: Batch,
  answers: PutterAnswer[] | ((time: FakeTime) => PutterAnswer[]),
  options: {
    deadlineIn?: number;
    random?: () => number;
    policy?: Partial<RetryPolicy>;
    prepared?: Promise<void>;
    carry?: Carry;
    /** The flush's cut comes this long after the start. */
    cutAfterMs?: number;
    requestSent?: (signal: AbortSignal) => boolean;
  } = {},
): Promise<Run> {
  const time = fakeTime();
  const start = time.now();
  const putter = new ScriptedPutter(
    typeof answers === "function" ? answers(time) : answers,
    time.now,
  );
  if (options.prepared) putter.prepared = options.prepared;
  if (options.requestSent) putter.requestSent = options.requestSent;
  const cut = new AbortController();
  if (options.cutAfterMs !== undefined) {
    time.timers.setTimeout(() => cut.abort(), options.cutAfterMs);
  }
  const context: SendContext = {
    putter,
    now: time.now,
    timers: time.timers,
    random: options.random ?? (() => 0.5),
    policy: { ...DEFAULT_RETRY_POLICY, ...options.policy },
  };
  let endedAt = -1;
  const sending = sendBatch(
    batch,
    start + (options.deadlineIn ?? 1000),
    context,
    cut.signal,
    options.carry,
  )
    .then((result) => {
      endedAt = time.now();
      return result;
    });
  await time.runAll();
  const result = await sending;
  assert.equal(time.pending(), 0, "no timer left behind");
  return { result, putter, endedAt, start };
}

Deno.test("sender: everything stored at the first attempt", async () => {
  const { result, putter, endedAt, start } = await run(
    batchOf(record("a", 2), record("b")),
    [storeAll],
  );
  assert.deepEqual(names(result.delivered), ["a", "b"]);
  assert.deepEqual(result.undelivered, []);
  assert.equal(result.requests, 1);
  assert.equal(result.failedRequests, 0);
  assert.equal(result.retriedEvents, 0);
  assert.equal(result.abandoned, false);
  assert.equal(result.lastError, undefined);
  assert.equal(putter.calls.length, 1);
  assert.deepEqual(putter.calls[0].keys, ["a", "b"]);
  assert.deepEqual(putter.calls[0].texts, ["a", "b"]);
  assert.equal(endedAt, start, "no waiting when nothing failed");
});

Deno.test("sender: only failed entries are retried; results in the order stored", async () => {
  const { result, putter } = await run(
    batchOf(record("a"), record("b", 3), record("c"), record("d", 2)),
    [failEntries([1, 3]), failEntries([1]), storeAll],
  );
  assert.deepEqual(putter.calls.map((call) => call.keys), [
    ["a", "b", "c", "d"],
    ["b", "d"],
    ["d"],
  ]);
  assert.deepEqual(names(result.delivered), ["a", "c", "b", "d"]);
  assert.deepEqual(result.undelivered, []);
  assert.equal(result.requests, 3);
  assert.equal(result.failedRequests, 0);
  assert.equal(result.retriedEvents, 3 + 2 + 2);
  // Failed entries were answered: no doubt about what was stored.
  for (const r of result.delivered) {
    for (const e of r.events) assert.equal(e.uncertain, false);
  }
});

Deno.test("sender: backoff is exponential with full jitter, capped at maxDelayMs", async () => {
  const jitters = [0.5, 0.5, 0.5, 0.999, 0.999, 0, 0.25];
  const { putter } = await run(
    batchOf(record("a")),
    [...Array(7).fill(failEntries([0])), storeAll],
    {
      deadlineIn: 10_000,
      random: () => jitters.shift()!,
      policy: { baseDelayMs: 100, maxDelayMs: 500 },
    },
  );
  const gaps = putter.calls.slice(1).map((call, i) =>
    call.at - putter.calls[i].at
  );
  // Ceilings 100, 200, 400, 500, 500, 500, 500 times the jitter, floored.
  assert.deepEqual(gaps, [50, 100, 200, 499, 499, 0, 125]);
});

Deno.test("sender: no retry starts that the deadline cannot hold", async () => {
  const { result, putter, endedAt, start } = await run(
    batchOf(record("a"), record("b")),
    [failEntries([1]), failEntries([0])],
    {
      deadlineIn: 300,
      random: () => 0.999,
      policy: { baseDelayMs: 100, maxDelayMs: 1000, minAttemptMs: 10 },
    },
  );
  // Waits of 99 and 199 fit (t=99, t=298 would leave < 10 ms: stop).
  assert.deepEqual(putter.calls.map((call) => call.at - start), [0, 99]);
  assert.ok(endedAt <= start + 300);
  assert.deepEqual(names(result.delivered), ["a"]);
  assert.deepEqual(names(result.undelivered), ["b"]);
  assert.equal(result.retriedEvents, 1);
});

Deno.test("sender: a deadline already too close sends nothing", async () => {
  const { result, putter } = await run(batchOf(record("a")), [storeAll], {
    deadlineIn: 5,
    policy: { minAttemptMs: 10 },
  });
  assert.equal(putter.calls.length, 0);
  assert.equal(result.requests, 0);
  assert.deepEqual(names(result.undelivered), ["a"]);
});

Deno.test("sender: a whole-request error with a known outcome is retried, events stay certain", async () => {
  const throttled = new KinesisRequestError("throttled", {
    outcomeKnown: true,
    permanent: false,
    code: "LimitExceededException",
  });
  const { result, putter } = await run(
    batchOf(record("a", 2), record("b")),
    [rejectWith(throttled), storeAll],
  );
  assert.equal(putter.calls.length, 2);
  assert.deepEqual(putter.calls[1].keys, ["a", "b"]);
  assert.deepEqual(names(result.delivered), ["a", "b"]);
  assert.equal(result.requests, 2);
  assert.equal(result.failedRequests, 1);
  assert.equal(result.retriedEvents, 3);
  assert.equal(result.lastError, throttled);
  assert.equal(result.abandoned, false);
  for (const r of result.delivered) {
    for (const e of r.events) assert.equal(e.uncertain, false);
  }
});

Deno.test("sender: an outcome-unknown error marks the events uncertain", async () => {
  const reset = new KinesisRequestError("socket hang up", {
    outcomeKnown: false,
    permanent: false,
    code: "ECONNRESET",
  });
  const untouched = record("z");
  const { result } = await run(
    batchOf(record("a", 2), record("b")),
    [rejectWith(reset), storeAll],
  );
  assert.deepEqual(names(result.delivered), ["a", "b"]);
  for (const r of result.delivered) {
    for (const e of r.events) assert.equal(e.uncertain, true);
  }
  assert.equal(untouched.events[0].uncertain, false);
});

Deno.test("sender: a non-Kinesis rejection is treated as an unknown outcome", async () => {
  const { result } = await run(
    batchOf(record("a")),
    [rejectWith(new TypeError("bug in a client")), storeAll],
  );
  assert.equal(result.lastError?.code, "UnknownError");
  assert.equal(result.lastError?.outcomeKnown, false);
  assert.match(result.lastError!.message, /bug in a client/);
  assert.equal(result.delivered[0].events[0].uncertain, true);
});

Deno.test("sender: a putter that never answers is abandoned at the deadline and reset", async () => {
  const { result, putter, endedAt, start } = await run(
    batchOf(record("a", 2)),
    [hang],
    { deadlineIn: 200, policy: { requestTimeoutMs: 5_000 } },
  );
  assert.equal(putter.calls.length, 1);
  assert.equal(putter.calls[0].signal.aborted, true);
  assert.equal(putter.resets, 1);
  assert.equal(endedAt, start + 200);
  assert.equal(result.abandoned, true);
  assert.equal(result.lastError?.code, "Abandoned");
  assert.equal(result.lastError?.outcomeKnown, false);
  assert.deepEqual(names(result.undelivered), ["a"]);
  assert.deepEqual(result.delivered, []);
  for (const e of result.undelivered[0].events) assert.equal(e.uncertain, true);
});

Deno.test("sender: a request given up before the client sent it leaves its events certain", async () => {
  // The putter says nothing went out (e.g. still signing on a starved CPU).
  const batch = batchOf(record("a", 2));
  const time = fakeTime();
  const putter = new ScriptedPutter([hang], time.now);
  const sentAsked: boolean[] = [];
  putter.requestSent = (signal) => {
    sentAsked.push(signal.aborted);
    return false;
  };
  const sending = sendBatch(batch, time.now() + 200, {
    putter,
    now: time.now,
    timers: time.timers,
    random: () => 0.5,
    policy: { ...DEFAULT_RETRY_POLICY, requestTimeoutMs: 5_000 },
  });
  await time.runAll();
  const result = await sending;
  assert.deepEqual(sentAsked, [true], "asked once, right after the abort");
  assert.equal(result.abandoned, true);
  assert.equal(result.lastError?.code, "Abandoned");
  assert.equal(result.lastError?.outcomeKnown, true);
  assert.match(result.lastError!.message, /before it was sent/);
  assert.deepEqual(names(result.undelivered), ["a"]);
  for (const e of result.undelivered[0].events) {
    assert.equal(e.uncertain, false, "not a possible duplicate");
  }
});

Deno.test("sender: each attempt is bounded by requestTimeoutMs, then retried", async () => {
  const { result, putter, start } = await run(
    batchOf(record("a")),
    [hang, storeAll],
    {
      deadlineIn: 1000,
      random: () => 0,
      policy: { requestTimeoutMs: 100 },
    },
  );
  assert.deepEqual(putter.calls.map((call) => call.at - start), [0, 100]);
  assert.equal(putter.calls[0].signal.aborted, true);
  assert.equal(putter.calls[1].signal.aborted, false);
  assert.equal(putter.resets, 1);
  assert.deepEqual(names(result.delivered), ["a"]);
  assert.equal(result.abandoned, true);
  // The first attempt may have been stored: the delivery may be a duplicate.
  assert.equal(result.delivered[0].events[0].uncertain, true);
});

Deno.test("sender: a permanent error stops retrying", async () => {
  const denied = new KinesisRequestError("denied", {
    outcomeKnown: true,
    permanent: true,
    code: "AccessDeniedException",
  });
  const { result, putter, endedAt, start } = await run(
    batchOf(record("a"), record("b")),
    [rejectWith(denied), storeAll],
  );
  assert.equal(putter.calls.length, 1);
  assert.equal(endedAt, start);
  assert.deepEqual(names(result.undelivered), ["a", "b"]);
  assert.equal(result.lastError, denied);
  assert.equal(result.failedRequests, 1);
  assert.equal(result.retriedEvents, 0);
});

Deno.test("sender: a ValidationException splits the request until the bad records are alone; only they are rejected", async () => {
  const invalid = new KinesisRequestError("record too large", {
    outcomeKnown: true,
    permanent: true,
    code: "ValidationException",
  });
  // Kinesis refuses any request that holds "c" or "f", whole.
  const refuseBad: PutterAnswer = (entries, signal) =>
    entries.some((entry) => ["c", "f"].includes(entry.partitionKey))
      ? Promise.reject(invalid)
      : storeAll(entries, signal);
  const { result, putter } = await run(
    batchOf(...["a", "b", "c", "d", "e", "f", "g"].map((n) => record(n))),
    [refuseBad],
  );
  assert.deepEqual(names(result.rejected), ["c", "f"]);
  assert.deepEqual(names(result.delivered).sort(), ["a", "b", "d", "e", "g"]);
  assert.deepEqual(result.undelivered, []);
  assert.equal(result.retriedEvents, 0, "a split is not a retry");
  // Never more requests than a binary search over the batch needs.
  assert.ok(putter.calls.length <= 2 * 7, `${putter.calls.length} requests`);
  for (const call of putter.calls.slice(1)) {
    assert.ok(call.keys.length < 7, "every later request is a part");
  }
});

Deno.test("sender: a split that runs out of time leaves the unsent parts undelivered, not rejected", async () => {
  const invalid = new KinesisRequestError("bad", {
    outcomeKnown: true,
    permanent: true,
    code: "InvalidArgumentException",
  });
  const time = fakeTime();
  const putter = new ScriptedPutter(
    [after(60, time.timers, rejectWith(invalid))],
    time.now,
  );
  const sending = sendBatch(
    batchOf(record("a"), record("b"), record("c"), record("d")),
    time.now() + 100,
    {
      putter,
      now: time.now,
      timers: time.timers,
      random: () => 0.5,
      policy: DEFAULT_RETRY_POLICY,
    },
  );
  await time.runAll();
  const result = await sending;
  assert.deepEqual(result.rejected, []);
  assert.equal(putter.calls.length, 2);
  assert.deepEqual(names(result.undelivered), ["a", "b", "c", "d"]);
});

Deno.test("sender: an empty batch sends nothing", async () => {
  const { result, putter } = await run(batchOf(), [storeAll]);
  assert.equal(putter.calls.length, 0);
  assert.equal(result.requests, 0);
});

Deno.test("sender: a client still loading at the deadline sends nothing and leaves events certain", async () => {
  const batch = batchOf(record("a", 2));
  const { result, putter, endedAt, start } = await run(batch, [storeAll], {
    deadlineIn: 150,
    prepared: new Promise<void>(() => {}),
  });
  assert.equal(putter.calls.length, 0);
  assert.equal(result.requests, 0);
  assert.deepEqual(names(result.undelivered), ["a"]);
  assert.equal(endedAt - start, 150);
  assert.ok(batch.records[0].events.every((event) => !event.uncertain));
});

Deno.test("sender: the first request waits for the client to be ready", async () => {
  const order: string[] = [];
  const prepared = Promise.resolve().then(() => {
    order.push("ready");
  });
  const { result, putter } = await run(batchOf(record("a")), [
    (entries, signal) => {
      order.push("request");
      return storeAll(entries, signal);
    },
  ], { prepared });
  assert.equal(putter.prepares, 1);
  assert.deepEqual(order, ["ready", "request"]);
  assert.deepEqual(names(result.delivered), ["a"]);
});

/** A carry that takes every request offered, into `taken`. */
function takeInto(taken: CarriedRequest[]): Carry {
  return (request) => {
    taken.push(request);
    return true;
  };
}

Deno.test("sender: a request written and unanswered at the deadline goes to carry, not aborted and not uncertain", async () => {
  const taken: CarriedRequest[] = [];
  const { result, putter, endedAt, start } = await run(
    batchOf(record("a", 2), record("b")),
    [hang],
    {
      deadlineIn: 200,
      policy: { requestTimeoutMs: 5_000 },
      carry: takeInto(taken),
    },
  );
  assert.equal(endedAt, start + 200, "the deadline still holds");
  assert.equal(putter.calls.length, 1);
  assert.equal(putter.calls[0].signal.aborted, false, "left running");
  assert.equal(putter.resets, 0);
  assert.equal(result.carriedRequests, 1);
  assert.deepEqual(names(result.carried), ["a", "b"]);
  assert.deepEqual(result.undelivered, []);
  assert.equal(result.abandoned, true, "the sizer learns it was too slow");
  assert.equal(result.failedRequests, 0);
  assert.equal(result.lastError, undefined);
  for (const e of result.carried[0].events) assert.equal(e.uncertain, false);
  assert.equal(taken.length, 1);
  assert.deepEqual(names(taken[0].records), ["a", "b"]);
  assert.equal(taken[0].awakeBudgetMs, 4_800, "what was left of its timeout");
  taken[0].abort();
  assert.equal(
    putter.calls[0].signal.aborted,
    true,
    "abort reaches the client",
  );
});

Deno.test("sender: a carried request's answer is the client's", async () => {
  const taken: CarriedRequest[] = [];
  const { result } = await run(
    batchOf(record("a")),
    (time) => [after(500, time.timers, storeAll)],
    { deadlineIn: 200, carry: takeInto(taken) },
  );
  assert.deepEqual(names(result.carried), ["a"]);
  const answer = await taken[0].answer;
  assert.equal(answer.failedRecordCount, 0);
  assert.equal(answer.entries.length, 1);
});

Deno.test("sender: the flush's cut also hands a written request to carry", async () => {
  const taken: CarriedRequest[] = [];
  const { result, putter } = await run(batchOf(record("a")), [hang], {
    deadlineIn: 10_000,
    cutAfterMs: 50,
    carry: takeInto(taken),
  });
  assert.equal(result.carriedRequests, 1);
  assert.equal(putter.calls[0].signal.aborted, false);
});

Deno.test("sender: carry is not offered a request not yet written, nor one past its own timeout, and may refuse", async () => {
  // Not written (still signing): given up as known unsent.
  {
    const taken: CarriedRequest[] = [];
    const { result } = await run(batchOf(record("a")), [hang], {
      deadlineIn: 200,
      requestSent: () => false,
      carry: takeInto(taken),
    });
    assert.equal(taken.length, 0);
    assert.equal(result.lastError?.outcomeKnown, true);
    assert.deepEqual(names(result.undelivered), ["a"]);
  }
  // Its own timeout (the deadline is later): given up and retried.
  {
    const taken: CarriedRequest[] = [];
    const { result, putter } = await run(
      batchOf(record("a")),
      [hang, storeAll],
      {
        deadlineIn: 10_000,
        policy: { requestTimeoutMs: 1_000 },
        carry: takeInto(taken),
      },
    );
    assert.equal(taken.length, 0);
    assert.equal(putter.calls.length, 2);
    assert.equal(putter.calls[0].signal.aborted, true);
    assert.deepEqual(names(result.delivered), ["a"]);
  }
  // A carry that refuses (full): abandoned as without one.
  {
    const { result, putter } = await run(batchOf(record("a")), [hang], {
      deadlineIn: 200,
      carry: () => false,
    });
    assert.equal(putter.calls[0].signal.aborted, true);
    assert.equal(result.carriedRequests, 0);
    assert.equal(result.lastError?.code, "Abandoned");
    assert.deepEqual(names(result.undelivered), ["a"]);
  }
});
