import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import agg from "aws-kinesis-agg";
import {
  type DumpShard,
  formatDump,
  parentsFirst,
  parseReaderOutput,
  type ReaderOutput,
} from "../../../scripts/consumers/dump.ts";
import {
  ensureConsumerTools,
  readWithKcl,
  readWithNpm,
  readWithPython,
} from "../../../scripts/consumers/readers.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();
const HALF = 2n ** 127n;

/** The aggregator of aws-kinesis-agg (its .d.ts omits it). */
const { RecordAggregator } = agg as unknown as {
  RecordAggregator: new () => {
    addUserRecord(
      record: { partitionKey: string; explicitHashKey?: string; data: Buffer },
    ): void;
    build(): { data: Buffer };
  };
};

/** An aggregate built by AWS's npm library (not ours). */
function aggregate(
  users: Array<
    { partitionKey: string; explicitHashKey?: string; data: string }
  >,
): Uint8Array {
  const aggregator = new RecordAggregator();
  for (const user of users) {
    aggregator.addUserRecord({ ...user, data: Buffer.from(user.data) });
  }
  return new Uint8Array(aggregator.build().data);
}

/**
 * Two shards splitting the key space in halves, and one child of the lower
 * half. Shard 0 holds an aggregate whose user records all lie in its range,
 * one that mixes in a key of shard 1, and a plain record.
 */
function fixture(): DumpShard[] {
  const low = { startingHashKey: "0", endingHashKey: (HALF - 1n).toString() };
  const record = (sequenceNumber: string, data: Uint8Array) => ({
    sequenceNumber,
    partitionKey: "outer key",
    arrivedAtMs: 1_700_000_000_000,
    data,
  });
  return [
    {
      id: "shardId-000000000002",
      startingHashKey: "0",
      endingHashKey: (HALF / 2n).toString(),
      parents: ["shardId-000000000000"],
      closed: false,
      records: [
        record(
          "30",
          aggregate([{
            partitionKey: "c",
            explicitHashKey: "5",
            data: "child",
          }]),
        ),
      ],
    },
    {
      id: "shardId-000000000000",
      ...low,
      parents: [],
      closed: true,
      records: [
        record(
          "10",
          aggregate([
            { partitionKey: "a", explicitHashKey: "1", data: "in-1" },
            { partitionKey: "b", explicitHashKey: "2", data: "in-2" },
          ]),
        ),
        record(
          "11",
          aggregate([
            { partitionKey: "a", explicitHashKey: "3", data: "kept?" },
            {
              partitionKey: "z",
              explicitHashKey: HALF.toString(),
              data: "outside",
            },
          ]),
        ),
        record("12", utf8.encode("plain ✓")),
      ],
    },
    {
      id: "shardId-000000000001",
      startingHashKey: HALF.toString(),
      endingHashKey: (2n ** 128n - 1n).toString(),
      parents: [],
      closed: false,
      records: [],
    },
  ];
}

/** The data of every user record in the fixture, in dump order. */
const EVERY_USER_RECORD = [
  "in-1",
  "in-2",
  "kept?",
  "outside",
  "plain ✓",
  "child",
];

function dataOf(output: ReaderOutput): string[] {
  return output.records.map((record) => text.decode(record.data));
}

Deno.test("parentsFirst: a child comes after its parents, the rest keep their order", () => {
  const ids = parentsFirst(fixture()).map((shard) => shard.id);
  assert.deepEqual(ids, [
    "shardId-000000000000",
    "shardId-000000000002",
    "shardId-000000000001",
  ]);
  assert.throws(
    () =>
      parentsFirst([{ id: "a", parents: ["b"] }, { id: "b", parents: ["a"] }]),
    /cycle/,
  );
});

Deno.test("formatDump: a shard line each, then a record line each", () => {
  const lines = formatDump(parentsFirst(fixture())).trimEnd().split("\n");
  assert.equal(lines[0], `shard shardId-000000000000 0 ${HALF - 1n} -`);
  assert.equal(
    lines[1],
    `shard shardId-000000000002 0 ${HALF / 2n} shardId-000000000000`,
  );
  assert.equal(lines.length, 3 + 4);
  assert.equal(
    lines[5],
    `record shardId-000000000000 12 1700000000000 ${btoa("outer key")} ${
      Buffer.from("plain ✓").toString("base64")
    }`,
  );
});

Deno.test("parseReaderOutput: user and shard lines; anything else is an error", () => {
  const output = parseReaderOutput(
    `user s1 10 0 ${btoa("pk")} 123 ${btoa("hi")}\nuser s1 12 - ${
      btoa("pk")
    } - ${btoa("x")}\nshard s1 records 2 taken 2 discarded 1\n`,
  );
  assert.deepEqual(output.shards, [{
    shardId: "s1",
    records: 2,
    taken: 2,
    discarded: 1,
  }]);
  assert.equal(output.records[0].explicitHashKey, "123");
  assert.equal(output.records[0].subSequenceNumber, 0);
  assert.equal(output.records[1].subSequenceNumber, null);
  assert.equal(output.records[1].explicitHashKey, null);
  assert.deepEqual(dataOf(output), ["hi", "x"]);
  assert.throws(() => parseReaderOutput("user s1 10\n"), /line 1/);
});

Deno.test("readWithKcl drops a whole aggregate at its first key outside the shard; readWithPython keeps all", async () => {
  await ensureConsumerTools();
  const folder = await Deno.makeTempDir();
  try {
    const dump = `${folder}/fixture.dump`;
    await Deno.writeTextFile(dump, formatDump(parentsFirst(fixture())));
    const output = await readWithKcl(dump);
    // "kept?" was in range but goes with the rest of its aggregate.
    assert.deepEqual(dataOf(output), ["in-1", "in-2", "plain ✓", "child"]);
    assert.deepEqual(output.shards, [
      { shardId: "shardId-000000000000", records: 3, taken: 3, discarded: 2 },
      { shardId: "shardId-000000000002", records: 1, taken: 1, discarded: 0 },
      { shardId: "shardId-000000000001", records: 0, taken: 0, discarded: 0 },
    ]);
    const [first, second, plain] = output.records;
    assert.equal(first.partitionKey, "a");
    assert.equal(first.explicitHashKey, "1");
    assert.equal(first.subSequenceNumber, 0);
    assert.equal(second.subSequenceNumber, 1);
    assert.equal(plain.subSequenceNumber, null);
    assert.equal(plain.partitionKey, "outer key");

    const python = await readWithPython(dump);
    assert.deepEqual(dataOf(python), EVERY_USER_RECORD);
    assert.equal(python.records[3].explicitHashKey, HALF.toString());
    assert.deepEqual(python.shards.map((shard) => shard.taken), [5, 1, 0]);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("readWithNpm: aws-kinesis-agg takes every user record, with its keys", () => {
  const output = readWithNpm(parentsFirst(fixture()));
  assert.deepEqual(dataOf(output), EVERY_USER_RECORD);
  assert.equal(output.records[3].explicitHashKey, HALF.toString());
  assert.equal(output.records[3].partitionKey, "z");
  assert.equal(output.records[4].subSequenceNumber, null);
  assert.deepEqual(output.shards.map((shard) => shard.records), [3, 1, 0]);
});
