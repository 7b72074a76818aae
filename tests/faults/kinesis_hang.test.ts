/**
 * Kinesis stops answering. The extension must keep every invocation within
 * its hold bound, keep the events for later, deliver them once Kinesis is
 * back, and — if Kinesis never comes back — exit before the SHUTDOWN
 * deadline, counting what it could not deliver.
 */
import assert from "node:assert/strict";
import {
  assertAllDelivered,
  assertAllDeliveredSomeTwice,
  assertStreamAccounting,
  invocationEvents,
  invokeSeries,
  sleep,
  withWarmRig,
} from "./_rig.ts";

/**
 * Slack over the hold when measuring from the scripted API: the INVOKE
 * answer's trip over loopback to the extension and its next `/event/next`
 * request back (two HTTP hops on one machine), the abort of the held
 * request, and timer lateness on a busy 2-core CI machine. Well under one
 * hold: a loop that waited for the held request (5 s request timeout) or
 * slept a retry backoff would blow far past it.
 */
const SLACK_MS = 150;

Deno.test("a 3 s Kinesis hang (stored, never answered): holds bounded, all delivered by the end of SHUTDOWN, duplicates counted", async () => {
  await withWarmRig({}, async (rig) => {
    rig.proxy.configure({
      hangRequests: { select: { kind: "all" }, forwardFirst: true },
    });
    const hangStarted = Date.now();
    const holds: number[] = [];
    let i = 0;
    while (Date.now() - hangStarted < 3_000) {
      holds.push(
        await rig.invoke(`req-${i}`, invocationEvents(`req-${i}`, 10)),
      );
      i++;
      await sleep(250);
    }
    rig.proxy.configure({});
    holds.push(...await invokeSeries(rig, 2, 10, i));
    const exit = await rig.shutdown();
    assert.equal(exit.code, 0);
    assert.ok(rig.proxy.counters().hungRequests > 0, "Kinesis did hang");
    assert.ok(
      Math.max(...holds) <= 200 + SLACK_MS,
      `holds ${holds.join(", ")} ms within 200 + ${SLACK_MS} ms`,
    );
    await assertAllDeliveredSomeTwice(
      rig,
      exit.summary,
      "held requests were stored, then sent again",
    );
  });
});

for (const [flush, holdMs] of [["invoke", 100], ["end", 100]] as const) {
  Deno.test(`flush=${flush}, hold ${holdMs} ms: post-runtime overhead stays bounded while Kinesis hangs`, async () => {
    await withWarmRig({
      env: {
        KINESIS_TELEMETRY_FLUSH: flush,
        KINESIS_TELEMETRY_MAX_HOLD_MS: String(holdMs),
      },
    }, async (rig) => {
      rig.proxy.configure({ hangRequests: { select: { kind: "all" } } });
      const holds: number[] = [];
      for (let i = 0; i < 8; i++) {
        holds.push(
          await rig.invoke(`req-${i}`, invocationEvents(`req-${i}`, 5)),
        );
        // Past the breaker's first pause, so most invocations try to flush.
        await sleep(260);
      }
      // `end` may run two bounded flushes on one invocation: the one at
      // INVOKE and the one after runtimeDone (skipped once the breaker
      // opened). `invoke` runs one.
      const bound = (flush === "end" ? 2 : 1) * holdMs + SLACK_MS;
      assert.ok(
        Math.max(...holds) <= bound,
        `holds ${holds.join(", ")} ms within ${bound} ms`,
      );
      assert.ok(rig.proxy.counters().hungRequests >= 2, "flushes were tried");
      rig.proxy.configure({});
      const exit = await rig.shutdown();
      await assertAllDelivered(rig, exit.summary, false);
    });
  });
}

Deno.test("Kinesis hangs through the whole shutdown: exit before the deadline, undelivered counted", async () => {
  await withWarmRig({}, async (rig) => {
    rig.proxy.configure({ hangRequests: { select: { kind: "all" } } });
    await invokeSeries(rig, 3, 10);
    const exit = await rig.shutdown(2_000);
    assert.equal(exit.code, 0);
    assert.ok(exit.summary, "summary written");
    assert.ok(
      exit.exitedAt < exit.deadlineMs,
      `exited ${exit.deadlineMs - exit.exitedAt} ms before the deadline`,
    );
    const stored = await rig.stored();
    const hungEvents = rig.acknowledged.filter((event) =>
      JSON.stringify(event.record).includes("req-")
    ).length;
    assert.ok(
      !stored.some((envelope) =>
        JSON.stringify(envelope.record).includes("req-")
      ),
      "nothing sent during the hang was stored",
    );
    assert.ok(
      exit.summary.dropped.shutdown_deadline >= hungEvents,
      "everything sent during the hang counted as dropped at the deadline",
    );
    await assertStreamAccounting(rig, exit.summary, {
      exact: false,
      allDelivered: false,
    });
  });
});

Deno.test("SHUTDOWN while a request hangs: the extension gives up on it and delivers on a new connection before the deadline", async () => {
  await withWarmRig(
    { env: { KINESIS_TELEMETRY_FORMAT: "json" } },
    async (rig) => {
      await invokeSeries(rig, 2, 10);
      await rig.push(invocationEvents("last", 10));
      rig.proxy.configure({
        hangRequests: {
          select: { kind: "first", count: 1 },
          forwardFirst: true,
        },
      });
      const exit = await rig.shutdown(2_000);
      assert.equal(exit.code, 0);
      assert.ok(exit.exitedAt < exit.deadlineMs, "exited before the deadline");
      assert.equal(rig.proxy.counters().hungRequests, 1);
      await assertAllDelivered(rig, exit.summary, false);
    },
  );
});

Deno.test("a request carried from the last invocation that never answers: SHUTDOWN gives it half the time, then delivers its events on a new connection before the deadline", async () => {
  await withWarmRig(
    { env: { KINESIS_TELEMETRY_FORMAT: "json" } },
    async (rig) => {
      await invokeSeries(rig, 1, 5);
      // The next invocation's request is stored and never answered: it is
      // carried across /event/next (and a freeze), not given up.
      rig.proxy.configure({
        hangRequests: {
          select: { kind: "first", count: 1 },
          forwardFirst: true,
        },
      });
      await rig.invoke("carried", invocationEvents("carried", 10));
      assert.equal(rig.proxy.counters().hungRequests, 1);
      rig.child.kill("SIGSTOP");
      await sleep(500);
      rig.child.kill("SIGCONT");
      const exit = await rig.shutdown(2_000);
      assert.equal(exit.code, 0);
      assert.ok(exit.exitedAt < exit.deadlineMs, "exited before the deadline");
      assert.equal(exit.summary?.carriedRequests, 1);
      assert.equal(exit.summary?.carriedDelivered, 0);
      assert.ok(Number(exit.summary?.possibleDuplicates) > 0, "announced");
      await assertAllDelivered(rig, exit.summary, false);
    },
  );
});
