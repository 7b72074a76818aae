/**
 * The sandbox end to end with real processes: the bare extension or the
 * fixture extension beside the Node demo function and the Python function.
 */
import assert from "node:assert/strict";
import { processState } from "../../../scripts/sandbox/child_process.ts";
import { FROZEN_STATE } from "../../../scripts/sandbox/limits.ts";
import { bareExtension } from "../../../scripts/sandbox/extension_specs.ts";
import { BARE_EXTENSION_NAME } from "../../../scripts/sandbox/bare_extension.ts";
import {
  type FunctionSpec,
  type Sandbox,
  startSandbox,
} from "../../../scripts/sandbox/sandbox.ts";
import {
  FIXTURE_EXTENSION_NAME,
  fixtureExtension,
} from "./_fixture_extension.ts";

const NODE_DEMO: FunctionSpec = {
  runtime: "node",
  taskRoot: new URL("../../../infra/demo-function", import.meta.url).pathname,
  handler: "index.handler",
};

const PYTHON_DEMO: FunctionSpec = {
  runtime: "python",
  taskRoot:
    new URL("../../../scripts/sandbox/functions/python", import.meta.url)
      .pathname,
  handler: "handler.handler",
};

const GREETING = "héllo wörld ✓ 日本語 🚀";

function eventsOfType(sandbox: Sandbox, type: string) {
  return sandbox.events.filter((entry) => entry.event.type === type);
}

function recordOf(sandbox: Sandbox, type: string, requestId: string) {
  return eventsOfType(sandbox, type).find((entry) =>
    (entry.event.record as { requestId?: string }).requestId === requestId
  );
}

Deno.test("init emits the platform events in Lambda's order and freezes the processes", async () => {
  await using sandbox = await startSandbox({
    fn: NODE_DEMO,
    extensions: [bareExtension()],
  });
  const platformTypes = sandbox.events.map((entry) => entry.event.type)
    .filter((type) => type.startsWith("platform."));
  // The subscription races the runtime's start; the rest is ordered.
  assert.deepEqual(
    platformTypes.filter((type) => type !== "platform.telemetrySubscription"),
    [
      "platform.initStart",
      "platform.extension",
      "platform.initRuntimeDone",
      "platform.initReport",
    ],
  );
  assert.ok(
    platformTypes.indexOf("platform.telemetrySubscription") >
      platformTypes.indexOf("platform.extension"),
  );
  const initReport = eventsOfType(sandbox, "platform.initReport")[0].event
    .record as { metrics: { durationMs: number }; status: string };
  assert.equal(initReport.status, "success");
  assert.ok(initReport.metrics.durationMs > 0);
  assert.equal(
    initReport.metrics.durationMs,
    Math.round(sandbox.initDurationMs * 1000) / 1000,
  );
  assert.deepEqual(
    eventsOfType(sandbox, "platform.extension")[0].event.record,
    {
      name: BARE_EXTENSION_NAME,
      state: "Ready",
      events: ["INVOKE", "SHUTDOWN"],
    },
  );
  assert.ok(sandbox.frozen);
  const ids = sandbox.processIds();
  const frozen = FROZEN_STATE[sandbox.limits.freezer];
  assert.equal(await processState(ids.runtime!), frozen);
  assert.equal(
    await processState(ids.extensions[BARE_EXTENSION_NAME]),
    frozen,
  );
});

