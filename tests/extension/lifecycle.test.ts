import assert from "node:assert/strict";
import { EventBuffer, sizeOf } from "../../extension/buffer.ts";
import {
  ExtensionsApiClient,
  type LifecycleEvent,
} from "../../extension/extensions_api.ts";
import { Flusher } from "../../extension/flusher.ts";
import { KinesisRequestError } from "../../extension/kinesis_client.ts";
import {
  gatheringMs,
  type LifecycleApi,
  type LifecycleConfig,
  type LifecycleResult,
  NEXT_ATTEMPTS,
  runLifecycle,
  RUNTIME_SILENCE_MS,
  SIGNAL_SHUTDOWN_MS,
  UNANSWERED_FLUSHES,
} from "../../extension/lifecycle.ts";
import { InvocationProgress } from "../../extension/progress.ts";
import { DEFAULT_RETRY_POLICY } from "../../extension/sender.ts";
import { Stats } from "../../extension/stats.ts";
import type { BufferedEvent } from "../../extension/types.ts";
import { startScriptedApi } from "../helpers/scripted_extensions_api.ts";
import {
  after,
  captureLog,
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

const DEFAULT_CONFIG: LifecycleConfig = {
  flush: "invoke",
  maxHoldMs: 200,
  backlog: "extend",
  backlogHoldMs: 1_000,
  shutdownMarginMs: 150,
  types: ["platform", "function", "extension"],
  buffering: { maxItems: 1000, maxBytes: 262_144, timeoutMs: 100 },
};

/** One answer of the fake `/event/next`. */
interface Step {
  /** The event (built at serve time from the fake clock) or a failure. */
  event: ((now: number) => LifecycleEvent) | Error;
  /** Fake time the call blocks before answering (an idle environment). */
  afterMs?: number;
  /** Runs when the event is handed out (telemetry arriving, signals…). */
  then?: () => void;
}

/** What the loop looked like each time it called `/event/next`. */
interface NextCall {
  at: number;
  /** A flush was running. */
  flushing: boolean;
  /** PutRecords requests neither answered nor aborted. */
  inFlight: number;
  /** Requests the flusher carries across this call. */
  carried: number;
  /** PutRecords calls made so far. */
  putCalls: number;
  /** Kinesis connections were released since the previous call. */
  released: boolean;
}

const invoke = (requestId: string, deadlineInMs = 3_000) => (now: number) =>
  ({ eventType: "INVOKE", requestId, deadlineMs: now + deadlineInMs }) as const;
const shutdown = (deadlineInMs = 2_000, reason = "SPINDOWN") => (now: number) =>
  ({
    eventType: "SHUTDOWN",
    shutdownReason: reason,
    deadlineMs: now + deadlineInMs,
  }) as const;

/** An in-memory Extensions API on fake time, following a script. */
function harness(options: {
  steps: Step[];
  /** Putter answers; a function gets the fake time (for slow answers). */
  answers: PutterAnswer[] | ((time: FakeTime) => PutterAnswer[]);
  config?: Partial<LifecycleConfig>;
  stop?: AbortSignal;
  exitErrorFails?: boolean;
  /** Gathering while the runtime runs; 0 (each delivery sent as it comes) unless a test is about it. */
  gatherMs?: number;
}) {
  const time = fakeTime();
  const start = time.now();
  const buffer = new EventBuffer(1 << 24);
  const stats = new Stats();
  const progress = new InvocationProgress(time.timers);
  const answers = typeof options.answers === "function"
    ? options.answers(time)
    : options.answers;
  const putter = new ScriptedPutter(answers, time.now);
  const log = captureLog("debug");
  const flusher = new Flusher({
    buffer,
    format: "json",
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
  });
  const steps = [...options.steps];
  const nextCalls: NextCall[] = [];
  const served: { at: number; event: LifecycleEvent | Error }[] = [];
  const exitErrors: [string, string][] = [];
  let released = false;
  const api: LifecycleApi = {
    next(signal) {
      nextCalls.push({
        at: time.now(),
        flushing: flusher.busy,
        inFlight: putter.inFlight,
        carried: flusher.carried.size,
        putCalls: putter.calls.length,
        released,
      });
      released = false;
      const step = steps.shift();
      return new Promise((resolve, reject) => {
        const abort = () => reject(new DOMException("aborted", "AbortError"));
        if (signal?.aborted) return abort();
        signal?.addEventListener("abort", abort, { once: true });
        // With the script exhausted the call blocks, as an idle Lambda would.
        if (!step) return;
        time.timers.setTimeout(() => {
          signal?.removeEventListener("abort", abort);
          const event = step.event instanceof Error
            ? step.event
            : step.event(time.now());
          served.push({ at: time.now(), event });
          step.then?.();
          if (event instanceof Error) reject(event);
          else resolve(event);
        }, step.afterMs ?? 0);
      });
    },
    exitError(errorType, message) {
      exitErrors.push([errorType, message]);
      return options.exitErrorFails
        ? Promise.reject(new Error("exit/error refused"))
        : Promise.resolve();
    },
  };
  /** A delivery of `texts` (one event each) arrives now. */
  const add = (...texts: string[]) => {
    const events = texts.map((text) => eventOf(text, "k", time.now()));
    progress.deliveryStarted(time.now());
    assert.ok(buffer.offer(events, sizeOf(events)));
    stats.received += events.length;
    progress.deliveryEnded(time.now());
  };
  /**
   * A delivery of `texts` and `runtimeDone <requestId>` (noted as the
   * listener does, before the delivery is answered), now or `inMs` later.
   */
  const delivery = (requestId: string, ...texts: string[]) => {
    const all = [...texts, `runtimeDone ${requestId}`];
    const events = all.map((text) => eventOf(text, "k", time.now()));
    progress.deliveryStarted(time.now());
    assert.ok(buffer.offer(events, sizeOf(events)));
    stats.received += events.length;
    progress.note("platform.runtimeDone", requestId);
    progress.deliveryEnded(time.now());
  };
  /** `report <requestId>` arrives with its platform.report, now or `inMs` later. */
  const report = (requestId: string, inMs?: number) => {
    const arrive = () => {
      add(`report ${requestId}`);
      progress.note("platform.report", requestId);
    };
    if (inMs === undefined) arrive();
    else time.timers.setTimeout(arrive, inMs);
  };
  let endedAt = -1;
  return {
    time,
    start,
    buffer,
    stats,
    progress,
    putter,
    flusher,
    log,
    nextCalls,
    served,
    exitErrors,
    add,
    delivery,
    report,
    /** Fake time when the loop returned. */
    endedAt: () => endedAt,
    /** Runs the loop to its end on fake time. */
    run: (): Promise<LifecycleResult> =>
      time.drive(
        runLifecycle({
          api,
          buffer,
          flusher,
          progress,
          stats,
          logger: log.logger,
          config: { ...DEFAULT_CONFIG, ...options.config },
          now: time.now,
          timers: time.timers,
          stop: options.stop,
          beforeNext: () => {
            released = true;
          },
          gatherMs: options.gatherMs ?? 0,
        }).then((result) => {
          endedAt = time.now();
          return result;
        }),
      ),
  };
}

/**
 * A function logging: `line 1` … `line N` delivered 100 ms apart from the
 * INVOKE; with `done`, the last line comes at `doneAt` with the
 * invocation's runtimeDone.
 */
function logEvery100Ms(
  h: ReturnType<typeof harness>,
  lines: number,
  done?: { requestId: string; doneAt: number },
): void {
  const plain = done ? lines - 1 : lines;
  for (let i = 1; i <= plain; i++) {
    h.time.timers.setTimeout(() => h.add(`line ${i}`), 100 * i);
  }
  if (done) {
    h.time.timers.setTimeout(
      () => h.delivery(done.requestId, `line ${lines}`),
      done.doneAt,
    );
  }
}

/**
 * r1 (no events), `idleMs` of idle time, r2 with one event "x" (so the
 * flush at r2 can be timed against r1's report), SHUTDOWN 500 ms later.
 */
function idleThenSecondInvocation(
  idleMs: number,
  config?: Partial<LifecycleConfig>,
) {
  const h = harness({
    steps: [
      { event: invoke("r1") },
      { event: invoke("r2"), afterMs: idleMs, then: () => h.add("x") },
      { event: shutdown(), afterMs: 500 },
    ],
    answers: [storeAll],
    config,
  });
  return h;
}

/**
 * Every `/event/next` call found no flush running, no request in flight,
 * and the Kinesis connections released just before it (none kept across a
 * possible freeze).
 */
function assertOnlyCarriedInFlight(calls: readonly NextCall[]) {
  calls.forEach((call, i) => {
    assert.equal(call.flushing, false, `flush running at next call ${i}`);
    assert.equal(
      call.inFlight,
      call.carried,
      `request in flight and not carried at next call ${i}`,
    );
    assert.equal(call.released, true, `connections kept at next call ${i}`);
  });
}

Deno.test("lifecycle: buffered events are flushed at INVOKE, before /event/next", async () => {
  const h = harness({
    steps: [
      { event: invoke("r1"), then: () => h.add("a", "b") },
      { event: shutdown() },
    ],
    answers: [storeAll],
  });
  const result = await h.run();
  assert.deepEqual(result, { exitCode: 0, reason: "SHUTDOWN SPINDOWN" });
  assert.deepEqual(h.putter.calls.map((c) => c.texts), [["a", "b"]]);
  assert.equal(h.putter.calls[0].at, h.served[0].at);
  assert.equal(h.nextCalls.length, 2);
  assert.equal(h.nextCalls[1].putCalls, 1, "flushed before the next call");
  assertOnlyCarriedInFlight(h.nextCalls);
  assert.equal(h.stats.invocations, 1);
  assert.equal(h.stats.delivered, 2);
  assert.equal(h.buffer.length, 0);
});

Deno.test("lifecycle: an empty buffer costs no request and no wait", async () => {
  const h = harness({
    steps: [{ event: invoke("r1") }, { event: shutdown() }],
    answers: [storeAll],
    config: { types: ["function"] },
  });
  await h.run();
  assert.equal(h.putter.calls.length, 0);
  assert.equal(h.nextCalls[1].at, h.served[0].at);
});

Deno.test("lifecycle: a request unanswered at the hold is carried across /event/next, not sent again", async () => {
  const h = harness({
    steps: [
      { event: invoke("r1"), then: () => h.add("a") },
      { event: invoke("r2"), afterMs: 10, then: () => h.add("b") },
      { event: invoke("r3"), afterMs: 10, then: () => h.add("c") },
      { event: shutdown(), afterMs: 10 },
    ],
    // Quick, slower than the hold (answered while the loop waits), quick.
    answers: (time) => [
      after(120, time.timers, storeAll),
      after(600, time.timers, storeAll),
      storeAll,
    ],
    config: { types: ["function", "extension"] },
  });
  await h.run();
  assert.equal(h.nextCalls.length, 4);
  assertOnlyCarriedInFlight(h.nextCalls);
  assert.deepEqual(
    h.nextCalls.map((call) => call.carried),
    [0, 0, 1, 1],
    "b's request carried over the next two calls",
  );
  // Held no longer than the hold.
  assert.equal(h.nextCalls[2].at - h.served[1].at, DEFAULT_CONFIG.maxHoldMs);
  assert.deepEqual(h.putter.calls.map((c) => c.texts), [["a"], ["b"], ["c"]]);
  assert.equal(h.putter.resets, 0, "nothing given up");
  assert.equal(h.stats.delivered, 3);
  assert.equal(h.stats.possibleDuplicates, 0);
  assert.equal(h.stats.carriedRequests, 1);
  assert.equal(h.stats.carriedDelivered, 1);
  assert.equal(h.flusher.carried.size, 0);
  assert.equal(h.buffer.length, 0);
});

/**
 * A harness whose first invocation logs one line, `a` (function logs only),
 * followed by `later` steps.
 */
function oneInvocationLoggingA(
  later: Step[],
  answers: PutterAnswer[] | ((time: FakeTime) => PutterAnswer[]),
) {
  const h = harness({
    steps: [{ event: invoke("r1"), then: () => h.add("a") }, ...later],
    answers,
    config: { types: ["function"] },
  });
  return h;
}

Deno.test("lifecycle: a carried request's time runs only while the loop is awake", async () => {
  // Answered 5.5 s after it was sent, 5 s of which the loop spent in
  // /event/next (maybe frozen): still within its awake time.
  const h = oneInvocationLoggingA(
    [
      { event: invoke("r2"), afterMs: 5_000 },
      { event: shutdown(), afterMs: 1_000 },
    ],
    (time) => [after(5_500, time.timers, storeAll)],
  );
  await h.run();
  assertOnlyCarriedInFlight(h.nextCalls);
  assert.equal(h.putter.calls.length, 1, "not sent again");
  assert.equal(h.stats.delivered, 1);
  assert.equal(h.stats.carriedDelivered, 1);
  assert.equal(h.stats.possibleDuplicates, 0);
});

Deno.test("lifecycle: a carried request unanswered for its awake time goes again, as a possible duplicate", async () => {
  // A shutdown long enough for the carried request's awake time.
  const h = oneInvocationLoggingA(
    [{ event: shutdown(10_000), afterMs: 10 }],
    [hang, storeAll],
  );
  await h.run();
  assert.deepEqual(h.putter.calls.map((c) => c.texts), [["a"], ["a"]]);
  // Sent 0 ms after the INVOKE, given up 5 s (requestTimeoutMs) later.
  assert.equal(
    h.putter.calls[1].at - h.putter.calls[0].at,
    DEFAULT_RETRY_POLICY.requestTimeoutMs + 10,
    "its time did not run during the 10 ms in /event/next",
  );
  assert.equal(h.stats.delivered, 1);
  assert.equal(h.stats.carriedRequests, 1);
  assert.equal(h.stats.carriedDelivered, 0);
  assert.equal(h.stats.possibleDuplicates, 1);
});

Deno.test("lifecycle: at SHUTDOWN a carried request gets half the time left, then its events go again before the deadline", async () => {
  // A long freeze, then SHUTDOWN: the carried request's connection may be
  // dead, and its own 4.8 s would outlast the deadline.
  const h = oneInvocationLoggingA(
    [{ event: shutdown(2_000), afterMs: 60_000 }],
    [hang, storeAll],
  );
  await h.run();
  const shutdownAt = h.served[1].at;
  const window = 2_000 - DEFAULT_CONFIG.shutdownMarginMs;
  assert.deepEqual(h.putter.calls.map((c) => c.texts), [["a"], ["a"]]);
  assert.equal(h.putter.calls[1].at - shutdownAt, window / 2);
  assert.equal(h.stats.delivered, 1);
  assert.equal(h.stats.possibleDuplicates, 1);
  assert.equal(h.stats.dropped.shutdown_deadline, 0);
});

Deno.test("lifecycle: at SHUTDOWN a delivery that comes while a carried request is awaited is flushed at once", async () => {
  const h = oneInvocationLoggingA(
    [{
      event: shutdown(2_000),
      afterMs: 10,
      // Past the quiet time (buffering timeout + slack): another
      // extension's last lines.
      then: () => h.time.timers.setTimeout(() => h.add("late"), 300),
    }],
    [hang, storeAll],
  );
  await h.run();
  const shutdownAt = h.served[1].at;
  const late = h.putter.calls.find((c) => c.texts.includes("late"));
  assert.ok(late, "late lines sent");
  assert.equal(late.at - shutdownAt, 300, "not after the carried request");
  assert.equal(h.stats.delivered, 2);
});

Deno.test("lifecycle: a hanging putter never holds an invocation past maxHoldMs", async () => {
  const h = harness({
    steps: [
      // A light first invocation (its runtimeDone came at once).
      { event: invoke("r1"), then: () => h.delivery("r1", "a") },
      { event: invoke("r2"), afterMs: 1_000, then: () => h.add("b") },
      // A deadline sooner than the hold bounds the hold too.
      { event: invoke("r3", 80), afterMs: 1_000, then: () => h.add("c") },
      { event: shutdown(), afterMs: 1_000 },
    ],
    answers: [hang],
    config: { maxHoldMs: 200 },
  });
  await h.run();
  const holds = h.served.slice(0, 3).map((served, i) =>
    h.nextCalls[i + 1].at - served.at
  );
  assert.ok(holds[0] <= 200, `hold ${holds[0]}`);
  assert.ok(holds[1] <= 200, `hold ${holds[1]}`);
  assert.ok(holds[2] <= 80, `hold ${holds[2]}`);
  // The bound was reached, not idled through: the request was tried.
  assert.ok(holds[0] >= 190, `hold ${holds[0]}`);
  assertOnlyCarriedInFlight(h.nextCalls);
  // Two requests carried; the third could not be (the set is full).
  assert.deepEqual(h.nextCalls.map((call) => call.carried), [0, 1, 2, 2]);
  assert.ok(h.putter.resets >= 1);
  assert.ok(h.stats.flushesCutShort >= 3);
  assert.equal(h.stats.delivered, 0);
  assert.equal(h.flusher.carried.size, 0, "given up at the deadline");
  // Nothing is lost: the events wait in the buffer, oldest first.
  assert.deepEqual(
    h.buffer.takeAll().map((e) => new TextDecoder().decode(e.data)),
    ["a", "runtimeDone r1", "b", "c"],
  );
});

Deno.test("lifecycle: a report already received costs no wait", async () => {
  const h = harness({
    steps: [
      { event: invoke("r1") },
      {
        event: invoke("r2"),
        afterMs: 500,
        then: () => h.report("r1"),
      },
      { event: shutdown(), afterMs: 500 },
    ],
    answers: [storeAll],
  });
  await h.run();
  assert.equal(h.putter.calls[0].at, h.served[1].at);
  assert.equal(h.nextCalls[2].at, h.served[1].at);
});

Deno.test("lifecycle: back-to-back invocations do not wait for the previous report", async () => {
  // Idle for less than the buffering timeout: the report may come only
  // later, and the next invocation (soon) ships it.
  const h = idleThenSecondInvocation(60);
  await h.run();
  assert.equal(h.putter.calls[0].at, h.served[1].at);
});

Deno.test("lifecycle: a report later than the hold never starves the flush", async () => {
  const slowBuffering = { maxItems: 1000, maxBytes: 262_144, timeoutMs: 1000 };
  const h = harness({
    steps: [
      { event: invoke("r1"), then: () => h.delivery("r1", "a") },
      { event: invoke("r2"), afterMs: 5_000, then: () => h.add("b") },
      { event: invoke("r3"), afterMs: 5_000, then: () => h.add("c") },
      { event: shutdown(), afterMs: 5_000 },
    ],
    answers: [storeAll],
    config: { maxHoldMs: 200, buffering: slowBuffering },
  });
  await h.run();
  // Each invocation ships its events within its own hold, report or not.
  assert.deepEqual(
    h.putter.calls.map((c) => c.texts),
    [["a", "runtimeDone r1"], ["b"], ["c"]],
  );
  for (let i = 1; i <= 3; i++) {
    assert.equal(h.nextCalls[i].putCalls, i);
    assert.ok(h.nextCalls[i].at - h.served[i - 1].at <= 200);
  }
});

Deno.test("lifecycle: without platform telemetry no report is awaited", async () => {
  const h = idleThenSecondInvocation(500, { types: ["function"] });
  await h.run();
  assert.equal(h.putter.calls[0].at, h.served[1].at);
});

Deno.test("lifecycle: the end strategy without platform telemetry behaves as invoke", async () => {
  const h = harness({
    steps: [{ event: invoke("r1"), then: () => h.add("a") }, {
      event: shutdown(),
    }],
    answers: [storeAll],
    config: { flush: "end", types: ["function"] },
  });
  await h.run();
  assert.equal(h.nextCalls[1].at, h.served[0].at);
  assert.equal(h.putter.calls.length, 1);
});

Deno.test("lifecycle: SHUTDOWN keeps retrying throttled entries until the deadline minus the margin", async () => {
  const h = harness({
    steps: [{ event: shutdown(2_000), then: () => h.add("stuck") }],
    answers: [failEntries([0])],
    config: { shutdownMarginMs: 150 },
  });
  const result = await h.run();
  assert.deepEqual(result, { exitCode: 0, reason: "SHUTDOWN SPINDOWN" });
  const limit = h.served[0].at + 2_000 - 150;
  assert.ok(h.putter.calls.length > 3, "kept retrying while time remained");
  for (const call of h.putter.calls) assert.ok(call.at < limit);
  assert.ok(h.endedAt() <= limit, `ended ${h.endedAt() - limit} ms late`);
  assert.ok(h.endedAt() >= limit - 200, "used the time it had");
  assert.equal(h.buffer.length, 1);
  const [warning] = h.log.withMsg(
    "events not delivered before the shutdown deadline",
  );
  assert.equal(warning.events, 1);
});

Deno.test("lifecycle: SHUTDOWN keeps retrying failed requests until the deadline minus the margin", async () => {
  const throttled = new KinesisRequestError("throttled", {
    outcomeKnown: true,
    permanent: false,
    code: "LimitExceededException",
  });
  const h = harness({
    steps: [{ event: shutdown(1_000), then: () => h.add("stuck") }],
    // A refusal takes a round trip, as over a network.
    answers: (time) => [after(1, time.timers, rejectWith(throttled))],
    config: { shutdownMarginMs: 100 },
  });
  await h.run();
  const limit = h.served[0].at + 1_000 - 100;
  for (const call of h.putter.calls) assert.ok(call.at < limit);
  assert.ok(h.endedAt() <= limit);
  assert.ok(h.endedAt() >= limit - 200, "used the time it had");
  assert.equal(h.buffer.length, 1);
});

Deno.test("lifecycle: the previous report is never waited for; one that arrives during the first flush goes within the same hold", async () => {
  for (const reportInMs of [5, undefined]) {
    const h = harness({
      steps: [
        { event: invoke("r1"), then: () => h.delivery("r1", "start r1") },
        {
          event: invoke("r2"),
          afterMs: 500,
          then: () => {
            h.add("x");
            if (reportInMs !== undefined) h.report("r1", reportInMs);
          },
        },
        { event: shutdown(), afterMs: 500 },
      ],
      // Kinesis answers after 20 ms.
      answers: (time) => [after(20, time.timers, storeAll)],
    });
    await h.run();
    const r2 = h.served[1].at;
    const calls = h.putter.calls.filter((c) => c.at >= r2 && c.at < r2 + 500)
      .map((c) => [c.at - r2, c.texts]);
    if (reportInMs === undefined) {
      assert.deepEqual(calls, [[0, ["x"]]]);
      assert.equal(h.nextCalls[2].at - r2, 20, "no wait for a report");
    } else {
      assert.deepEqual(calls, [[0, ["x"]], [20, ["report r1"]]]);
      assert.equal(h.nextCalls[2].at - r2, 40);
    }
  }
});

Deno.test("lifecycle: sparse light invocations return as soon as their flush is done", async () => {
  const h = idleThenSecondInvocation(500, { maxHoldMs: 400 });
  await h.run();
  assert.equal(h.putter.calls[0].at, h.served[1].at);
  assert.equal(h.nextCalls[2].at, h.served[1].at);
});

Deno.test("lifecycle: a heavy invocation keeps shipping while its runtime runs and returns once runtimeDone arrived", async () => {
  const h = harness({
    steps: [
      {
        event: invoke("r1"),
        // A function logging for a second: a delivery every 100 ms.
        then: () => logEvery100Ms(h, 10, { requestId: "r1", doneAt: 1_000 }),
      },
      { event: shutdown(), afterMs: 100 },
    ],
    answers: (time) => [after(10, time.timers, storeAll)],
  });
  await h.run();
  const r1 = h.served[0].at;
  // Every delivery shipped while the function ran, not at the next INVOKE.
  assert.deepEqual(
    h.putter.calls.map((c) => [c.at - r1, c.texts]),
    [
      ...Array.from(
        { length: 9 },
        (_, i) => [100 * (i + 1), [`line ${i + 1}`]],
      ),
      [1_000, ["line 10", "runtimeDone r1"]],
    ],
  );
  // Back right after the request under way when runtimeDone came.
  assert.equal(h.nextCalls[1].at - r1, 1_010);
  assertOnlyCarriedInFlight(h.nextCalls);
});

Deno.test("lifecycle: once an invocation ran for gatherMs, deliveries gather into fewer requests until the oldest waited gatherMs; runtimeDone sends the rest within the hold", async () => {
  const h = harness({
    steps: [
      {
        event: invoke("r1"),
        // A function logging for 1.5 s: a delivery every 100 ms.
        then: () => logEvery100Ms(h, 15, { requestId: "r1", doneAt: 1_550 }),
      },
      { event: shutdown(), afterMs: 100 },
    ],
    answers: (time) => [after(10, time.timers, storeAll)],
    gatherMs: 500,
    // Not the backlog extension: the flush at runtimeDone is gathering's own.
    config: { backlog: "drop" },
  });
  await h.run();
  const r1 = h.served[0].at;
  const lines = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => `line ${from + i}`);
  assert.deepEqual(
    h.putter.calls.map((c) => [c.at - r1, c.texts]),
    [
      // The first 500 ms: each delivery as it comes (a short invocation
      // pays nothing for gathering).
      ...[1, 2, 3, 4].map((i) => [100 * i, [`line ${i}`]]),
      // Then line 5 waits 500 ms for lines 6–10, line 11 for lines 12–14
      // until runtimeDone came, which sent them at once.
      [1_000, lines(5, 10)],
      [1_550, [...lines(11, 15), "runtimeDone r1"]],
    ],
  );
  assert.equal(h.nextCalls[1].at - r1, 1_560);
  assertOnlyCarriedInFlight(h.nextCalls);
});

