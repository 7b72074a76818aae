/**
 * Kinesis answers, but not as hoped: entries throttled or failed inside a
 * 200 answer, whole requests answered 500/503, slow answers, connections
 * dropped. Each test drives the real extension process through a few
 * invocations and a SHUTDOWN, then checks the accounting from the summary
 * and from the stream.
 */
import assert from "node:assert/strict";
import type { FaultPlan } from "../../scripts/sandbox/kinesis_fault_proxy.ts";
import {
  assertAllDelivered,
  assertAllDeliveredSomeTwice,
  type ExitReport,
  invokeSeries,
  type Rig,
  withWarmRig,
} from "./_rig.ts";

/**
 * Runs a warm-up invocation on a healthy Kinesis (the first flush loads the
 * AWS SDK), then `invocations` invocations under `plan`, then SHUTDOWN, and
 * hands the rig and the clean exit to `check`.
 */
function runUnder(
  plan: FaultPlan,
  format: string,
  invocations: number,
  check: (rig: Rig, exit: ExitReport) => Promise<void>,
): Promise<void> {
  return withWarmRig(
    { env: { KINESIS_TELEMETRY_FORMAT: format } },
    async (rig) => {
      rig.proxy.configure(plan);
      await invokeSeries(rig, invocations, 20);
      const exit = await rig.shutdown();
      assert.equal(exit.code, 0, "clean exit");
      await check(rig, exit);
    },
  );
}

for (const format of ["kpl", "json"]) {
  Deno.test(`${format}: 30% of entries throttled → all delivered, each once`, async () => {
    await runUnder(
      {
        failEntries: {
          select: { kind: "fraction", rate: 0.3, seed: 7 },
          errorCode: "ProvisionedThroughputExceededException",
        },
      },
      format,
      6,
      async (rig, exit) => {
        assert.ok(
          rig.proxy.counters().failedEntries > 0,
          "entries were throttled",
        );
        assert.ok(exit.summary!.retried > 0, "failed entries were retried");
        await assertAllDelivered(rig, exit.summary);
      },
    );
  });
}

Deno.test("ndjson: every 3rd entry InternalFailure → all delivered, each once", async () => {
  await runUnder(
    {
      failEntries: {
        select: { kind: "every", n: 3 },
        errorCode: "InternalFailure",
      },
    },
    "ndjson",
    6,
    async (rig, exit) => {
      assert.ok(rig.proxy.counters().failedEntries > 0);
      await assertAllDelivered(rig, exit.summary);
    },
  );
});

Deno.test("20% of requests answered 500 → all delivered, each once", async () => {
  await runUnder(
    {
      failRequests: {
        select: { kind: "fraction", rate: 0.2, seed: 3 },
        status: 500,
      },
    },
    "json",
    10,
    async (rig, exit) => {
      assert.ok(rig.proxy.counters().failedRequests > 0, "requests failed");
      assert.ok(exit.summary!.kinesisRequestFailures > 0);
      await assertAllDelivered(rig, exit.summary);
    },
  );
});

Deno.test("503s and slow answers → all delivered, each once", async () => {
  await runUnder(
    {
      failRequests: { select: { kind: "every", n: 2 }, status: 503 },
      delayRequests: { select: { kind: "all" }, ms: 60 },
    },
    "kpl",
    6,
    async (rig, exit) => {
      const counters = rig.proxy.counters();
      assert.ok(counters.failedRequests > 0 && counters.delayedRequests > 0);
      await assertAllDelivered(rig, exit.summary);
    },
  );
});

Deno.test("connections dropped after Kinesis stored the request → duplicates only where counted", async () => {
  // The worst kind of reset: the records were stored, the answer is lost.
  // A client that silently re-sends the request would store them twice
  // while reporting one clean success.
  await runUnder(
    {
      resetRequests: { select: { kind: "every", n: 2 }, forwardFirst: true },
    },
    "json",
    4,
    async (rig, exit) => {
      assert.ok(rig.proxy.counters().resetRequests > 0, "connections dropped");
      await assertAllDeliveredSomeTwice(
        rig,
        exit.summary,
        "the stored-then-dropped requests duplicated",
      );
    },
  );
});
