import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import agg from "aws-kinesis-agg";
import {
  aggregate,
  deaggregate,
  hashKeyOf,
  isKplAggregate,
  KPL_DIGEST_BYTES,
  KPL_MAGIC,
  KplAggregateBuilder,
  type UserRecord,
  varintSize,
} from "../../extension/kpl.ts";
import { seededRandom, trickyText } from "./_codec_fixtures.ts";

const utf8 = new TextEncoder();

interface AggUserRecord {
  partitionKey: string;
  explicitPartitionKey?: string;
  data: string;
}

/** The parts of aws-kinesis-agg these tests use (its .d.ts omits RecordAggregator). */
interface AwsKinesisAgg {
  deaggregateSync(
    record: { partitionKey: string; data: string; sequenceNumber: string },
    computeChecksums: boolean,
    done: (error: unknown, records?: AggUserRecord[]) => void,
  ): void;
  RecordAggregator: new () => {
    addUserRecord(
      record: { partitionKey: string; explicitHashKey?: string; data: Buffer },
    ): void;
    build(): { partitionKey: string; data: Buffer };
  };
}
const awsAgg = agg as unknown as AwsKinesisAgg;

/** De-aggregates with AWS's own library, verifying the MD5. */
function deaggregateWithAws(
  bytes: Uint8Array,
  outerKey = "outer",
): AggUserRecord[] {
  let result: AggUserRecord[] | undefined;
  let failure: unknown;
  awsAgg.deaggregateSync(
    {
      partitionKey: outerKey,
      data: Buffer.from(bytes).toString("base64"),
      sequenceNumber: "1",
    },
    true,
    (error: unknown, records?: AggUserRecord[]) => {
      if (error) failure ??= error;
      else result = records;
    },
  );
  if (failure) throw failure;
  assert.ok(result, "aws-kinesis-agg returned nothing");
  return result;
}

/** Aggregates with AWS's own library. */
function aggregateWithAws(
  records: readonly UserRecord[],
  explicitHashKey?: string,
): Uint8Array {
  const aggregator = new awsAgg.RecordAggregator();
  for (const record of records) {
    aggregator.addUserRecord({
      partitionKey: record.partitionKey,
      explicitHashKey,
      data: Buffer.from(record.data),
    });
  }
  return new Uint8Array(aggregator.build().data);
}

function randomRecords(seed: number, count: number): UserRecord[] {
  const random = seededRandom(seed);
  const keys = Array.from(
    { length: random.int(1, 20) },
    (_, i) => `key-${i}-${random.int(0, 1e6)}`,
  );
  return Array.from({ length: count }, () => ({
    partitionKey: random.pick(keys),
    data: utf8.encode(
      JSON.stringify({ message: trickyText(random, random.int(0, 300)) }),
    ),
  }));
}

Deno.test("kpl: a one-record aggregate has the exact bytes of the format", () => {
  const bytes = aggregate([{ partitionKey: "a", data: utf8.encode("x") }]);
  // key table entry "a", then Record{partition_key_index: 0, data: "x"}.
  const protobuf = [0x0a, 0x01, 0x61, 0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, 0x78];
  const md5 = [...createHash("md5").update(Uint8Array.from(protobuf)).digest()];
  assert.deepEqual([...bytes], [0xf3, 0x89, 0x9a, 0xc2, ...protobuf, ...md5]);
  assert.deepEqual([...KPL_MAGIC], [0xf3, 0x89, 0x9a, 0xc2]);
});

Deno.test("kpl: aws-kinesis-agg de-aggregates our aggregates (MD5 checked), in order", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const records = randomRecords(seed, 50 + seed * 37);
    const bytes = aggregate(records);
    const decoded = deaggregateWithAws(bytes);
    assert.equal(decoded.length, records.length);
    decoded.forEach((user, i) => {
      assert.equal(user.partitionKey, records[i].partitionKey);
      assert.deepEqual(
        new Uint8Array(Buffer.from(user.data, "base64")),
        records[i].data,
      );
    });
  }
});

Deno.test("kpl: our bytes equal aws-kinesis-agg's own aggregation", () => {
  for (const seed of [11, 12, 13]) {
    const records = randomRecords(seed, 200);
    assert.deepEqual(aggregate(records), aggregateWithAws(records));
    const hashKey = hashKeyOf(records[0].partitionKey);
    assert.deepEqual(
      aggregate(records, hashKey),
      aggregateWithAws(records, hashKey),
    );
  }
});

Deno.test("kpl: hashKeyOf is the MD5 of the UTF-8 key as an unsigned 128-bit decimal", () => {
  for (const key of ["a", "req-8f5c", "héllo 🚀", "x".repeat(256)]) {
    const hex = createHash("md5").update(key, "utf8").digest("hex");
    assert.equal(hashKeyOf(key), BigInt(`0x${hex}`).toString(), key);
  }
  // MD5("a") = 0cc175b9c0f1b6a831c399e269772661: a leading zero byte stays.
  assert.equal(
    hashKeyOf("a"),
    BigInt("0x0cc175b9c0f1b6a831c399e269772661").toString(),
  );
});

