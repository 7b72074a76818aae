/**
 * The sandbox's Lambda Managed Instances mode: concurrent invocations, no
 * freeze, SHUTDOWN-only registration, schema 2025-01-29 and its event
 * shapes, with the project's extension from source against kinesalite.
 */
import assert from "node:assert/strict";
import { decodeRecord } from "../../../scripts/lib/decode.ts";
import { readAllRecords } from "../../../scripts/lib/kinesis_read.ts";
import { checkDelivery } from "../../../scripts/sandbox/delivery_check.ts";
import {
  MANAGED_FIXTURE_NAME,
  managedFixtureExtension,
} from "./_managed_fixture_extension.ts";
import {
  EXTENSION_NAME,
  projectExtension,
} from "../../../scripts/sandbox/extension_specs.ts";
import { startLocalKinesis } from "../../../scripts/sandbox/kinesis_local.ts";
import {
  managedRegistrationRefusal,
  managedSubscriptionRefusal,
  RuntimeUnavailableError,
  sequenceId,
  startManagedSandbox,
  withManagedBufferingDefaults,
} from "../../../scripts/sandbox/managed_sandbox.ts";

const NODE_DEMO = {
  runtime: "node" as const,
  taskRoot: new URL("../../../infra/demo-function", import.meta.url).pathname,
  handler: "index.handler",
};

Deno.test("managed sandbox: registration of anything but SHUTDOWN is refused as LMI refuses it", () => {
  assert.deepEqual(
    managedRegistrationRefusal({ events: ["INVOKE", "SHUTDOWN"] }),
    {
      status: 403,
      json: {
        errorType: "Extension.InvalidEventType",
        errorMessage: "INVOKE: ErrorInvalidEventType",
      },
    },
  );
  assert.equal(managedRegistrationRefusal({ events: ["SHUTDOWN"] }), null);
  assert.equal(managedRegistrationRefusal({ events: [] }), null);
});

Deno.test("managed sandbox: the Telemetry API takes schema 2025-01-29 only", () => {
  assert.equal(
    managedSubscriptionRefusal({ schemaVersion: "2025-01-29" }),
    null,
  );
  const refused = managedSubscriptionRefusal({ schemaVersion: "2022-12-13" });
  assert.equal(refused?.status, 400);
  assert.equal(
    (refused?.json as { errorType: string }).errorType,
    "ValidationError",
  );
});

Deno.test("managed sandbox: a subscription gets LMI's buffering defaults for what it leaves out", () => {
  assert.deepEqual(
    withManagedBufferingDefaults({ schemaVersion: "2025-01-29" }),
    {
      schemaVersion: "2025-01-29",
      buffering: { maxItems: 10_000, maxBytes: 262_144, timeoutMs: 1_000 },
    },
  );
  assert.deepEqual(
    withManagedBufferingDefaults({ buffering: { timeoutMs: 25 } }),
    { buffering: { maxItems: 10_000, maxBytes: 262_144, timeoutMs: 25 } },
  );
  // What is not an object is left for the validation to refuse.
  assert.deepEqual(withManagedBufferingDefaults({ buffering: 5 }), {
    buffering: 5,
  });
  assert.equal(withManagedBufferingDefaults(null), null);
});

