import assert from "node:assert/strict";
import { valueEncoder } from "../helpers/raw_event.ts";
import { EventBuffer, sizeOf } from "../../extension/buffer.ts";
import { EVENT_OVERHEAD_BYTES } from "../../extension/memory_budget.ts";
import {
  emptyOutcome,
  Flusher,
  type FlushOutcome,
  MAX_REQUEST_BYTES,
} from "../../extension/flusher.ts";
import {
  createSdkPutter,
  KinesisRequestError,
} from "../../extension/kinesis_client.ts";
import { DEFAULT_RETRY_POLICY } from "../../extension/sender.ts";
import { Stats } from "../../extension/stats.ts";
import type { BufferedEvent, RecordFormat } from "../../extension/types.ts";
import { decodeRecord } from "../../scripts/lib/decode.ts";
import { readAllRecords } from "../../scripts/lib/kinesis_read.ts";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startLocalKinesis,
} from "../../scripts/sandbox/kinesis_local.ts";
import {
  after,
  captureLog,
  eventOf,
  failEntries,
  fakeTime,
  hang,
  type PutterAnswer,
  rejectWith,
  ScriptedPutter,
  storeAll,
  textOf,
} from "./_core_fixtures.ts";
import type { KinesisPutter } from "../../extension/kinesis_client.ts";

interface Setup {
  flusher: Flusher;
  buffer: EventBuffer;
  stats: Stats;
  putter: ScriptedPutter;
  time: ReturnType<typeof fakeTime>;
  log: ReturnType<typeof captureLog>;
  ownLogEvents: WeakSet<BufferedEvent>;
  add(...events: BufferedEvent[]): void;
  /** Runs one flush with a deadline `ms` ahead on fake time. */
  flush(ms?: number): Promise<FlushOutcome>;
}

function setup(
  answers: PutterAnswer[],
  options: {
    format?: RecordFormat;
    maxRecordBytes?: number;
    putter?: KinesisPutter;
    time?: ReturnType<typeof fakeTime>;
  } = {},
): Setup {
  const time = options.time ?? fakeTime();
  const buffer = new EventBuffer(1 << 24);
  const stats = new Stats();
  const putter = new ScriptedPutter(answers, time.now);
  const log = captureLog("debug");
  const ownLogEvents = new WeakSet<BufferedEvent>();
  const flusher = new Flusher({
    buffer,
    format: options.format ?? "json",
    maxRecordBytes: options.maxRecordBytes ?? 1 << 20,
    stats,
    logger: log.logger,
    ownLogEvents,
    send: {
      putter: options.putter ?? putter,
      now: time.now,
      timers: time.timers,
      random: () => 0.5,
      policy: DEFAULT_RETRY_POLICY,
    },
  });
  return {
    flusher,
    buffer,
    stats,
    putter,
    time,
    log,
    ownLogEvents,
    add: (...events) => assert.ok(buffer.offer(events, sizeOf(events))),
    async flush(ms = 500) {
      const flushing = flusher.flush(time.now() + ms);
      await time.runAll();
      return await flushing;
    },
  };
}

const texts = (events: readonly BufferedEvent[]) => events.map(textOf);