Deno.test("kpl: with an explicit hash key, every user record carries the one table entry", () => {
  const records = randomRecords(31, 80);
  const hashKey = hashKeyOf("outer-key");
  const builder = new KplAggregateBuilder(hashKey);
  for (const record of records) {
    const predicted = builder.sizeWith(
      record.partitionKey,
      record.data.byteLength,
    );
    builder.add(record.partitionKey, record.data);
    assert.equal(builder.byteLength, predicted);
  }
  const bytes = builder.build();
  assert.equal(bytes.byteLength, builder.byteLength);
  const decoded = deaggregateWithAws(bytes);
  assert.equal(decoded.length, records.length);
  for (const [i, user] of decoded.entries()) {
    assert.equal(user.explicitPartitionKey, hashKey);
    assert.equal(user.partitionKey, records[i].partitionKey);
  }
  const ours = deaggregate(bytes);
  assert.ok(ours);
  assert.ok(ours.every((user) => user.explicitHashKey === hashKey));
  // A reset without a key drops the table again.
  builder.reset();
  builder.add("a", utf8.encode("x"));
  assert.equal(deaggregate(builder.build())?.[0].explicitHashKey, undefined);
});

Deno.test("kpl: our decoder reads aws-kinesis-agg's aggregates", () => {
  const records = randomRecords(21, 120);
  const decoded = deaggregate(aggregateWithAws(records));
  assert.ok(decoded);
  assert.deepEqual(
    decoded.map((r) => [r.partitionKey, [...r.data]]),
    records.map((r) => [r.partitionKey, [...r.data]]),
  );
});

Deno.test("kpl: partition keys are stored once in the key table", () => {
  const records = ["k1", "k2", "k1", "k1", "k3", "k2"].map((key, i) => ({
    partitionKey: key,
    data: utf8.encode(`payload ${i}`),
  }));
  const bytes = aggregate(records);
  const text = new TextDecoder("latin1").decode(bytes);
  for (const key of ["k1", "k2", "k3"]) {
    assert.equal(text.split(key).length - 1, 1, `${key} must appear once`);
  }
  const decoded = deaggregateWithAws(bytes);
  assert.deepEqual(
    decoded.map((r) => r.partitionKey),
    records.map((r) => r.partitionKey),
  );
  assert.ok(
    bytes.byteLength <
      aggregate(
        records.map((r, i) => ({
          ...r,
          partitionKey: `${r.partitionKey}-${i}`,
        })),
      ).byteLength,
  );
});

Deno.test("kpl: sizeWith and byteLength predict the built size exactly (seeded)", () => {
  const random = seededRandom(42);
  // Data lengths around varint boundaries and enough keys to need 2-byte indexes.
  const lengths = [0, 1, 127, 128, 129, 16_383, 16_384, 16_385, 300];
  for (let round = 0; round < 5; round++) {
    const builder = new KplAggregateBuilder();
    assert.equal(builder.byteLength, KPL_MAGIC.length + KPL_DIGEST_BYTES);
    assert.equal(builder.build().byteLength, builder.byteLength);
    const added: UserRecord[] = [];
    for (let i = 0; i < 400; i++) {
      const key = random.next() < 0.5
        ? `k${random.int(0, 300)}`
        : "ü-é-😀".repeat(random.int(1, 30));
      const data = new Uint8Array(random.pick(lengths) + random.int(0, 2));
      const predicted = builder.sizeWith(key, data.byteLength);
      builder.add(key, data);
      added.push({ partitionKey: key, data });
      assert.equal(builder.byteLength, predicted);
      assert.equal(builder.count, added.length);
    }
    const built = builder.build();
    assert.equal(built.byteLength, builder.byteLength);
    const decoded = deaggregateWithAws(built);
    assert.deepEqual(
      decoded.map((r) => r.partitionKey),
      added.map((r) => r.partitionKey),
    );
    assert.deepEqual(
      decoded.map((r) => Buffer.from(r.data, "base64").byteLength),
      added.map((r) => r.data.byteLength),
    );
    builder.reset();
    assert.equal(builder.count, 0);
    assert.equal(builder.byteLength, KPL_MAGIC.length + KPL_DIGEST_BYTES);
  }
});

Deno.test("kpl: varintSize matches the encoding boundaries", () => {
  const cases: [number, number][] = [
    [0, 1],
    [127, 1],
    [128, 2],
    [16_383, 2],
    [16_384, 3],
    [2 ** 21 - 1, 3],
    [2 ** 21, 4],
    [2 ** 28, 5],
    [2 ** 35, 6],
    [Number.MAX_SAFE_INTEGER, 8],
  ];
  for (const [value, size] of cases) {
    assert.equal(varintSize(value), size, String(value));
  }
});

