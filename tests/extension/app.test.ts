import assert from "node:assert/strict";
import {
  type ExtensionDeps,
  runExtension,
  type ServeFunction,
} from "../../extension/app.ts";
import {
  createSdkPutter,
  KinesisRequestError,
  kinesisTarget,
} from "../../extension/kinesis_client.ts";
import { realTimers, type Timers } from "../../extension/progress.ts";
import { SPILL_ROOT } from "../../extension/config.ts";
import { serveWithDeno } from "../../extension/main.ts";
import { decodeRecord, type Envelope } from "../../scripts/lib/decode.ts";
import { compressionOf } from "../../extension/compression.ts";
import { deaggregate } from "../../extension/kpl.ts";
import { readAllRecords } from "../../scripts/lib/kinesis_read.ts";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalKinesis,
  startLocalKinesis,
} from "../../scripts/sandbox/kinesis_local.ts";
import {
  type RecordedCall,
  type ScriptedApi,
  type ScriptedApiOptions,
  startScriptedApi,
} from "../helpers/scripted_extensions_api.ts";
import { hang, rejectWith, ScriptedPutter } from "./_core_fixtures.ts";
import { ENVELOPE_KEYS } from "../helpers/envelope.ts";

const STREAM = "app-test";
const ENVIRONMENT_ID = "0b5c4a64-5f8e-4c3e-9d7a-2f1f6b1f7a10";

/** main.ts's Deno.serve, held to the loopback address the tests configure. */
const serveLoopback: ServeFunction = (port, handler, hostname) => {
  assert.equal(hostname, "127.0.0.1", "KINESIS_TELEMETRY_LISTENER_HOST");
  return serveWithDeno(port, handler, hostname);
};

interface Run {
  exit: Promise<number>;
  lines: Record<string, unknown>[];
  summary(): Record<string, unknown>;
}

/** Starts runExtension in this process against `api` (and `kinesis` when given). */
function start(
  api: ScriptedApi,
  options: {
    kinesis?: LocalKinesis;
    env?: Record<string, string | undefined>;
    deps?: Partial<ExtensionDeps>;
  } = {},
): Run {
  const env: Record<string, string | undefined> = {
    AWS_LAMBDA_RUNTIME_API: api.runtimeApi,
    KINESIS_TELEMETRY_STREAM: STREAM,
    KINESIS_TELEMETRY_LISTENER_PORT: "0",
    KINESIS_TELEMETRY_LISTENER_HOST: "127.0.0.1",
    AWS_REGION: LOCAL_REGION,
    AWS_ENDPOINT_URL_KINESIS: options.kinesis?.endpoint ??
      "http://127.0.0.1:9",
    ...options.env,
  };
  const lines: Record<string, unknown>[] = [];
  const exit = runExtension({
    env: (name) => env[name],
    extensionName: "kinesis-telemetry",
    createPutter: (config) =>
      createSdkPutter(kinesisTarget(config, { ...LOCAL_CREDENTIALS })),
    serve: serveLoopback,
    logSink: (line) => lines.push(JSON.parse(line)),
    environmentId: ENVIRONMENT_ID,
    ...options.deps,
  });
  return {
    exit,
    lines,
    summary: () => {
      const found = lines.filter((line) => line.msg === "summary");
      assert.equal(found.length, 1, "one summary line");
      return found[0];
    },
  };
}

const callsTo = (api: ScriptedApi, suffix: string) =>
  api.calls.filter((call) => call.path.endsWith(suffix));

function assertAccounting(summary: Record<string, unknown>) {
  assert.equal(
    summary.received,
    (summary.delivered as number) + (summary.filtered as number) +
      (summary.droppedTotal as number) + (summary.buffered as number),
    `received = delivered + filtered + dropped + buffered in ${
      JSON.stringify(summary)
    }`,
  );
}

function telemetry(type: string, record: unknown, second = 0) {
  return {
    time: `2024-05-01T12:00:${String(second).padStart(2, "0")}.000Z`,
    type,
    record,
  };
}

/** Runs `body` against a scripted Extensions API, closed afterwards. */
async function withApi(
  options: ScriptedApiOptions,
  body: (api: ScriptedApi) => Promise<void>,
): Promise<void> {
  const api = startScriptedApi(options);
  try {
    await body(api);
  } finally {
    await api.close();
  }
}

