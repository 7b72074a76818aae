/**
 * kinesis-telemetry from source in the local Lambda sandbox, writing to
 * kinesalite: what the extension received must be in the stream, event by
 * event, with its envelope, byte-exact.
 */
import assert from "node:assert/strict";
import { decodeRecord } from "../../scripts/lib/decode.ts";
import { readAllRecords } from "../../scripts/lib/kinesis_read.ts";
import { projectExtension } from "../../scripts/sandbox/extension_specs.ts";
import { startLocalKinesis } from "../../scripts/sandbox/kinesis_local.ts";
import { startSandbox } from "../../scripts/sandbox/sandbox.ts";
import { FROZEN_STATE } from "../../scripts/sandbox/limits.ts";
import { JAVA_FUNCTION } from "../../scripts/sandbox/runtime_clients.ts";
import {
  ACCOUNT_ID,
  FUNCTION_NAME,
  GREETING,
  NODE_DEMO,
  type PipelineRun,
  PYTHON_DEMO,
  REGION,
  runPipeline,
} from "./_pipeline.ts";
import { ENVELOPE_KEYS } from "../helpers/envelope.ts";

/**
 * The first PutRecords of a process loads and warms the SDK and can outlast
 * the default 200 ms hold; an abandoned request whose outcome is unknown is
 * sent again (announced as a possible duplicate). Tests that demand exactly
 * once give the hold room so no request is abandoned.
 */
const NO_ABANDON = { KINESIS_TELEMETRY_MAX_HOLD_MS: "5000" };

const ENVIRONMENT_ID = /^[A-Za-z0-9_-]{16}$/;
const utf8 = new TextEncoder();

/**
 * Asserts every acknowledged event is in the stream, once unless the
 * summary announced it as a possible duplicate (a request abandoned at a
 * deadline on a loaded machine, its records stored after all, sent again),
 * and nothing else is.
 */
function assertExactlyOnce(run: PipelineRun): void {
  const { check } = run;
  assert.deepEqual(check.lost, [], "acknowledged but not in the stream");
  assert.ok(
    check.duplicates.length <= Number(run.summary.possibleDuplicates ?? 0),
    `${check.duplicates.length} in the stream twice, ${
      run.summary.possibleDuplicates ?? 0
    } announced`,
  );
  assert.deepEqual(check.unexpected, [], "in the stream but never emitted");
  assert.deepEqual(check.droppedBeforeListener, []);
  assert.equal(check.delivered, check.received);
  // Only the extension's own last lines (written after it stopped listening)
  // were never offered to it.
  assert.deepEqual(
    [...new Set(check.neverReceived.map((event) => event.type))],
    check.neverReceived.length ? ["extension"] : [],
  );
  assert.equal(run.summary.received, check.received);
  assert.equal(run.summary.delivered, check.received);
  assert.equal(run.summary.droppedTotal ?? 0, 0);
}

/** Asserts the extension ended by itself with code 0 before the deadline. */
function assertCleanExit(run: PipelineRun): void {
  const [extension] = run.shutdown.extensions;
  assert.equal(extension.exitedByItself, true);
  assert.equal(extension.exitCode, 0);
  assert.ok(extension.durationMs < run.shutdown.budgetMs);
}

