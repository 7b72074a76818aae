import assert from "node:assert/strict";
import { gzipSync, zstdCompressSync } from "node:zlib";
import type {
  ConsumedRecord,
  ReaderOutput,
} from "../../../scripts/consumers/dump.ts";
import {
  compressionOf,
  envelopeLines,
  type ExpectedEvent,
  expectedEvents,
  judgeConsumer,
  topLevelMember,
  verdictPassed,
} from "../../../scripts/consumers/judge.ts";
import type { EmittedEvent } from "../../../scripts/sandbox/telemetry_delivery.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

function member(json: string, name: string): string | undefined {
  const bytes = utf8.encode(json);
  const span = topLevelMember(bytes, name);
  return span ? text.decode(bytes.subarray(span.start, span.end)) : undefined;
}

Deno.test("topLevelMember: the raw text of each kind of value", () => {
  const json =
    '{"time":"t","n":12345678901234567891,"big":1e400,"s":"a\\"}b","o":{"record":1,"x":[1,{"y":"}"}]},"a":[[],{}],"t":true,"z":null}';
  assert.equal(member(json, "n"), "12345678901234567891");
  assert.equal(member(json, "big"), "1e400");
  assert.equal(member(json, "s"), '"a\\"}b"');
  assert.equal(member(json, "o"), '{"record":1,"x":[1,{"y":"}"}]}');
  assert.equal(member(json, "a"), "[[],{}]");
  assert.equal(member(json, "t"), "true");
  assert.equal(member(json, "z"), "null");
  // Only top-level members count: "record" inside "o" is not one.
  assert.equal(member(json, "record"), undefined);
});

Deno.test("topLevelMember: whitespace, escaped keys, the last duplicate", () => {
  assert.equal(
    member(' { "record" : [ 1 , 2 ] , "b" : 3 } ', "record"),
    "[ 1 , 2 ]",
  );
  assert.equal(member('{"\\u0072ecord":"x"}', "record"), '"x"');
  assert.equal(member('{"record":1,"record":{"k":2}}', "record"), '{"k":2}');
  assert.equal(member("[1]", "record"), undefined);
});

Deno.test("topLevelMember: 20,000 levels deep without recursion", () => {
  const deep = "[".repeat(20_000) + "]".repeat(20_000);
  assert.equal(member(`{"record":${deep},"b":1}`, "record"), deep);
});

Deno.test("envelopeLines: splits ndjson, decompresses the codec in use by its magic", () => {
  const body = utf8.encode('{"a":1}\n{"b":2}\n');
  const lines = (data: Uint8Array, compression: "none" | "gzip" | "zstd") =>
    envelopeLines(data, compression).map((line) => text.decode(line));
  assert.deepEqual(lines(body, "none"), ['{"a":1}', '{"b":2}']);
  const zipped = new Uint8Array(gzipSync(body));
  const zstd = new Uint8Array(zstdCompressSync(body));
  assert.equal(compressionOf(zipped), "gzip");
  assert.equal(compressionOf(zstd), "zstd");
  assert.equal(compressionOf(body), undefined);
  assert.deepEqual(lines(zipped, "gzip"), ['{"a":1}', '{"b":2}']);
  assert.deepEqual(lines(zstd, "zstd"), ['{"a":1}', '{"b":2}']);
  // Plain data stays readable with compression on (kept when not smaller).
  assert.deepEqual(lines(body, "zstd"), ['{"a":1}', '{"b":2}']);
  // Compressed data is not decompressed when compression is off, nor by the other codec.
  assert.equal(envelopeLines(zipped, "none").length, 1);
  assert.equal(envelopeLines(zipped, "zstd").length, 1);
  assert.throws(() => envelopeLines(Uint8Array.of(0x1f, 0x8b, 1, 2), "gzip"));
});

Deno.test("expectedEvents: only acknowledged events, the record as it was POSTed", () => {
  const emitted = (
    acknowledgedBy: string[],
    record: unknown,
  ): EmittedEvent => ({
    event: { time: "t", type: "function", record } as EmittedEvent["event"],
    bytes: 0,
    acknowledgedBy,
    droppedBy: [],
    acknowledgedAt: null,
  });
  assert.deepEqual(
    expectedEvents([
      emitted(["ext"], { msg: "é", n: 1.5 }),
      emitted([], "late"),
      emitted(["other"], "theirs"),
    ], "ext"),
    [{ time: "t", type: "function", recordJson: '{"msg":"é","n":1.5}' }],
  );
});

const EVENTS: ExpectedEvent[] = [
  { time: "t1", type: "function", recordJson: '"hello"' },
  {
    time: "t2",
    type: "platform.report",
    recordJson: '{"requestId":"r","metrics":{"durationMs":1.25}}',
  },
  { time: "t2", type: "function", recordJson: '"twice"' },
  { time: "t2", type: "function", recordJson: '"twice"' },
];

