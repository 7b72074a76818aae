/**
 * `deno task demo`: the whole pipeline on one machine. Starts kinesalite and
 * creates a stream, runs the extension (from source, or an unpacked layer's
 * executable) beside the demo function in the local Lambda sandbox, invokes
 * it a few times (text logs, JSON logs, one failure), shuts it down, reads
 * the stream back and reports event by event what was delivered. Exits 1
 * when anything was lost.
 *
 * ```sh
 * deno task demo [--invocations N] [--runtime node|python|java] [--memory-mb N]
 *                [--format kpl|json|ndjson] [--log-format text|json]
 *                [--stream NAME (real AWS)] [--extension PATH]
 * deno task demo --lmi …   # on a local Lambda Managed Instance (scripts/demo_lmi.ts)
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { KinesisClient } from "@aws-sdk/client-kinesis";
import { decodeRecord, type Envelope } from "./lib/decode.ts";
import { checkDelivery, type DeliveryCheck } from "./sandbox/delivery_check.ts";
import {
  EXTENSION_NAME,
  layerExtension,
  projectExtension,
} from "./sandbox/extension_specs.ts";
import { startLocalKinesis } from "./sandbox/kinesis_local.ts";
import { JAVA_FUNCTION } from "./sandbox/runtime_clients.ts";
import {
  type FunctionSpec,
  type InvocationRecord,
  type LimitsStatus,
  type LogFormat,
  type RuntimeKind,
  type Sandbox,
  type ShutdownReport,
  startSandbox,
} from "./sandbox/sandbox.ts";
import { table } from "./lib/text_table.ts";
import { readStream, tailClient } from "./tail.ts";

export { table };

/** Parsed command line of the demo. */
export interface DemoOptions {
  /** Invocations to run (6). */
  invocations: number;
  /** Function runtime (node). */
  runtime: RuntimeKind;
  /** The function's memory in MB (128): its memory limit and CPU share. */
  memoryMB: number;
  /** Record format of the extension (kpl). */
  format: "kpl" | "json" | "ndjson";
  /** Function log format (Text). */
  logFormat: LogFormat;
  /** A real stream (name or ARN): use real AWS instead of the emulator. */
  stream?: string;
  /** Path to an unpacked layer's `extensions/kinesis-telemetry`; source when absent. */
  extension?: string;
}

/** Usage text. */
export const DEMO_USAGE =
  `usage: deno task demo [--invocations N] [--runtime node|python|java] [--memory-mb N]
                      [--format kpl|json|ndjson] [--log-format text|json] [--stream NAME|ARN] [--extension PATH]
  --memory-mb  the function's memory (128..10240): Lambda's memory limit and M/1,769 of a vCPU
  --stream     write to this real Kinesis stream (AWS credentials and AWS_REGION from the environment)
  --extension  run this executable (an unpacked layer's extensions/kinesis-telemetry) instead of the source
  --lmi        on a local Lambda Managed Instance instead (see deno task demo --lmi --help)`;