Deno.test("flusher: delivers everything to kinesalite, decodable, buffer settled", async () => {
  const kinesis = await startLocalKinesis();
  const putter = createSdkPutter({
    streamName: "flusher-test",
    streamArn: undefined,
    region: LOCAL_REGION,
    endpoint: kinesis.endpoint,
    requestTimeoutMs: 5_000,
    credentials: { ...LOCAL_CREDENTIALS },
  });
  try {
    await kinesis.createStream("flusher-test", 1);
    const buffer = new EventBuffer(1 << 24);
    const stats = new Stats();
    const flusher = new Flusher({
      buffer,
      format: "kpl",
      maxRecordBytes: 1 << 20,
      stats,
      logger: captureLog("error").logger,
      ownLogEvents: new WeakSet(),
      send: {
        putter,
        now: Date.now,
        timers: {
          setTimeout: (callback, ms) => setTimeout(callback, ms),
          clearTimeout: (handle) => clearTimeout(handle as number),
        },
        random: Math.random,
        policy: DEFAULT_RETRY_POLICY,
      },
    });
    const encode = valueEncoder({
      context: {
        functionName: "fn",
        functionVersion: "1",
        region: LOCAL_REGION,
        accountId: null,
        environmentId: "env",
      },
      partitionKey: "requestId",
      maxEnvelopeBytes: 4096,
    });
    const events = Array.from({ length: 50 }, (_, i) =>
      encode({
        time: `2024-01-01T00:00:${String(i % 60).padStart(2, "0")}Z`,
        type: "platform.report",
        record: { requestId: `r${i % 3}`, n: i },
      }, 0).event);
    buffer.offer(events, sizeOf(events));
    const outcome = await flusher.flush(Date.now() + 10_000);
    assert.deepEqual({ ...outcome }, { ...emptyOutcome(), delivered: 50 });
    assert.equal(buffer.length, 0);
    assert.equal(buffer.takenBytes, 0);
    assert.equal(stats.delivered, 50);
    assert.equal(stats.kinesisRequests, 1);
    assert.equal(flusher.lastOutcome, outcome);
    assert.equal(flusher.busy, false);

    const stored = await readAllRecords(kinesis.client, "flusher-test");
    const decoded = stored.flatMap((r) => decodeRecord(r.data));
    assert.deepEqual(
      decoded.map((d) => (d.envelope.record as { n: number }).n),
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.deepEqual(
      decoded.map((d) => d.partitionKey),
      events.map((e) => e.partitionKey),
    );
  } finally {
    putter.reset();
    await kinesis.stop();
  }
});

Deno.test("flusher: undelivered events go back to the front in order; delivered ones are counted once", async () => {
  // json: one record per event, so entry indices are event indices.
  const s = setup([failEntries([1, 3]), failEntries([0, 1])]);
  s.add(...["e0", "e1", "e2", "e3", "e4"].map((t) => eventOf(t)));
  const flushing = s.flusher.flush(s.time.now() + 200);
  // An event that arrives during the flush queues behind the leftovers.
  s.add(eventOf("late"));
  await s.time.runAll();
  const outcome = await flushing;
  assert.equal(outcome.delivered, 3);
  assert.equal(outcome.remaining, 2);
  assert.equal(outcome.cutShort, true);
  assert.equal(s.stats.delivered, 3);
  assert.equal(s.stats.flushesCutShort, 1);
  assert.ok(s.stats.retried > 0);
  assert.equal(s.stats.kinesisRequests, s.putter.calls.length);
  assert.equal(s.buffer.takenBytes, 0);
  assert.equal(
    s.buffer.queuedBytes,
    "e1e3late".length + 3 * EVENT_OVERHEAD_BYTES,
  );

  assert.deepEqual(texts(s.buffer.takeAll()), ["e1", "e3", "late"]);
});

Deno.test("flusher: a later flush delivers the requeued events, each counted once", async () => {
  const s = setup([
    failEntries([0]),
    failEntries([0]),
    failEntries([0]),
    storeAll,
  ]);
  s.add(eventOf("a"), eventOf("b"));
  // A short deadline: "a" fails and is left for later.
  const first = await s.flush(30);
  assert.equal(first.delivered, 1);
  assert.equal(first.remaining, 1);
  const second = await s.flush(1000);
  assert.equal(second.delivered, 1);
  assert.equal(second.remaining, 0);
  assert.equal(s.stats.delivered, 2);
  // Two attempts fit the first 30 ms; the second flush needs two more.
  assert.deepEqual(s.putter.calls.map((c) => c.texts), [
    ["a", "b"],
    ["a"],
    ["a"],
    ["a"],
  ]);
  assert.equal(s.buffer.length, 0);
  assert.equal(s.buffer.takenBytes, 0);
});

Deno.test("flusher: events sent again after an unknown outcome count as possible duplicates", async () => {
  const lost = new KinesisRequestError("socket hang up", {
    outcomeKnown: false,
    permanent: false,
    code: "ECONNRESET",
  });
  const s = setup([rejectWith(lost), storeAll], { format: "ndjson" });
  s.add(eventOf("a"), eventOf("b"), eventOf("c"));
  const outcome = await s.flush();
  assert.equal(outcome.delivered, 3);
  assert.equal(s.stats.possibleDuplicates, 3);
  assert.equal(s.stats.kinesisRequestFailures, 1);
  assert.equal(s.stats.kinesisRequests, 2);
  assert.equal(s.stats.retried, 3);
  assert.equal(outcome.lastError, lost);
  assert.equal(s.log.withMsg("Kinesis request failed").length, 1);
});

Deno.test("flusher: an event sent twice with an unknown outcome, then stored, counts two possible copies", async () => {
  const lost = () =>
    rejectWith(
      new KinesisRequestError("socket hang up", {
        outcomeKnown: false,
        permanent: false,
        code: "ECONNRESET",
      }),
    );
  const s = setup([lost(), lost(), storeAll], { format: "ndjson" });
  s.add(eventOf("a"));
  const outcome = await s.flush();
  assert.equal(outcome.delivered, 1);
  assert.equal(s.putter.calls.length, 3);
  // Each of the two lost requests may have stored a copy of "a".
  assert.equal(s.stats.possibleDuplicates, 2);
});

Deno.test("flusher: one flush at a time; a second call joins the running one", async () => {
  const s = setup([hang]);
  s.add(eventOf("a"));
  assert.equal(s.flusher.busy, false);
  const first = s.flusher.flush(s.time.now() + 100);
  const second = s.flusher.flush(s.time.now() + 100_000);
  assert.equal(first, second);
  assert.equal(s.flusher.busy, true);
  await s.time.runAll();
  const outcome = await first;
  assert.equal(s.flusher.busy, false);
  assert.equal(s.putter.calls.length, 1);
  assert.equal(outcome.remaining, 1);
  assert.equal(s.putter.resets, 1);
  assert.equal(s.stats.possibleDuplicates, 0);
  // The abandoned request may have stored the event.
  const [again] = s.buffer.takeAll();
  assert.equal(again.uncertain, true);
});

Deno.test("flusher: a permanent error leaves the remaining batches unsent and buffered", async () => {
  const denied = new KinesisRequestError("denied", {
    outcomeKnown: true,
    permanent: true,
    code: "AccessDeniedException",
  });
  const s = setup([rejectWith(denied)]);
  const events = Array.from({ length: 501 }, (_, i) => eventOf(`e${i}`));
  s.add(...events);
  const outcome = await s.flush(1000);
  assert.equal(s.putter.calls.length, 1, "the second batch is not tried");
  assert.equal(s.putter.calls[0].keys.length, 500);
  assert.equal(outcome.delivered, 0);
  assert.equal(outcome.remaining, 501);
  assert.equal(outcome.lastError, denied);
  assert.deepEqual(texts(s.buffer.takeAll()), texts(events));
});

Deno.test("flusher: a batching failure keeps the events buffered", async () => {
  const s = setup([storeAll], { maxRecordBytes: 100 });
  s.add(eventOf("small"), eventOf("x".repeat(200)), eventOf("behind"));
  const outcome = await s.flush();
  // Requests are built one at a time: what comes before the bad event goes.
  assert.equal(s.putter.calls.length, 1);
  assert.deepEqual(s.putter.calls[0].texts, ["small"]);
  assert.equal(outcome.cutShort, true);
  assert.equal(outcome.remaining, 2);
  assert.equal(s.buffer.length, 2);
  assert.equal(s.buffer.takenBytes, 0);
  assert.equal(s.log.withMsg("batching failed").length, 1);
});

Deno.test("flusher: an empty buffer sends nothing and keeps the last outcome", async () => {
  const s = setup([storeAll]);
  s.add(eventOf("a"));
  const first = await s.flush();
  const empty = await s.flush();
  assert.deepEqual({ ...empty }, emptyOutcome());
  assert.equal(s.putter.calls.length, 1);
  assert.equal(s.flusher.lastOutcome, first);
});

Deno.test("flusher: a flush of only the extension's own log lines is not logged", async () => {
  const s = setup([storeAll]);
  const own = eventOf("own log line");
  s.ownLogEvents.add(own);
  s.add(own);
  await s.flush();
  assert.equal(s.log.withMsg("flushed").length, 0);
  s.add(eventOf("function output"), eventOf("more"));
  await s.flush();
  const [flushed] = s.log.withMsg("flushed");
  assert.equal(flushed.delivered, 2);
  assert.equal(flushed.remaining, 0);
});

Deno.test("flusher: requests stay within MAX_REQUEST_BYTES though Kinesis allows 5 MiB", async () => {
  const s = setup([storeAll], { format: "json" });
  const kib = "x".repeat(1024);
  const events = Array.from({ length: 3000 }, (_, i) => eventOf(`${i}${kib}`));
  s.add(...events);
  const outcome = await s.flush(10_000);
  assert.equal(outcome.delivered, 3000);
  assert.ok(s.putter.calls.length >= 3, `${s.putter.calls.length} requests`);
  for (const call of s.putter.calls) {
    const bytes = call.texts.reduce(
      (sum, text, i) =>
        sum + new TextEncoder().encode(text).byteLength +
        call.keys[i].length,
      0,
    );
    assert.ok(bytes <= MAX_REQUEST_BYTES, `${bytes} bytes in one request`);
  }
});

Deno.test("flusher: a send that throws keeps its events buffered and counted nowhere else", async () => {
  // A request abandoned at the deadline calls reset(), which throws here.
  const hanging: KinesisPutter = {
    prepare: () => Promise.resolve(),
    putRecords: () => new Promise(() => {}),
    reset: () => {
      throw new Error("reset broke");
    },
  };
  const t = setup([], { putter: hanging });
  t.add(eventOf("a"), eventOf("b"));
  const outcome = await t.flush(50);
  assert.equal(outcome.delivered, 0);
  assert.equal(outcome.remaining, 2);
  assert.equal(outcome.cutShort, true);
  assert.equal(t.stats.delivered, 0);
  assert.deepEqual(t.buffer.takeAll().map(textOf), ["a", "b"]);
});

Deno.test("flusher: a record Kinesis refuses is dropped as kinesis_rejected; the rest of the flush goes on", async () => {
  const invalid = new KinesisRequestError("record too large", {
    outcomeKnown: true,
    permanent: true,
    code: "ValidationException",
  });
  const refuseBad: PutterAnswer = (entries, signal) =>
    entries.some((entry) => new TextDecoder().decode(entry.data) === "bad")
      ? Promise.reject(invalid)
      : storeAll(entries, signal);
  const s = setup([refuseBad]);
  const events = Array.from({ length: 700 }, (_, i) => eventOf(`e${i}`));
  events[3] = eventOf("bad");
  s.add(...events);
  const outcome = await s.flush(2_000);
  assert.equal(outcome.rejected, 1);
  assert.equal(outcome.delivered, 699);
  assert.equal(outcome.remaining, 0);
  assert.equal(outcome.failed, false);
  assert.equal(s.stats.dropped.kinesis_rejected, 1);
  assert.equal(s.stats.delivered, 699);
  assert.equal(s.buffer.length, 0);
  assert.equal(s.buffer.takenBytes, 0);
  // The batch behind the bad one was sent too.
  assert.ok(s.putter.calls.some((call) => call.texts.includes("e699")));
  const [warning] = s.log.withMsg("Kinesis request failed");
  assert.equal(warning.rejected, 1);
});

Deno.test("flusher: request sizes follow the measured throughput, so every request finishes within its flush's time", async () => {
  const time = fakeTime();
  // Kinesis takes 1 ms per 1,000 bytes.
  const paced: PutterAnswer = (entries, signal) => {
    const bytes = entries.reduce((sum, e) => sum + e.data.byteLength, 0);
    return after(Math.ceil(bytes / 1_000), time.timers, storeAll)(
      entries,
      signal,
    );
  };
  const s = setup([paced], { time });
  const kib = "x".repeat(1000);
  s.add(...Array.from({ length: 2_000 }, (_, i) => eventOf(`${i}${kib}`)));
  const outcomes: FlushOutcome[] = [];
  for (let i = 0; i < 8 && s.buffer.length > 0; i++) {
    outcomes.push(await s.flush(300));
  }
  assert.equal(s.stats.delivered, 2_000);
  const abandoned = s.putter.calls.filter((call) => call.signal.aborted);
  // A fixed 1 MiB request (500 records here) would take 500 ms of 300.
  assert.equal(abandoned.length, 0, "no request abandoned");
  assert.ok(outcomes.every((outcome) => !outcome.failed), "slow, not failing");
  assert.ok(s.flusher.sizer.bytesPerMs > 500, `${s.flusher.sizer.bytesPerMs}`);
});

Deno.test("flusher: stopWhen ends the flush after the request it holds; the rest stays buffered, not cut short", async () => {
  const s = setup([storeAll]);
  const kib = "x".repeat(1000);
  s.add(...Array.from({ length: 3_000 }, (_, i) => eventOf(`${i}${kib}`)));
  const flushing = s.flusher.flush({
    deadline: s.time.now() + 10_000,
    stopWhen: () => true,
  });
  await s.time.runAll();
  const outcome = await flushing;
  assert.equal(s.putter.calls.length, 1);
  assert.equal(outcome.cutShort, false);
  assert.equal(outcome.delivered + outcome.remaining, 3_000);
  assert.equal(s.buffer.length, outcome.remaining);
});

/** A flush with `carry` whose deadline is `ms` ahead, run until it returns. */
async function carryingFlush(s: Setup, ms = 200): Promise<FlushOutcome> {
  const flushing = s.flusher.flush({
    deadline: s.time.now() + ms,
    carry: true,
  });
  await s.time.tick(ms);
  return await flushing;
}

Deno.test("flusher: a request carried past the deadline settles its events when answered", async () => {
  const time = fakeTime();
  const scripted = new ScriptedPutter(
    [after(1_000, time.timers, storeAll)],
    time.now,
  );
  const carrying = setup([], { putter: scripted, time });
  carrying.add(eventOf("a"), eventOf("b"));
  const outcome = await carryingFlush(carrying);
  assert.equal(outcome.delivered, 0);
  assert.equal(outcome.remaining, 0, "not put back: carried");
  assert.equal(carrying.flusher.carried.size, 1);
  assert.equal(carrying.stats.carriedRequests, 1);
  assert.equal(carrying.buffer.length, 0);
  assert.ok(carrying.buffer.takenBytes > 0, "still taken, still bounded");
  await carrying.time.tick(800);
  assert.equal(carrying.flusher.carried.size, 0);
  assert.equal(carrying.stats.delivered, 2);
  assert.equal(carrying.stats.carriedDelivered, 2);
  assert.equal(carrying.stats.possibleDuplicates, 0);
  assert.equal(carrying.buffer.takenBytes, 0);
  assert.equal(scripted.calls.length, 1);
});

Deno.test("flusher: a carried request's failed entries go back certain; an unknown end puts all back as possible duplicates", async () => {
  // One record per event (kpl would aggregate them into one).
  const time = fakeTime();
  const partial = new ScriptedPutter(
    [after(300, time.timers, failEntries([1]))],
    time.now,
  );
  const s = setup([], { putter: partial, time, maxRecordBytes: 64 });
  s.add(eventOf("a"), eventOf("b"));
  await carryingFlush(s);
  await s.time.tick(300);
  assert.equal(s.stats.delivered, 1);
  assert.deepEqual(texts(s.buffer.takeAll()), ["b"]);

  const time2 = fakeTime();
  const failing = new ScriptedPutter([
    () =>
      new Promise((_, reject) =>
        time2.timers.setTimeout(
          () =>
            reject(
              new KinesisRequestError("socket closed", {
                outcomeKnown: false,
                permanent: false,
                code: "ECONNRESET",
              }),
            ),
          300,
        )
      ),
    storeAll,
  ], time2.now);
  const u = setup([], { putter: failing, time: time2 });
  u.add(eventOf("c"));
  await carryingFlush(u);
  await u.time.tick(300);
  assert.equal(u.flusher.carried.size, 0);
  assert.equal(u.stats.kinesisRequestFailures, 1);
  assert.equal(u.buffer.length, 1, "back in the buffer");
  const outcome = await u.flush();
  assert.equal(outcome.delivered, 1);
  assert.equal(u.stats.possibleDuplicates, 1, "the carried copy may be stored");
});

Deno.test("flusher: without carry a request unanswered at the deadline is given up as before", async () => {
  const s = setup([hang]);
  s.add(eventOf("a"));
  const flushing = s.flusher.flush({ deadline: s.time.now() + 200 });
  await s.time.tick(200);
  const outcome = await flushing;
  assert.equal(s.flusher.carried.size, 0);
  assert.equal(outcome.remaining, 1);
  assert.equal(s.putter.calls[0].signal.aborted, true);
});
