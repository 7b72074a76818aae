/**
 * `deno task tail`: reads what kinesis-telemetry wrote to a stream (the local
 * emulator through `AWS_ENDPOINT_URL_KINESIS`, or real Kinesis with the usual
 * AWS credentials), decodes every format (KPL, json, ndjson, gzip- or
 * zstd-compressed) and prints one event per line, readable or as NDJSON (the
 * envelopes' own bytes).
 *
 * ```sh
 * deno task tail --stream my-telemetry --follow --type platform.report
 * deno task tail --stream my-telemetry --request-id 8f5c… --output ndjson
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  type ShardIteratorType,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import {
  decodeRecord,
  type Envelope,
  RecordDecodeError,
} from "./lib/decode.ts";
import { listShardIds, streamRef } from "./lib/kinesis_read.ts";

/** Where reading starts in each shard. */
export type StartPosition =
  | { kind: "trim-horizon" }
  | { kind: "latest" }
  | { kind: "at-timestamp"; time: Date };

/** One Kinesis record as read. */
export interface ReadRecord {
  /** Shard it came from. */
  shardId: string;
  /** Its sequence number. */
  sequenceNumber: string;
  /** Its outer partition key. */
  partitionKey: string;
  /** Payload. */
  data: Uint8Array;
}

/** Options of {@linkcode readStream}. */
export interface ReadStreamOptions {
  /** Where to start (`trim-horizon`). */
  from?: StartPosition;
  /** Keep polling for new records until `signal` aborts. */
  follow?: boolean;
  /** Stops following. */
  signal?: AbortSignal;
  /** Pause between empty polls while following (1 s: Kinesis allows 5 reads/s per shard). */
  pollIntervalMs?: number;
  /** Called for every record, in order within a shard. */
  onRecord(record: ReadRecord): void;
}

/**
 * Reads every shard of a stream. Without `follow` it ends once each shard
 * is caught up (an empty page with nothing behind); real Kinesis can answer
 * empty pages while still behind, so those are read past.
 */
export async function readStream(
  client: KinesisClient,
  stream: string,
  options: ReadStreamOptions,
): Promise<void> {
  const from = options.from ?? { kind: "trim-horizon" };
  const shardIds = await listShardIds(client, stream);
  await Promise.all(shardIds.map(async (shardId) => {
    const iteratorType: ShardIteratorType = from.kind === "latest"
      ? "LATEST"
      : from.kind === "at-timestamp"
      ? "AT_TIMESTAMP"
      : "TRIM_HORIZON";
    const first = await client.send(
      new GetShardIteratorCommand({
        ...streamRef(stream),
        ShardId: shardId,
        ShardIteratorType: iteratorType,
        ...(from.kind === "at-timestamp" ? { Timestamp: from.time } : {}),
      }),
    );
    let iterator = first.ShardIterator;
    while (iterator && !options.signal?.aborted) {
      const page = await client.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }),
        { abortSignal: options.signal },
      ).catch((error) => {
        if (options.signal?.aborted) return null;
        // Five reads per second per shard: wait and read the same page again.
        if (error?.name === "ProvisionedThroughputExceededException") {
          return "throttled" as const;
        }
        throw error;
      });
      if (!page) return;
      if (page === "throttled") {
        await sleep(1_000, options.signal);
        continue;
      }
      for (const record of page.Records ?? []) {
        options.onRecord({
          shardId,
          sequenceNumber: record.SequenceNumber ?? "",
          partitionKey: record.PartitionKey ?? "",
          data: record.Data ?? new Uint8Array(),
        });
      }
      iterator = page.NextShardIterator;
      const empty = (page.Records ?? []).length === 0;
      const caughtUp = (page.MillisBehindLatest ?? 0) === 0;
      if (empty && caughtUp && !options.follow) return;
      if (empty) {
        await sleep(
          caughtUp ? options.pollIntervalMs ?? 1_000 : 200,
          options.signal,
        );
      }
    }
  }));
}

/** Which events to print. */
export interface EventFilter {
  /** Type names or prefixes (`platform` matches every `platform.*`); empty = all. */
  types: string[];
  /** Only events of this invocation. */
  requestId?: string;
}

/** True when the envelope passes the filter. */
export function matchesFilter(
  envelope: Envelope,
  filter: EventFilter,
): boolean {
  if (
    filter.types.length > 0 &&
    !filter.types.some((type) =>
      envelope.type === type || envelope.type.startsWith(`${type}.`)
    )
  ) {
    return false;
  }
  if (filter.requestId) {
    return requestIdOf(envelope) === filter.requestId ||
      (typeof envelope.record === "string" &&
        envelope.record.includes(filter.requestId));
  }
  return true;
}

/** The request id an event belongs to, when it names one. */
export function requestIdOf(envelope: Envelope): string | undefined {
  const record = envelope.record;
  if (typeof record === "object" && record !== null) {
    const id = (record as Record<string, unknown>).requestId;
    if (typeof id === "string") return id;
  }
  return undefined;
}

