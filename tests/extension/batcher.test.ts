import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import agg from "aws-kinesis-agg";
import {
  BatchCursor,
  type BatchOptions,
  buildBatches,
  MAX_BATCH_BYTES,
  MAX_PACKED_RECORD_BYTES,
} from "../../extension/batcher.ts";
import { aggregate, hashKeyOf } from "../../extension/kpl.ts";
import {
  type Batch,
  type BufferedEvent,
  KINESIS_LIMITS,
  type OutgoingRecord,
  type RecordFormat,
} from "../../extension/types.ts";
import { eventOfSize, idOf, seededRandom } from "./_codec_fixtures.ts";
import {
  effectiveHashKey,
  evenShardRanges,
  kclKeeps,
  type KclUserRecord,
  rangeOf,
} from "../helpers/kcl_range.ts";

const MIB = 1024 * 1024;
const FORMATS: readonly RecordFormat[] = ["kpl", "json", "ndjson"];
const utf8 = new TextEncoder();
const keyBytes = (key: string) => utf8.encode(key).byteLength;

interface AwsUserRecord {
  partitionKey: string;
  explicitPartitionKey?: string;
  data: string;
}
const awsAgg = agg as unknown as {
  deaggregateSync(
    record: { partitionKey: string; data: string; sequenceNumber: string },
    computeChecksums: boolean,
    done: (error: unknown, records?: AwsUserRecord[]) => void,
  ): void;
};

/** The envelopes inside one record, decoded independently of the batcher. */
function userRecordsOf(
  record: OutgoingRecord,
  format: RecordFormat,
): { partitionKey: string; data: Uint8Array; explicitHashKey?: string }[] {
  if (format === "json") {
    return [{ partitionKey: record.partitionKey, data: record.data }];
  }
  if (format === "ndjson") {
    assert.equal(
      record.data[record.data.length - 1],
      0x0a,
      "ends in a newline",
    );
    const lines = Buffer.from(record.data).toString("utf8").split("\n");
    assert.equal(lines.pop(), "");
    return lines.map((line) => ({
      partitionKey: record.partitionKey,
      data: utf8.encode(line),
    }));
  }
  let result: AwsUserRecord[] = [];
  let failure: unknown;
  awsAgg.deaggregateSync(
    {
      partitionKey: record.partitionKey,
      data: Buffer.from(record.data).toString("base64"),
      sequenceNumber: "1",
    },
    true,
    (error, records) => {
      if (error) failure ??= error;
      else result = records ?? [];
    },
  );
  if (failure) throw failure;
  return result.map((user) => ({
    partitionKey: user.partitionKey,
    explicitHashKey: user.explicitPartitionKey,
    data: new Uint8Array(Buffer.from(user.data, "base64")),
  }));
}

/** The user records of one KPL record as aws-kinesis-agg reads them. */
function awsUserRecordsOf(record: OutgoingRecord): KclUserRecord[] {
  return userRecordsOf(record, "kpl").map(({ partitionKey, explicitHashKey }) =>
    explicitHashKey === undefined
      ? { partitionKey }
      : { partitionKey, explicitHashKey }
  );
}