Deno.test("an invocation runs the Node demo function and reports real timings", async () => {
  await using sandbox = await startSandbox({
    fn: NODE_DEMO,
    extensions: [bareExtension()],
    memorySizeMB: 256,
  });
  const first = await sandbox.invoke({ style: "text" });
  assert.equal(first.status, "success");
  assert.equal(JSON.parse(first.response).ok, true);
  assert.ok(first.runtimeDurationMs > 0);
  assert.ok(first.durationMs >= first.runtimeDurationMs);
  assert.ok(first.maxMemoryUsedMB > 10, `memory ${first.maxMemoryUsedMB}`);
  const failed = await sandbox.invoke({ fail: true });
  assert.equal(failed.status, "error");
  assert.equal(failed.errorType, "Error");
  assert.match(JSON.parse(failed.response).errorMessage, /payment declined/);

  const start = recordOf(sandbox, "platform.start", first.requestId)!.event
    .record as Record<string, unknown>;
  assert.equal(start.version, "$LATEST");
  const runtimeDone = recordOf(
    sandbox,
    "platform.runtimeDone",
    first.requestId,
  )!.event.record as {
    status: string;
    metrics: { durationMs: number; producedBytes: number };
    spans: { name: string }[];
  };
  assert.equal(runtimeDone.status, "success");
  assert.equal(runtimeDone.metrics.producedBytes, first.response.length);
  assert.deepEqual(runtimeDone.spans.map((span) => span.name), [
    "responseLatency",
    "responseDuration",
  ]);
  const report = recordOf(sandbox, "platform.report", first.requestId)!.event
    .record as { metrics: Record<string, number> };
  assert.equal(report.metrics.memorySizeMB, 256);
  assert.equal(report.metrics.maxMemoryUsedMB, first.maxMemoryUsedMB);
  assert.equal(report.metrics.billedDurationMs, Math.ceil(first.durationMs));
  assert.ok(report.metrics.initDurationMs > 0);
  const secondReport = recordOf(sandbox, "platform.report", failed.requestId)!
    .event.record as { status: string; errorType: string; metrics: object };
  assert.equal(secondReport.status, "error");
  assert.equal(secondReport.errorType, "Error");
  assert.ok(!("initDurationMs" in secondReport.metrics));

  // Text format: Lambda's tab-separated lines, multi-byte text intact, and
  // every line of the invocation before its runtimeDone.
  const functionLines = sandbox.events.filter((entry) =>
    entry.event.type === "function" &&
    String(entry.event.record).includes(first.requestId)
  );
  assert.ok(
    functionLines.some((entry) =>
      String(entry.event.record).endsWith(
        `\tINFO\torder received: 2 item(s) — ${GREETING}`,
      )
    ),
  );
  const runtimeDoneIndex = sandbox.events.findIndex((entry) =>
    entry.event.type === "platform.runtimeDone"
  );
  for (const line of functionLines) {
    assert.ok(sandbox.events.indexOf(line) < runtimeDoneIndex);
  }
});

Deno.test("between invocations everything is frozen and the report of N is delivered only after the thaw for N+1", async () => {
  await using sandbox = await startSandbox({
    fn: NODE_DEMO,
    // A buffering timeout longer than the post-runtime phase of a loaded
    // machine: with 25 ms, runtimeDone's batch could come due (and take the
    // report along) before the freeze, as Lambda may do too.
    extensions: [bareExtension(2_000)],
  });
  const first = await sandbox.invoke({});
  const ids = sandbox.processIds();
  const frozen = FROZEN_STATE[sandbox.limits.freezer];
  assert.equal(await processState(ids.runtime!), frozen);
  assert.equal(
    await processState(ids.extensions[BARE_EXTENSION_NAME]),
    frozen,
  );
  const report = recordOf(sandbox, "platform.report", first.requestId)!;
  assert.deepEqual(report.acknowledgedBy, []);
  const thawedAfter = Date.now();
  const second = await sandbox.invoke({});
  // Delivered at the thaw, before the second invocation was handed out.
  assert.deepEqual(report.acknowledgedBy, [BARE_EXTENSION_NAME]);
  assert.ok(report.acknowledgedAt! >= thawedAfter);
  assert.ok(report.acknowledgedAt! <= second.startedAt);
  assert.deepEqual(
    recordOf(sandbox, "platform.report", second.requestId)!.acknowledgedBy,
    [],
  );
  const shutdown = await sandbox.shutdown();
  // The last report goes out at SHUTDOWN, before the extension is told.
  assert.deepEqual(
    recordOf(sandbox, "platform.report", second.requestId)!.acknowledgedBy,
    [BARE_EXTENSION_NAME],
  );
  assert.equal(shutdown.extensions[0].exitedByItself, true);
  assert.equal(shutdown.extensions[0].exitCode, 0);
  const summary = JSON.parse(sandbox.extensionLog.at(-1)!.line);
  assert.equal(summary.msg, "summary");
  const acknowledged = sandbox.events.filter((entry) =>
    entry.acknowledgedBy.length > 0
  );
  assert.equal(summary.received, acknowledged.length);
  // Only the extension's own last line came too late to be offered.
  assert.deepEqual(
    sandbox.events.filter((entry) => entry.acknowledgedBy.length === 0).map((
      entry,
    ) => entry.event.type),
    ["extension"],
  );
});

