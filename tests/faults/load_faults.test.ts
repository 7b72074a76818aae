/**
 * Faults of delivery under load and at the edges of an invocation: lines
 * that arrive after SHUTDOWN (a runtime's SIGTERM handler, other
 * extensions), `flush=end` when runtimeDone never comes, a record Kinesis
 * refuses for good, a request that stores its records but answers after
 * the hold, and a long heavy invocation. Each drives the real extension
 * process and checks the accounting from the summary and from the stream.
 */
import assert from "node:assert/strict";
import type { TelemetryEvent } from "../../extension/types.ts";
import {
  assertAllDelivered,
  assertStreamAccounting,
  invocationEvents,
  invokeSeries,
  nextCallAfter,
  sleep,
  until,
  within,
  withRig,
  withWarmRig,
} from "./_rig.ts";

/** Function log lines tagged `tag`. */
function lines(tag: string, count: number): TelemetryEvent[] {
  const time = new Date().toISOString();
  return Array.from(
    { length: count },
    (_, i) => ({ time, type: "function", record: `${tag} ${i}` }),
  );
}

Deno.test("SHUTDOWN: lines delivered after it (SIGTERM handler, another extension) are still shipped; accounting holds", async () => {
  // A long buffering timeout gives the late deliveries below room on a
  // loaded machine: the listener must stay open while they keep coming.
  await withWarmRig({
    env: { KINESIS_TELEMETRY_BUFFER_TIMEOUT_MS: "600" },
  }, async (rig) => {
    await invokeSeries(rig, 2, 5);
    const deadlineMs = Date.now() + 2_000;
    rig.api.queue({
      eventType: "SHUTDOWN",
      shutdownReason: "SPINDOWN",
      deadlineMs,
    });
    await within(
      until(() => rig.api.served.some((s) => s.event.eventType === "SHUTDOWN")),
      5_000,
      "SHUTDOWN to be handed out",
      rig.lines,
    );
    await sleep(200);
    const sigterm = await rig.push(lines("sigterm handler", 5));
    await sleep(400);
    const other = await rig.push([{
      time: new Date().toISOString(),
      type: "extension",
      record: "other extension: last line",
    }]);
    assert.equal(sigterm.status, 200, "SIGTERM-handler lines accepted");
    assert.equal(other.status, 200, "the other extension's line accepted");
    const exit = await rig.exited(5_000);
    assert.equal(exit.code, 0);
    assert.ok(exit.exitedAt <= deadlineMs, "exited by the deadline");
    const { summary } = exit;
    assert.equal(summary?.dropped.shutdown_deadline, 0);
    await assertAllDelivered(rig, summary);
  });
});

Deno.test("flush=end: a runtimeDone that never arrives holds the invocation about the buffering timeout + the hold (not until its deadline), flushing meanwhile", async () => {
  await withWarmRig({
    env: { KINESIS_TELEMETRY_FLUSH: "end" },
  }, async (rig) => {
    const events = invocationEvents("no-done", 5).filter((e) =>
      e.type !== "platform.runtimeDone" && e.type !== "platform.report"
    );
    const requestsBefore = rig.proxy.putRecordsLog.length;
    const hold = await rig.invoke("no-done", events);
    // Its deadline is 10 s away; buffering timeout + hold is 300 ms.
    assert.ok(hold < 2_500, `held ${hold} ms`);
    const next = nextCallAfter(rig.api, "no-done")!;
    assert.ok(
      rig.proxy.putRecordsLog.slice(requestsBefore).some((entry) =>
        entry.receivedAt < next.at && entry.stored > 0
      ),
      "the invocation's events were flushed while waiting",
    );
    const exit = await rig.shutdown();
    assert.equal(exit.code, 0);
    await assertAllDelivered(rig, exit.summary);
  });
});

Deno.test("a record Kinesis refuses (ValidationException) is dropped alone as kinesis_rejected; everything else is delivered", async () => {
  await withWarmRig({
    env: {
      KINESIS_TELEMETRY_FORMAT: "json",
      // Records up to 2 MiB, but the stream takes 1 MiB: a 1.5 MB event
      // passes the extension's own limit and is refused by Kinesis.
      KINESIS_TELEMETRY_MAX_RECORD_BYTES: "2097152",
      KINESIS_TELEMETRY_BUFFER_MAX_BYTES: "1048576",
    },
  }, async (rig) => {
    const events = invocationEvents("big", 30);
    const time = events[0].time;
    events.splice(10, 0, {
      time,
      type: "function",
      record: `too large ${"x".repeat(1_500_000)}`,
    });
    await rig.invoke("big", events);
    await invokeSeries(rig, 2, 10);
    const exit = await rig.shutdown();
    assert.equal(exit.code, 0);
    const summary = exit.summary!;
    assert.equal(summary.dropped.kinesis_rejected, 1, "only the bad record");
    assert.equal(summary.dropped.shutdown_deadline, 0);
    const result = await assertStreamAccounting(rig, summary, {
      exact: rig.outcomesKnown(summary),
      allDelivered: false,
    });
    assert.equal(result.missing, 1, "only the bad record is missing");
    assert.ok(
      exit.lines.some((line) =>
        line.msg === "Kinesis request failed" &&
        line.code === "ValidationException" && line.rejected === 1
      ),
      "the rejection is logged with its cause",
    );
  });
});