/** Checks every rule the batcher promises for one input and options. */
function assertBatchRules(
  events: readonly BufferedEvent[],
  options: BatchOptions,
  batches: Batch[],
): void {
  const maxRecords = options.maxRecordsPerRequest ?? 500;
  const maxRequest = Math.min(
    options.maxRequestBytes ?? MAX_BATCH_BYTES,
    5 * MIB,
  );
  const flattened: BufferedEvent[] = [];
  batches.forEach((batch, b) => {
    assert.ok(batch.records.length > 0, `batch ${b} is empty`);
    assert.ok(
      batch.records.length <= maxRecords,
      `batch ${b} has too many records`,
    );
    const bytes = batch.records.reduce(
      (sum, r) => sum + r.data.byteLength + keyBytes(r.partitionKey),
      0,
    );
    assert.equal(batch.bytes, bytes, `batch ${b} byte count`);
    // Only a record larger than the cap may exceed it, alone.
    assert.ok(
      bytes <= maxRequest || batch.records.length === 1,
      `batch ${b}: ${bytes} > ${maxRequest}`,
    );
    if (b > 0) {
      // Greedy: the first record of this batch did not fit the previous one.
      const previous = batches[b - 1];
      const first = batch.records[0];
      assert.ok(
        previous.records.length === maxRecords ||
          previous.bytes + first.data.byteLength +
                keyBytes(first.partitionKey) >
            maxRequest,
        `batch ${b} was started too early`,
      );
    }
    for (const record of batch.records) {
      const size = record.data.byteLength + keyBytes(record.partitionKey);
      assert.ok(size <= options.maxRecordBytes, `record of ${size} bytes`);
      assert.ok(
        size <= MAX_PACKED_RECORD_BYTES || record.events.length === 1,
        `a record of ${size} bytes packs ${record.events.length} events`,
      );
      assert.ok(record.events.length > 0);
      assert.equal(record.partitionKey, record.events[0].partitionKey);
      const users = userRecordsOf(record, options.format);
      assert.equal(users.length, record.events.length);
      users.forEach((user, i) => {
        assert.deepEqual(user.data, record.events[i].data);
        if (options.format === "kpl") {
          assert.equal(user.partitionKey, record.events[i].partitionKey);
        }
      });
      flattened.push(...record.events);
    }
  });
  // Every event exactly once, in order (same objects).
  assert.equal(flattened.length, events.length);
  flattened.forEach((event, i) => assert.equal(event, events[i], `event ${i}`));
  assertRecordsArePacked(batches, options);
}

/** For packing formats: the next event would not have fitted the record. */
function assertRecordsArePacked(batches: Batch[], options: BatchOptions): void {
  if (options.format === "json") return;
  const records = batches.flatMap((b) => b.records);
  for (let r = 0; r + 1 < records.length; r++) {
    const record = records[r];
    const next = records[r + 1].events[0];
    const outerKey = keyBytes(record.partitionKey);
    const grown: number = options.format === "ndjson"
      ? record.data.byteLength + next.data.byteLength + 1
      : aggregate(
        [...record.events, next].map((e) => ({
          partitionKey: e.partitionKey,
          data: e.data,
        })),
        hashKeyOf(record.partitionKey),
      ).byteLength;
    assert.ok(
      grown + outerKey >
        Math.min(options.maxRecordBytes, MAX_PACKED_RECORD_BYTES),
      `record ${r} closed although the next event fitted`,
    );
  }
}

Deno.test("batcher: no events, no batches", () => {
  for (const format of FORMATS) {
    assert.deepEqual(buildBatches([], { format, maxRecordBytes: MIB }), []);
  }
});

Deno.test("batcher: json puts exactly 500 records in a full request", () => {
  const events = Array.from(
    { length: 1001 },
    (_, i) => eventOfSize(i, 100, `k${i}`),
  );
  const options: BatchOptions = { format: "json", maxRecordBytes: MIB };
  const batches = buildBatches(events, options);
  assert.deepEqual(batches.map((b) => b.records.length), [500, 500, 1]);
  assertBatchRules(events, options, batches);
  // json records reuse the envelope bytes.
  assert.equal(batches[0].records[0].data, events[0].data);
});

Deno.test("batcher: packed formats also stop at 500 records per request", () => {
  // Records of one event each: every event fills a 1,000-byte record alone.
  for (const format of ["kpl", "ndjson"] as const) {
    const size = format === "kpl" ? 890 : 960;
    const events = Array.from(
      { length: 1200 },
      (_, i) => eventOfSize(i, size, `key-${i % 7}`),
    );
    const options: BatchOptions = { format, maxRecordBytes: 1000 };
    const batches = buildBatches(events, options);
    assert.ok(
      batches.every((b) => b.records.every((r) => r.events.length === 1)),
    );
    assert.deepEqual(batches.map((b) => b.records.length), [500, 500, 200]);
    assertBatchRules(events, options, batches);
  }
});

