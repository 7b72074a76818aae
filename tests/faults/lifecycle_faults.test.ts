/**
 * Faults of the Lambda side: registration or subscription refused, a
 * failing `/event/next`, SIGTERM, and the environment freezing (SIGSTOP)
 * while a PutRecords request is on the wire (carried across, not given up).
 */
import assert from "node:assert/strict";
import {
  assertAllDelivered,
  invocationEvents,
  invokeSeries,
  nextCallAfter,
  type Rig,
  sleep,
  until,
  within,
  withRig,
  withWarmRig,
} from "./_rig.ts";

/** The default KINESIS_TELEMETRY_MAX_HOLD_MS. */
const HOLD_MS = 200;
/**
 * Slack over a hold measured from outside: two loopback HTTP hops, the
 * abort of a request, timer lateness on a busy 2-core machine. Far below
 * what waiting for the request itself (5 s timeout) would take.
 */
const SLACK_MS = 150;

function errorTypes(rig: Rig): (string | null)[] {
  return rig.api.calls
    .filter((call) => call.path.endsWith("/init/error"))
    .map((call) => call.headers.get("Lambda-Extension-Function-Error-Type"));
}

Deno.test("register answered 500: init error reported, non-zero exit", async () => {
  await withRig({ api: { registerStatus: 500 } }, async (rig) => {
    const exit = await rig.exited(20_000);
    assert.notEqual(exit.code, 0);
    assert.deepEqual(errorTypes(rig), ["Extension.RegisterFailed"]);
    const line = exit.lines.find((l) => l.msg === "registration failed");
    assert.ok(line, "a clear log line names the failure");
    assert.match(String(line.error), /500/);
  });
});

Deno.test("subscribe answered 500 three times: init error reported, non-zero exit", async () => {
  await withRig(
    { api: { subscribeStatuses: [500, 500, 500] } },
    async (rig) => {
      const exit = await rig.exited(20_000);
      assert.notEqual(exit.code, 0);
      assert.deepEqual(errorTypes(rig), ["Extension.SubscribeFailed"]);
      assert.equal(
        rig.api.calls.filter((c) => c.path === "/2022-07-01/telemetry").length,
        3,
      );
      assert.equal(
        rig.api.calls.some((c) => c.path.endsWith("/event/next")),
        false,
      );
    },
  );
});

Deno.test("subscribe failing once, /event/next failing once: retried, everything delivered", async () => {
  await withWarmRig({
    api: { subscribeStatuses: [500], nextFailures: [500] },
  }, async (rig) => {
    await invokeSeries(rig, 3, 5);
    const exit = await rig.shutdown();
    assert.equal(exit.code, 0);
    assert.ok(exit.lines.some((l) => l.msg === "event/next failed"));
    await assertAllDelivered(rig, exit.summary);
  });
});

Deno.test("SIGTERM while waiting in /event/next: flush, summary, exit 0", async () => {
  await withWarmRig({}, async (rig) => {
    await rig.invoke("req-0", invocationEvents("req-0", 5));
    // The last invocation's telemetry is still buffered.
    const signalledAt = Date.now();
    rig.child.kill("SIGTERM");
    const exit = await rig.exited(5_000);
    assert.equal(exit.code, 0);
    assert.match(String(exit.summary?.reason), /SIGNAL/);
    // The signal shutdown budget is 1.5 s (SIGNAL_SHUTDOWN_MS).
    assert.ok(exit.exitedAt - signalledAt < 1_500 + SLACK_MS);
    await assertAllDelivered(rig, exit.summary);
  });
});

for (const answered of [true, false]) {
  Deno.test(`freeze (SIGSTOP) in the middle of a send, request ${answered ? "answered" : "dropped"} while frozen: back within the hold after thaw, no request started in /event/next, ${answered ? "its answer read (no duplicate)" : "its events sent again"}, accounting holds`, async () => {
    await withWarmRig({}, async (rig) => {
      await rig.invoke("req-0", invocationEvents("req-0", 5));
      // Telemetry that arrives after the extension went back to /next is
      // flushed at the next INVOKE...
      assert.equal((await rig.push(invocationEvents("late", 5))).status, 200);
      // ...where Kinesis stores it and holds the answer back.
      rig.proxy.configure({
        hangRequests: {
          select: { kind: "first", count: 1 },
          forwardFirst: true,
          answerOnRelease: answered,
        },
      });
      rig.api.queue({
        eventType: "INVOKE",
        deadlineMs: Date.now() + 10_000,
        requestId: "req-1",
      });
      await within(
        until(() => rig.proxy.inFlight() > 0),
        5_000,
        "the flush to reach Kinesis",
        rig.lines,
      );
      rig.child.kill("SIGSTOP");
      await sleep(1_000);
      rig.proxy.release();
      await sleep(100);
      const thawedAt = Date.now();
      rig.child.kill("SIGCONT");
      await within(
        until(() => nextCallAfter(rig.api, "req-1") !== undefined),
        5_000,
        "the extension to come back after the thaw",
        rig.lines,
      );
      const backAfterThaw = nextCallAfter(rig.api, "req-1")!.at - thawedAt;
      // The hold expired during the freeze: after the thaw the request is
      // given up (or its answer read) at once.
      assert.ok(backAfterThaw <= HOLD_MS + SLACK_MS, `${backAfterThaw} ms`);

      await rig.invoke("req-2", invocationEvents("req-2", 5));
      const exit = await rig.shutdown();
      assert.equal(exit.code, 0);

      // Rule 1: no PutRecords starts while the extension waits in
      // /event/next; one written before may be carried across (its answer
      // is read after the thaw instead of being given up).
      for (const served of rig.api.served) {
        const waitFrom = rig.api.calls[served.callIndex].at;
        for (const request of rig.proxy.putRecordsLog) {
          assert.ok(
            !(request.receivedAt > waitFrom + 5 &&
              request.receivedAt < served.at - 5),
            `request #${request.index} started while the extension waited in /event/next`,
          );
        }
      }
      const summary = exit.summary!;
      if (answered) {
        // Stored, and its answer (released during the freeze) was read.
        assert.equal(summary.possibleDuplicates, 0);
      } else {
        // Closed without an answer after it was stored: sent again, counted.
        assert.ok(Number(summary.possibleDuplicates) > 0);
      }
      await assertAllDelivered(rig, exit.summary, false);
    });
  });
}