Deno.test("with freezing off the processes keep running between invocations", async () => {
  await using sandbox = await startSandbox({
    fn: NODE_DEMO,
    extensions: [bareExtension()],
    freeze: false,
  });
  await sandbox.invoke({});
  assert.equal(sandbox.frozen, false);
  const ids = sandbox.processIds();
  assert.notEqual(await processState(ids.runtime!), "T");
  assert.notEqual(await processState(ids.extensions[BARE_EXTENSION_NAME]), "T");
});

Deno.test("the JSON log format passes the runtime's JSON lines as objects", async () => {
  await using sandbox = await startSandbox({
    fn: NODE_DEMO,
    extensions: [bareExtension()],
    logFormat: "JSON",
  });
  const invocation = await sandbox.invoke({ style: "json" });
  const records = eventsOfType(sandbox, "function").map((entry) =>
    entry.event.record as Record<string, unknown>
  );
  const received = records.find((record) =>
    (record.message as { msg?: string })?.msg === "order received"
  );
  assert.ok(received, JSON.stringify(records));
  assert.equal(received.level, "INFO");
  assert.equal(received.requestId, invocation.requestId);
  assert.equal((received.message as { greeting: string }).greeting, GREETING);
  assert.ok(
    records.some((record) =>
      record.level === "WARN" &&
      String(record.message).startsWith("stock level low")
    ),
  );
});

Deno.test("the Python runtime runs the Python handler with Lambda's log lines", async () => {
  await using sandbox = await startSandbox({
    fn: PYTHON_DEMO,
    extensions: [bareExtension()],
  });
  const ok = await sandbox.invoke({ style: "text" });
  assert.equal(ok.status, "success");
  assert.equal(JSON.parse(ok.response).runtime, "python");
  const failed = await sandbox.invoke({ fail: true });
  assert.equal(failed.status, "error");
  assert.equal(failed.errorType, "RuntimeError");
  const lines = eventsOfType(sandbox, "function").map((entry) =>
    entry.event.record as string
  );
  assert.ok(lines.includes(`order received — ${GREETING}`), lines.join("\n"));
  assert.ok(
    lines.some((line) =>
      line.startsWith("[WARNING]\t") && line.includes(`\t${ok.requestId}\t`)
    ),
  );
  await sandbox.shutdown();
});

Deno.test("the Python runtime in the JSON log format: logging as objects, print() wrapped", async () => {
  await using sandbox = await startSandbox({
    fn: PYTHON_DEMO,
    extensions: [bareExtension()],
    logFormat: "JSON",
  });
  const invocation = await sandbox.invoke({ style: "text" });
  const records = eventsOfType(sandbox, "function").map((entry) =>
    entry.event.record as Record<string, string>
  );
  assert.ok(
    records.some((record) =>
      record.message === `order received — ${GREETING}` &&
      record.level === "INFO" && record.requestId === invocation.requestId
    ),
  );
  assert.ok(
    records.some((record) =>
      record.logger === "demo" && record.level === "WARNING"
    ),
  );
});