/** {@link withApi} plus a local Kinesis holding STREAM with `shards` shards. */
async function withApiAndKinesis(
  options: ScriptedApiOptions,
  shards: number,
  body: (api: ScriptedApi, kinesis: LocalKinesis) => Promise<void>,
): Promise<void> {
  const kinesis = await startLocalKinesis();
  const api = startScriptedApi(options);
  try {
    await kinesis.createStream(STREAM, shards);
    await body(api, kinesis);
  } finally {
    await api.close();
    await kinesis.stop();
  }
}

/** POSTs `events` to the listener and returns the (consumed) answer. */
async function pushEvents(
  api: ScriptedApi,
  events: unknown[],
): Promise<Response> {
  const pushed = await api.pushTelemetry(JSON.stringify(events));
  await pushed.body?.cancel();
  return pushed;
}

/** Queues SHUTDOWN with `reason`, its deadline `inMs` from now. */
function queueShutdown(api: ScriptedApi, reason = "SPINDOWN", inMs = 2_000) {
  api.queue({
    eventType: "SHUTDOWN",
    shutdownReason: reason,
    deadlineMs: Date.now() + inMs,
  });
}

const errorTypeOf = (call: RecordedCall) =>
  call.headers.get("Lambda-Extension-Function-Error-Type");

const errorMessageOf = (call: RecordedCall): string =>
  JSON.parse(call.body).errorMessage;

/** A KinesisRequestError whose outcome is known. */
const kinesisError = (message: string, code: string, permanent: boolean) =>
  new KinesisRequestError(message, { outcomeKnown: true, permanent, code });

Deno.test("app: registers, subscribes, ships pushed events to Kinesis with their envelope, exits 0", async () => {
  await withApiAndKinesis(
    { accountId: "123456789012" },
    2,
    async (api, kinesis) => {
      const run = start(api, {
        kinesis,
        env: { KINESIS_TELEMETRY_EXCLUDE_TYPES: "platform.initStart" },
      });
      await api.waitForNext(1);

      const [register] = callsTo(api, "/register");
      assert.equal(register.method, "POST");
      assert.equal(
        register.headers.get("Lambda-Extension-Name"),
        "kinesis-telemetry",
      );
      assert.equal(
        register.headers.get("Lambda-Extension-Accept-Feature"),
        "accountId",
      );
      const [subscribe] = callsTo(api, "/2022-07-01/telemetry");
      assert.equal(subscribe.method, "PUT");
      assert.equal(
        subscribe.headers.get("Lambda-Extension-Identifier"),
        "ext-id-1",
      );
      const subscription = api.subscription()!;
      const uri = (subscription.destination as { URI: string }).URI;
      assert.match(uri, /^http:\/\/sandbox\.localdomain:\d+$/);
      assert.notEqual(uri, "http://sandbox.localdomain:0");
      assert.deepEqual(subscription, {
        schemaVersion: "2022-12-13",
        types: ["platform", "function", "extension"],
        buffering: { maxItems: 1000, maxBytes: 262_144, timeoutMs: 100 },
        destination: { protocol: "HTTP", URI: uri },
      });

      const first = [
        telemetry("platform.initStart", { initializationType: "on-demand" }),
        telemetry("platform.start", { requestId: "r1", version: "$LATEST" }, 1),
        telemetry("function", "héllo from the handler 🚀\n", 2),
        null,
        telemetry(
          "platform.runtimeDone",
          { requestId: "r1", status: "success" },
          3,
        ),
      ];
      assert.equal((await pushEvents(api, first)).status, 200);

      api.queue({
        eventType: "INVOKE",
        requestId: "r2",
        deadlineMs: Date.now() + 3_000,
      });
      await api.waitForNext(2);
      // Flushed during r2, before the extension went back to /event/next.
      const midway = await readAllRecords(kinesis.client, STREAM);
      assert.equal(midway.flatMap((r) => decodeRecord(r.data)).length, 3);

      const report = telemetry("platform.report", {
        requestId: "r2",
        status: "success",
        metrics: { durationMs: 1.5, billedDurationMs: 2 },
      }, 4);
      assert.equal((await pushEvents(api, [report])).status, 200);
      queueShutdown(api);
      assert.equal(await run.exit, 0);

      const stored = await readAllRecords(kinesis.client, STREAM);
      const envelopes: Envelope[] = stored
        .flatMap((record) => decodeRecord(record.data))
        .map((decoded) => decoded.envelope)
        .sort((a, b) => a.time.localeCompare(b.time));
      const expected = [first[1], first[2], first[4], report];
      assert.deepEqual(
        envelopes,
        expected.map((event, i) => ({
          ...event,
          function: "test-function:$LATEST",
          region: LOCAL_REGION,
          accountId: "123456789012",
          environmentId: ENVIRONMENT_ID,
          // Numbered as encoded: neither the excluded event nor null.
          seq: i + 1,
        })),
      );
      // Key order is part of the contract.
      assert.deepEqual(Object.keys(envelopes[0]), ENVELOPE_KEYS);

      const summary = run.summary();
      assert.equal(summary.received, 6);
      assert.equal(summary.delivered, 4);
      assert.equal(summary.filtered, 1);
      assert.deepEqual(summary.dropped, {
        invalid_event: 1,
        shutdown_deadline: 0,
        kinesis_rejected: 0,
        spill_lost: 0,
      });
      assert.equal(summary.invocations, 1);
      assert.equal(summary.reason, "SHUTDOWN SPINDOWN");
      assertAccounting(summary);

      // The listener is closed once the extension is done.
      await assert.rejects(api.pushTelemetry("[]"));
    },
  );
});