Deno.test("Node function, Text logs, KPL: everything received is in Kinesis once, with its envelope", async () => {
  const run = await runPipeline({
    fn: NODE_DEMO,
    env: NO_ABANDON,
    payloads: [
      { style: "text" },
      { style: "json" },
      { style: "text", logLines: 30, lineBytes: 300 },
      { fail: true },
      { style: "text" },
    ],
  });
  assertExactlyOnce(run);
  assertCleanExit(run);
  assert.ok(run.check.received > 50, `received ${run.check.received}`);

  // Envelope: key order, context, one environment.
  for (const { envelope } of run.decoded) {
    assert.deepEqual(Object.keys(envelope), ENVELOPE_KEYS);
    assert.equal(envelope.function, `${FUNCTION_NAME}:$LATEST`);
    assert.equal(envelope.region, REGION);
    assert.equal(envelope.accountId, ACCOUNT_ID);
    assert.match(envelope.environmentId, ENVIRONMENT_ID);
  }
  assert.equal(run.check.environmentIds.length, 1);
  // KPL user records keep their own partition keys.
  assert.ok(
    run.decoded.every((event) => typeof event.partitionKey === "string"),
  );

  // Multi-byte text: the record's JSON bytes appear unchanged in the record.
  const greetings = run.decoded.filter((event) =>
    event.envelope.type === "function" &&
    String(event.envelope.record).includes(GREETING)
  );
  // One greeting per invocation, counted by event id: an announced copy
  // (assertExactlyOnce) is the same event.
  assert.equal(
    new Set(
      greetings.map(({ envelope }) =>
        `${envelope.environmentId}/${envelope.seq}`
      ),
    ).size,
    run.invocations.length,
  );
  for (const { envelope, bytes } of greetings) {
    const expected = utf8.encode(JSON.stringify(envelope.record));
    assert.ok(
      indexOfBytes(bytes, expected) >= 0,
      "record bytes differ from what Lambda sent",
    );
    assert.ok(indexOfBytes(bytes, utf8.encode("🚀")) >= 0);
  }

  // Every invocation's runtimeDone and report arrived, the last one's during SHUTDOWN.
  for (const invocation of run.invocations) {
    for (
      const type of [
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
      ]
    ) {
      assert.ok(
        run.decoded.some((event) =>
          event.envelope.type === type &&
          (event.envelope.record as { requestId: string }).requestId ===
            invocation.requestId
        ),
        `${type} of ${invocation.requestId}`,
      );
    }
  }
  const lastReport = run.sandbox.events.find((entry) =>
    entry.event.type === "platform.report" &&
    (entry.event.record as { requestId: string }).requestId ===
      run.invocations.at(-1)!.requestId
  )!;
  assert.ok(lastReport.acknowledgedAt! >= run.shutdownStartedAt);
  const failedReport = run.decoded.find((event) =>
    event.envelope.type === "platform.report" &&
    (event.envelope.record as { status: string }).status === "error"
  );
  assert.ok(failedReport, "the failed invocation's report");

  // Under Lambda's 128 MB limits, over TLS, with the real Node client; the
  // runtime's SIGTERM lines reached the stream too.
  assert.equal(
    run.sandbox.limits.enforced,
    true,
    `${run.sandbox.limits.reason}`,
  );
  assert.ok(
    run.decoded.some((event) =>
      event.envelope.type === "function" &&
      String(event.envelope.record).includes("SIGTERM handler done")
    ),
  );

  // Frozen between invocations.
  for (const states of run.statesBetweenInvocations) {
    const frozen = FROZEN_STATE[run.sandbox.limits.freezer];
    assert.deepEqual(states, { runtime: frozen, extension: frozen });
  }
});

Deno.test("Node function, JSON logs, ndjson: structured records arrive as objects", async () => {
  const run = await runPipeline({
    fn: NODE_DEMO,
    logFormat: "JSON",
    env: { ...NO_ABANDON, KINESIS_TELEMETRY_FORMAT: "ndjson" },
    payloads: [{ style: "json" }, { style: "text" }, {
      style: "json",
      fail: true,
    }],
  });
  assertExactlyOnce(run);
  assertCleanExit(run);
  const records = run.decoded.filter((event) =>
    event.envelope.type === "function"
  )
    .map((event) => event.envelope.record as Record<string, unknown>);
  const [first] = run.invocations;
  const received = records.find((record) =>
    record.requestId === first.requestId &&
    (record.message as { msg?: string })?.msg === "order received"
  );
  assert.ok(received, JSON.stringify(records.slice(0, 3)));
  assert.equal(received.level, "INFO");
  assert.equal((received.message as { greeting: string }).greeting, GREETING);
  assert.ok(
    records.some((record) =>
      record.level === "ERROR" &&
      record.requestId === run.invocations[2].requestId
    ),
  );
  assert.ok(run.decoded.every((event) => event.partitionKey === undefined));
});

Deno.test("Python function, Text logs, json records: the extension works beside it unchanged", async () => {
  const run = await runPipeline({
    fn: PYTHON_DEMO,
    env: { ...NO_ABANDON, KINESIS_TELEMETRY_FORMAT: "json" },
    payloads: [{ style: "text" }, { fail: true }, { style: "json" }],
  });
  assertExactlyOnce(run);
  assertCleanExit(run);
  const lines = run.decoded.filter((event) =>
    event.envelope.type === "function"
  )
    .map((event) => String(event.envelope.record));
  assert.ok(lines.includes(`order received — ${GREETING}`), lines.join("\n"));
  assert.ok(lines.some((line) => line.startsWith("[ERROR]\t")));
  assert.equal(
    run.decoded.filter((event) => event.envelope.type === "platform.report")
      .length,
    3,
  );
});