Deno.test("lifecycle: gathering never waits past the invocation's deadline", async () => {
  const h = harness({
    steps: [
      {
        // Its deadline 700 ms after INVOKE; runtimeDone never comes.
        event: invoke("r1", 700),
        then: () => logEvery100Ms(h, 6),
      },
      { event: shutdown(), afterMs: 100 },
    ],
    answers: (time) => [after(10, time.timers, storeAll)],
    gatherMs: 500,
  });
  await h.run();
  const r1 = h.served[0].at;
  const calls = h.putter.calls.map((c) => [c.at - r1, c.texts]);
  // Line 5 would have gathered until 1,000 ms, past the deadline: it and
  // line 6 go while a flush still fits before it.
  assert.deepEqual(calls.slice(-1)[0][1], ["line 5", "line 6"]);
  const lastAt = calls.slice(-1)[0][0] as number;
  assert.ok(lastAt >= 600 && lastAt <= 690, `sent at ${lastAt}`);
});

Deno.test("lifecycle: gathering starts gatherMs into the invocation and stops at a quarter of the buffer bound", () => {
  const buffer = new EventBuffer(4_000);
  const event = (receivedAt: number) => ({
    data: new Uint8Array(500),
    partitionKey: "k",
    receivedAt,
    uncertain: false,
  });
  assert.equal(gatheringMs(buffer, 500, 0, 1_000), 0, "nothing to gather");
  assert.ok(buffer.offer([event(1_000)], 500));
  assert.equal(gatheringMs(buffer, 500, 0, 1_100), 400);
  assert.equal(gatheringMs(buffer, 500, 700, 1_100), 0, "invoked 400 ms ago");
  assert.equal(gatheringMs(buffer, 0, 0, 1_100), 0, "gathering off");
  assert.equal(
    gatheringMs(buffer, 500, 0, 1_600),
    0,
    "the oldest waited long enough",
  );
  assert.ok(buffer.offer([event(1_100), event(1_100)], 1_000));
  assert.equal(
    gatheringMs(buffer, 500, 0, 1_200),
    0,
    "a quarter of 4,000 bytes is buffered",
  );
});