Deno.test("batcher: a request holds at most 5 MiB counting partition keys", () => {
  // 10 records of 524,280 data bytes fit 5 MiB; with their 20-byte keys they do not.
  const key = "k".repeat(20);
  const events = Array.from(
    { length: 10 },
    (_, i) => eventOfSize(i, 524_280, key),
  );
  const options: BatchOptions = { format: "json", maxRecordBytes: MIB };
  const batches = buildBatches(events, options);
  assert.deepEqual(batches.map((b) => b.records.length), [9, 1]);
  assert.equal(batches[0].bytes, 9 * 524_300);
  assertBatchRules(events, options, batches);

  // Records of exactly 1 MiB including the key: five fill a request exactly.
  const full = Array.from(
    { length: 11 },
    (_, i) => eventOfSize(i, MIB - 36, "x".repeat(36)),
  );
  const fullBatches = buildBatches(full, options);
  assert.deepEqual(fullBatches.map((b) => b.records.length), [5, 5, 1]);
  assert.equal(fullBatches[0].bytes, KINESIS_LIMITS.maxBytesPerRequest);
  assertBatchRules(full, options, fullBatches);
});

Deno.test("batcher: the record limit counts the partition key, in UTF-8 bytes", () => {
  const key = "ключ-😀"; // 13 UTF-8 bytes, 7 UTF-16 units
  assert.equal(keyBytes(key), 13);
  for (const format of FORMATS) {
    const framing = format === "json" ? 0 : format === "ndjson" ? 1 : aggregate(
      [{ partitionKey: key, data: new Uint8Array(400) }],
      hashKeyOf(key),
    ).byteLength - 400;
    const fits = eventOfSize(1, 500, key);
    const limit = 500 + framing + 13;
    assert.equal(
      buildBatches([fits], { format, maxRecordBytes: limit }).length,
      1,
      format,
    );
    assert.throws(
      () => buildBatches([fits], { format, maxRecordBytes: limit - 1 }),
      RangeError,
      format,
    );
  }
});

Deno.test("batcher: ndjson packs newline-terminated envelopes up to the record limit", () => {
  const events = Array.from(
    { length: 10 },
    (_, i) => eventOfSize(i, 99, i < 5 ? "first" : "second"),
  );
  // Each envelope takes 100 bytes with its newline; the key "first" 5 bytes.
  const options: BatchOptions = { format: "ndjson", maxRecordBytes: 305 };
  const batches = buildBatches(events, options);
  const records = batches.flatMap((b) => b.records);
  // "second" is one byte longer than "first": its records hold one event less.
  assert.deepEqual(records.map((r) => r.events.length), [3, 3, 2, 2]);
  assert.deepEqual(records.map((r) => r.partitionKey), [
    "first",
    "first",
    "second",
    "second",
  ]);
  assert.deepEqual(
    Buffer.from(records[0].data).toString("utf8").split("\n").slice(0, 3).map((
      line,
    ) => idOf(utf8.encode(line))),
    [0, 1, 2],
  );
  assertBatchRules(events, options, batches);
  // One byte less and only two envelopes fit.
  const tighter = buildBatches(events, { ...options, maxRecordBytes: 304 });
  assert.equal(tighter[0].records[0].events.length, 2);
});

Deno.test("batcher: kpl aggregates keep each user record's key; the outer key is the first one's", () => {
  const keys = ["req-a", "req-a", "req-b", "env", "req-a", "req-c"];
  const events = keys.map((key, i) => eventOfSize(i, 200, key));
  const options: BatchOptions = { format: "kpl", maxRecordBytes: 64 * 1024 };
  const batches = buildBatches(events, options);
  assert.equal(batches.length, 1);
  assert.equal(batches[0].records.length, 1);
  const [record] = batches[0].records;
  assert.equal(record.partitionKey, "req-a");
  assert.deepEqual(
    userRecordsOf(record, "kpl").map((u) => u.partitionKey),
    keys,
  );
  assertBatchRules(events, options, batches);
});