Deno.test("the APIs answer bad calls like Lambda", async () => {
  Deno.env.set("SANDBOX_TEST_HOST_ONLY", "must not leak");
  const starting = startSandbox({
    fn: { ...NODE_DEMO, variables: { ORDERS_TABLE: "orders" } },
    extensions: [fixtureExtension("probe")],
    accountId: "210987654321",
    functionName: "probe-fn",
    memorySizeMB: 512,
    region: "eu-central-1",
  }).finally(() => Deno.env.delete("SANDBOX_TEST_HOST_ONLY"));
  await using sandbox = await starting;
  const env = sandbox.extensionLog.map((line) => JSON.parse(line.line))
    .find((parsed) => parsed.env)?.env;
  assert.equal(env.AWS_LAMBDA_RUNTIME_API, sandbox.runtimeApi);
  assert.equal(env.AWS_LAMBDA_FUNCTION_NAME, "probe-fn");
  assert.equal(env.AWS_LAMBDA_FUNCTION_VERSION, "$LATEST");
  assert.equal(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, "512");
  assert.equal(env.AWS_REGION, "eu-central-1");
  assert.equal(env.AWS_DEFAULT_REGION, "eu-central-1");
  assert.equal(env.AWS_LAMBDA_LOG_FORMAT, "Text");
  assert.equal(env.LAMBDA_TASK_ROOT, NODE_DEMO.taskRoot);
  assert.equal(env._HANDLER, "index.handler");
  assert.equal(env.ORDERS_TABLE, "orders");
  assert.ok(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY);
  assert.equal(env.TZ, ":UTC");
  assert.equal(env.SANDBOX_TEST_HOST_ONLY, undefined);
  const statuses = Object.fromEntries(
    sandbox.extensionLog.flatMap((line) => {
      const parsed = JSON.parse(line.line);
      return parsed.probe ? [[parsed.probe, parsed.status]] : [];
    }),
  );
  assert.deepEqual(statuses, {
    "register-without-name": 400,
    "register-unknown-name": 403,
    "register-bad-event": 400,
    "register-twice": 403,
    "subscribe-without-id": 400,
    "subscribe-unknown-id": 403,
    "subscribe-bad-schema": 400,
    "subscribe-bad-type": 400,
    "subscribe-small-items": 400,
    "subscribe-big-timeout": 400,
    "subscribe-bad-host": 400,
    "subscribe-reserved-port": 400,
    "subscribe-not-json": 400,
    "next-unknown-id": 403,
  });
  const registered = sandbox.extensionLog.map((line) => JSON.parse(line.line))
    .find((parsed) => parsed.registered)?.registered;
  assert.deepEqual(registered, {
    functionName: "probe-fn",
    functionVersion: "$LATEST",
    handler: "index.handler",
    accountId: "210987654321",
  });
  const api = `http://${sandbox.runtimeApi}`;
  const lateRegister = await fetch(`${api}/2020-01-01/extension/register`, {
    method: "POST",
    headers: { "Lambda-Extension-Name": FIXTURE_EXTENSION_NAME },
    body: "{}",
  });
  assert.equal(lateRegister.status, 403);
  await lateRegister.body?.cancel();
  const unknownRequest = await fetch(
    `${api}/2018-06-01/runtime/invocation/nope/response`,
    { method: "POST", body: "{}" },
  );
  assert.equal(unknownRequest.status, 400);
  assert.equal((await unknownRequest.json()).errorType, "InvalidRequestID");
  const notAnApi = await fetch(`${api}/2015-03-31/functions`);
  assert.equal(notAnApi.status, 404);
  await notAnApi.body?.cancel();
});

Deno.test("post-runtime time is the time extensions take after the response", async () => {
  await using sandbox = await startSandbox({
    fn: NODE_DEMO,
    extensions: [
      fixtureExtension("slow-post-runtime", { FIXTURE_POST_RUNTIME_MS: "300" }),
    ],
  });
  const invocation = await sandbox.invoke({ delayMs: 0 });
  // The extension waits 300 ms from INVOKE; the runtime answers well before.
  assert.ok(invocation.durationMs >= 300, `${invocation.durationMs}`);
  assert.ok(invocation.postRuntimeMs > 0);
  assert.ok(
    Math.abs(
      invocation.durationMs -
        (invocation.runtimeDurationMs + invocation.postRuntimeMs),
    ) < 0.01,
  );
  const report = recordOf(sandbox, "platform.report", invocation.requestId)!
    .event.record as { metrics: { durationMs: number } };
  assert.ok(report.metrics.durationMs >= 300);
});