Deno.test("app: KINESIS_TELEMETRY_COMPRESSION=gzip compresses ndjson records and kpl user records", async () => {
  for (const format of ["ndjson", "kpl"]) {
    await withApiAndKinesis({}, 1, async (api, kinesis) => {
      const run = start(api, {
        kinesis,
        env: {
          KINESIS_TELEMETRY_FORMAT: format,
          KINESIS_TELEMETRY_COMPRESSION: "gzip",
        },
      });
      await api.waitForNext(1);
      const lines = Array.from(
        { length: 30 },
        (_, i) =>
          telemetry(
            "function",
            `line ${i}: ${"a repetitive log line ".repeat(8)}`,
          ),
      );
      await pushEvents(api, lines);
      queueShutdown(api);
      assert.equal(await run.exit, 0);
      const stored = await readAllRecords(kinesis.client, STREAM);
      const payloads = format === "ndjson"
        ? stored.map((r) => r.data)
        : stored.flatMap((r) => deaggregate(r.data)!.map((u) => u.data));
      assert.ok(payloads.length > 0);
      assert.ok(
        payloads.every((p) => compressionOf(p) === "gzip"),
        `${format}: every payload is gzip`,
      );
      const decoded = stored.flatMap((r) => decodeRecord(r.data));
      assert.deepEqual(
        decoded.map((d) => d.envelope.record),
        lines.map((line) => line.record),
        format,
      );
      assertAccounting(run.summary());
    });
  }
});

Deno.test("app: without accountId from Lambda the envelope says null; a random environment id by default", async () => {
  await withApiAndKinesis({}, 1, async (api, kinesis) => {
    const run = start(api, {
      kinesis,
      env: { KINESIS_TELEMETRY_FORMAT: "ndjson" },
      deps: { environmentId: undefined },
    });
    await api.waitForNext(1);
    await pushEvents(api, [telemetry("function", "line")]);
    queueShutdown(api);
    assert.equal(await run.exit, 0);
    const stored = await readAllRecords(kinesis.client, STREAM);
    const [decoded] = stored.flatMap((r) => decodeRecord(r.data));
    assert.equal(decoded.envelope.accountId, null);
    assert.match(
      decoded.envelope.environmentId,
      /^[A-Za-z0-9_-]{16}$/,
    );
    assert.equal(decoded.partitionKey, undefined, "ndjson, not KPL");
    assertAccounting(run.summary());
  });
});

Deno.test("app: an invalid configuration is reported as Extension.ConfigInvalid and exits 1", async () => {
  await withApi({}, async (api) => {
    const run = start(api, {
      env: {
        KINESIS_TELEMETRY_FORMAT: "avro",
        KINESIS_TELEMETRY_LOG_LEVEL: "DEBUG",
      },
    });
    assert.equal(await run.exit, 1);
    assert.deepEqual(api.calls.map((call) => call.path), [
      "/2020-01-01/extension/register",
      "/2020-01-01/extension/init/error",
    ]);
    const [initError] = callsTo(api, "/init/error");
    assert.equal(errorTypeOf(initError), "Extension.ConfigInvalid");
    assert.equal(
      initError.headers.get("Lambda-Extension-Identifier"),
      "ext-id-1",
    );
    const body = JSON.parse(initError.body);
    assert.equal(body.errorType, "Extension.ConfigInvalid");
    assert.match(body.errorMessage, /^KINESIS_TELEMETRY_FORMAT: "avro"/);
    const [logged] = run.lines.filter((l) => l.msg === "invalid configuration");
    assert.match(String(logged.error), /KINESIS_TELEMETRY_FORMAT/);
    assert.equal(logged.level, "error");
  });
});

