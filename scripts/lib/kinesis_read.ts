/**
 * Reads every record of a stream, shard by shard, from TRIM_HORIZON: what the
 * demo, the tail command and the tests use to see what the extension wrote.
 *
 * @module
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  type Shard,
} from "@aws-sdk/client-kinesis";

/** One record as read back from a shard. */
export interface StoredRecord {
  /** Shard it was read from. */
  shardId: string;
  /** Sequence number Kinesis gave it. */
  sequenceNumber: string;
  /** Outer partition key. */
  partitionKey: string;
  /** Payload bytes. */
  data: Uint8Array;
  /** Arrival time stamp from Kinesis. */
  arrivedAt: Date | undefined;
}

/** Lists every shard of a stream (open and closed), as ListShards gives them. */
export async function listShards(
  client: KinesisClient,
  stream: string,
): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListShardsCommand(
        nextToken ? { NextToken: nextToken } : streamRef(stream),
      ),
    );
    shards.push(...page.Shards ?? []);
    nextToken = page.NextToken;
  } while (nextToken);
  return shards;
}

/** Lists the shard ids of a stream. */
export async function listShardIds(
  client: KinesisClient,
  stream: string,
): Promise<string[]> {
  return (await listShards(client, stream)).flatMap((shard) =>
    shard.ShardId ? [shard.ShardId] : []
  );
}

/** Reads all records currently stored in every shard of a stream. */
export async function readAllRecords(
  client: KinesisClient,
  stream: string,
): Promise<StoredRecord[]> {
  const records: StoredRecord[] = [];
  for (const shardId of await listShardIds(client, stream)) {
    const iterator = await client.send(
      new GetShardIteratorCommand({
        ...streamRef(stream),
        ShardId: shardId,
        ShardIteratorType: "TRIM_HORIZON",
      }),
    );
    let shardIterator = iterator.ShardIterator;
    while (shardIterator) {
      const page = await client.send(
        new GetRecordsCommand({ ShardIterator: shardIterator, Limit: 10_000 }),
      );
      for (const record of page.Records ?? []) {
        records.push({
          shardId,
          sequenceNumber: record.SequenceNumber ?? "",
          partitionKey: record.PartitionKey ?? "",
          data: record.Data ?? new Uint8Array(),
          arrivedAt: record.ApproximateArrivalTimestamp,
        });
      }
      if (!page.Records?.length) break;
      shardIterator = page.NextShardIterator;
    }
  }
  return records;
}

/** Stream name or ARN as the right request field. */
export function streamRef(
  stream: string,
): { StreamName: string } | { StreamARN: string } {
  return stream.startsWith("arn:")
    ? { StreamARN: stream }
    : { StreamName: stream };
}
