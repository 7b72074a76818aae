import assert from "node:assert/strict";
import { EventBuffer, sizeOf } from "../../extension/buffer.ts";
import type { LifecycleEvent } from "../../extension/extensions_api.ts";
import { MAX_REQUEST_BYTES } from "../../extension/flusher.ts";
import { KinesisRequestError } from "../../extension/kinesis_client.ts";
import type { LifecycleApi } from "../../extension/lifecycle.ts";
import {
  BACKGROUND_FLUSH_BUDGET_MS,
  BackgroundShipper,
  FIRST_BACKOFF_MS,
  runManagedLifecycle,
} from "../../extension/managed_lifecycle.ts";
import { DEFAULT_RETRY_POLICY } from "../../extension/sender.ts";
import { Stats } from "../../extension/stats.ts";
import type { RecordFormat } from "../../extension/types.ts";
import {
  after,
  captureLog,
  eventOf,
  fakeTime,
  type PutterAnswer,
  rejectWith,
  ScriptedPutter,
  storeAll,
} from "./_core_fixtures.ts";

const INTERVAL_MS = 250;

/**
 * A shipper on fake time over a shared buffer, and an Extensions API whose
 * `/event/next` answers SHUTDOWN `shutdownAfterMs` after the loop starts
 * (never when undefined).
 */
function harness(options: {
  answers: (time: ReturnType<typeof fakeTime>) => PutterAnswer[];
  format?: RecordFormat;
  maxInFlight?: number;
  shutdownAfterMs?: number;
  shutdownBudgetMs?: number;
}) {
  const time = fakeTime();
  const start = time.now();
  const buffer = new EventBuffer(64 * 1024 * 1024);
  const stats = new Stats();
  const putter = new ScriptedPutter(options.answers(time), time.now);
  const log = captureLog("debug");
  const shipper = new BackgroundShipper({
    buffer,
    flusher: {
      format: options.format ?? "ndjson",
      maxRecordBytes: 1 << 20,
      stats,
      logger: log.logger,
      ownLogEvents: new WeakSet(),
      send: {
        putter,
        now: time.now,
        timers: time.timers,
        random: () => 0.5,
        policy: DEFAULT_RETRY_POLICY,
      },
    },
    config: {
      flushIntervalMs: INTERVAL_MS,
      maxInFlight: options.maxInFlight ?? 3,
      requestTimeoutMs: 5_000,
    },
    logger: log.logger,
  });
  let shutdownDeadline = 0;
  const api: LifecycleApi = {
    next: () =>
      new Promise<LifecycleEvent>((resolve) => {
        if (options.shutdownAfterMs === undefined) return;
        time.timers.setTimeout(() => {
          shutdownDeadline = time.now() + (options.shutdownBudgetMs ?? 2_000);
          resolve({
            eventType: "SHUTDOWN",
            shutdownReason: "SPINDOWN",
            deadlineMs: shutdownDeadline,
          });
        }, options.shutdownAfterMs);
      }),
    exitError: () => Promise.resolve(),
  };
  let added = 0;
  /** Adds `count` events of about `bytes` each, received now. */
  const add = (count: number, bytes = 100) => {
    const events = Array.from(
      { length: count },
      () => eventOf(`e${added++} `.padEnd(bytes, "x"), "k", time.now()),
    );
    assert.ok(buffer.offer(events, sizeOf(events)));
    return events;
  };
  /** Every event text PutRecords stored, one per event (ndjson lines). */
  const storedTexts = () =>
    putter.calls.flatMap((call) =>
      call.texts.flatMap((text) => text.split("\n").filter(Boolean))
    );
  return {
    time,
    start,
    buffer,
    stats,
    putter,
    shipper,
    log,
    add,
    storedTexts,
    shutdownDeadline: () => shutdownDeadline,
    run: () =>
      runManagedLifecycle({
        api,
        shipper,
        stats,
        logger: log.logger,
        config: {
          shutdownMarginMs: 150,
          buffering: { maxItems: 1000, maxBytes: 262_144, timeoutMs: 100 },
        },
        now: time.now,
        timers: time.timers,
      }),
  };
}

/** Counts concurrent requests: `answer`, recording the peak of requests in flight. */
function peakCounting(
  putter: () => ScriptedPutter,
  answer: PutterAnswer,
  peak: { value: number },
): PutterAnswer {
  return (entries, signal) => {
    peak.value = Math.max(peak.value, putter().inFlight);
    return answer(entries, signal);
  };
}

/** Runs the loop of `h` with another Extensions API (and a stop signal). */
function runWithApi(
  h: ReturnType<typeof harness>,
  api: LifecycleApi,
  stop?: AbortSignal,
) {
  return runManagedLifecycle({
    api,
    shipper: h.shipper,
    stats: h.stats,
    logger: h.log.logger,
    config: {
      shutdownMarginMs: 150,
      buffering: { maxItems: 1000, maxBytes: 262_144, timeoutMs: 100 },
    },
    now: h.time.now,
    timers: h.time.timers,
    stop,
  });
}