Deno.test("app: a buffer bound that cannot fit the function's memory fails init as Extension.ConfigInvalid", async () => {
  await withApi({}, async (api) => {
    const run = start(api, {
      env: {
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "128",
        KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(512 * 1024 * 1024),
      },
    });
    assert.equal(await run.exit, 1);
    const [initError] = callsTo(api, "/init/error");
    assert.equal(errorTypeOf(initError), "Extension.ConfigInvalid");
    assert.match(
      JSON.parse(initError.body).errorMessage,
      /^KINESIS_TELEMETRY_MAX_BUFFER_BYTES: 536870912 does not fit a function of 128 MB/,
    );
  });
});

Deno.test("app: a buffer bound that cannot fit the V8 heap fails init as Extension.ConfigInvalid", async () => {
  await withApi({}, async (api) => {
    const run = start(api, {
      env: { KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(64 * 1024 * 1024) },
      deps: { heapLimitBytes: () => 76 * 1024 * 1024 },
    });
    assert.equal(await run.exit, 1);
    const [initError] = callsTo(api, "/init/error");
    assert.equal(errorTypeOf(initError), "Extension.ConfigInvalid");
    assert.match(
      JSON.parse(initError.body).errorMessage,
      /V8 heap of 76 MiB/,
    );
  });
});

Deno.test("app: the V8 heap is looked up only for a buffer bound the user chose", async () => {
  await withApi({}, async (api) => {
    let lookups = 0;
    queueShutdown(api);
    const run = start(api, {
      deps: {
        heapLimitBytes: () => {
          lookups++;
          return 76 * 1024 * 1024;
        },
      },
    });
    assert.equal(await run.exit, 0);
    assert.equal(lookups, 0);
  });
  await withApi({}, async (api) => {
    let lookups = 0;
    queueShutdown(api);
    const run = start(api, {
      env: { KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(8 * 1024 * 1024) },
      deps: {
        heapLimitBytes: () => {
          lookups++;
          return 76 * 1024 * 1024;
        },
      },
    });
    assert.equal(await run.exit, 0);
    assert.equal(lookups, 1);
  });
});

Deno.test("app: a missing stream names the variable in the init error", async () => {
  await withApi({}, async (api) => {
    const run = start(api, {
      env: { KINESIS_TELEMETRY_STREAM: undefined },
    });
    assert.equal(await run.exit, 1);
    const [initError] = callsTo(api, "/init/error");
    assert.match(
      errorMessageOf(initError),
      /^KINESIS_TELEMETRY_STREAM: is required/,
    );
  });
});

Deno.test("app: a refused registration exits 1 after an init error by name", async () => {
  await withApi({ registerStatus: 403 }, async (api) => {
    const run = start(api);
    assert.equal(await run.exit, 1);
    const [initError] = callsTo(api, "/init/error");
    assert.equal(errorTypeOf(initError), "Extension.RegisterFailed");
    assert.equal(
      initError.headers.get("Lambda-Extension-Name"),
      "kinesis-telemetry",
    );
    assert.equal(callsTo(api, "/2022-07-01/telemetry").length, 0);
    assert.equal(
      run.lines.filter((l) => l.msg === "registration failed").length,
      1,
    );
  });
});

Deno.test("app: without AWS_LAMBDA_RUNTIME_API nothing is called and the exit code is 1", async () => {
  await withApi({}, async (api) => {
    const run = start(api, { env: { AWS_LAMBDA_RUNTIME_API: undefined } });
    assert.equal(await run.exit, 1);
    assert.equal(api.calls.length, 0);
    assert.match(String(run.lines[0].msg), /AWS_LAMBDA_RUNTIME_API is not set/);
  });
});