Deno.test("lifecycle: a light invocation (after a light one) does not wait for its runtimeDone", async () => {
  const h = harness({
    steps: [
      { event: invoke("r1"), then: () => h.delivery("r1", "a") },
      { event: invoke("r2"), afterMs: 500, then: () => h.add("b") },
      { event: shutdown(), afterMs: 500 },
    ],
    answers: [storeAll],
  });
  await h.run();
  assert.equal(h.nextCalls[1].at, h.served[0].at);
  assert.equal(h.nextCalls[2].at, h.served[1].at);
});

Deno.test("lifecycle: after a heavy cycle the next invocation stays too; a runtimeDone that never comes, with nothing turned away, is waited for RUNTIME_SILENCE_MS after the last delivery", async () => {
  const lines = Array.from({ length: 1_000 }, (_, i) => `line ${i}`);
  const h = harness({
    steps: [
      {
        event: invoke("r1"),
        then: () =>
          h.time.timers.setTimeout(() => h.delivery("r1", ...lines), 10),
      },
      {
        event: invoke("r2"),
        afterMs: 500,
        then: () => h.time.timers.setTimeout(() => h.add("late"), 50),
      },
      { event: shutdown(), afterMs: 500 },
    ],
    answers: [storeAll],
  });
  await h.run();
  const r2 = h.served[1].at;
  // Not the buffering timeout + the hold (300 ms): on a 128 MB function the
  // runtime falls silent that long while it still runs.
  assert.equal(h.nextCalls[2].at - r2, 50 + RUNTIME_SILENCE_MS);
  assert.ok(h.putter.calls.some((c) => c.texts.includes("late")));
});

