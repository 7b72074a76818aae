/**
 * One run of the conformance check: kinesalite with a 4-shard stream, the
 * extension from source in the local sandbox beside the Node demo function,
 * a series of invocations with one shard split while an invocation's
 * telemetry is being written, SHUTDOWN, then the whole stream read back the
 * way KCL walks it (parents first) into a dump.
 *
 * @module
 */
import {
  DescribeStreamSummaryCommand,
  type KinesisClient,
  SplitShardCommand,
} from "@aws-sdk/client-kinesis";
import {
  EXTENSION_NAME,
  projectExtension,
} from "../sandbox/extension_specs.ts";
import { startLocalKinesis } from "../sandbox/kinesis_local.ts";
import { type Sandbox, startSandbox } from "../sandbox/sandbox.ts";
import { listShards } from "../lib/kinesis_read.ts";
import { type DumpShard, dumpStream } from "./dump.ts";
import {
  type Compression,
  type ExpectedEvent,
  expectedEvents,
} from "./judge.ts";

/** Record format of the extension. */
export type RecordFormat = "kpl" | "ndjson" | "json";

/** What one run writes. */
export interface ScenarioOptions {
  /** `KINESIS_TELEMETRY_FORMAT`. */
  format: RecordFormat;
  /** `KINESIS_TELEMETRY_COMPRESSION` (not set for `none`). */
  compression: Compression;
  /** Invocations planned (more follow until a child shard holds a record). */
  invocations: number;
  /**
   * The split happens during this invocation (1-based), or the first one
   * after it at which a shard holds a record.
   */
  splitAt: number;
}

/** What one run left in the stream and what it should hold. */
export interface ScenarioResult {
  /** Every shard, parents first, with its records. */
  shards: DumpShard[];
  /** The events the extension acknowledged, as the platform sent them. */
  expected: ExpectedEvent[];
  /** The shard that was split and the two it became. */
  split: { parent: string; children: string[] };
  /** Events the platform gave up delivering to the extension's listener. */
  droppedBeforeListener: number;
  /** Exit code of the extension at SHUTDOWN. */
  extensionExitCode: number | null;
}

/** Shards of the stream. */
export const STREAM_SHARDS = 4;
const STREAM = "consumers";

/** The payload of invocation `index` (0-based): text and JSON logs, some bulk, one failure. */
export function scenarioPayload(index: number, count: number): unknown {
  return {
    style: index % 2 === 0 ? "json" : "text",
    ...(index % 5 === 2 ? { logLines: 12, lineBytes: 300 } : {}),
    ...(index === count - 2 ? { fail: true } : {}),
  };
}

/** The middle of a shard's range: where SplitShard cuts it. */
export function midpoint(
  startingHashKey: string,
  endingHashKey: string,
): string {
  const start = BigInt(startingHashKey);
  const end = BigInt(endingHashKey);
  return ((start + end + 1n) / 2n).toString();
}

/**
 * Splits the shard that holds the most records so far (so the parent has
 * data from before the split) in the middle of its range. Returns null,
 * splitting nothing, while no shard holds a record yet.
 */
async function splitBusiestShard(
  client: KinesisClient,
): Promise<string | null> {
  const shards = await dumpStream(client, STREAM);
  const busiest = shards.filter((shard) => !shard.closed).reduce((
    most,
    shard,
  ) => shard.records.length > most.records.length ? shard : most);
  if (busiest.records.length === 0) return null;
  await client.send(
    new SplitShardCommand({
      StreamName: STREAM,
      ShardToSplit: busiest.id,
      NewStartingHashKey: midpoint(
        busiest.startingHashKey,
        busiest.endingHashKey,
      ),
    }),
  );
  for (let attempt = 0; attempt < 500; attempt++) {
    const summary = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: STREAM }),
    );
    if (summary.StreamDescriptionSummary?.StreamStatus === "ACTIVE") {
      return busiest.id;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`stream did not become ACTIVE after splitting ${busiest.id}`);
}

/** Most invocations added after the planned ones for the children to get data. */
const MAX_EXTRA_INVOCATIONS = 60;

async function childHasRecords(
  client: KinesisClient,
  parent: string,
): Promise<boolean> {
  const shards = await dumpStream(client, STREAM);
  return shards.some((shard) =>
    shard.parents.includes(parent) && shard.records.length > 0
  );
}

/** Runs the extension, splits a shard mid-run, reads everything back. */
export async function runScenario(
  options: ScenarioOptions,
): Promise<ScenarioResult> {
  const kinesis = await startLocalKinesis();
  let sandbox: Sandbox | null = null;
  try {
    await kinesis.createStream(STREAM, STREAM_SHARDS);
    sandbox = await startSandbox({
      fn: {
        runtime: "node",
        taskRoot:
          new URL("../../infra/demo-function", import.meta.url).pathname,
        handler: "index.handler",
      },
      functionName: "consumers-fn",
      region: "eu-west-1",
      accountId: "123456789012",
      logFormat: "JSON",
      // As Lambda does for back-to-back invocations: at a thaw only what its
      // buffering timeout made due goes out, so a report can arrive with the
      // next invocation's telemetry (and share its aggregate).
      thawDelivery: "due",
      // This run judges the record formats, not the CPU share: at 128 MB a
      // shutdown can end with events counted as dropped, which would make
      // "every event exactly once" a test of the machine's load instead.
      limits: false,
      extensions: [
        projectExtension({
          KINESIS_TELEMETRY_STREAM: STREAM,
          AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
          KINESIS_TELEMETRY_LISTENER_PORT: "0",
          KINESIS_TELEMETRY_FORMAT: options.format,
          // The shortest buffering: more deliveries, so more records on
          // both sides of the split.
          KINESIS_TELEMETRY_BUFFER_TIMEOUT_MS: "25",
          ...(options.compression === "none"
            ? {}
            : { KINESIS_TELEMETRY_COMPRESSION: options.compression }),
        }),
      ],
    });
    let parent = "";
    for (let index = 0; index < options.invocations; index++) {
      const invocation = sandbox.invoke(
        scenarioPayload(index, options.invocations),
      );
      // Resharding while the extension writes this invocation's telemetry
      // (later, if nothing reached the stream yet).
      if (!parent && index + 1 >= options.splitAt) {
        parent = await splitBusiestShard(kinesis.client) ?? "";
      }
      await invocation;
    }
    // The children must get data too: go on until one of them holds a record.
    for (
      let extra = 0;
      parent && extra < MAX_EXTRA_INVOCATIONS &&
      !await childHasRecords(kinesis.client, parent);
      extra++
    ) {
      await sandbox.invoke(scenarioPayload(extra, Infinity));
    }
    const shutdown = await sandbox.shutdown();
    await sandbox.stop();
    const shards = await dumpStream(kinesis.client, STREAM);
    const children = (await listShards(kinesis.client, STREAM))
      .filter((shard) => shard.ParentShardId === parent)
      .map((shard) => shard.ShardId ?? "");
    return {
      shards,
      expected: expectedEvents(sandbox.events, EXTENSION_NAME),
      split: { parent, children },
      droppedBeforeListener: sandbox.events.filter((entry) =>
        entry.droppedBy.includes(EXTENSION_NAME)
      ).length,
      extensionExitCode: shutdown.extensions[0]?.exitCode ?? null,
    };
  } finally {
    await sandbox?.stop();
    await kinesis.stop();
  }
}