Deno.test("app: a subscription answered 500 is retried, then the extension runs", async () => {
  await withApi({ subscribeStatuses: [500] }, async (api) => {
    const run = start(api);
    await api.waitForNext(1);
    assert.equal(callsTo(api, "/2022-07-01/telemetry").length, 2);
    assert.equal(callsTo(api, "/init/error").length, 0);
    queueShutdown(api);
    assert.equal(await run.exit, 0);
    const [warning] = run.lines.filter((l) =>
      l.msg === "telemetry subscription failed"
    );
    assert.equal(warning.attempt, 1);
  });
});

Deno.test("app: a subscription refused with 400 fails init at once and closes the listener", async () => {
  await withApi({ subscribeStatuses: [400, 200] }, async (api) => {
    let listenerPort = 0;
    const run = start(api, {
      deps: {
        serve: (port, handler, hostname) => {
          const server = serveLoopback(port, handler, hostname);
          listenerPort = server.port;
          return server;
        },
      },
    });
    assert.equal(await run.exit, 1);
    assert.equal(callsTo(api, "/2022-07-01/telemetry").length, 1);
    const [initError] = callsTo(api, "/init/error");
    assert.equal(errorTypeOf(initError), "Extension.SubscribeFailed");
    assert.match(errorMessageOf(initError), /answered 400/);
    assert.equal(callsTo(api, "/event/next").length, 0);
    await assert.rejects(
      fetch(`http://127.0.0.1:${listenerPort}/`, {
        method: "POST",
        body: "[]",
      }),
    );
  });
});

Deno.test("app: three failed subscriptions fail init", async () => {
  await withApi({ subscribeStatuses: [500, 502, 503, 200] }, async (api) => {
    const run = start(api);
    assert.equal(await run.exit, 1);
    assert.equal(callsTo(api, "/2022-07-01/telemetry").length, 3);
    const [initError] = callsTo(api, "/init/error");
    assert.match(errorMessageOf(initError), /answered 503/);
  });
});

Deno.test("app: a listener that cannot start fails init with Extension.ListenerFailed", async () => {
  await withApi({}, async (api) => {
    const run = start(api, {
      deps: {
        serve: () => {
          throw new Deno.errors.AddrInUse("address in use");
        },
      },
    });
    assert.equal(await run.exit, 1);
    const [initError] = callsTo(api, "/init/error");
    assert.equal(errorTypeOf(initError), "Extension.ListenerFailed");
    assert.match(errorMessageOf(initError), /address in use/);
    assert.equal(callsTo(api, "/2022-07-01/telemetry").length, 0);
  });
});

Deno.test("app: a crash of the lifecycle loop is reported as Extension.Crash and exits 1", async () => {
  await withApi({ nextFailures: [500] }, async (api) => {
    let thrown = false;
    // The loop's pause after the failed /event/next is its first timer.
    const timers: Timers = {
      setTimeout: (callback, ms) => {
        if (!thrown) {
          thrown = true;
          throw new Error("timer broke");
        }
        return realTimers.setTimeout(callback, ms);
      },
      clearTimeout: realTimers.clearTimeout,
    };
    const run = start(api, { deps: { timers } });
    assert.equal(await run.exit, 1);
    const [exitError] = callsTo(api, "/exit/error");
    assert.equal(errorTypeOf(exitError), "Extension.Crash");
    assert.match(errorMessageOf(exitError), /timer broke/);
    const summary = run.summary();
    assert.match(String(summary.reason), /timer broke/);
  });
});

Deno.test("app: events Kinesis refuses for good are counted as kinesis_rejected", async () => {
  await withApi({}, async (api) => {
    const denied = kinesisError("denied", "AccessDeniedException", true);
    const run = start(api, {
      env: { KINESIS_TELEMETRY_TYPES: "function" },
      deps: { createPutter: () => new ScriptedPutter([rejectWith(denied)]) },
    });
    await api.waitForNext(1);
    await pushEvents(api, [
      telemetry("function", "a"),
      telemetry("function", "b"),
    ]);
    queueShutdown(api);
    assert.equal(await run.exit, 0);
    const summary = run.summary();
    assert.deepEqual(summary.dropped, {
      invalid_event: 0,
      shutdown_deadline: 0,
      kinesis_rejected: 2,
      spill_lost: 0,
    });
    assert.equal(summary.delivered, 0);
    assertAccounting(summary);
  });
});