Deno.test("lifecycle: a heavy invocation whose deliveries are refused (runtimeDone may be queued behind them) stays at most backlogHoldMs after the first refusal unless deliveries get through again; at once with backlog=drop", async () => {
  for (
    const [backlog, pattern, expected] of [
      // From 300 ms on every delivery is refused: nothing shows that
      // Lambda's deliveries get through (runtimeDone may be stuck), and the
      // invocation ends once none was accepted for the quiet time (the
      // last accepted at 200 ms + 300 ms), within the cap of 300 + 1,000.
      ["extend", "all refused", 200 + 300],
      ["drop", "all refused", 300],
      // Every other one is refused: deliveries still get through (the
      // runtime is still logging), so the invocation keeps shipping, here
      // until the invocation's deadline (3 s).
      ["extend", "every other refused", 3_000],
      ["drop", "every other refused", 300],
    ] as const
  ) {
    const h = harness({
      steps: [
        {
          event: invoke("r1"),
          then: () => {
            for (let i = 1; i <= 50; i++) {
              h.time.timers.setTimeout(() => {
                const refused = i >= 3 &&
                  (pattern === "all refused" || i % 2 === 1);
                if (refused) {
                  h.progress.deliveryStarted(h.time.now());
                  h.stats.refusedDeliveries++;
                  h.progress.deliveryEnded(h.time.now(), false);
                } else h.add(`line ${i}`);
              }, 100 * i);
            }
          },
        },
        { event: shutdown(), afterMs: 10 },
      ],
      answers: [storeAll],
      config: { backlog, backlogHoldMs: 1_000 },
    });
    await h.run();
    assert.equal(
      h.nextCalls[1].at - h.served[0].at,
      expected,
      `${backlog}, ${pattern}`,
    );
  }
});

