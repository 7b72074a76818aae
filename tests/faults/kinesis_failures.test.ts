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
  assertAccounting,
  type ExitReport,
  invocationEvents,
  type Rig,
  startRig,
  warmUp,
} from "./_rig.ts";

/**
 * Runs a warm-up invocation on a healthy Kinesis (the first flush loads the
 * AWS SDK), then `invocations` invocations under `plan`, then SHUTDOWN.
 */
async function runUnder(
  plan: FaultPlan,
  format: string,
  invocations = 6,
): Promise<{ rig: Rig; exit: ExitReport }> {
  const rig = await startRig({ env: { KINESIS_TELEMETRY_FORMAT: format } });
  await rig.ready();
  await warmUp(rig);
  rig.proxy.configure(plan);
  for (let i = 0; i < invocations; i++) {
    await rig.invoke(`req-${i}`, invocationEvents(`req-${i}`, 20));
  }
  const exit = await rig.shutdown();
  assert.equal(exit.code, 0, "clean exit");
  return { rig, exit };
}

for (const format of ["kpl", "json"]) {
  Deno.test(`${format}: 30% of entries throttled → all delivered, each once`, async () => {
    const { rig, exit } = await runUnder({
      failEntries: {
        select: { kind: "fraction", rate: 0.3, seed: 7 },
        errorCode: "ProvisionedThroughputExceededException",
      },
    }, format);
    try {
      assert.ok(
        rig.proxy.counters().failedEntries > 0,
        "entries were throttled",
      );
      assert.ok(exit.summary!.retried > 0, "failed entries were retried");
      assertAccounting(exit.summary, rig.acknowledged, await rig.stored(), {
        exact: rig.outcomesKnown(exit.summary),
        allDelivered: true,
      }, rig);
    } finally {
      await rig.close();
    }
  });
}

Deno.test("ndjson: every 3rd entry InternalFailure → all delivered, each once", async () => {
  const { rig, exit } = await runUnder({
    failEntries: {
      select: { kind: "every", n: 3 },
      errorCode: "InternalFailure",
    },
  }, "ndjson");
  try {
    assert.ok(rig.proxy.counters().failedEntries > 0);
    assertAccounting(exit.summary, rig.acknowledged, await rig.stored(), {
      exact: rig.outcomesKnown(exit.summary),
      allDelivered: true,
    }, rig);
  } finally {
    await rig.close();
  }
});

Deno.test("20% of requests answered 500 → all delivered, each once", async () => {
  const { rig, exit } = await runUnder(
    {
      failRequests: {
        select: { kind: "fraction", rate: 0.2, seed: 3 },
        status: 500,
      },
    },
    "json",
    10,
  );
  try {
    assert.ok(rig.proxy.counters().failedRequests > 0, "requests failed");
    assert.ok(exit.summary!.kinesisRequestFailures > 0);
    assertAccounting(exit.summary, rig.acknowledged, await rig.stored(), {
      exact: rig.outcomesKnown(exit.summary),
      allDelivered: true,
    }, rig);
  } finally {
    await rig.close();
  }
});

Deno.test("503s and slow answers → all delivered, each once", async () => {
  const { rig, exit } = await runUnder({
    failRequests: { select: { kind: "every", n: 2 }, status: 503 },
    delayRequests: { select: { kind: "all" }, ms: 60 },
  }, "kpl");
  try {
    const counters = rig.proxy.counters();
    assert.ok(counters.failedRequests > 0 && counters.delayedRequests > 0);
    assertAccounting(exit.summary, rig.acknowledged, await rig.stored(), {
      exact: rig.outcomesKnown(exit.summary),
      allDelivered: true,
    }, rig);
  } finally {
    await rig.close();
  }
});

Deno.test("connections dropped after Kinesis stored the request → duplicates only where counted", async () => {
  // The worst kind of reset: the records were stored, the answer is lost.
  // A client that silently re-sends the request would store them twice
  // while reporting one clean success.
  const { rig, exit } = await runUnder(
    {
      resetRequests: { select: { kind: "every", n: 2 }, forwardFirst: true },
    },
    "json",
    4,
  );
  try {
    assert.ok(rig.proxy.counters().resetRequests > 0, "connections dropped");
    const { duplicatedEvents } = assertAccounting(
      exit.summary,
      rig.acknowledged,
      await rig.stored(),
      { exact: false, allDelivered: true },
      rig,
    );
    assert.ok(
      duplicatedEvents > 0,
      "the stored-then-dropped requests duplicated",
    );
  } finally {
    await rig.close();
  }
});