Deno.test("batcher: KCL's per-shard range check keeps every user record of our aggregates", () => {
  const random = seededRandom(4242);
  const keys = Array.from({ length: 40 }, (_, i) => `request-${i}`);
  const events = Array.from(
    { length: 3000 },
    (_, i) => eventOfSize(i, random.int(50, 900), random.pick(keys)),
  );
  const records = buildBatches(events, {
    format: "kpl",
    maxRecordBytes: 64 * 1024,
  }).flatMap((batch) => batch.records);
  assert.ok(records.length > 10, `${records.length} aggregates`);
  // A 4-shard stream, and the same after splitting shard 1 at a random point.
  const even = evenShardRanges(4);
  const splitAt = even[1].start + (even[1].end - even[1].start) / 3n;
  const split = [
    even[0],
    { start: even[1].start, end: splitAt },
    { start: splitAt + 1n, end: even[1].end },
    even[2],
    even[3],
  ];
  for (const ranges of [even, split]) {
    let kept = 0;
    let withoutHashKey = 0;
    for (const record of records) {
      // Kinesis stores the aggregate by the MD5 of its outer partition key.
      const shard = rangeOf(
        ranges,
        effectiveHashKey({ partitionKey: record.partitionKey }),
      );
      const users = awsUserRecordsOf(record);
      const result = kclKeeps(users, shard);
      assert.equal(result.discarded, 0, `aggregate of ${record.partitionKey}`);
      kept += result.kept;
      // The same aggregates without the hash key: what KCL did before.
      withoutHashKey += kclKeeps(
        users.map((u) => ({ partitionKey: u.partitionKey })),
        shard,
      ).kept;
    }
    assert.equal(kept, events.length);
    assert.ok(
      withoutHashKey < events.length / 2,
      `without hash keys KCL keeps only ${withoutHashKey}`,
    );
  }
});

Deno.test("batcher: random sizes, keys and limits keep every rule, all formats (seeded)", () => {
  const random = seededRandom(5150);
  const keyPool = [
    "5b1e9f0c-3c55-4f6e-9d7a-0c4a2f1e8b11",
    "req-1",
    "req-2",
    "k".repeat(256),
    "ключ-😀",
  ];
  for (let round = 0; round < 60; round++) {
    const format = FORMATS[round % 3];
    const maxRecordBytes = random.int(2000, 40_000);
    const maxRequestBytes = maxRecordBytes * random.int(1, 6) +
      random.int(0, 999);
    const maxRecordsPerRequest = random.int(1, 500);
    const largest = maxRecordBytes - 300 - (format === "kpl" ? 1100 : 0);
    const events = Array.from({ length: random.int(1, 400) }, (_, i) => {
      const big = random.next() < 0.1;
      const size = big
        ? random.int(largest - 50, largest)
        : random.int(20, Math.min(2000, largest));
      return eventOfSize(i, size, random.pick(keyPool));
    });
    const options: BatchOptions = {
      format,
      maxRecordBytes,
      maxRequestBytes,
      maxRecordsPerRequest,
    };
    assertBatchRules(events, options, buildBatches(events, options));
  }
});

Deno.test("batcher: 100,000 events of every format batch correctly", () => {
  const events = Array.from(
    { length: 100_000 },
    (_, i) => eventOfSize(i, 400, `req-${i >> 4}`),
  );
  for (const format of FORMATS) {
    const batches = buildBatches(events, { format, maxRecordBytes: MIB });
    const flattened = batches.flatMap((b) =>
      b.records.flatMap((r) => r.events)
    );
    assert.equal(flattened.length, events.length);
    assert.ok(flattened.every((event, i) => event === events[i]));
    assert.ok(
      batches.every((b) => b.records.length <= 500 && b.bytes <= 5 * MIB),
    );
  }
});