Deno.test("lifecycle: a heavy invocation's request hanging when runtimeDone arrives is given up after the hold", async () => {
  const h = harness({
    steps: [
      {
        event: invoke("r1", 30_000),
        then: () => {
          h.add("a");
          h.time.timers.setTimeout(() => h.add("b"), 250);
          h.time.timers.setTimeout(() => h.delivery("r1", "c"), 300);
        },
      },
      { event: shutdown(), afterMs: 10 },
    ],
    // The hold's request is answered; the next one, sent while the runtime
    // runs, never is: only the cut ends it.
    answers: [storeAll, hang, storeAll],
  });
  await h.run();
  // runtimeDone at 300 ms, then the 200 ms hold: not the 2 s flush window.
  assert.equal(h.nextCalls[1].at - h.served[0].at, 300 + 200);
  assert.deepEqual(h.putter.calls[1].texts, ["b"]);
  assert.equal(h.putter.calls[1].signal.aborted, true);
  assertOnlyCarriedInFlight(h.nextCalls);
});

Deno.test("lifecycle: the end strategy flushes while waiting for runtimeDone, then once more", async () => {
  const h = harness({
    steps: [
      {
        event: invoke("r1"),
        then: () => {
          h.add("before");
          h.time.timers.setTimeout(() => h.add("output"), 200);
          h.time.timers.setTimeout(() => h.delivery("r1", "last"), 400);
        },
      },
      {
        event: invoke("r2"),
        afterMs: 100,
        then: () =>
          h.time.timers.setTimeout(() => h.delivery("r2", "only"), 60),
      },
      { event: shutdown(), afterMs: 100 },
    ],
    answers: [storeAll],
    config: { flush: "end" },
  });
  await h.run();
  const r2 = h.served[1].at;
  assert.deepEqual(
    h.putter.calls.map((c) => [c.at - h.start, c.texts]),
    [
      [0, ["before"]],
      [200, ["output"]],
      [400, ["last", "runtimeDone r1"]],
      [r2 - h.start + 60, ["only", "runtimeDone r2"]],
    ],
  );
  assert.equal(h.nextCalls[1].at - h.start, 400);
  assert.equal(h.nextCalls[2].at - r2, 60);
  assertOnlyCarriedInFlight(h.nextCalls);
});