Deno.test("a request that stores its records but answers after the hold does not pause flushing (slow is not down); accounting holds", async () => {
  await withWarmRig({}, async (rig) => {
    rig.proxy.configure({
      hangRequests: {
        select: { kind: "first", count: 1 },
        forwardFirst: true,
      },
    });
    await rig.invoke("slow", invocationEvents("slow", 5));
    rig.proxy.release();
    rig.proxy.configure({});
    const before = rig.proxy.putRecordsLog.length;
    // Right after: a breaker taking slowness for an outage would skip it.
    await rig.invoke("after-slow", invocationEvents("after-slow", 5));
    const next = nextCallAfter(rig.api, "after-slow")!;
    assert.ok(
      rig.proxy.putRecordsLog.slice(before).some((entry) =>
        entry.receivedAt < next.at && entry.outcome === "answered"
      ),
      "the next invocation flushed",
    );
    const exit = await rig.shutdown();
    assert.equal(exit.code, 0);
    // The held request was stored and its events sent again: duplicates
    // within possibleDuplicates, nothing lost.
    await assertAllDelivered(rig, exit.summary);
  });
});

Deno.test("a long first invocation logging heavily ships while it runs: most is stored before its runtimeDone, everything delivered", async () => {
  // 20,000 lines of ~200 bytes over ~10 s: four times the 2 MiB buffer,
  // which would overflow if nothing were sent before the next INVOKE. The
  // environment's first invocation: nothing says yet that it is light.
  await withRig({
    env: {
      KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(2 * 1024 * 1024),
      // The extension stays while deliveries keep coming, within the
      // buffering timeout + the hold of each other: room for a busy machine.
      KINESIS_TELEMETRY_MAX_HOLD_MS: "1000",
    },
  }, async (rig) => {
    await rig.ready();
    const requestId = "long";
    rig.api.queue({
      eventType: "INVOKE",
      deadlineMs: Date.now() + 120_000,
      requestId,
    });
    const pad = "y".repeat(180);
    const start = invocationEvents(requestId, 0);
    assert.equal((await rig.push(start.slice(0, 1))).status, 200);
    // As Lambda delivers a function that logs all the time: a POST per
    // buffering timeout (100 ms).
    const batches = 100;
    for (let batch = 0; batch < batches; batch++) {
      const time = new Date().toISOString();
      const body = Array.from({ length: 200 }, (_, i) => ({
        time,
        type: "function",
        record: `long ${batch}.${i} ${pad}`,
      }));
      // Lambda retries a refused delivery; so does this loop, a while.
      let attempts = 0;
      while ((await rig.push(body)).status !== 200) {
        assert.ok(
          ++attempts < 200,
          `delivery ${batch} refused for good\n${
            rig.lines.filter((l) => !String(l.msg).startsWith("buffer full"))
              .map((l) => JSON.stringify(l)).join("\n")
          }`,
        );
        await sleep(100);
      }
      await sleep(100);
    }
    const storedBeforeDone = rig.proxy.putRecordsLog.reduce(
      (sum, entry) => sum + entry.stored,
      0,
    );
    assert.equal((await rig.push(start.slice(1))).status, 200);
    await within(
      until(() => nextCallAfter(rig.api, requestId) !== undefined),
      60_000,
      "the extension to return after runtimeDone",
      rig.lines,
    );
    const exit = await rig.shutdown();
    assert.equal(exit.code, 0);
    // Stored entries are KPL aggregates: count the events in the stream.
    assert.ok(storedBeforeDone > 0, "records stored while the function ran");
    await assertAllDelivered(rig, exit.summary);
    const during = exit.lines.filter((line) =>
      line.msg === "flushed" && (line.delivered as number) > 0
    ).length;
    assert.ok(during >= 10, `${during} flushes stored events`);
  });
});