Deno.test("app: events still undelivered at the shutdown deadline are counted as shutdown_deadline", async () => {
  await withApi({}, async (api) => {
    const throttled = kinesisError(
      "throttled",
      "LimitExceededException",
      false,
    );
    const run = start(api, {
      env: {
        KINESIS_TELEMETRY_TYPES: "function",
        KINESIS_TELEMETRY_SHUTDOWN_MARGIN_MS: "50",
      },
      deps: { createPutter: () => new ScriptedPutter([rejectWith(throttled)]) },
    });
    await api.waitForNext(1);
    await pushEvents(api, [telemetry("function", "a")]);
    // A short shutdown keeps the test quick; the flush retries until then.
    queueShutdown(api, "TIMEOUT", 300);
    assert.equal(await run.exit, 0);
    const summary = run.summary();
    assert.equal(
      (summary.dropped as Record<string, number>).shutdown_deadline,
      1,
    );
    assert.ok(
      (summary.kinesisRequests as number) > 1,
      "retried until the deadline",
    );
    assert.equal(summary.reason, "SHUTDOWN TIMEOUT");
    assertAccounting(summary);
  });
});

/** `count` function lines of about `bytes` each, numbered in their text. */
function numberedLines(count: number, bytes: number, from = 0): unknown[] {
  return Array.from(
    { length: count },
    (_, i) =>
      telemetry(
        "function",
        `${String(from + i).padStart(6, "0")} ${"x".repeat(bytes)}`,
      ),
  );
}

Deno.test("app: deliveries beyond the memory bound go to disk, are accepted, and all reach Kinesis in order", async () => {
  await withApiAndKinesis({}, 1, async (api, kinesis) => {
    const spillDir = `${SPILL_ROOT}/app-test-${crypto.randomUUID()}`;
    const run = start(api, {
      kinesis,
      env: {
        KINESIS_TELEMETRY_TYPES: "function",
        KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(1 << 20),
        KINESIS_TELEMETRY_SPILL_DIR: spillDir,
      },
      deps: { processId: 4242 },
    });
    await api.waitForNext(1);
    // 5 deliveries of ~400 KB: 2 MB against a 1 MiB bound, none refused.
    for (let delivery = 0; delivery < 5; delivery++) {
      const pushed = await pushEvents(
        api,
        numberedLines(400, 1_000, delivery * 400),
      );
      assert.equal(pushed.status, 200, `delivery ${delivery}`);
    }
    const segments = [...Deno.readDirSync(`${spillDir}/4242`)];
    assert.ok(segments.length >= 2, `segments on disk: ${segments.length}`);
    assert.ok(
      run.lines.some((line) =>
        line.msg === "buffer full: deliveries go to disk until it drains"
      ),
    );
    api.queue({
      eventType: "INVOKE",
      requestId: "r1",
      deadlineMs: Date.now() + 10_000,
    });
    await api.waitForNext(2);
    queueShutdown(api);
    assert.equal(await run.exit, 0);

    const summary = run.summary();
    assert.equal(summary.received, 2_000);
    assert.equal(summary.delivered, 2_000);
    assert.equal(summary.refusedDeliveries, 0);
    assert.ok((summary.spilled as number) >= 800, `spilled ${summary.spilled}`);
    assertAccounting(summary);
    assert.throws(
      () => Deno.statSync(`${spillDir}/4242`),
      Deno.errors.NotFound,
      "the folder is removed at exit",
    );
    const stored = (await readAllRecords(kinesis.client, STREAM))
      .flatMap((record) => decodeRecord(record.data))
      .map((decoded) => Number(String(decoded.envelope.record).slice(0, 6)));
    assert.deepEqual(stored, Array.from({ length: 2_000 }, (_, i) => i));
    Deno.removeSync(spillDir, { recursive: true });
  });
});

