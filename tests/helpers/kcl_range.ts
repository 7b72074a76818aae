/**
 * The rule KCL applies when it de-aggregates a KPL record read from a shard
 * (`AggregatorUtil.deaggregate`, called by `ProcessTask` with the shard's
 * hash-key range), restated for tests: user records are taken in order;
 * at the first one whose effective hash key (its explicit hash key, else
 * the MD5 of its partition key as an unsigned big-endian integer) lies
 * outside the range, that one, the rest of the aggregate and the ones
 * already taken from it are all discarded.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** A user record as a de-aggregator reports it. */
export interface KclUserRecord {
  /** Its partition key. */
  partitionKey: string;
  /** Its explicit hash key (decimal), if any. */
  explicitHashKey?: string;
}

/** A shard's inclusive hash-key range. */
export interface HashKeyRange {
  /** Lowest hash key. */
  start: bigint;
  /** Highest hash key. */
  end: bigint;
}

/** Largest hash key (2^128 − 1). */
export const MAX_HASH_KEY = (1n << 128n) - 1n;

/** The effective hash key KCL computes for one user record. */
export function effectiveHashKey(record: KclUserRecord): bigint {
  if (record.explicitHashKey !== undefined) {
    return BigInt(record.explicitHashKey);
  }
  const digest = createHash("md5").update(record.partitionKey, "utf8")
    .digest("hex");
  return BigInt(`0x${digest}`);
}

/** How many user records of one aggregate KCL keeps and discards on a shard. */
export function kclKeeps(
  records: readonly KclUserRecord[],
  range: HashKeyRange,
): { kept: number; discarded: number } {
  for (const record of records) {
    const key = effectiveHashKey(record);
    if (key < range.start || key > range.end) {
      return { kept: 0, discarded: records.length };
    }
  }
  return { kept: records.length, discarded: 0 };
}

/** The ranges of a stream created with `count` shards (even split). */
export function evenShardRanges(count: number): HashKeyRange[] {
  const width = (MAX_HASH_KEY + 1n) / BigInt(count);
  return Array.from({ length: count }, (_, i) => ({
    start: width * BigInt(i),
    end: i === count - 1 ? MAX_HASH_KEY : width * BigInt(i + 1) - 1n,
  }));
}

/** The range that holds `hashKey`. */
export function rangeOf(
  ranges: readonly HashKeyRange[],
  hashKey: bigint,
): HashKeyRange {
  const found = ranges.find((r) => hashKey >= r.start && hashKey <= r.end);
  if (!found) throw new RangeError(`no range holds ${hashKey}`);
  return found;
}