Deno.test("lifecycle: the end strategy waits for a refused or late runtimeDone at most the buffering timeout + the hold, and never past the deadline", async () => {
  for (const [deadlineIn, expected] of [[10_000, 300], [250, 250]]) {
    const h = harness({
      steps: [
        // The first invocation is heavy (nothing known yet); the second,
        // after a light cycle, is not.
        { event: invoke("r0"), then: () => h.delivery("r0", "first") },
        {
          event: invoke("r1", deadlineIn),
          afterMs: 100,
          then: () => h.add("a"),
        },
        { event: shutdown(), afterMs: 100 },
      ],
      answers: [storeAll],
      config: { flush: "end" },
    });
    await h.run();
    assert.equal(h.nextCalls[2].at - h.served[1].at, expected);
    assert.ok(
      h.putter.calls.some((call) =>
        call.at === h.served[1].at && call.texts.includes("a")
      ),
      "flushed meanwhile",
    );
  }
});

Deno.test("lifecycle: a heavy invocation without runtimeDone stays RUNTIME_SILENCE_MS after its last delivery while nothing was turned away, the buffering timeout + the hold after a rejected one", async () => {
  for (const rejected of [false, true]) {
    const h = harness({
      steps: [
        {
          event: invoke("r1"),
          then: () => {
            h.add("a");
            // A body rejected with a 4xx after the INVOKE: it may have
            // carried runtimeDone.
            if (rejected) {
              h.time.timers.setTimeout(() => {
                h.progress.deliveryStarted(h.time.now());
                h.stats.rejectedBodies++;
                h.progress.deliveryEnded(h.time.now(), false);
              }, 10);
            }
          },
        },
        { event: shutdown(), afterMs: 100 },
      ],
      answers: [storeAll],
    });
    await h.run();
    assert.equal(
      h.nextCalls[1].at - h.served[0].at,
      rejected ? 300 : RUNTIME_SILENCE_MS,
      rejected ? "rejected" : "nothing turned away",
    );
  }
});

Deno.test("lifecycle: the end strategy's last flush ends by the invocation deadline", async () => {
  const h = harness({
    steps: [
      {
        event: invoke("r1", 1_000),
        then: () => {
          for (let i = 1; i <= 9; i++) {
            h.time.timers.setTimeout(() => h.add(`output ${i}`), 100 * i);
          }
          h.time.timers.setTimeout(() => h.delivery("r1", "last"), 950);
        },
      },
      { event: shutdown(), afterMs: 100 },
    ],
    // Kinesis answers in 10 ms, but takes 500 ms from 950 ms on.
    answers: (time) => {
      const start = time.now();
      return [(entries, signal) =>
        after(
          time.now() - start >= 950 ? 500 : 10,
          time.timers,
          storeAll,
        )(entries, signal)];
    },
    config: { flush: "end" },
  });
  await h.run();
  const last = h.putter.calls.find((c) => c.texts.includes("last"))!;
  assert.equal(last.at - h.served[0].at, 950);
  assert.ok(
    h.nextCalls[1].at - h.served[0].at <= 1_000,
    `back in /event/next ${h.nextCalls[1].at - h.served[0].at} ms after INVOKE`,
  );
  assertOnlyCarriedInFlight(h.nextCalls);
});

Deno.test("lifecycle: a backlog the hold cannot drain is drained up to backlogHoldMs with backlog=extend, left with backlog=drop", async () => {
  for (const backlog of ["extend", "drop"] as const) {
    const lines = Array.from(
      { length: 3_000 },
      (_, i) => `${i}${"x".repeat(1000)}`,
    );
    const h = harness({
      steps: [
        { event: invoke("r1"), then: () => h.delivery("r1", ...lines) },
        { event: shutdown(5_000), afterMs: 100 },
      ],
      // 1 ms per KB: 3 MB take 3 s, more than the hold and the cap.
      answers: (time) => [(entries, signal) =>
        after(
          Math.ceil(entries.reduce((n, e) => n + e.data.byteLength, 0) / 1000),
          time.timers,
          storeAll,
        )(entries, signal)],
      config: { backlog, maxHoldMs: 200, backlogHoldMs: 1_000 },
    });
    await h.run();
    const hold = h.nextCalls[1].at - h.served[0].at;
    const shipped = h.nextCalls[1].putCalls;
    if (backlog === "extend") {
      assert.ok(hold > 200 && hold <= 1_000, `hold ${hold}`);
    } else {
      assert.ok(hold <= 200, `hold ${hold}`);
    }
    assert.ok(shipped > 0);
    assertOnlyCarriedInFlight(h.nextCalls);
    // Whatever the policy, SHUTDOWN ships the rest.
    assert.equal(h.stats.delivered, 3_001);
  }
});

Deno.test("lifecycle: SHUTDOWN delivers what is buffered and keeps listening until no delivery came for the buffering timeout", async () => {
  const h = harness({
    steps: [
      { event: invoke("r1"), then: () => h.delivery("r1") },
      {
        event: shutdown(),
        afterMs: 1_000,
        then: () => {
          h.add("thaw");
          h.report("r1", 60);
          // Lines of the runtime's SIGTERM handler, then another extension's.
          h.time.timers.setTimeout(() => h.add("sigterm handler"), 140);
          h.time.timers.setTimeout(() => h.add("other extension"), 230);
        },
      },
    ],
    answers: [storeAll],
  });
  await h.run();
  assert.deepEqual(
    h.putter.calls.slice(1).map((c) => [c.at - h.served[1].at, c.texts]),
    [
      [0, ["thaw"]],
      [60, ["report r1"]],
      [140, ["sigterm handler"]],
      [230, ["other extension"]],
    ],
  );
  assert.equal(h.endedAt() - h.served[1].at, 230 + 100 + 25);
  assert.equal(h.buffer.length, 0);
  assert.equal(
    h.log.withMsg("events not delivered before the shutdown deadline").length,
    0,
  );
});