Deno.test("managed sandbox: concurrent invocations, SHUTDOWN-only extension, 2025-01-29 shapes, all delivered", async () => {
  const kinesis = await startLocalKinesis();
  try {
    await kinesis.createStream("lmi", 2);
    await using sandbox = await startManagedSandbox({
      fn: NODE_DEMO,
      maxConcurrency: 8,
      extensions: [projectExtension({
        KINESIS_TELEMETRY_STREAM: "lmi",
        AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
        KINESIS_TELEMETRY_LISTENER_PORT: "0",
      })],
    });
    // Over HTTP, as an extension asking for INVOKE would be answered.
    const refused = await fetch(
      `http://${sandbox.runtimeApi}/2020-01-01/extension/register`,
      {
        method: "POST",
        headers: { "Lambda-Extension-Name": EXTENSION_NAME },
        body: JSON.stringify({ events: ["INVOKE", "SHUTDOWN"] }),
      },
    );
    assert.equal(refused.status, 403);
    assert.deepEqual(await refused.json(), {
      errorType: "Extension.InvalidEventType",
      errorMessage: "INVOKE: ErrorInvalidEventType",
    });

    const records = await Promise.all(
      Array.from(
        { length: 16 },
        (_, index) =>
          sandbox.invokeWhenTaken({ style: "json", delayMs: 100 + index }),
      ),
    );
    assert.equal(records.length, 16);
    assert.equal(
      Math.max(...records.map((record) => record.concurrent)),
      8,
      "eight ran at once",
    );
    const shutdown = await sandbox.shutdown();
    assert.equal(shutdown.extensions[0].exitedByItself, true);
    assert.equal(shutdown.extensions[0].exitCode, 0);

    const events = sandbox.events.map((entry) => entry.event);
    const initStart = events.find((e) => e.type === "platform.initStart")!
      .record as Record<string, unknown>;
    assert.equal(initStart.initializationType, "lambda-managed-instances");
    assert.equal(typeof initStart.instanceId, "string");
    assert.ok(!("functionArn" in initStart));
    const registered = events.find((e) => e.type === "platform.extension")!
      .record as { events: string[] };
    assert.deepEqual(registered.events, ["SHUTDOWN"]);
    const ids = new Set(records.map((record) => record.requestId));
    // Per invocation, as AWS's emulator sends them in LMI mode: start and
    // report, no runtimeDone.
    assert.equal(
      events.filter((e) => e.type === "platform.runtimeDone").length,
      0,
    );
    const starts = events.filter((e) => e.type === "platform.start");
    assert.equal(starts.length, 16);
    for (const start of starts) {
      const record = start.record as Record<string, unknown>;
      assert.deepEqual(Object.keys(record), [
        "requestId",
        "version",
        "functionArn",
      ]);
      assert.ok(ids.has(String(record.requestId)));
      assert.equal(record.version, "1");
      assert.equal(
        record.functionArn,
        "arn:aws:lambda:us-east-1:123456789012:function:sandbox-function:1",
      );
    }
    const reports = events.filter((e) => e.type === "platform.report");
    assert.equal(reports.length, 16);
    for (const report of reports) {
      const record = report.record as {
        metrics: object;
        spans: Array<{ name: string; start: string; durationMs: number }>;
      };
      assert.deepEqual(Object.keys(record.metrics), ["durationMs"]);
      assert.deepEqual(record.spans.map((span) => span.name), [
        "responseLatency",
        "responseDuration",
      ]);
      for (const span of record.spans) {
        assert.ok(!Number.isNaN(Date.parse(span.start)));
        assert.ok(span.durationMs >= 0);
      }
    }
    assert.equal(shutdown.reason, "spindown");
    const functionRecords = events.filter((e) => e.type === "function");
    assert.ok(functionRecords.length > 0);
    for (const event of functionRecords) {
      assert.equal(
        typeof event.record,
        "string",
        "a function log record is the line as written",
      );
    }
    const functionLines = functionRecords.map((event) =>
      JSON.parse(event.record as string) as {
        message?: string;
        requestId?: string;
      }
    );
    // The demo function's SIGTERM handler logs at SHUTDOWN, outside any
    // invocation: those lines carry no request id, every other one its own.
    const inInvocations = functionLines.filter((line) =>
      !String(line.message).includes("SIGTERM")
    );
    assert.ok(inInvocations.length < functionLines.length);
    assert.ok(
      inInvocations.every((line) => ids.has(line.requestId ?? "")),
      "every function line carries its own invocation's request id",
    );

    const ready = sandbox.extensionLog.map((line) => JSON.parse(line.line))
      .find((line) => line.msg === "ready");
    assert.equal(ready.mode, "managed-instances");
    assert.equal(
      ready.modeReason,
      "AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances, AWS_LAMBDA_MAX_CONCURRENCY=8",
    );
    assert.equal(ready.schemaVersion, "2025-01-29");

    const stored = await readAllRecords(kinesis.client, "lmi");
    const check = checkDelivery(
      sandbox.events,
      stored.flatMap((record) => decodeRecord(record.data)).map((d) =>
        d.envelope
      ),
      EXTENSION_NAME,
    );
    assert.deepEqual(check.lost, []);
    assert.deepEqual(check.duplicates, []);
    assert.ok(check.delivered > 16 * 3);
  } finally {
    await kinesis.stop();
  }
});

interface FixturePost {
  sequenceId: string | null;
  bodySha256: string;
  types: string[];
}

/** Runs 4 invocations with the managed fixture extension; its log lines, parsed. */
async function runWithFixture(mode: string) {
  await using sandbox = await startManagedSandbox({
    fn: NODE_DEMO,
    maxConcurrency: 2,
    extensions: [managedFixtureExtension(mode)],
  });
  for (let index = 0; index < 4; index++) {
    await sandbox.invokeWhenTaken({ style: "json" });
  }
  const shutdown = await sandbox.shutdown();
  const lines = sandbox.extensionLog.map((line) => JSON.parse(line.line));
  return {
    shutdown,
    events: sandbox.events,
    subscribed: lines.find((line) => line.subscribed)?.subscribed,
    resubscribed: lines.find((line) => line.resubscribed)?.resubscribed,
    posts: lines.flatMap((line) => line.post ? [line.post as FixturePost] : []),
    shutdownReason: lines.find((line) => line.shutdown)?.shutdown,
  };
}