Deno.test("Java 21 function through AWS's Java runtime client, 128 MB limits, TLS: the layer works beside it unchanged, its SIGTERM lines included", async () => {
  const run = await runPipeline({
    fn: JAVA_FUNCTION,
    env: { ...NO_ABANDON, KINESIS_TELEMETRY_FORMAT: "json" },
    payloads: [{ style: "text" }, { fail: true }, { style: "json" }],
  });
  assertExactlyOnce(run);
  assertCleanExit(run);
  assert.equal(
    run.sandbox.limits.enforced,
    true,
    `${run.sandbox.limits.reason}`,
  );
  assert.equal(run.sandbox.limits.memoryMB, 128);
  const lines = run.decoded.filter((event) =>
    event.envelope.type === "function"
  )
    .map((event) => String(event.envelope.record));
  assert.ok(
    lines.some((line) => line.includes(`order received — ${GREETING}`)),
    lines.join("\n"),
  );
  assert.ok(lines.some((line) => line.includes("SIGTERM handler done")));
  const failed = run.decoded.find((event) =>
    event.envelope.type === "platform.report" &&
    (event.envelope.record as { status: string }).status === "error"
  );
  assert.ok(failed, "the failed invocation's report");
});

Deno.test("default settings: nothing received is lost, and any duplicate was announced", async () => {
  const run = await runPipeline({
    fn: NODE_DEMO,
    payloads: [{ style: "text" }, { style: "json" }, { style: "text" }],
  });
  assert.deepEqual(run.check.lost, []);
  assert.deepEqual(run.check.unexpected, []);
  assert.ok(
    run.check.duplicates.length <= Number(run.summary.possibleDuplicates ?? 0),
    `${run.check.duplicates.length} duplicates, ${run.summary.possibleDuplicates} announced`,
  );
  assertCleanExit(run);
});

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (
    let start = 0;
    start + needle.length <= haystack.length;
    start++
  ) {
    for (let offset = 0; offset < needle.length; offset++) {
      if (haystack[start + offset] !== needle[offset]) continue outer;
    }
    return start;
  }
  return -1;
}

Deno.test("KINESIS_TELEMETRY_FLUSH=end: an invocation's events are in Kinesis before the environment freezes", async () => {
  const kinesis = await startLocalKinesis({ tls: true });
  try {
    await kinesis.createStream("telemetry", 1);
    await using sandbox = await startSandbox({
      fn: NODE_DEMO,
      extensions: [
        projectExtension({
          KINESIS_TELEMETRY_STREAM: "telemetry",
          ...kinesis.clientEnv(),
          KINESIS_TELEMETRY_LISTENER_PORT: "0",
          KINESIS_TELEMETRY_FLUSH: "end",
          ...NO_ABANDON,
        }),
      ],
    });
    for (const payload of [{ style: "text" }, { style: "json" }]) {
      const invocation = await sandbox.invoke(payload);
      assert.ok(sandbox.frozen);
      const stored = (await readAllRecords(kinesis.client, "telemetry"))
        .flatMap((record) => decodeRecord(record.data))
        .map((event) => event.envelope)
        .filter((envelope) =>
          JSON.stringify(envelope.record).includes(invocation.requestId)
        );
      const types = stored.map((envelope) => envelope.type);
      assert.ok(types.includes("platform.start"), types.join());
      assert.ok(types.includes("platform.runtimeDone"), types.join());
      assert.ok(types.filter((type) => type === "function").length >= 3);
    }
    await sandbox.shutdown();
  } finally {
    await kinesis.stop();
  }
});

Deno.test("a log line larger than a record arrives truncated, marked, and matched by its prefix", async () => {
  const run = await runPipeline({
    fn: NODE_DEMO,
    env: { ...NO_ABANDON, KINESIS_TELEMETRY_MAX_RECORD_BYTES: "65536" },
    payloads: [{ style: "text", logLines: 1, lineBytes: 100_000 }],
  });
  assertExactlyOnce(run);
  assert.equal(run.check.truncated, 1);
  assert.equal(run.summary.truncated, 1);
  const [cut] = run.decoded.filter((event) => event.envelope.truncated);
  assert.equal(cut.envelope.type, "function");
  assert.ok(cut.bytes.length <= 65536);
  const original = run.sandbox.events.find((entry) =>
    entry.event.type === "function" &&
    String(entry.event.record).includes("line 0 xxx")
  )!;
  assert.ok(
    String(original.event.record).startsWith(String(cut.envelope.record)),
  );
  assert.ok(cut.envelope.truncated!.originalBytes > 100_000);
});

Deno.test("a misconfigured extension reports /init/error and init fails with its message", async () => {
  await assert.rejects(
    startSandbox({
      fn: NODE_DEMO,
      extensions: [
        projectExtension({ KINESIS_TELEMETRY_FORMAT: "csv" }),
      ],
    }),
    (error: Error) => {
      assert.match(error.message, /sandbox init failed/);
      assert.match(error.message, /kinesis-telemetry init\/error Extension\./);
      assert.match(error.message, /KINESIS_TELEMETRY_/);
      return true;
    },
  );
});
