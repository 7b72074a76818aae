/**
 * Reads a whole stream the way KCL walks it (every parent shard before its
 * children, each to its end) and writes it as a dump file that the three
 * consumers of `deno task consumers` read. One line per shard, then one per
 * record, fields separated by single spaces:
 *
 * ```text
 * shard  <shardId> <startingHashKey> <endingHashKey> <parentShardIds|->
 * record <shardId> <sequenceNumber> <arrivalEpochMs> <base64 partitionKey> <base64 data>
 * ```
 *
 * Consumers answer with {@link parseReaderOutput}'s format.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
} from "@aws-sdk/client-kinesis";
import { listShards } from "../lib/kinesis_read.ts";

/** One stored record of a shard. */
export interface DumpRecord {
  /** Sequence number Kinesis gave it. */
  sequenceNumber: string;
  /** Outer partition key. */
  partitionKey: string;
  /** Arrival time (epoch ms). */
  arrivedAtMs: number;
  /** Payload bytes. */
  data: Uint8Array;
}

/** One shard with its hash-key range and everything stored in it. */
export interface DumpShard {
  /** Shard id. */
  id: string;
  /** Lowest hash key of the shard (decimal). */
  startingHashKey: string;
  /** Highest hash key of the shard (decimal). */
  endingHashKey: string;
  /** Parent and adjacent parent, when the shard came from a split or merge. */
  parents: string[];
  /** True when the shard was closed by a split or merge. */
  closed: boolean;
  /** Its records, in order. */
  records: DumpRecord[];
}

/**
 * Orders shards so that every shard comes after its parents (KCL finishes a
 * parent before it reads the children); ties keep the listing's order.
 */
export function parentsFirst<T extends { id: string; parents: string[] }>(
  shards: readonly T[],
): T[] {
  const byId = new Map(shards.map((shard) => [shard.id, shard]));
  const placed = new Set<string>();
  const ordered: T[] = [];
  const place = (shard: T, path: Set<string>) => {
    if (placed.has(shard.id)) return;
    if (path.has(shard.id)) throw new Error(`shard cycle at ${shard.id}`);
    path.add(shard.id);
    for (const parent of shard.parents) {
      const known = byId.get(parent);
      if (known) place(known, path);
    }
    placed.add(shard.id);
    ordered.push(shard);
  };
  for (const shard of shards) place(shard, new Set());
  return ordered;
}

/** Reads every shard of a stream to its end, parents first. */
export async function dumpStream(
  client: KinesisClient,
  stream: string,
): Promise<DumpShard[]> {
  const listed = (await listShards(client, stream)).map((shard) => ({
    id: shard.ShardId ?? "",
    startingHashKey: shard.HashKeyRange?.StartingHashKey ?? "",
    endingHashKey: shard.HashKeyRange?.EndingHashKey ?? "",
    parents: [shard.ParentShardId, shard.AdjacentParentShardId].filter(
      (id): id is string => Boolean(id),
    ),
    closed: shard.SequenceNumberRange?.EndingSequenceNumber !== undefined,
    records: [] as DumpRecord[],
  }));
  const shards = parentsFirst(listed);
  for (const shard of shards) {
    let iterator = (await client.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: shard.id,
        ShardIteratorType: "TRIM_HORIZON",
      }),
    )).ShardIterator;
    // A closed shard ends where GetRecords stops giving an iterator; an open
    // one (nothing writes any more) at its first empty page.
    while (iterator) {
      const page = await client.send(
        new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }),
      );
      for (const record of page.Records ?? []) {
        shard.records.push({
          sequenceNumber: record.SequenceNumber ?? "",
          partitionKey: record.PartitionKey ?? "",
          arrivedAtMs: record.ApproximateArrivalTimestamp?.getTime() ?? 0,
          data: record.Data ?? new Uint8Array(),
        });
      }
      if (!page.Records?.length) break;
      iterator = page.NextShardIterator;
    }
  }
  return shards;
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/** The dump file's text (see the module doc). */
export function formatDump(shards: readonly DumpShard[]): string {
  const lines: string[] = [];
  for (const shard of shards) {
    lines.push(
      `shard ${shard.id} ${shard.startingHashKey} ${shard.endingHashKey} ${
        shard.parents.join(",") || "-"
      }`,
    );
  }
  for (const shard of shards) {
    for (const record of shard.records) {
      lines.push(
        `record ${shard.id} ${record.sequenceNumber} ${record.arrivedAtMs} ${
          base64(new TextEncoder().encode(record.partitionKey))
        } ${base64(record.data)}`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** One user record a consumer handed out. */
export interface ConsumedRecord {
  /** Shard it was read from. */
  shardId: string;
  /** Sequence number of the stored record it came from. */
  sequenceNumber: string;
  /** Its index in the aggregate, null for a record that was not one. */
  subSequenceNumber: number | null;
  /** The partition key the consumer reports. */
  partitionKey: string;
  /** The explicit hash key the consumer reports, null when none. */
  explicitHashKey: string | null;
  /** Its data. */
  data: Uint8Array;
}

/** A consumer's count for one shard. */
export interface ShardTally {
  /** Shard id. */
  shardId: string;
  /** Stored records the consumer read. */
  records: number;
  /** User records it handed out. */
  taken: number;
  /** User records it threw away (KCL's hash-key range check). */
  discarded: number;
}

/** What a consumer answered. */
export interface ReaderOutput {
  /** User records, in the order the consumer gave them. */
  records: ConsumedRecord[];
  /** Per shard, in dump order. */
  shards: ShardTally[];
}

/**
 * Parses a consumer's answer: lines
 * `user <shardId> <seq> <subSeq|-> <base64 pk> <ehk|-> <base64 data>` and
 * `shard <shardId> records <n> taken <n> discarded <n>`.
 *
 * @throws Error naming the first line that is neither.
 */
export function parseReaderOutput(text: string): ReaderOutput {
  const output: ReaderOutput = { records: [], shards: [] };
  const lines = text.split("\n");
  for (const [index, line] of lines.entries()) {
    if (line === "") continue;
    const fields = line.split(" ");
    if (fields[0] === "user" && fields.length === 7) {
      output.records.push({
        shardId: fields[1],
        sequenceNumber: fields[2],
        subSequenceNumber: fields[3] === "-" ? null : Number(fields[3]),
        partitionKey: Buffer.from(fields[4], "base64").toString("utf8"),
        explicitHashKey: fields[5] === "-" ? null : fields[5],
        data: new Uint8Array(Buffer.from(fields[6], "base64")),
      });
    } else if (
      fields[0] === "shard" && fields.length === 8 &&
      fields[2] === "records" && fields[4] === "taken" &&
      fields[6] === "discarded"
    ) {
      output.shards.push({
        shardId: fields[1],
        records: Number(fields[3]),
        taken: Number(fields[5]),
        discarded: Number(fields[7]),
      });
    } else {
      throw new Error(
        `consumer output line ${index + 1} is not a user or shard line: ${
          JSON.stringify(line.slice(0, 120))
        }`,
      );
    }
  }
  return output;
}
