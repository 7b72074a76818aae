/**
 * Runs the whole pipeline for an integration test: kinesalite, a stream, the
 * extension from source in the sandbox beside a function, invocations,
 * SHUTDOWN, then the stream read back, decoded and compared event by event.
 */
import { type DecodedEvent, decodeRecord } from "../../scripts/lib/decode.ts";
import { readAllRecords } from "../../scripts/lib/kinesis_read.ts";
import {
  checkDelivery,
  type DeliveryCheck,
} from "../../scripts/sandbox/delivery_check.ts";
import {
  EXTENSION_NAME,
  projectExtension,
} from "../../scripts/sandbox/extension_specs.ts";
import { processState } from "../../scripts/sandbox/child_process.ts";
import { startLocalKinesis } from "../../scripts/sandbox/kinesis_local.ts";
import {
  type FunctionSpec,
  type InvocationRecord,
  type LogFormat,
  type Sandbox,
  type ShutdownReport,
  startSandbox,
} from "../../scripts/sandbox/sandbox.ts";

/** The Node demo function of infra/. */
export const NODE_DEMO: FunctionSpec = {
  runtime: "node",
  taskRoot: new URL("../../infra/demo-function", import.meta.url).pathname,
  handler: "index.handler",
};

/** The sandbox's Python function. */
export const PYTHON_DEMO: FunctionSpec = {
  runtime: "python",
  taskRoot:
    new URL("../../scripts/sandbox/functions/python", import.meta.url).pathname,
  handler: "handler.handler",
};

/** Text with 2-, 3- and 4-byte UTF-8 characters, logged by both functions. */
export const GREETING = "héllo wörld ✓ 日本語 🚀";

/** Function name the tests check in envelopes. */
export const FUNCTION_NAME = "integration-fn";
/** Region the tests check in envelopes. */
export const REGION = "eu-west-1";
/** Account id the sandbox gives (accountId feature) and the tests check. */
export const ACCOUNT_ID = "123456789012";

/** What to run. */
export interface PipelineOptions {
  /** The function. */
  fn: FunctionSpec;
  /** Its log format. */
  logFormat?: LogFormat;
  /** Extension variables (KINESIS_TELEMETRY_*), on top of stream and endpoint. */
  env?: Record<string, string>;
  /** One invocation per payload. */
  payloads: unknown[];
  /** Shards of the stream (2). */
  shards?: number;
}

/** Everything a test may look at. */
export interface PipelineRun {
  /** The sandbox (stopped). */
  sandbox: Sandbox;
  /** Per invocation. */
  invocations: InvocationRecord[];
  /** Scheduler state of runtime and extension after each invocation. */
  statesBetweenInvocations: Array<
    { runtime: string | null; extension: string | null }
  >;
  /** SHUTDOWN outcome. */
  shutdown: ShutdownReport;
  /** Epoch ms when SHUTDOWN began. */
  shutdownStartedAt: number;
  /** Every envelope in the stream, with its raw bytes and user-record key. */
  decoded: DecodedEvent[];
  /** The event-by-event comparison. */
  check: DeliveryCheck;
  /** The extension's summary line. */
  summary: Record<string, unknown>;
}

/** Runs the pipeline; every server and process is gone when it resolves. */
export async function runPipeline(
  options: PipelineOptions,
): Promise<PipelineRun> {
  const kinesis = await startLocalKinesis({ tls: true });
  let sandbox: Sandbox | null = null;
  try {
    await kinesis.createStream("telemetry", options.shards ?? 2);
    sandbox = await startSandbox({
      fn: options.fn,
      logFormat: options.logFormat,
      functionName: FUNCTION_NAME,
      region: REGION,
      accountId: ACCOUNT_ID,
      extensions: [
        projectExtension({
          KINESIS_TELEMETRY_STREAM: "telemetry",
          ...kinesis.clientEnv(),
          KINESIS_TELEMETRY_LISTENER_PORT: "0",
          ...options.env,
        }),
      ],
    });
    const invocations: InvocationRecord[] = [];
    const statesBetweenInvocations: PipelineRun["statesBetweenInvocations"] =
      [];
    for (const payload of options.payloads) {
      invocations.push(await sandbox.invoke(payload));
      const ids = sandbox.processIds();
      statesBetweenInvocations.push({
        runtime: await processState(ids.runtime!),
        extension: await processState(ids.extensions[EXTENSION_NAME]),
      });
    }
    const shutdownStartedAt = Date.now();
    const shutdown = await sandbox.shutdown();
    await sandbox.stop();
    const records = await readAllRecords(kinesis.client, "telemetry");
    const decoded = records.flatMap((record) => decodeRecord(record.data));
    const check = checkDelivery(
      sandbox.events,
      decoded.map((event) => event.envelope),
      EXTENSION_NAME,
    );
    const summaryLine = sandbox.extensionLog.map((line) => {
      try {
        return JSON.parse(line.line);
      } catch {
        return null;
      }
    }).find((parsed) => parsed?.msg === "summary");
    if (!summaryLine) {
      throw new Error(
        `no summary line; extension output:\n${
          sandbox.extensionLog.map((line) => line.line).join("\n")
        }`,
      );
    }
    return {
      sandbox,
      invocations,
      statesBetweenInvocations,
      shutdown,
      shutdownStartedAt,
      decoded,
      check,
      summary: summaryLine,
    };
  } finally {
    await sandbox?.stop();
    await kinesis.stop();
  }
}