Deno.test("a listener that keeps failing: the batch is dropped after retries and logsDropped follows", async () => {
  await using sandbox = await startSandbox({
    fn: NODE_DEMO,
    extensions: [fixtureExtension("failing-listener")],
    delivery: {
      maxAttempts: 2,
      initialBackoffMs: 5,
      maxBackoffMs: 5,
      requestTimeoutMs: 2_000,
    },
    freeze: false,
  });
  await sandbox.invoke({});
  const deadline = Date.now() + 5_000;
  while (
    eventsOfType(sandbox, "platform.logsDropped").length === 0 &&
    Date.now() < deadline
  ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const dropped = eventsOfType(sandbox, "platform.logsDropped")[0];
  assert.ok(dropped, "no platform.logsDropped");
  const record = dropped.event.record as {
    droppedRecords: number;
    droppedBytes: number;
    reason: string;
  };
  assert.ok(record.droppedRecords >= 1);
  assert.ok(record.droppedBytes > 0);
  assert.match(record.reason, /dropped/);
  assert.ok(
    sandbox.events.some((entry) =>
      entry.droppedBy.includes(FIXTURE_EXTENSION_NAME)
    ),
  );
  assert.equal(
    sandbox.events.filter((entry) => entry.acknowledgedBy.length > 0).length,
    0,
  );
});

Deno.test("an extension that ignores SHUTDOWN is killed at the deadline", async () => {
  await using sandbox = await startSandbox({
    fn: NODE_DEMO,
    extensions: [fixtureExtension("ignore-shutdown")],
    shutdownBudgetMs: 300,
  });
  await sandbox.invoke({});
  const shutdown = await sandbox.shutdown();
  const [extension] = shutdown.extensions;
  assert.equal(extension.exitedByItself, false);
  assert.equal(extension.signal, "SIGKILL");
  assert.ok(extension.durationMs >= 300);
  assert.equal(shutdown.budgetMs, 300);
});

Deno.test("init fails with a clear error when an extension never registers", async () => {
  const started = performance.now();
  await assert.rejects(
    startSandbox({
      fn: NODE_DEMO,
      extensions: [{ name: "sleeper", argv: ["sleep", "30"] }],
      initTimeoutMs: 500,
    }),
    /extensions did not register: sleeper/,
  );
  assert.ok(performance.now() - started < 5_000);
});

Deno.test("init fails with the extension's output when it exits early", async () => {
  await assert.rejects(
    startSandbox({
      fn: NODE_DEMO,
      extensions: [{
        name: "crasher",
        argv: ["sh", "-c", "echo cannot start >&2; exit 3"],
      }],
    }),
    /crasher exited during init \(code 3\).*cannot start/s,
  );
});

Deno.test("init fails when the handler cannot be loaded", async () => {
  await assert.rejects(
    startSandbox({
      fn: { ...NODE_DEMO, handler: "missing.handler" },
      extensions: [bareExtension()],
    }),
    /init error Runtime.ImportModuleError/,
  );
});

Deno.test("SHUTDOWN: the runtime gets SIGTERM first, its handler's lines go out as telemetry, then the extensions get SHUTDOWN", async () => {
  await using sandbox = await startSandbox({
    fn: NODE_DEMO,
    extensions: [bareExtension()],
    limits: false,
  });
  await sandbox.invoke({});
  const shutdown = await sandbox.shutdown();
  // aws-lambda-ric 4.0.2 does not end on process.exit() while its native
  // client waits in /next: it is killed after its 300 ms (as it would be in
  // Lambda), and its lines are out by then either way.
  assert.ok(shutdown.runtime);
  const sigtermLines = eventsOfType(sandbox, "function").filter((entry) =>
    String(entry.event.record).includes("SIGTERM")
  );
  assert.equal(sigtermLines.length, 2);
  for (const line of sigtermLines) {
    assert.deepEqual(line.acknowledgedBy, [BARE_EXTENSION_NAME]);
  }
  // The runtime had ended before any extension was told.
  const extension = shutdown.extensions[0];
  assert.ok(extension.exitedByItself);
  assert.ok(shutdown.runtime!.durationMs <= extension.durationMs);
});

Deno.test("SHUTDOWN: a runtime that ignores SIGTERM is killed after its share and the extensions still get theirs", async () => {
  await using sandbox = await startSandbox({
    fn: {
      runtime: "node",
      taskRoot: new URL("./functions/hog", import.meta.url).pathname,
      handler: "index.handler",
    },
    extensions: [bareExtension()],
    limits: false,
  });
  await sandbox.invoke({ ignoreSigterm: true });
  const shutdown = await sandbox.shutdown();
  assert.equal(shutdown.runtime?.exitedByItself, false);
  assert.equal(shutdown.runtime?.signal, "SIGKILL");
  assert.ok(shutdown.extensions[0].exitedByItself);
  assert.ok(
    eventsOfType(sandbox, "function").some((entry) =>
      String(entry.event.record).includes("SIGTERM ignored")
    ),
  );
});