Deno.test("lifecycle: SHUTDOWN stops listening by the deadline minus the margin, however deliveries keep coming", async () => {
  const h = harness({
    steps: [
      { event: invoke("r1"), then: () => h.delivery("r1") },
      {
        event: shutdown(1_000),
        afterMs: 100,
        then: () => {
          for (let i = 1; i < 100; i++) {
            h.time.timers.setTimeout(() => h.add(`line ${i}`), 40 * i);
          }
        },
      },
    ],
    answers: [storeAll],
    config: { shutdownMarginMs: 150 },
  });
  await h.run();
  assert.ok(h.endedAt() - h.served[1].at <= 850, `${h.endedAt()}`);
  assert.ok(h.endedAt() - h.served[1].at >= 800);
});

Deno.test("lifecycle: a permanent error ends the shutdown flush at once", async () => {
  const denied = new KinesisRequestError("denied", {
    outcomeKnown: true,
    permanent: true,
    code: "AccessDeniedException",
  });
  const h = harness({
    steps: [{ event: shutdown(), then: () => h.add("a") }],
    answers: [rejectWith(denied)],
  });
  await h.run();
  assert.equal(h.putter.calls.length, 1);
  assert.equal(h.endedAt(), h.served[0].at);
  const [warning] = h.log.withMsg(
    "events not delivered before the shutdown deadline",
  );
  assert.equal(warning.error, "denied");
});

Deno.test("lifecycle: /event/next failing once is retried after a short pause", async () => {
  const h = harness({
    steps: [
      { event: new Error("connection reset") },
      { event: invoke("r1") },
      { event: shutdown() },
    ],
    answers: [storeAll],
  });
  const result = await h.run();
  assert.equal(result.exitCode, 0);
  assert.equal(h.nextCalls.length, 3);
  assert.equal(h.nextCalls[1].at - h.nextCalls[0].at, 100);
  assert.equal(h.stats.invocations, 1);
  const [warning] = h.log.withMsg("event/next failed");
  assert.equal(warning.attempt, 1);
});

Deno.test("lifecycle: /event/next failing 5 times flushes, reports exit/error and exits 1", async () => {
  const failures = Array.from(
    { length: NEXT_ATTEMPTS },
    (_, i): Step => ({ event: new Error(`down ${i + 1}`) }),
  );
  const h = harness({ steps: failures, answers: [storeAll] });
  h.add("buffered before");
  const result = await h.run();
  assert.equal(result.exitCode, 1);
  assert.match(result.reason, /event\/next failed 5 times: down 5/);
  const gaps = h.nextCalls.slice(1).map((call, i) =>
    call.at - h.nextCalls[i].at
  );
  assert.deepEqual(gaps, [100, 200, 400, 800]);
  assert.deepEqual(h.exitErrors.map(([type]) => type), [
    "Extension.EventNextFailed",
  ]);
  assert.match(h.exitErrors[0][1], /failed 5 times/);
  assert.deepEqual(h.putter.calls.map((c) => c.texts), [["buffered before"]]);
  assert.equal(h.stats.delivered, 1);
});

Deno.test("lifecycle: a refused exit/error still exits 1", async () => {
  const h = harness({
    steps: Array.from({ length: NEXT_ATTEMPTS }, () => ({
      event: new Error("down"),
    })),
    answers: [storeAll],
    exitErrorFails: true,
  });
  const result = await h.run();
  assert.equal(result.exitCode, 1);
  assert.equal(h.exitErrors.length, 1);
});

Deno.test("lifecycle: a stop signal while waiting in /event/next acts as a shutdown", async () => {
  const stop = new AbortController();
  const h = harness({
    steps: [
      {
        event: invoke("r1"),
        then: () =>
          h.time.timers.setTimeout(() => {
            h.add("late line");
            stop.abort();
          }, 5_000),
      },
    ],
    answers: [storeAll],
    stop: stop.signal,
    config: { types: ["function"] },
  });
  const result = await h.run();
  assert.deepEqual(result, { exitCode: 0, reason: "SHUTDOWN SIGNAL" });
  assert.deepEqual(h.putter.calls.map((c) => c.texts), [["late line"]]);
  assert.equal(h.putter.calls[0].at - h.start, 5_000);
  assert.ok(h.endedAt() - h.start <= 5_000 + SIGNAL_SHUTDOWN_MS);
});

Deno.test("lifecycle: a stop signal during an invocation ends the loop after its flush", async () => {
  const stop = new AbortController();
  const h = harness({
    steps: [
      {
        event: invoke("r1"),
        then: () => {
          h.add("a");
          stop.abort();
        },
      },
      { event: shutdown() },
    ],
    answers: [storeAll],
    stop: stop.signal,
  });
  const result = await h.run();
  assert.deepEqual(result, { exitCode: 0, reason: "SIGNAL" });
  assert.equal(h.nextCalls.length, 1, "no /event/next after the signal");
  assert.equal(h.stats.delivered, 1);
});

/**
 * The breaker's scenario: r1's flush stores nothing (`failing` answers), r2
 * comes 10 ms later, r3 1 s later when Kinesis is back, then `after` more
 * invocations 10 ms apart, each adding one event.
 */
async function breakerScenario(failing: PutterAnswer, after = 0) {
  let broken = true;
  const later = Array.from({ length: after }, (_, i) => ({
    event: invoke(`r${4 + i}`),
    afterMs: 10,
    then: () => h.add(`late${i}`),
  }));
  const h = harness({
    steps: [
      { event: invoke("r1"), then: () => h.add("a") },
      // Within 250 ms of the flush that stored nothing: paused.
      { event: invoke("r2"), afterMs: 10, then: () => h.add("b") },
      // Well past the pause: tried again, and Kinesis is back.
      {
        event: invoke("r3"),
        afterMs: 1_000,
        then: () => {
          broken = false;
          h.add("c");
        },
      },
      ...later,
      { event: shutdown(), afterMs: 10 },
    ],
    answers: [
      (entries, signal) =>
        broken ? failing(entries, signal) : storeAll(entries, signal),
    ],
    config: { types: ["function"] },
  });
  await h.run();
  return { h, callsBy: (n: number) => h.nextCalls[n].putCalls };
}

Deno.test("lifecycle: after failed flushes the breaker skips flushing for a while", async () => {
  const throttled = new KinesisRequestError("throttled", {
    outcomeKnown: true,
    permanent: false,
    code: "LimitExceededException",
  });
  const { h, callsBy } = await breakerScenario(
    () => Promise.reject(throttled),
    1,
  );
  assert.ok(callsBy(1) > 0, "r1 tried");
  assert.equal(callsBy(2), callsBy(1), "r2 paused by the breaker");
  assert.equal(
    h.nextCalls[2].at,
    h.served[1].at,
    "a paused flush costs no time",
  );
  assert.equal(callsBy(3), callsBy(2) + 1, "r3 tried and delivered");
  assert.equal(
    callsBy(4),
    callsBy(3) + 1,
    "the breaker closed after a success",
  );
  assert.equal(h.stats.delivered, 4);
});