Deno.test("batcher: on 10 MiB streams records pack ≤ 1 MiB, requests ≤ 5 MiB; a larger event goes alone", () => {
  const key = "k".repeat(36);
  const sizes = [8 * MIB, 300_000, 300_000, 300_000, 300_000, 2 * MIB, 6 * MIB];
  for (const format of FORMATS) {
    const events = sizes.map((size, i) => eventOfSize(i, size, key));
    const options: BatchOptions = { format, maxRecordBytes: 10 * MIB };
    const batches = buildBatches(events, options);
    const records = batches.flatMap((b) => b.records);
    // The 1.2 MB of 300 KB events cannot share one ≤ 1 MiB record.
    assert.deepEqual(
      records.map((r) => r.events.length),
      format === "json" ? [1, 1, 1, 1, 1, 1, 1] : [1, 3, 1, 1, 1],
      format,
    );
    // The 8 MiB and 6 MiB records each travel alone; the rest share ≤ 5 MiB.
    assert.deepEqual(
      batches.map((b) => b.records.length),
      format === "json" ? [1, 5, 1] : [1, 3, 1],
      format,
    );
    assertBatchRules(events, options, batches);
  }
});

Deno.test("batcher: refuses oversized events and out-of-range options", () => {
  const huge = eventOfSize(0, 2000, "key");
  for (const format of FORMATS) {
    assert.throws(
      () => buildBatches([huge], { format, maxRecordBytes: 1000 }),
      /event 0 .*cannot fit/,
    );
  }
  const small = [eventOfSize(0, 100, "key")];
  const bad: Partial<BatchOptions>[] = [
    { maxRecordsPerRequest: 501 },
    { maxRecordsPerRequest: 0 },
    { maxRecordBytes: 0 },
    { maxRecordBytes: 1.5 },
    { maxRequestBytes: 0 },
    { maxRecordBytes: 11 * MIB },
    { format: "csv" as RecordFormat },
  ];
  for (const override of bad) {
    assert.throws(
      () =>
        buildBatches(small, {
          format: "json",
          maxRecordBytes: MIB,
          ...override,
        }),
      RangeError,
      JSON.stringify(override),
    );
  }
});

Deno.test("batcher: a cursor builds one request at a time within the size asked, and rest() gives back the unbatched events in order", () => {
  for (const format of FORMATS) {
    const events = Array.from(
      { length: 300 },
      (_, i) => eventOfSize(i, 1_000, `k${i % 7}`),
    );
    const options: BatchOptions = { format, maxRecordBytes: 64 * 1024 };
    const cursor = new BatchCursor(events, options);
    const first = cursor.next(200_000);
    assert.ok(first);
    assert.ok(first.bytes <= 200_000, `${format}: ${first.bytes} bytes`);
    const second = cursor.next(1);
    assert.ok(second, "a request below one record still carries one record");
    assert.equal(second.records.length, 1);
    const batched = [first, second].flatMap((batch) =>
      batch.records.flatMap((record) => record.events)
    );
    const rest = cursor.rest();
    assert.deepEqual(
      [...batched, ...rest].map((e) => idOf(e.data)),
      events.map((e) => idOf(e.data)),
      `${format}: every event once, in order`,
    );
    assert.equal(cursor.done, false);
    // The rest batched alone is what the cursor would have gone on with.
    const after: Batch[] = [];
    for (let batch = cursor.next(); batch; batch = cursor.next()) {
      after.push(batch);
    }
    assert.equal(cursor.done, true);
    assert.deepEqual(cursor.rest(), []);
    assertBatchRules(rest, options, buildBatches(rest, options));
    assert.deepEqual(
      after.flatMap((b) => b.records.flatMap((r) => r.events)).map((e) =>
        idOf(e.data)
      ),
      rest.map((e) => idOf(e.data)),
    );
  }
});