Deno.test("managed lifecycle: a few events are flushed once the oldest is older than the interval", async () => {
  const h = harness({ answers: () => [storeAll] });
  h.shipper.start();
  h.add(3);
  await h.time.tick(INTERVAL_MS - 10);
  assert.equal(h.putter.calls.length, 0, "nothing is due before the interval");
  await h.time.tick(60);
  assert.equal(h.putter.calls.length, 1);
  assert.ok(h.putter.calls[0].at - h.start >= INTERVAL_MS);
  assert.equal(h.storedTexts().length, 3);
  assert.equal(h.buffer.length, 0);
  assert.equal(h.buffer.takenBytes, 0, "every taken byte is settled");
  assert.equal(h.stats.delivered, 3);
  h.shipper.stopWatching();
});

Deno.test("managed lifecycle: a full request's worth is flushed at once, before the interval", async () => {
  const h = harness({ answers: () => [storeAll] });
  h.shipper.start();
  const count = Math.ceil(MAX_REQUEST_BYTES / 1000) + 10;
  h.add(count, 1000);
  await h.time.tick(60);
  assert.ok(h.putter.calls.length >= 1, "flushed within a tick");
  assert.ok(h.putter.calls[0].at - h.start < INTERVAL_MS);
  // The rest (less than a request) waits for its age.
  await h.time.tick(INTERVAL_MS);
  assert.equal(h.storedTexts().length, count);
  assert.equal(new Set(h.storedTexts()).size, count, "no duplicates");
  h.shipper.stopWatching();
});

Deno.test("managed lifecycle: json format counts 500 events as a full request", async () => {
  const h = harness({ answers: () => [storeAll], format: "json" });
  h.shipper.start();
  h.add(500, 20);
  await h.time.tick(60);
  assert.equal(h.putter.calls.length, 1);
  assert.equal(h.putter.calls[0].texts.length, 500);
  h.shipper.stopWatching();
});

Deno.test("managed lifecycle: at most maxInFlight requests run at once, each on its own events", async () => {
  const peak = { value: 0 };
  const holder: { putter?: ScriptedPutter } = {};
  const h = harness({
    answers: (time) => [
      peakCounting(
        () => holder.putter!,
        after(400, time.timers, storeAll),
        peak,
      ),
    ],
    maxInFlight: 3,
  });
  holder.putter = h.putter;
  h.shipper.start();
  // About 8 requests' worth, arriving at once.
  const count = Math.ceil((8 * MAX_REQUEST_BYTES) / 2000);
  h.add(count, 2000);
  await h.time.tick(60);
  assert.equal(h.shipper.inFlight, 3, "three flushes started together");
  await h.time.tick(5_000);
  assert.equal(peak.value, 3);
  assert.equal(h.storedTexts().length, count);
  assert.equal(new Set(h.storedTexts()).size, count, "no event sent twice");
  assert.equal(h.stats.delivered, count);
  assert.equal(h.buffer.length, 0);
  assert.equal(h.buffer.takenBytes, 0);
  h.shipper.stopWatching();
});

Deno.test("managed lifecycle: failed requests put their events back, pause flushing, and retry later", async () => {
  let down = true;
  const failing = rejectWith(
    new KinesisRequestError("down", {
      outcomeKnown: true,
      permanent: false,
      code: "ServiceUnavailable",
    }),
  );
  const h = harness({
    answers: () => [(entries, signal) =>
      down ? failing(entries, signal) : storeAll(entries, signal)],
    maxInFlight: 2,
  });
  h.shipper.start();
  h.add(10);
  // Until the first flush gave up: it keeps retrying within its budget.
  await h.time.tick(INTERVAL_MS + 60);
  assert.equal(h.shipper.inFlight, 1);
  while (h.shipper.inFlight > 0) await h.time.tick(5);
  assert.ok(
    h.time.now() - h.putter.calls[0].at <= BACKGROUND_FLUSH_BUDGET_MS + 5,
    "a background flush gives up within its budget",
  );
  assert.equal(h.buffer.length, 10, "the events are back in the buffer");
  assert.equal(h.buffer.takenBytes, 0);
  assert.equal(h.stats.delivered, 0);
  const callsAfterFailure = h.putter.calls.length;
  down = false;
  await h.time.tick(FIRST_BACKOFF_MS - 60);
  assert.equal(h.putter.calls.length, callsAfterFailure, "paused");
  await h.time.tick(200);
  assert.ok(
    h.putter.calls.length > callsAfterFailure,
    "retried after the pause",
  );
  assert.equal(h.stats.delivered, 10);
  assert.equal(new Set(h.storedTexts()).size, 10);
  h.shipper.stopWatching();
});