Deno.test("managed sandbox: Sequence-Id is the base64 SHA-256 of the body", async () => {
  assert.equal(
    await sequenceId(""),
    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
  );
});

Deno.test("managed sandbox: telemetry POSTs carry Sequence-Id, the subscription is answered 200 OK (a second one 500), SHUTDOWN says spindown", async () => {
  const run = await runWithFixture("");
  assert.deepEqual(run.subscribed, { status: 200, body: "OK" });
  // A second subscription is refused as AWS's emulator refuses it.
  assert.deepEqual(run.resubscribed, {
    status: 500,
    body: JSON.stringify({
      errorType: "InternalServerError",
      errorMessage: "Internal Server Error",
    }),
  });
  assert.equal(run.shutdownReason, "spindown");
  assert.ok(run.posts.length > 0);
  for (const post of run.posts) {
    assert.equal(post.sequenceId, post.bodySha256);
  }
  const types = run.posts.flatMap((post) => post.types);
  assert.equal(types.filter((type) => type === "platform.start").length, 4);
  assert.equal(types.filter((type) => type === "platform.report").length, 4);
  assert.ok(!types.includes("platform.runtimeDone"));
  // It subscribed to platform events only.
  const platform = run.events.filter((entry) =>
    entry.event.type.startsWith("platform.")
  );
  assert.ok(
    platform.every((entry) =>
      entry.acknowledgedBy.includes(MANAGED_FIXTURE_NAME)
    ),
  );
});

Deno.test("managed sandbox: a listener answer >= 400 drops the batch at once (no retry) and platform.logsDropped tells of it", async () => {
  const run = await runWithFixture("failing-listener");
  assert.ok(run.posts.length > 0);
  // One attempt per batch: no body was POSTed twice.
  const bodies = run.posts.map((post) => post.bodySha256);
  assert.equal(new Set(bodies).size, bodies.length);
  // It subscribed to platform events only.
  const delivered = run.events.filter((entry) =>
    entry.event.type.startsWith("platform.") &&
    entry.event.type !== "platform.logsDropped"
  );
  assert.ok(
    delivered.every((entry) =>
      entry.droppedBy.includes(MANAGED_FIXTURE_NAME) &&
      entry.acknowledgedBy.length === 0
    ),
    "every event was dropped, none acknowledged",
  );
  assert.ok(
    run.events.some((entry) => entry.event.type === "platform.logsDropped"),
  );
});

Deno.test("managed sandbox: with every runtime worker busy an invocation is refused with Runtime.Unavailable, no queue", async () => {
  await using sandbox = await startManagedSandbox({
    fn: NODE_DEMO,
    maxConcurrency: 2,
  });
  // Started in one turn: at most two workers wait on /next, so the third
  // finds none.
  const attempts = Array.from(
    { length: 3 },
    () => sandbox.invoke({ style: "json", delayMs: 200 }),
  );
  const settled = await Promise.allSettled(attempts);
  const refused = settled.filter((result) => result.status === "rejected");
  assert.ok(refused.length >= 1);
  for (const result of refused) {
    assert.ok(result.reason instanceof RuntimeUnavailableError);
    assert.equal(result.reason.errorType, "Runtime.Unavailable");
  }
  assert.equal(sandbox.refusedInvocations, refused.length);
  const starts = sandbox.events.filter((entry) =>
    entry.event.type === "platform.start"
  );
  assert.equal(starts.length, 3 - refused.length, "a refused one never starts");
  // Sent again once a worker is back, it runs.
  const record = await sandbox.invokeWhenTaken({ style: "json" });
  assert.equal(record.status, "success");
  await sandbox.shutdown();
});

Deno.test("managed sandbox: queueInvocations keeps what no worker takes for later", async () => {
  await using sandbox = await startManagedSandbox({
    fn: NODE_DEMO,
    maxConcurrency: 2,
    queueInvocations: true,
  });
  const records = await Promise.all(
    Array.from({ length: 5 }, () => sandbox.invoke({ style: "json" })),
  );
  assert.equal(records.length, 5);
  assert.equal(sandbox.refusedInvocations, 0);
  await sandbox.shutdown();
});
