/**
 * `deno task demo --lmi`: the pipeline on a local Lambda Managed Instance.
 * Starts kinesalite, runs the extension (from source, or an unpacked
 * layer's executable) in the sandbox's managed-instances mode beside the
 * Node.js demo function, keeps `--concurrency` invocations running at once
 * until `--invocations` ran, sends SHUTDOWN, reads the stream back and
 * reports what was delivered and how fresh. Exits 1 when anything was lost.
 *
 * ```sh
 * deno task demo --lmi [--concurrency N] [--invocations N] [--format kpl|json|ndjson] [--extension PATH]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import { decodeRecord, type Envelope } from "./lib/decode.ts";
import { readAllRecords } from "./lib/kinesis_read.ts";
import { checkDelivery, type DeliveryCheck } from "./sandbox/delivery_check.ts";
import { layerExtension, projectExtension } from "./sandbox/extension_specs.ts";
import { startLocalKinesis } from "./sandbox/kinesis_local.ts";
import {
  type ManagedInvocationRecord,
  type ManagedSandbox,
  startManagedSandbox,
} from "./sandbox/managed_sandbox.ts";
import type { ShutdownReport } from "./sandbox/sandbox.ts";
import { table } from "./lib/text_table.ts";

/** Parsed command line of the LMI demo. */
export interface ManagedDemoOptions {
  /** Invocations at once (`AWS_LAMBDA_MAX_CONCURRENCY`, 16). */
  concurrency: number;
  /** Invocations in all (64). */
  invocations: number;
  /** Record format (kpl). */
  format: "kpl" | "json" | "ndjson";
  /** An unpacked layer's `extensions/kinesis-telemetry`; source when absent. */
  extension?: string;
}

/** Usage text. */
export const MANAGED_DEMO_USAGE =
  `usage: deno task demo --lmi [--concurrency N] [--invocations N] [--format kpl|json|ndjson] [--extension PATH]`;