Deno.test("managed lifecycle: SHUTDOWN drains the backlog and ends before the deadline minus the margin", async () => {
  const h = harness({
    answers: (time) => [after(300, time.timers, storeAll)],
    shutdownAfterMs: 1_000,
  });
  // A backlog that slow requests cannot all store in time: 40 requests' worth.
  const run = h.run();
  const count = Math.ceil((40 * MAX_REQUEST_BYTES) / 4000);
  h.add(count, 4000);
  const result = await h.time.drive(run);
  const endedAt = h.time.now();
  assert.deepEqual(result, { exitCode: 0, reason: "SHUTDOWN SPINDOWN" });
  assert.ok(
    endedAt <= h.shutdownDeadline() - 150,
    `ended ${h.shutdownDeadline() - endedAt} ms before the deadline`,
  );
  assert.equal(h.shipper.inFlight, 0, "no request left in flight");
  // Accounting: every event delivered, or still buffered for the summary.
  assert.equal(h.stats.delivered + h.buffer.length, count);
  assert.ok(h.buffer.length > 0, "the backlog was larger than the time");
  assert.equal(h.buffer.takenBytes, 0);
  // Requests cut at the deadline may still have been stored (here they
  // were): never fewer stored than counted.
  assert.ok(new Set(h.storedTexts()).size >= h.stats.delivered);
  assert.equal(h.stats.droppedTotal, 0, "the summary counts the rest later");
});

Deno.test("managed lifecycle: SHUTDOWN waits briefly for the last telemetry, then ends", async () => {
  const h = harness({ answers: () => [storeAll], shutdownAfterMs: 50 });
  const run = h.run();
  // Delivered by the Telemetry API shortly after SHUTDOWN.
  h.time.timers.setTimeout(() => h.add(2), 50 + 80);
  await h.time.drive(run);
  assert.equal(h.stats.delivered, 2);
  assert.ok(h.time.now() - h.start < 50 + 400, "ends soon after");
});

Deno.test("managed lifecycle: a permanent error stops flushing; the rest is left for the summary", async () => {
  const h = harness({
    answers: () => [
      rejectWith(
        new KinesisRequestError("no such stream", {
          outcomeKnown: true,
          permanent: true,
          code: "ResourceNotFoundException",
        }),
      ),
    ],
    shutdownAfterMs: 2_000,
  });
  const run = h.run();
  h.add(5);
  await h.time.drive(run);
  assert.equal(h.putter.calls.length, 1, "no retry of a permanent error");
  assert.equal(h.buffer.length, 5);
  assert.equal(h.shipper.lastOutcome?.lastError?.permanent, true);
});

Deno.test("managed lifecycle: a record Kinesis refuses is rejected alone; flushing goes on", async () => {
  const invalid = new KinesisRequestError("record refused", {
    outcomeKnown: true,
    permanent: true,
    code: "ValidationException",
  });
  // Kinesis refuses, whole, any request that holds the event "e2".
  const refuseBad: PutterAnswer = (entries, signal) =>
    entries.some((entry) =>
        new TextDecoder().decode(entry.data).startsWith("e2 ")
      )
      ? Promise.reject(invalid)
      : storeAll(entries, signal);
  const h = harness({
    answers: () => Array.from({ length: 50 }, () => refuseBad),
    format: "json",
    shutdownAfterMs: 2_000,
  });
  const run = h.run();
  h.add(5);
  // Events that arrive after the refusal are still shipped: a record at
  // fault does not stop the shipper as a stream-blocking error does.
  h.time.timers.setTimeout(() => h.add(3), 1_000);
  await h.time.drive(run);
  assert.equal(h.stats.dropped.kinesis_rejected, 1);
  assert.equal(h.stats.delivered, 7);
  assert.equal(h.buffer.length, 0);
});

Deno.test("managed lifecycle: a stop signal drains like SHUTDOWN", async () => {
  const h = harness({ answers: () => [storeAll] });
  const stop = new AbortController();
  const run = runWithApi(h, {
    next: (signal) =>
      new Promise((_, reject) =>
        signal?.addEventListener("abort", () => reject(new Error("aborted")))
      ),
    exitError: () => Promise.resolve(),
  }, stop.signal);
  h.add(4);
  h.time.timers.setTimeout(() => stop.abort(), 10);
  assert.deepEqual(await h.time.drive(run), { exitCode: 0, reason: "SIGNAL" });
  assert.equal(h.stats.delivered, 4);
});

Deno.test("managed lifecycle: event/next failing again and again ends with exit/error", async () => {
  const h = harness({ answers: () => [storeAll] });
  const exitErrors: string[] = [];
  const run = runWithApi(h, {
    next: () => Promise.reject(new Error("connection refused")),
    exitError: (errorType) => {
      exitErrors.push(errorType);
      return Promise.resolve();
    },
  });
  h.add(1);
  const result = await h.time.drive(run);
  assert.equal(result.exitCode, 1);
  assert.match(result.reason, /event\/next failed 5 times/);
  assert.deepEqual(exitErrors, ["Extension.EventNextFailed"]);
  assert.equal(h.stats.delivered, 1, "what was buffered is still shipped");
});