/** Parses the command line; throws with the usage on bad input. */
export function parseDemoArgs(args: string[]): DemoOptions {
  const { values } = parseArgs({
    args,
    options: {
      invocations: { type: "string", default: "6" },
      runtime: { type: "string", default: "node" },
      "memory-mb": { type: "string", default: "128" },
      format: { type: "string", default: "kpl" },
      "log-format": { type: "string", default: "text" },
      stream: { type: "string" },
      extension: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) throw new Error(DEMO_USAGE);
  const invocations = Number(values.invocations);
  if (!Number.isInteger(invocations) || invocations < 1 || invocations > 1000) {
    throw new Error(
      `--invocations must be an integer in 1..1000\n${DEMO_USAGE}`,
    );
  }
  if (!["node", "python", "java"].includes(values.runtime)) {
    throw new Error(`--runtime must be node, python or java\n${DEMO_USAGE}`);
  }
  const memoryMB = Number(values["memory-mb"]);
  if (!Number.isInteger(memoryMB) || memoryMB < 128 || memoryMB > 10_240) {
    throw new Error(
      `--memory-mb must be an integer in 128..10240\n${DEMO_USAGE}`,
    );
  }
  if (!["kpl", "json", "ndjson"].includes(values.format)) {
    throw new Error(`--format must be kpl, json or ndjson\n${DEMO_USAGE}`);
  }
  const logFormat = values["log-format"].toLowerCase();
  if (logFormat !== "text" && logFormat !== "json") {
    throw new Error(`--log-format must be text or json\n${DEMO_USAGE}`);
  }
  return {
    invocations,
    runtime: values.runtime as RuntimeKind,
    memoryMB,
    format: values.format as DemoOptions["format"],
    logFormat: logFormat === "json" ? "JSON" : "Text",
    stream: values.stream,
    extension: values.extension,
  };
}

/**
 * The events of a run of `count` invocations: alternating text and JSON
 * logging, one burst of extra lines, and (from 3 invocations on) one
 * failure second to last.
 */
export function demoPayloads(count: number): Record<string, unknown>[] {
  const payloads: Record<string, unknown>[] = [];
  for (let index = 0; index < count; index++) {
    const payload: Record<string, unknown> = {
      style: index % 2 === 0 ? "text" : "json",
    };
    if (index === 2) Object.assign(payload, { logLines: 25, lineBytes: 200 });
    if (count >= 3 && index === count - 2) payload.fail = true;
    payloads.push(payload);
  }
  return payloads;
}

/** Everything the report is built from. */
export interface DemoResult {
  /** Options of the run. */
  options: DemoOptions;
  /** Where the events went. */
  target: string;
  /** Init duration of the sandbox. */
  initDurationMs: number;
  /** Per invocation, with the payload it got. */
  invocations: Array<{ record: InvocationRecord; payload: unknown }>;
  /** SHUTDOWN outcome. */
  shutdown: ShutdownReport;
  /** Envelopes read back from the stream. */
  envelopes: Envelope[];
  /** Records read back. */
  recordCount: number;
  /** Shards those records were in. */
  shardCount: number;
  /** The event-by-event comparison. */
  check: DeliveryCheck;
  /** Events per type: emitted / received by the extension / found in the stream (each event once). */
  byType: Map<string, { emitted: number; received: number; inStream: number }>;
  /** The extension's summary line, parsed. */
  summary: Record<string, unknown> | null;
}

/**
 * Duplicates the extension did not announce: more than its summary's
 * `possibleDuplicates` (a request abandoned with an unknown outcome and sent
 * again may land twice; that is at-least-once delivery, and it is counted).
 */
export function unannouncedDuplicates(result: DemoResult): number {
  const announced = Number(result.summary?.possibleDuplicates ?? 0) || 0;
  return Math.max(0, result.check.duplicates.length - announced);
}

/**
 * True when nothing was lost or dropped, no duplicate went unannounced and
 * the extension exited cleanly.
 */
export function demoSucceeded(result: DemoResult): boolean {
  const check = result.check;
  const extension = result.shutdown.extensions[0];
  return check.lost.length === 0 && unannouncedDuplicates(result) === 0 &&
    check.unexpected.length === 0 && check.droppedBeforeListener.length === 0 &&
    missedButShippable(check).length === 0 &&
    extension !== undefined && extension.exitedByItself &&
    extension.exitCode === 0;
}

/**
 * Events the extension never received although it could have: anything but
 * its own log lines written once it stopped listening at SHUTDOWN.
 */
export function missedButShippable(
  check: DeliveryCheck,
): DeliveryCheck["neverReceived"] {
  return check.neverReceived.filter((event) => event.type !== "extension");
}

/** The demo function for a runtime, run by AWS's runtime interface client. */
export function demoFunction(runtime: RuntimeKind): FunctionSpec {
  switch (runtime) {
    case "node":
      return {
        runtime,
        taskRoot: new URL("../infra/demo-function", import.meta.url).pathname,
        handler: "index.handler",
      };
    case "python":
      return {
        runtime,
        taskRoot:
          new URL("./sandbox/functions/python", import.meta.url).pathname,
        handler: "handler.handler",
      };
    case "java":
      return JAVA_FUNCTION;
  }
}

/** Runs the demo; `progress` gets a line whenever something happens. */
export async function runDemo(
  options: DemoOptions,
  progress: (line: string) => void,
  signal?: AbortSignal,
): Promise<DemoResult> {
  const started = new Date();
  // HTTPS, as real Kinesis: the extension pays for TLS as it will in AWS.
  const local = options.stream ? null : await startLocalKinesis({ tls: true });
  const streamName = options.stream ?? "kinesis-telemetry-demo";
  let client: KinesisClient | null = null;
  let sandbox: Sandbox | null = null;
  try {
    let target: string;
    const env: Record<string, string> = {
      KINESIS_TELEMETRY_STREAM: streamName,
      KINESIS_TELEMETRY_FORMAT: options.format,
      KINESIS_TELEMETRY_LISTENER_PORT: "0",
      KINESIS_TELEMETRY_LOG_LEVEL: "info",
    };
    let credentials;
    let region = "us-east-1";
    if (local) {
      await local.createStream(streamName, 2);
      Object.assign(env, local.clientEnv());
      client = local.client;
      target =
        `stream ${streamName} (2 shards) on kinesalite ${local.endpoint}`;
    } else {
      region = Deno.env.get("AWS_REGION") ??
        Deno.env.get("AWS_DEFAULT_REGION") ?? "";
      const accessKeyId = Deno.env.get("AWS_ACCESS_KEY_ID");
      const secretAccessKey = Deno.env.get("AWS_SECRET_ACCESS_KEY");
      if (!region || !accessKeyId || !secretAccessKey) {
        throw new Error(
          "--stream needs AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)",
        );
      }
      credentials = {
        accessKeyId,
        secretAccessKey,
        sessionToken: Deno.env.get("AWS_SESSION_TOKEN"),
      };
      client = tailClient(region);
      target = `stream ${streamName} in ${region} (real Kinesis)`;
    }
    const extension = options.extension
      ? layerExtension(options.extension, env)
      : projectExtension(env);
    progress(`▸ ${target}`);
    progress(
      `▸ starting the sandbox: ${extension.name} (${
        options.extension ?? "from source"
      }) + ${options.runtime} demo function, ${options.format} records, ${options.logFormat} logs`,
    );
    sandbox = await startSandbox({
      fn: demoFunction(options.runtime),
      functionName: "kinesis-telemetry-demo",
      memoryMB: options.memoryMB,
      extensions: [extension],
      logFormat: options.logFormat,
      region,
      ...(credentials ? { credentials } : {}),
      onLog: (line) => {
        if (
          line.source !== "function" && /"level":"(warn|error)"/.test(line.line)
        ) {
          progress(`  ! ${line.source}: ${line.line}`);
        }
      },
    });
    const running = sandbox;
    // Ctrl-C: the children sit in their own process groups (and may be
    // frozen), so they must be ended here rather than by the terminal.
    signal?.addEventListener("abort", () => void running.stop(), {
      once: true,
    });
    progress(`▸ ${describeLimits(sandbox.limits)}`);
    progress(`▸ init done in ${sandbox.initDurationMs.toFixed(1)} ms`);
    const invocations: DemoResult["invocations"] = [];
    const payloads = demoPayloads(options.invocations);
    for (const [index, payload] of payloads.entries()) {
      if (signal?.aborted) throw new Error("interrupted");
      const record = await sandbox.invoke(payload).catch((error) => {
        throw signal?.aborted ? new Error("interrupted") : error;
      });
      invocations.push({ record, payload });
      progress(
        `▸ invocation ${index + 1}/${payloads.length} ${
          JSON.stringify(payload)
        } → ${record.status} in ${
          record.durationMs.toFixed(1)
        } ms (post-runtime ${record.postRuntimeMs.toFixed(1)} ms)`,
      );
    }
    progress("▸ SHUTDOWN");
    const shutdown = await sandbox.shutdown();
    await sandbox.stop();
    progress(`▸ reading ${streamName} back`);
    const read = await readBack(client, streamName, started, !local, sandbox);
    const check = checkDelivery(sandbox.events, read.envelopes, extension.name);
    return {
      options,
      target,
      initDurationMs: sandbox.initDurationMs,
      invocations,
      shutdown,
      envelopes: read.envelopes,
      recordCount: read.records,
      shardCount: read.shards.size,
      check,
      byType: countByType(sandbox, read.envelopes, check, extension.name),
      summary: findSummary(sandbox),
    };
  } finally {
    await sandbox?.stop();
    if (local) await local.stop();
    else client?.destroy();
  }
}

/** Reads the stream; against real Kinesis, reads again for a while until everything shows up. */
async function readBack(
  client: KinesisClient,
  stream: string,
  since: Date,
  remote: boolean,
  sandbox: Sandbox,
): Promise<{ envelopes: Envelope[]; records: number; shards: Set<string> }> {
  for (let attempt = 1;; attempt++) {
    const envelopes: Envelope[] = [];
    const shards = new Set<string>();
    let records = 0;
    await readStream(client, stream, {
      // A real stream may hold older data: start a little before this run.
      from: remote
        ? { kind: "at-timestamp", time: new Date(since.getTime() - 5_000) }
        : { kind: "trim-horizon" },
      onRecord: (record) => {
        records++;
        shards.add(record.shardId);
        for (const event of decodeRecord(record.data)) {
          envelopes.push(event.envelope);
        }
      },
    });
    const check = checkDelivery(sandbox.events, envelopes, EXTENSION_NAME);
    if (!remote || check.lost.length === 0 || attempt >= 10) {
      return { envelopes, records, shards };
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}

function countByType(
  sandbox: Sandbox,
  envelopes: Envelope[],
  check: DeliveryCheck,
  subscriber: string,
): DemoResult["byType"] {
  const counts: DemoResult["byType"] = new Map();
  const row = (type: string) => {
    let entry = counts.get(type);
    if (!entry) {
      entry = { emitted: 0, received: 0, inStream: 0 };
      counts.set(type, entry);
    }
    return entry;
  };
  for (const entry of sandbox.events) {
    const counted = row(entry.event.type);
    counted.emitted++;
    if (entry.acknowledgedBy.includes(subscriber)) counted.received++;
  }
  // Events, not records: a copy left by a request of unknown outcome has
  // the same event id (environment id + seq) and is reported as a duplicate.
  const ours = new Set(check.environmentIds);
  const seen = new Set<string>();
  for (const envelope of envelopes) {
    const id = `${envelope.environmentId}/${envelope.seq}`;
    if (!ours.has(envelope.environmentId) || seen.has(id)) continue;
    seen.add(id);
    row(envelope.type).inStream++;
  }
  return counts;
}

function findSummary(sandbox: Sandbox): Record<string, unknown> | null {
  for (const line of [...sandbox.extensionLog].reverse()) {
    try {
      const parsed = JSON.parse(line.line);
      if (parsed?.msg === "summary") return parsed;
    } catch {
      // Not a JSON line.
    }
  }
  return null;
}

/** The final report as text lines. */
export function formatReport(result: DemoResult): string[] {
  const lines: string[] = [];
  const { check } = result;
  lines.push("");
  lines.push(
    `kinesis-telemetry demo: ${result.options.runtime} function, ${result.options.format} records, ${result.options.logFormat} logs`,
  );
  lines.push(`  ${result.target}`);
  lines.push(`  init ${result.initDurationMs.toFixed(1)} ms`);
  lines.push("");
  lines.push(
    "Invocations (metrics from each platform.report read back from Kinesis)",
  );
  lines.push(
    table(
      [
        "#",
        "request id",
        "payload",
        "status",
        "duration",
        "billed",
        "memory",
        "post-runtime",
      ],
      result.invocations.map(({ record, payload }, index) => {
        const report = result.envelopes.find((envelope) =>
          envelope.type === "platform.report" &&
          (envelope.record as { requestId?: string })?.requestId ===
            record.requestId
        );
        const metrics = (report?.record as { metrics?: Record<string, number> })
          ?.metrics;
        return [
          String(index + 1),
          `${record.requestId.slice(0, 8)}…`,
          describePayload(payload),
          record.status,
          metrics ? `${metrics.durationMs.toFixed(1)} ms` : "missing",
          metrics ? `${metrics.billedDurationMs} ms` : "missing",
          metrics
            ? `${metrics.maxMemoryUsedMB}/${metrics.memorySizeMB} MB`
            : "missing",
          `${record.postRuntimeMs.toFixed(1)} ms`,
        ];
      }),
      [0, 4, 5, 6, 7],
    ),
  );
  lines.push("");
  lines.push("Events by type");
  const types = [...result.byType.entries()].sort(([a], [b]) =>
    a.localeCompare(b)
  );
  const totals = { emitted: 0, received: 0, inStream: 0 };
  for (const [, counts] of types) {
    totals.emitted += counts.emitted;
    totals.received += counts.received;
    totals.inStream += counts.inStream;
  }
  lines.push(
    table(
      ["type", "emitted", "received", "in stream"],
      [
        ...types.map(([type, counts]) => [
          type,
          String(counts.emitted),
          String(counts.received),
          String(counts.inStream),
        ]),
        [
          "total",
          String(totals.emitted),
          String(totals.received),
          String(totals.inStream),
        ],
      ],
      [1, 2, 3],
    ),
  );
  lines.push("");
  const postRuntime = result.invocations.map(({ record }) =>
    record.postRuntimeMs
  );
  lines.push(
    `Delivery: emitted ${check.emitted}, received by the extension ${check.received}, in Kinesis ${check.delivered} (${result.recordCount} records over ${result.shardCount} shard(s)), lost ${check.lost.length}, duplicates ${check.duplicates.length}, truncated ${check.truncated}`,
  );
  if (check.duplicates.length > 0) {
    lines.push(
      `  duplicates: ${check.duplicates.length} (the extension announced ${
        Number(result.summary?.possibleDuplicates ?? 0)
      } possible duplicates after abandoning requests with an unknown outcome)`,
    );
  }
  const lateOwnLines = check.neverReceived.length -
    missedButShippable(check).length;
  if (lateOwnLines > 0) {
    lines.push(
      `  not offered: ${lateOwnLines} extension log line(s) written after it stopped listening (its shutdown summary)`,
    );
  }
  for (const event of missedButShippable(check)) {
    lines.push(
      `  never received: ${event.type} ${
        JSON.stringify(event.record).slice(0, 120)
      }`,
    );
  }
  for (const event of check.lost) {
    lines.push(
      `  LOST: ${event.time} ${event.type} ${
        JSON.stringify(event.record).slice(0, 120)
      }`,
    );
  }
  for (const event of check.droppedBeforeListener) {
    lines.push(`  dropped by the platform: ${event.time} ${event.type}`);
  }
  lines.push(
    `Post-runtime overhead per invocation: ${
      postRuntime.map((ms) => ms.toFixed(1)).join(", ")
    } ms (max ${Math.max(...postRuntime).toFixed(1)} ms)`,
  );
  for (const extension of result.shutdown.extensions) {
    lines.push(
      `Shutdown: ${extension.name} ${
        extension.exitedByItself ? "exited by itself" : "was KILLED"
      } with code ${extension.exitCode} after ${
        extension.durationMs.toFixed(0)
      } ms (budget ${result.shutdown.budgetMs} ms)`,
    );
  }
  lines.push(
    `Extension summary: ${
      result.summary ? JSON.stringify(result.summary) : "missing"
    }`,
  );
  lines.push("");
  lines.push(
    demoSucceeded(result)
      ? `OK: every event the extension received is in Kinesis (${check.delivered}/${check.received}), nothing lost.`
      : "FAILED: events were lost, duplicated or dropped, or the extension did not exit cleanly (see above).",
  );
  return lines;
}

/** One line on the limits the sandbox ran under. */
export function describeLimits(limits: LimitsStatus): string {
  if (!limits.enforced) {
    return `${limits.memoryMB} MB function WITHOUT Lambda's limits (${limits.reason})`;
  }
  return `${limits.memoryMB} MB function: memory limit ${limits.memoryMB} MB, CPU ${
    ((limits.cpuQuotaUs ?? 0) / 1000).toFixed(1)
  } ms per 100 ms (init ${
    limits.cpuQuotaDuringInit ? "under the quota" : "unthrottled"
  }), ${limits.freezer} freezer`;
}

function describePayload(payload: unknown): string {
  const event = payload as Record<string, unknown>;
  const parts = [String(event.style ?? "")];
  if (event.logLines) parts.push(`+${event.logLines} lines`);
  if (event.fail) parts.push("fail");
  return parts.join(" ");
}

async function main(): Promise<number> {
  if (Deno.args.includes("--lmi")) {
    const { managedDemoMain } = await import("./demo_lmi.ts");
    return managedDemoMain(Deno.args.filter((arg) => arg !== "--lmi"));
  }
  let options: DemoOptions;
  try {
    options = parseDemoArgs(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const interrupted = new AbortController();
  Deno.addSignalListener("SIGINT", () => interrupted.abort());
  const result = await runDemo(
    options,
    (line) => console.log(line),
    interrupted.signal,
  );
  for (const line of formatReport(result)) console.log(line);
  return demoSucceeded(result) ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.error(`demo failed: ${message}`);
    // 130: the conventional status of a run ended by Ctrl-C.
    Deno.exit(message === "interrupted" ? 130 : 1);
  }
}