function envelope(event: ExpectedEvent): string {
  return `{"time":${JSON.stringify(event.time)},"type":${
    JSON.stringify(event.type)
  },"record":${event.recordJson},"environmentId":"e"}`;
}

function consumed(
  data: string | Uint8Array,
  subSequenceNumber: number | null = 0,
): ConsumedRecord {
  return {
    shardId: "shardId-000000000000",
    sequenceNumber: "1",
    subSequenceNumber,
    partitionKey: "k",
    explicitHashKey: null,
    data: typeof data === "string" ? utf8.encode(data) : data,
  };
}

function output(records: ConsumedRecord[], discarded = 0): ReaderOutput {
  return {
    records,
    shards: [{
      shardId: "shardId-000000000000",
      records: 1,
      taken: records.length,
      discarded,
    }],
  };
}

Deno.test("judgeConsumer: every event once, byte-exact, passes", () => {
  const verdict = judgeConsumer(
    output(EVENTS.map((event) => consumed(envelope(event)))),
    EVENTS,
    "none",
  );
  assert.equal(verdict.exactlyOnce, 4);
  assert.ok(verdictPassed(verdict), verdict.problems.join("; "));
});

Deno.test("judgeConsumer: one ndjson record holding every envelope passes", () => {
  const body = EVENTS.map(envelope).join("\n") + "\n";
  assert.ok(
    verdictPassed(
      judgeConsumer(output([consumed(body, null)]), EVENTS, "none"),
    ),
  );
});

Deno.test("judgeConsumer: missing and duplicated events fail", () => {
  const records = [EVENTS[0], EVENTS[0], EVENTS[1], EVENTS[2]].map((event) =>
    consumed(envelope(event))
  );
  const verdict = judgeConsumer(output(records), EVENTS, "none");
  assert.equal(verdict.exactlyOnce, 3);
  assert.equal(verdict.duplicated, 1);
  assert.equal(verdict.missing, 1);
  assert.equal(verdictPassed(verdict), false);
});

Deno.test("judgeConsumer: a record printed again by JSON.stringify is not byte-exact", () => {
  const expected: ExpectedEvent[] = [{
    time: "t",
    type: "function",
    recordJson: '{"n":1.50,"s":"\\u00e9"}',
  }];
  const rewritten = envelope({
    ...expected[0],
    recordJson: '{"n":1.5,"s":"é"}',
  });
  const verdict = judgeConsumer(
    output([consumed(rewritten)]),
    expected,
    "none",
  );
  assert.equal(verdict.notByteExact, 1);
  assert.equal(verdict.missing, 1);
  assert.equal(verdictPassed(verdict), false);
});

Deno.test("judgeConsumer: unknown events and non-envelopes fail", () => {
  const verdict = judgeConsumer(
    output([
      ...EVENTS.map((event) => consumed(envelope(event))),
      consumed(
        envelope({ time: "t9", type: "function", recordJson: '"stranger"' }),
      ),
      consumed("not json"),
      consumed('{"time":"t1","record":"no type"}'),
    ]),
    EVENTS,
    "none",
  );
  assert.equal(verdict.exactlyOnce, 4);
  assert.equal(verdict.unexpected, 1);
  assert.equal(verdict.undecodable, 2);
  assert.equal(verdictPassed(verdict), false);
});

Deno.test("judgeConsumer: with compression on, some data must come compressed", () => {
  const [first, ...rest] = EVENTS;
  const mixed = [
    consumed(new Uint8Array(gzipSync(utf8.encode(envelope(first))))),
    ...rest.map((event) => consumed(envelope(event))),
  ];
  const gzip = judgeConsumer(output(mixed), EVENTS, "gzip");
  assert.equal(gzip.compressed, 1);
  assert.ok(verdictPassed(gzip), gzip.problems.join("; "));
  const plain = judgeConsumer(
    output(EVENTS.map((event) => consumed(envelope(event)))),
    EVENTS,
    "zstd",
  );
  assert.equal(plain.compressed, 0);
  assert.equal(plain.exactlyOnce, 4);
  assert.equal(verdictPassed(plain), false);
  assert.match(plain.problems.join("\n"), /no data came compressed/);
  // Compressed data when compression is off is not an envelope.
  const off = judgeConsumer(output(mixed), EVENTS, "none");
  assert.equal(off.undecodable, 1);
  assert.equal(verdictPassed(off), false);
});

Deno.test("judgeConsumer: discarded user records fail even when nothing is missing", () => {
  const verdict = judgeConsumer(
    output(EVENTS.map((event) => consumed(envelope(event))), 3),
    EVENTS,
    "none",
  );
  assert.equal(verdict.discarded, 3);
  assert.equal(verdictPassed(verdict), false);
  assert.match(
    verdict.problems.join("\n"),
    /discarded per shard: shardId-000000000000: 3/,
  );
});

Deno.test("judgeConsumer: nothing expected is no pass", () => {
  assert.equal(verdictPassed(judgeConsumer(output([]), [], "none")), false);
});