Deno.test("kpl: deaggregate returns null for data that is not an aggregate", () => {
  assert.equal(deaggregate(utf8.encode('{"time":"t"}')), null);
  assert.equal(deaggregate(new Uint8Array(0)), null);
  assert.equal(deaggregate(Uint8Array.of(0xf3, 0x89, 0x9a)), null);
  assert.equal(isKplAggregate(Uint8Array.of(0xf3, 0x89, 0x9a, 0xc2)), true);
  assert.equal(isKplAggregate(Uint8Array.of(0xf3, 0x89, 0x9a, 0xc3)), false);
});

Deno.test("kpl: an empty aggregate has no user records", () => {
  assert.deepEqual(deaggregate(new KplAggregateBuilder().build()), []);
});

/** An aggregate around arbitrary protobuf bytes, with a correct MD5. */
function withValidDigest(protobuf: number[]): Uint8Array {
  const md5 = createHash("md5").update(Uint8Array.from(protobuf)).digest();
  return Uint8Array.from([...KPL_MAGIC, ...protobuf, ...md5]);
}

Deno.test("kpl: deaggregate rejects corrupted and malformed aggregates", () => {
  const good = aggregate([{ partitionKey: "key", data: utf8.encode("hello") }]);
  const flipped = good.slice();
  flipped[10] ^= 0x01;
  assert.throws(() => deaggregate(flipped), /MD5 mismatch/);
  const badDigest = good.slice();
  badDigest[badDigest.length - 1] ^= 0xff;
  assert.throws(() => deaggregate(badDigest), /MD5 mismatch/);
  assert.throws(() => deaggregate(good.subarray(0, 12)), /too short|MD5/);

  const malformed: [string, number[], RegExp][] = [
    ["length past the end", [0x0a, 0x05, 0x61], /runs past the end/],
    ["truncated varint", [0x1a, 0x80], /truncated varint/],
    [
      "record without data",
      [0x0a, 0x01, 0x61, 0x1a, 0x02, 0x08, 0x00],
      /missing data/,
    ],
    ["record without key index", [
      0x0a,
      0x01,
      0x61,
      0x1a,
      0x03,
      0x1a,
      0x01,
      0x78,
    ], /missing partition_key_index/],
    ["key index out of range", [
      0x0a,
      0x01,
      0x61,
      0x1a,
      0x05,
      0x08,
      0x01,
      0x1a,
      0x01,
      0x78,
    ], /partition key 1 of a 1-entry table/],
    ["wrong wire type", [0x08, 0x01], /wire type/],
    ["field number 0", [0x02, 0x00], /field number 0/],
    ["group wire type", [0x23], /unsupported wire type/],
    ["key not UTF-8", [0x0a, 0x01, 0xff], /not UTF-8/],
    [
      "hash key index out of range",
      [0x0a, 0x01, 0x61, 0x1a, 0x07, 0x08, 0x00, 0x10, 0x00, 0x1a, 0x01, 0x78],
      /explicit hash key 0 of a 0-entry table/,
    ],
  ];
  for (const [name, protobuf, pattern] of malformed) {
    assert.throws(() => deaggregate(withValidDigest(protobuf)), pattern, name);
  }
});

Deno.test("kpl: deaggregate reads hash keys and skips fields it does not use (tags, unknown)", () => {
  const protobuf = [
    0x0a,
    0x01,
    0x61, // partition_key_table "a"
    0x12,
    0x01,
    0x31, // explicit_hash_key_table "1"
    0x1a,
    0x11, // Record, 17 bytes:
    0x08,
    0x00, //   partition_key_index 0
    0x10,
    0x00, //   explicit_hash_key_index 0
    0x1a,
    0x01,
    0x78, //   data "x"
    0x22,
    0x03,
    0x0a,
    0x01,
    0x74, //   tags {key: "t"}
    0x2d,
    0x01,
    0x02,
    0x03,
    0x04, //   unknown fixed32 field 5
    0x39,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0, // unknown fixed64 field 7
  ];
  const decoded = deaggregate(withValidDigest(protobuf));
  assert.deepEqual(decoded, [{
    partitionKey: "a",
    data: utf8.encode("x"),
    explicitHashKey: "1",
  }]);
  // The key table may also come after the records.
  const keysLast = [0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, 0x79, 0x0a, 0x01, 0x62];
  assert.deepEqual(deaggregate(withValidDigest(keysLast)), [
    { partitionKey: "b", data: utf8.encode("y") },
  ]);
});

Deno.test("kpl: a 1 MiB user record round-trips through aws-kinesis-agg", () => {
  const data = new Uint8Array(1024 * 1024 - 200);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
  const bytes = aggregate([{ partitionKey: "big", data }]);
  const [user] = deaggregateWithAws(bytes);
  assert.deepEqual(new Uint8Array(Buffer.from(user.data, "base64")), data);
  assert.deepEqual(deaggregate(bytes)?.[0].data, data);
});
