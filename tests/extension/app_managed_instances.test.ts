/**
 * runExtension on Lambda Managed Instances: detected from the environment,
 * SHUTDOWN-only registration, schema 2025-01-29, events shipped in the
 * background while the extension waits in `/event/next`, and the summary.
 */
import assert from "node:assert/strict";
import { runExtension } from "../../extension/app.ts";
import {
  createSdkPutter,
  kinesisTarget,
} from "../../extension/kinesis_client.ts";
import { serveWithDeno } from "../../extension/main.ts";
import { decodeRecord } from "../../scripts/lib/decode.ts";
import { readAllRecords } from "../../scripts/lib/kinesis_read.ts";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startLocalKinesis,
} from "../../scripts/sandbox/kinesis_local.ts";
import { startScriptedApi } from "../helpers/scripted_extensions_api.ts";

Deno.test("app: on Lambda Managed Instances it registers for SHUTDOWN only and ships without any INVOKE", async () => {
  const kinesis = await startLocalKinesis();
  const api = startScriptedApi();
  try {
    await kinesis.createStream("lmi-app", 1);
    const env: Record<string, string> = {
      AWS_LAMBDA_RUNTIME_API: api.runtimeApi,
      AWS_LAMBDA_INITIALIZATION_TYPE: "lambda-managed-instances",
      AWS_LAMBDA_MAX_CONCURRENCY: "32",
      KINESIS_TELEMETRY_STREAM: "lmi-app",
      KINESIS_TELEMETRY_LISTENER_PORT: "0",
      KINESIS_TELEMETRY_LISTENER_HOST: "127.0.0.1",
      KINESIS_TELEMETRY_FLUSH_INTERVAL_MS: "50",
      AWS_REGION: LOCAL_REGION,
      AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
    };
    const lines: Record<string, unknown>[] = [];
    const exit = runExtension({
      env: (name) => env[name],
      extensionName: "kinesis-telemetry",
      createPutter: (config) =>
        createSdkPutter(kinesisTarget(config, { ...LOCAL_CREDENTIALS })),
      serve: serveWithDeno,
      logSink: (line) => lines.push(JSON.parse(line)),
    });
    await api.waitForNext(1);
    const register = api.calls.find((call) => call.path.endsWith("/register"))!;
    assert.deepEqual(JSON.parse(register.body), { events: ["SHUTDOWN"] });
    assert.equal(api.subscription()?.schemaVersion, "2025-01-29");
    const ready = lines.find((line) => line.msg === "ready")!;
    assert.equal(ready.mode, "managed-instances");
    assert.equal(
      ready.modeReason,
      "AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances, AWS_LAMBDA_MAX_CONCURRENCY=32",
    );
    assert.equal(ready.flush, "background");

    const events = ["a", "b", "c"].map((id, index) => ({
      time: `2026-12-02T05:00:0${index}.000Z`,
      type: "platform.report",
      record: { requestId: id, status: "success", metrics: { durationMs: 1 } },
    }));
    const pushed = await api.pushTelemetry(JSON.stringify(events));
    assert.equal(pushed.status, 200);
    // Stored in the background while the extension still waits in /next.
    let stored = 0;
    for (let attempt = 0; attempt < 100 && stored < 3; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      stored = (await readAllRecords(kinesis.client, "lmi-app"))
        .flatMap((record) => decodeRecord(record.data)).length;
    }
    assert.equal(stored, 3);
    assert.equal(api.served.length, 0, "no event was handed out yet");

    api.queue({
      eventType: "SHUTDOWN",
      shutdownReason: "SPINDOWN",
      deadlineMs: Date.now() + 2_000,
    });
    assert.equal(await exit, 0);
    const summary = lines.find((line) => line.msg === "summary")!;
    assert.equal(summary.delivered, 3);
    assert.equal(summary.received, 3);
    assert.equal(summary.droppedTotal, 0);
  } finally {
    await api.close();
    await kinesis.stop();
  }
});