/** Parses the command line after `--lmi`; throws with the usage on bad input. */
export function parseManagedDemoArgs(args: string[]): ManagedDemoOptions {
  const { values } = parseArgs({
    args,
    options: {
      concurrency: { type: "string", default: "16" },
      invocations: { type: "string", default: "64" },
      format: { type: "string", default: "kpl" },
      extension: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) throw new Error(MANAGED_DEMO_USAGE);
  const concurrency = Number(values.concurrency);
  const invocations = Number(values.invocations);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1600) {
    throw new Error(
      `--concurrency must be an integer in 1..1600\n${MANAGED_DEMO_USAGE}`,
    );
  }
  if (
    !Number.isInteger(invocations) || invocations < 1 || invocations > 100_000
  ) {
    throw new Error(
      `--invocations must be an integer in 1..100000\n${MANAGED_DEMO_USAGE}`,
    );
  }
  if (!["kpl", "json", "ndjson"].includes(values.format)) {
    throw new Error(
      `--format must be kpl, json or ndjson\n${MANAGED_DEMO_USAGE}`,
    );
  }
  return {
    concurrency,
    invocations,
    format: values.format as ManagedDemoOptions["format"],
    extension: values.extension,
  };
}

/** Everything the report is built from. */
export interface ManagedDemoResult {
  /** Options of the run. */
  options: ManagedDemoOptions;
  /** Every invocation. */
  invocations: readonly ManagedInvocationRecord[];
  /** SHUTDOWN outcome. */
  shutdown: ShutdownReport;
  /** The event-by-event comparison. */
  check: DeliveryCheck;
  /** Milliseconds from each stored event's time to its Kinesis arrival, sorted. */
  freshnessMs: number[];
  /** The extension's `ready` line (mode and why). */
  ready: Record<string, unknown> | null;
  /** The extension's summary line. */
  summary: Record<string, unknown> | null;
}

/** Runs the LMI demo; `progress` gets a line whenever something happens. */
export async function runManagedDemo(
  options: ManagedDemoOptions,
  progress: (line: string) => void,
): Promise<ManagedDemoResult> {
  const kinesis = await startLocalKinesis();
  let sandbox: ManagedSandbox | null = null;
  try {
    const stream = "kinesis-telemetry-lmi-demo";
    await kinesis.createStream(stream, 2);
    const env = {
      KINESIS_TELEMETRY_STREAM: stream,
      KINESIS_TELEMETRY_FORMAT: options.format,
      KINESIS_TELEMETRY_LISTENER_PORT: "0",
      AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
    };
    const extension = options.extension
      ? layerExtension(options.extension, env)
      : projectExtension(env);
    progress(
      `▸ managed instance: ${extension.name} (${
        options.extension ?? "from source"
      }) + node demo function, AWS_LAMBDA_MAX_CONCURRENCY=${options.concurrency}, kinesalite ${kinesis.endpoint}`,
    );
    sandbox = await startManagedSandbox({
      fn: {
        runtime: "node",
        taskRoot: new URL("../infra/demo-function", import.meta.url).pathname,
        handler: "index.handler",
      },
      functionName: "kinesis-telemetry-lmi-demo",
      maxConcurrency: options.concurrency,
      extensions: [extension],
    });
    progress(`▸ init done in ${sandbox.initDurationMs.toFixed(1)} ms`);
    let next = 0;
    const running = sandbox;
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (next < options.invocations) {
          const index = next++;
          await running.invokeWhenTaken({
            style: "json",
            logLines: 20,
            delayMs: 50 + (index % 7) * 20,
            ...(index % 10 === 9 ? { fail: true } : {}),
          });
        }
      }),
    );
    progress(
      `▸ ${sandbox.invocations.length} invocations, up to ${
        Math.max(...sandbox.invocations.map((i) => i.concurrent))
      } at once (${sandbox.refusedInvocations} attempts refused with Runtime.Unavailable and sent again, as AWS's emulator refuses them); SHUTDOWN`,
    );
    const shutdown = await sandbox.shutdown();
    await sandbox.stop();
    const stored = await readStoredEvents(kinesis.client, stream);
    const check = checkDelivery(
      sandbox.events,
      stored.envelopes,
      extension.name,
    );
    const lines = sandbox.extensionLog.flatMap((line) => {
      try {
        return [JSON.parse(line.line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
    return {
      options,
      invocations: sandbox.invocations,
      shutdown,
      check,
      freshnessMs: stored.freshnessMs,
      ready: lines.find((line) => line.msg === "ready") ?? null,
      summary: lines.find((line) => line.msg === "summary") ?? null,
    };
  } finally {
    await sandbox?.stop();
    await kinesis.stop();
  }
}

/** True when nothing was lost, duplicated or dropped and the extension exited cleanly. */
export function managedDemoSucceeded(result: ManagedDemoResult): boolean {
  const { check } = result;
  const extension = result.shutdown.extensions[0];
  return check.lost.length === 0 && check.duplicates.length === 0 &&
    check.droppedBeforeListener.length === 0 &&
    // Only its own last lines may come after it stopped listening.
    check.neverReceived.every((event) => event.type === "extension") &&
    extension?.exitedByItself === true && extension.exitCode === 0;
}

/** The final report as text lines. */
export function formatManagedReport(result: ManagedDemoResult): string[] {
  const { check, ready, summary } = result;
  const at = (p: number) => percentile(result.freshnessMs, p);
  const extension = result.shutdown.extensions[0];
  return [
    "",
    `kinesis-telemetry on a local Lambda Managed Instance: ${result.options.format} records`,
    `  mode ${ready?.mode ?? "?"} (${ready?.modeReason ?? "?"}), flush ${
      ready?.flush ?? "?"
    } every ${ready?.flushIntervalMs ?? "?"} ms or a full request, up to ${
      ready?.maxInFlight ?? "?"
    } in flight, schema ${ready?.schemaVersion ?? "?"}`,
    "",
    table(
      ["invocations", "at once (max)", "errors", "duration median"],
      [[
        String(result.invocations.length),
        String(Math.max(...result.invocations.map((i) => i.concurrent))),
        String(result.invocations.filter((i) => i.status !== "success").length),
        `${median(result.invocations.map((i) => i.durationMs)).toFixed(1)} ms`,
      ]],
    ),
    "",
    `Delivery: emitted ${check.emitted}, received by the extension ${check.received}, in Kinesis ${check.delivered}, lost ${check.lost.length}, duplicates ${check.duplicates.length}, refused ${
      summary?.refused ?? "?"
    } events (${summary?.refusedDeliveries ?? "?"} deliveries), PutRecords ${
      summary?.kinesisRequests ?? "?"
    }`,
    `Freshness (event time → stored): median ${at(0.5)} ms, p99 ${
      at(0.99)
    } ms, max ${result.freshnessMs.at(-1) ?? NaN} ms`,
    `Shutdown: ${extension?.name} ${
      extension?.exitedByItself ? "exited by itself" : "was killed"
    } with code ${extension?.exitCode} after ${
      Math.round(extension?.durationMs ?? NaN)
    } ms (budget ${result.shutdown.budgetMs} ms)`,
    "",
    managedDemoSucceeded(result)
      ? `OK: every event the extension received is in Kinesis (${check.delivered}/${check.received}), nothing lost.`
      : "FAILED: events were lost, duplicated or dropped, or the extension did not exit cleanly.",
  ];
}

/** Every envelope of `stream`, and each one's freshness: its event's time → its Kinesis arrival (ms, sorted). */
export async function readStoredEvents(
  client: KinesisClient,
  stream: string,
): Promise<{ envelopes: Envelope[]; freshnessMs: number[] }> {
  const envelopes: Envelope[] = [];
  const freshnessMs: number[] = [];
  for (const record of await readAllRecords(client, stream)) {
    for (const { envelope } of decodeRecord(record.data)) {
      envelopes.push(envelope);
      const arrivedAt = record.arrivedAt?.getTime();
      if (arrivedAt !== undefined) {
        freshnessMs.push(arrivedAt - Date.parse(envelope.time));
      }
    }
  }
  return { envelopes, freshnessMs: freshnessMs.sort((a, b) => a - b) };
}

/** The `p` quantile (0–1) of sorted values; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ??
    NaN;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** `deno task demo --lmi …`: runs and prints; returns the exit code. */
export async function managedDemoMain(args: string[]): Promise<number> {
  let options: ManagedDemoOptions;
  try {
    options = parseManagedDemoArgs(args);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const result = await runManagedDemo(options, (line) => console.log(line));
  for (const line of formatManagedReport(result)) console.log(line);
  return managedDemoSucceeded(result) ? 0 : 1;
}