Deno.test("lifecycle: a flush with every entry throttled pauses flushing too", async () => {
  const { h, callsBy } = await breakerScenario((entries, signal) =>
    failEntries(entries.map((_, i) => i))(entries, signal)
  );
  assert.ok(callsBy(1) > 1, "r1 retried the throttled entries");
  assert.equal(callsBy(2), callsBy(1), "r2 paused: no request");
  assert.ok(callsBy(3) > callsBy(2), "r3 tried again and delivered");
  assert.equal(h.stats.delivered, 3);
});

Deno.test("lifecycle: slowness is not an outage: unanswered flushes pause flushing only after UNANSWERED_FLUSHES in a row", async () => {
  // Kinesis holds every answer past the hold (it may be storing them).
  const steps = Array.from({ length: UNANSWERED_FLUSHES + 1 }, (_, i) => ({
    event: invoke(`r${i}`),
    afterMs: 10,
    then: () => h.add(`e${i}`),
  }));
  const h = harness({
    steps: [...steps, { event: shutdown(), afterMs: 10 }],
    answers: [hang],
    config: { types: ["function"] },
  });
  await h.run();
  for (let i = 1; i <= UNANSWERED_FLUSHES; i++) {
    assert.equal(h.nextCalls[i].putCalls, i, `r${i - 1} flushed`);
  }
  assert.equal(
    h.nextCalls[UNANSWERED_FLUSHES + 1].putCalls,
    UNANSWERED_FLUSHES,
    "then the breaker paused flushing",
  );
});

Deno.test("lifecycle: a carried request answered late counts as an answer for the breaker: no pause for silence", async () => {
  // The first requests are answered only after the breaker paused: Kinesis
  // was slow, not down, and flushing goes on at once.
  const steps = Array.from({ length: UNANSWERED_FLUSHES + 1 }, (_, i) => ({
    event: invoke(`r${i}`),
    afterMs: 10,
    then: () => h.add(`e${i}`),
  }));
  const h = harness({
    steps: [...steps, { event: shutdown(), afterMs: 10 }],
    answers: (time) => [
      after(300, time.timers, storeAll),
      hang,
      hang,
      storeAll,
    ],
    config: { types: ["function"] },
  });
  await h.run();
  // r0's request is answered (300 ms) during r1's hold: without that, r0,
  // r1 and r2 unanswered would pause flushing and r3 would not flush.
  assert.equal(
    h.nextCalls[UNANSWERED_FLUSHES + 1].putCalls,
    UNANSWERED_FLUSHES + 1,
    "r3 flushed: no pause",
  );
  assert.equal(h.stats.carriedDelivered, 1);
});

Deno.test("lifecycle: a carried request answered during the breaker's pause for silence ends it", async () => {
  // r0–r2 unanswered at their holds (r2's given up: two are carried): the
  // breaker pauses from r2's hold to 250 ms later; r0's answer comes within
  // that pause, so r4 (still inside it) flushes.
  const steps = Array.from({ length: UNANSWERED_FLUSHES + 2 }, (_, i) => ({
    event: invoke(`r${i}`),
    afterMs: 100,
    then: () => h.add(`e${i}`),
  }));
  const h = harness({
    steps: [...steps, { event: shutdown(), afterMs: 10 }],
    answers: (
      time,
    ) => [after(950, time.timers, storeAll), hang, hang, storeAll],
    config: { types: ["function"] },
  });
  await h.run();
  const r4 = UNANSWERED_FLUSHES + 1;
  assert.equal(h.nextCalls[r4].putCalls, UNANSWERED_FLUSHES, "r3: paused");
  assert.equal(
    h.nextCalls[r4 + 1].putCalls,
    UNANSWERED_FLUSHES + 1,
    "r4 flushed: the late answer ended the pause",
  );
});

Deno.test("lifecycle: against the scripted Extensions API on loopback", async () => {
  const api = startScriptedApi({ nextFailures: [500] });
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: api.runtimeApi,
      extensionName: "kinesis-telemetry",
    });
    await client.register();
    const buffer = new EventBuffer(1 << 20);
    const stats = new Stats();
    const putter = new ScriptedPutter([storeAll]);
    const flusher = new Flusher({
      buffer,
      format: "kpl",
      maxRecordBytes: 1 << 20,
      stats,
      logger: captureLog("error").logger,
      ownLogEvents: new WeakSet<BufferedEvent>(),
      send: {
        putter,
        now: Date.now,
        timers: { setTimeout, clearTimeout } as never,
        random: Math.random,
        policy: DEFAULT_RETRY_POLICY,
      },
    });
    const seenAtNext: { busy: boolean; inFlight: number; puts: number }[] = [];
    const events = [eventOf("one"), eventOf("two")];
    buffer.offer(events, sizeOf(events));
    api.queue({
      eventType: "INVOKE",
      requestId: "r1",
      deadlineMs: Date.now() + 3_000,
    });
    api.queue({
      eventType: "SHUTDOWN",
      shutdownReason: "SPINDOWN",
      deadlineMs: Date.now() + 2_000,
    });
    const result = await runLifecycle({
      api: {
        next: (signal) => {
          seenAtNext.push({
            busy: flusher.busy,
            inFlight: putter.inFlight,
            puts: putter.calls.length,
          });
          return client.next(signal);
        },
        exitError: (type, message) => client.exitError(type, message),
      },
      buffer,
      flusher,
      progress: new InvocationProgress(),
      stats,
      logger: captureLog("error").logger,
      config: { ...DEFAULT_CONFIG, types: ["function"] },
      now: Date.now,
      timers: { setTimeout, clearTimeout } as never,
    });
    assert.deepEqual(result, { exitCode: 0, reason: "SHUTDOWN SPINDOWN" });
    // The 500 was retried: three calls for two events.
    const nextPaths = api.calls.filter((c) => c.path.endsWith("/event/next"));
    assert.equal(nextPaths.length, 3);
    for (const call of nextPaths) {
      assert.equal(call.headers.get("Lambda-Extension-Identifier"), "ext-id-1");
    }
    assert.deepEqual(seenAtNext, [
      { busy: false, inFlight: 0, puts: 0 },
      { busy: false, inFlight: 0, puts: 0 },
      { busy: false, inFlight: 0, puts: 1 },
    ]);
    assert.equal(stats.delivered, 2);
  } finally {
    await api.close();
  }
});
