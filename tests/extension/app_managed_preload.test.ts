/**
 * runExtension on Lambda Managed Instances loads the Kinesis client before
 * it subscribes: nothing freezes a managed instance, telemetry arrives as
 * soon as the subscription is made, and AWS's emulator drops a delivery
 * that comes while the previous one is still unanswered (found by
 * `deno task conformance`).
 */
import assert from "node:assert/strict";
import { runExtension } from "../../extension/app.ts";
import type { KinesisPutter } from "../../extension/kinesis_client.ts";
import { serveWithDeno } from "../../extension/main.ts";
import { startScriptedApi } from "../helpers/scripted_extensions_api.ts";

function recordingPutter(
  subscribed: () => boolean,
  seen: { prepared: boolean; subscribedBeforePrepare: boolean | undefined },
): KinesisPutter {
  return {
    prepare() {
      seen.subscribedBeforePrepare ??= subscribed();
      seen.prepared = true;
      return Promise.resolve();
    },
    putRecords(entries) {
      return Promise.resolve({
        failedRecordCount: 0,
        entries: entries.map(() => ({})),
      });
    },
    reset() {},
  };
}

for (
  const [mode, env] of [
    ["managed instances", {
      AWS_LAMBDA_INITIALIZATION_TYPE: "lambda-managed-instances",
      AWS_LAMBDA_MAX_CONCURRENCY: "8",
    }],
    ["on-demand", {}],
  ] as const
) {
  Deno.test(`app (${mode}): when the Kinesis client is prepared relative to the subscription`, async () => {
    const api = startScriptedApi();
    try {
      const variables: Record<string, string> = {
        AWS_LAMBDA_RUNTIME_API: api.runtimeApi,
        KINESIS_TELEMETRY_STREAM: "preload",
        KINESIS_TELEMETRY_LISTENER_PORT: "0",
        KINESIS_TELEMETRY_LISTENER_HOST: "127.0.0.1",
        AWS_REGION: "us-east-1",
        ...env,
      };
      const seen = {
        prepared: false,
        subscribedBeforePrepare: undefined as boolean | undefined,
      };
      const exit = runExtension({
        env: (name) => variables[name],
        extensionName: "kinesis-telemetry",
        createPutter: () =>
          recordingPutter(
            () => api.calls.some((call) => call.path.endsWith("/telemetry")),
            seen,
          ),
        serve: serveWithDeno,
        logSink: () => {},
      });
      await api.waitForNext(1);
      // On-demand it loads after the first /event/next went out (off the
      // init phase); give that timer its turn.
      for (let i = 0; i < 100 && !seen.prepared; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      api.queue({
        eventType: "SHUTDOWN",
        shutdownReason: "SPINDOWN",
        deadlineMs: Date.now() + 2_000,
      });
      assert.equal(await exit, 0);
      assert.equal(seen.prepared, true);
      assert.equal(
        seen.subscribedBeforePrepare,
        mode === "on-demand",
        mode === "on-demand"
          ? "on-demand functions load the SDK after init"
          : "a managed instance loads the SDK before it subscribes",
      );
    } finally {
      await api.close();
    }
  });
}