Deno.test("app: spilled events still on disk at the shutdown deadline are counted as shutdown_deadline", async () => {
  await withApi({}, async (api) => {
    const throttled = kinesisError(
      "throttled",
      "LimitExceededException",
      false,
    );
    const spillDir = `${SPILL_ROOT}/app-test-${crypto.randomUUID()}`;
    const run = start(api, {
      env: {
        KINESIS_TELEMETRY_TYPES: "function",
        KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(1 << 20),
        KINESIS_TELEMETRY_SPILL_DIR: spillDir,
        KINESIS_TELEMETRY_SHUTDOWN_MARGIN_MS: "50",
      },
      deps: {
        processId: 4343,
        createPutter: () => new ScriptedPutter([rejectWith(throttled)]),
      },
    });
    await api.waitForNext(1);
    for (let delivery = 0; delivery < 4; delivery++) {
      assert.equal(
        (await pushEvents(api, numberedLines(400, 1_000))).status,
        200,
      );
    }
    queueShutdown(api, "TIMEOUT", 300);
    assert.equal(await run.exit, 0);
    const summary = run.summary();
    assert.equal(summary.received, 1_600);
    assert.equal(
      (summary.dropped as Record<string, number>).shutdown_deadline,
      1_600,
    );
    assert.ok((summary.spilled as number) > 0);
    assertAccounting(summary);
    assert.throws(
      () => Deno.statSync(`${spillDir}/4343`),
      Deno.errors.NotFound,
    );
    Deno.removeSync(spillDir, { recursive: true });
  });
});

Deno.test("app: with the spill folder unusable, a full buffer refuses deliveries as before, with a warning", async () => {
  await withApi({}, async (api) => {
    const run = start(api, {
      env: {
        KINESIS_TELEMETRY_TYPES: "function",
        KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(1 << 20),
      },
      deps: {
        createPutter: () => new ScriptedPutter([hang]),
        spillFiles: {
          mkdir: () => {
            throw new Deno.errors.PermissionDenied("read-only file system");
          },
          write: () => {},
          read: () => new Uint8Array(),
          remove: () => {},
        },
      },
    });
    await api.waitForNext(1);
    const statuses: number[] = [];
    for (let delivery = 0; delivery < 4; delivery++) {
      statuses.push((await pushEvents(api, numberedLines(400, 1_000))).status);
    }
    assert.ok(statuses.includes(503), `statuses ${statuses}`);
    assert.ok(
      run.lines.some((line) =>
        line.msg === "no disk overflow: a full buffer refuses deliveries"
      ),
    );
    queueShutdown(api, "SPINDOWN", 300);
    assert.equal(await run.exit, 0);
    const summary = run.summary();
    assert.equal(summary.spilled, 0);
    assertAccounting(summary);
  });
});

Deno.test("app: a stop signal shuts the extension down cleanly", async () => {
  await withApi({}, async (api) => {
    const stop = new AbortController();
    const run = start(api, { deps: { stop: stop.signal } });
    await api.waitForNext(1);
    stop.abort();
    assert.equal(await run.exit, 0);
    assert.equal(run.summary().reason, "SHUTDOWN SIGNAL");
  });
});

Deno.test("app: closing the listener never runs past the SHUTDOWN deadline", async () => {
  await withApi({}, async (api) => {
    // A delivery stuck in the middle of its body: the server's shutdown
    // would wait for it. The flush of a hanging Kinesis uses the time up to
    // the deadline minus the (smallest) margin.
    let closing = false;
    let closeWait: { at: number; ms: number } | undefined;
    const timers: Timers = {
      setTimeout: (callback, ms) => {
        if (closing && !closeWait) closeWait = { at: Date.now(), ms };
        return realTimers.setTimeout(callback, ms);
      },
      clearTimeout: realTimers.clearTimeout,
    };
    const serve: ServeFunction = (port, handler, hostname) => {
      const server = serveLoopback(port, handler, hostname);
      return {
        port: server.port,
        shutdown: () => {
          closing = true;
          void server.shutdown();
          return new Promise<void>(() => {});
        },
      };
    };
    const run = start(api, {
      env: {
        KINESIS_TELEMETRY_TYPES: "function",
        KINESIS_TELEMETRY_SHUTDOWN_MARGIN_MS: "50",
      },
      deps: {
        serve,
        timers,
        createPutter: () => new ScriptedPutter([hang]),
      },
    });
    await api.waitForNext(1);
    await pushEvents(api, [telemetry("function", "a")]);
    queueShutdown(api, "SPINDOWN", 300);
    assert.equal(await run.exit, 0);
    const deadlineMs = api.served.at(-1)!.event.deadlineMs as number;
    assert.ok(closeWait, "the listener was closed with a bounded wait");
    assert.ok(
      closeWait.at + closeWait.ms <= deadlineMs + 1,
      `close wait ends ${
        closeWait.at + closeWait.ms - deadlineMs
      } ms after the deadline`,
    );
    assertAccounting(run.summary());
  });
});
