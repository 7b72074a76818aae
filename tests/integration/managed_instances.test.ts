/**
 * The extension on Lambda Managed Instances, end to end in the sandbox's
 * LMI mode against kinesalite: 64 invocations at once, each logging 50
 * lines, for 20 s; then SHUTDOWN with a backlog behind a slow Kinesis.
 */
import assert from "node:assert/strict";
import { decodeRecord } from "../../scripts/lib/decode.ts";
import { readAllRecords } from "../../scripts/lib/kinesis_read.ts";
import { checkDelivery } from "../../scripts/sandbox/delivery_check.ts";
import {
  EXTENSION_NAME,
  projectExtension,
} from "../../scripts/sandbox/extension_specs.ts";
import { startFaultProxy } from "../../scripts/sandbox/kinesis_fault_proxy.ts";
import { localKinesisClient } from "../../scripts/sandbox/kinesis_local.ts";
import { startKinesisServer } from "../../scripts/bench/kinesis_server.ts";
import {
  type ManagedSandbox,
  startManagedSandbox,
} from "../../scripts/sandbox/managed_sandbox.ts";
import { NODE_DEMO } from "./_pipeline.ts";
import { percentile, readStoredEvents } from "../../scripts/demo_lmi.ts";

/** Invocations at once. */
const CONCURRENCY = 64;
/** Lines each invocation logs (the demo function's 3 plus filler). */
const LINES = 50;
/** How long invocations keep coming. */
const LOAD_MS = 20_000;

/** Keeps `CONCURRENCY` invocations running until `forMs` passed; resolves with how many ran. */
async function load(
  sandbox: ManagedSandbox,
  forMs: number,
  payload: Record<string, unknown>,
): Promise<number> {
  const until = Date.now() + forMs;
  let count = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        await sandbox.invokeWhenTaken(payload);
        count++;
      }
    }),
  );
  return count;
}

function summaryOf(sandbox: ManagedSandbox): Record<string, number> {
  const line = sandbox.extensionLog.map((entry) => {
    try {
      return JSON.parse(entry.line);
    } catch {
      return null;
    }
  }).find((parsed) => parsed?.msg === "summary");
  assert.ok(line, "the extension wrote its summary");
  return line;
}

Deno.test({
  name:
    "managed instances: 64 concurrent invocations × 50 lines for 20 s, every event stored once, nothing refused",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // kinesalite in its own process: its work does not stall the sandbox's
    // clock, which judges freshness and the shutdown deadline.
    const kinesis = await startKinesisServer(["lmi-load"]);
    const client = localKinesisClient(kinesis.endpoint);
    try {
      await using sandbox = await startManagedSandbox({
        fn: NODE_DEMO,
        maxConcurrency: CONCURRENCY,
        extensions: [projectExtension({
          KINESIS_TELEMETRY_STREAM: "lmi-load",
          AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
          KINESIS_TELEMETRY_LISTENER_PORT: "0",
        })],
      });
      const invocations = await load(sandbox, LOAD_MS, {
        style: "json",
        logLines: LINES - 3,
        // About one invocation per second per slot: 64 per second.
        delayMs: 1_000,
      });
      const shutdown = await sandbox.shutdown();
      assert.equal(shutdown.extensions[0].exitedByItself, true);
      // Freshness: emitted (the event's time) → stored (Kinesis arrival).
      const { envelopes, freshnessMs: freshness } = await readStoredEvents(
        client,
        "lmi-load",
      );
      const check = checkDelivery(sandbox.events, envelopes, EXTENSION_NAME);
      const summary = summaryOf(sandbox);
      console.log(
        `LMI load: ${invocations} invocations (${sandbox.refusedInvocations} attempts refused with Runtime.Unavailable and sent again), ${sandbox.batchesDroppedWhileBusy} batches dropped while the listener was busy, ${check.emitted} events emitted, ${check.received} received, ${check.delivered} stored; freshness median ${
          percentile(freshness, 0.5)
        } ms, p99 ${percentile(freshness, 0.99)} ms, max ${
          freshness.at(-1)
        } ms; ${summary.kinesisRequests} PutRecords; shutdown ${
          Math.round(shutdown.extensions[0].durationMs)
        } ms`,
      );
      assert.ok(invocations >= CONCURRENCY, "the load ran");
      assert.ok(
        Math.max(...sandbox.invocations.map((i) => i.concurrent)) ===
          CONCURRENCY,
      );
      assert.deepEqual(check.lost.length, 0, "every received event stored");
      assert.equal(check.duplicates.length, 0, "no duplicates");
      assert.equal(check.droppedBeforeListener.length, 0);
      assert.equal(
        sandbox.batchesDroppedWhileBusy,
        0,
        "the listener answered every batch before the next was due",
      );
      assert.equal(summary.refused, 0, "no delivery refused");
      assert.equal(summary.refusedDeliveries, 0, "none refused unread");
      assert.equal(summary.droppedTotal, 0);
      assert.equal(summary.possibleDuplicates, 0);
      assert.equal(freshness.length, envelopes.length, "arrival of each");
      // The acceptance bound (measured p99 ≈ 0.5 s on 2 loaded cores).
      assert.ok(
        percentile(freshness, 0.99) < 1_000,
        `freshness p99 ${percentile(freshness, 0.99)} ms is under 1 s`,
      );
      // Only the summary line itself comes after the listener closed.
      assert.ok(check.neverReceived.length <= 1);
      assert.ok(
        sandbox.functionLog.length >= invocations * LINES,
        `every invocation's lines: ${sandbox.functionLog.length} for ${invocations}`,
      );
      // Per invocation: its lines, platform.start and platform.report (no
      // platform.runtimeDone on a managed instance).
      assert.ok(
        check.received >= invocations * (LINES + 2),
        "every invocation's lines and platform events",
      );
    } finally {
      client.destroy();
      await kinesis.stop();
    }
  },
});