/** One readable line for an event: time, type, then what matters in it. */
export function formatEvent(envelope: Envelope): string {
  const record = envelope.record as Record<string, unknown> | string | null;
  const marker = envelope.truncated
    ? ` [truncated from ${envelope.truncated.originalBytes} bytes]`
    : "";
  let detail: string;
  if (typeof record === "string") {
    detail = record.replaceAll("\r", "↵").replaceAll("\n", "↵");
  } else if (
    envelope.type === "platform.report" && record && typeof record === "object"
  ) {
    const metrics = (record.metrics ?? {}) as Record<string, number>;
    detail =
      `${record.requestId} ${record.status} duration ${metrics.durationMs} ms, billed ${metrics.billedDurationMs} ms, memory ${metrics.maxMemoryUsedMB}/${metrics.memorySizeMB} MB` +
      (metrics.initDurationMs !== undefined
        ? `, init ${metrics.initDurationMs} ms`
        : "");
  } else {
    detail = JSON.stringify(record);
  }
  return `${envelope.time}  ${envelope.type.padEnd(31)} ${detail}${marker}`;
}

/** Parsed command line of `tail`. */
export interface TailOptions {
  /** Stream name or ARN. */
  stream: string;
  /** Keep reading new records. */
  follow: boolean;
  /** Filter. */
  filter: EventFilter;
  /** `text` (readable lines) or `ndjson` (one envelope per line). */
  output: "text" | "ndjson";
  /** Start position. */
  from: StartPosition;
  /** Region (AWS_REGION, else us-east-1). */
  region: string;
}

/** Parses the command line; throws with a usage message on bad input. */
export function parseTailArgs(
  args: string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): TailOptions {
  const { values } = parseArgs({
    args,
    options: {
      stream: { type: "string" },
      follow: { type: "boolean", short: "f", default: false },
      type: { type: "string", multiple: true, default: [] },
      "request-id": { type: "string" },
      output: { type: "string", default: "text" },
      from: { type: "string", default: "trim-horizon" },
      region: { type: "string" },
    },
    strict: true,
  });
  const stream = values.stream ?? env("KINESIS_TELEMETRY_STREAM");
  if (!stream) throw new Error(`--stream is required\n${TAIL_USAGE}`);
  if (values.output !== "text" && values.output !== "ndjson") {
    throw new Error(`--output must be text or ndjson\n${TAIL_USAGE}`);
  }
  let from: StartPosition;
  if (values.from === "trim-horizon") from = { kind: "trim-horizon" };
  else if (values.from === "latest") from = { kind: "latest" };
  else {
    const time = new Date(values.from);
    if (Number.isNaN(time.getTime())) {
      throw new Error(
        `--from must be trim-horizon, latest or an ISO time\n${TAIL_USAGE}`,
      );
    }
    from = { kind: "at-timestamp", time };
  }
  return {
    stream,
    follow: values.follow,
    filter: {
      types: values.type.flatMap((type) => type.split(",")).filter(Boolean),
      requestId: values["request-id"],
    },
    output: values.output,
    from,
    region: values.region ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ??
      "us-east-1",
  };
}

/** Usage text. */
export const TAIL_USAGE =
  `usage: deno task tail --stream NAME|ARN [--follow] [--type T]... [--request-id ID]
                      [--output text|ndjson] [--from trim-horizon|latest|ISO-TIME] [--region R]
  Reads the local emulator when AWS_ENDPOINT_URL_KINESIS is set, else real Kinesis.`;

/** A Kinesis client over HTTP/1.1 (the SDK reads AWS_ENDPOINT_URL_KINESIS and credentials itself). */
export function tailClient(region: string): KinesisClient {
  return new KinesisClient({
    region,
    requestHandler: new NodeHttpHandler({ requestTimeout: 30_000 }),
  });
}

const utf8 = new TextDecoder();

/** Prints the decoded events of one record that pass the filter; returns how many. */
export function printRecord(
  record: ReadRecord,
  options: Pick<TailOptions, "filter" | "output">,
  write: (line: string) => void,
): number {
  let printed = 0;
  let events;
  try {
    events = decodeRecord(record.data);
  } catch (error) {
    if (!(error instanceof RecordDecodeError)) throw error;
    write(
      `# ${record.shardId} ${record.sequenceNumber}: not a kinesis-telemetry record (${error.message})`,
    );
    return 0;
  }
  for (const { envelope, bytes } of events) {
    if (!matchesFilter(envelope, options.filter)) continue;
    // ndjson prints the envelope's own bytes (decompressed): a re-stringified
    // envelope would lose big numbers and duplicate keys.
    write(
      options.output === "ndjson" ? utf8.decode(bytes) : formatEvent(envelope),
    );
    printed++;
  }
  return printed;
}

async function main(): Promise<number> {
  let options: TailOptions;
  try {
    options = parseTailArgs(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const client = tailClient(options.region);
  const stop = new AbortController();
  Deno.addSignalListener("SIGINT", () => stop.abort());
  const encoder = new TextEncoder();
  const write = (line: string) =>
    Deno.stdout.writeSync(encoder.encode(`${line}\n`));
  try {
    await readStream(client, options.stream, {
      from: options.from,
      follow: options.follow,
      signal: stop.signal,
      onRecord: (record) => printRecord(record, options, write),
    });
    return 0;
  } catch (error) {
    console.error(`tail failed: ${(error as Error).message}`);
    return 1;
  } finally {
    client.destroy();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

if (import.meta.main) Deno.exit(await main());