Deno.test({
  name:
    "managed instances: SHUTDOWN with a backlog behind a slow Kinesis still ends before the deadline, everything counted",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const kinesis = await startKinesisServer(["lmi-backlog"]);
    const client = localKinesisClient(kinesis.endpoint);
    // Every request takes 600 ms, one at a time: SHUTDOWN can send about
    // three requests of 500 events, far less than the backlog.
    const proxy = await startFaultProxy({
      target: kinesis.endpoint,
      plan: { delayRequests: { select: { kind: "every", n: 1 }, ms: 600 } },
    });
    try {
      await using sandbox = await startManagedSandbox({
        fn: NODE_DEMO,
        maxConcurrency: CONCURRENCY,
        extensions: [projectExtension({
          KINESIS_TELEMETRY_STREAM: "lmi-backlog",
          AWS_ENDPOINT_URL_KINESIS: proxy.endpoint,
          KINESIS_TELEMETRY_LISTENER_PORT: "0",
          KINESIS_TELEMETRY_FORMAT: "json",
          KINESIS_TELEMETRY_MAX_IN_FLIGHT: "1",
        })],
      });
      await load(sandbox, 1_500, {
        style: "json",
        logLines: LINES - 3,
        lineBytes: 200,
        delayMs: 200,
      });
      const startedAt = Date.now();
      const shutdown = await sandbox.shutdown();
      const [extension] = shutdown.extensions;
      assert.equal(
        extension.exitedByItself,
        true,
        `exited before the deadline: ${JSON.stringify(shutdown)}\n${
          sandbox.extensionLog.slice(-4).map((line) => line.line).join("\n")
        }`,
      );
      assert.equal(extension.exitCode, 0);
      assert.ok(startedAt + extension.durationMs < shutdown.deadlineMs);
      const summary = summaryOf(sandbox);
      console.log(
        `LMI backlog: extension exited ${
          Math.round(extension.durationMs)
        } ms after SHUTDOWN (budget ${shutdown.budgetMs} ms); delivered ${summary.delivered}, dropped ${summary.droppedTotal}`,
      );
      assert.equal(
        summary.received,
        summary.delivered + summary.filtered + summary.droppedTotal,
        "every received event delivered or counted as dropped",
      );
      assert.ok(
        (summary.dropped as unknown as Record<string, number>)
          .shutdown_deadline > 0,
        "the backlog was larger than the shutdown could send",
      );
      const records = await readAllRecords(client, "lmi-backlog");
      const stored = records.flatMap((record) => decodeRecord(record.data));
      assert.ok(stored.length >= summary.delivered);
    } finally {
      await proxy.stop();
      client.destroy();
      await kinesis.stop();
    }
  },
});
