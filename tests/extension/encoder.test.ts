import assert from "node:assert/strict";
import { valueEncoder } from "../helpers/raw_event.ts";
import {
  createPartitionKeyChooser,
  createSlabAllocator,
  type EncodedEvent,
  ENVELOPE_SLAB_BYTES,
  jsonStringPrefix,
  MAX_PARTITION_KEY_CHARS,
  utf8ByteLength,
} from "../../extension/encoder.ts";
import type { TelemetryEvent } from "../../extension/types.ts";
import { CONTEXT, seededRandom, trickyText } from "./_codec_fixtures.ts";
import { ENVELOPE_KEYS, TRUNCATED_ENVELOPE_KEYS } from "../helpers/envelope.ts";

const utf8 = new TextEncoder();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const BIG = 1024 * 1024;

const CONTEXT_JSON = `"function":"orders-api:$LATEST",` +
  `"region":"eu-west-1","accountId":"123456789012",` +
  `"environmentId":"5b1e9f0c-3c55-4f6e-9d7a-0c4a2f1e8b11"`;

function encoder(maxEnvelopeBytes = BIG) {
  return valueEncoder({
    context: CONTEXT,
    partitionKey: "requestId",
    maxEnvelopeBytes,
  });
}

/** The envelope with `record` replaced by the given JSON text, untruncated. */
function expectedEnvelope(
  time: string,
  type: string,
  recordJson: string,
  seq = 1,
) {
  return `{"time":"${time}","type":"${type}","record":${recordJson},${CONTEXT_JSON},"seq":${seq}}`;
}

Deno.test("encoder: envelope of a platform event has the exact layout and key order", () => {
  const event: TelemetryEvent = {
    time: "2026-11-26T01:02:03.456Z",
    type: "platform.report",
    record: {
      requestId: "6f7f0961f83442118a7af6fe80b88d56",
      status: "success",
      metrics: { durationMs: 12.5, billedDurationMs: 13, memorySizeMB: 128 },
    },
  };
  const result = encoder()(event, 1234);
  const expected = expectedEnvelope(
    "2026-11-26T01:02:03.456Z",
    "platform.report",
    `{"requestId":"6f7f0961f83442118a7af6fe80b88d56","status":"success",` +
      `"metrics":{"durationMs":12.5,"billedDurationMs":13,"memorySizeMB":128}}`,
  );
  assert.equal(text(result.event.data), expected);
  assert.deepEqual(result.event.data, utf8.encode(expected));
  assert.equal(result.truncated, false);
  assert.equal(result.originalBytes, utf8.encode(expected).byteLength);
  assert.equal(result.event.receivedAt, 1234);
  assert.equal(result.event.uncertain, false);
  assert.equal(result.event.partitionKey, "6f7f0961f83442118a7af6fe80b88d56");
  assert.deepEqual(Object.keys(JSON.parse(expected)), ENVELOPE_KEYS);
});

Deno.test("encoder: a null account id is written as JSON null", () => {
  const encode = valueEncoder({
    context: { ...CONTEXT, accountId: null },
    partitionKey: "environment",
    maxEnvelopeBytes: BIG,
  });
  const envelope = JSON.parse(
    text(encode({ time: "t", type: "function", record: "hi" }, 0).event.data),
  );
  assert.equal(envelope.accountId, null);
  assert.equal(envelope.environmentId, CONTEXT.environmentId);
});

Deno.test("encoder: multi-byte text records round-trip byte for byte", () => {
  const samples = [
    "plain ascii log line",
    "emoji 😀🎉👩‍👩‍👧 and flags 🇫🇷",
    "CJK 中文日本語한국어",
    "combining e\u0301 a\u0308 n\u0303 (not normalized)",
    'escapes " \\ \n \t \u0000 \u001f \u2028 \u2029 \ufeff',
    "lone surrogates \ud800 \udfff kept",
  ];
  for (const sample of samples) {
    const result = encoder()(
      { time: "t", type: "function", record: sample },
      0,
    );
    const expected = expectedEnvelope("t", "function", JSON.stringify(sample));
    assert.deepEqual(result.event.data, utf8.encode(expected));
    assert.equal(JSON.parse(text(result.event.data)).record, sample);
  }
});

Deno.test("encoder: JSON-format records and unknown types are kept as sent", () => {
  const records: unknown[] = [
    {
      timestamp: "2026-11-26T01:00:00Z",
      level: "INFO",
      requestId: "r-1",
      message: "ünïcødé 😀",
      nested: { list: [1, "two", null, { deep: true }] },
    },
    [1, 2, 3],
    42.5,
    null,
    true,
    "",
    {},
  ];
  for (const record of records) {
    const event = { time: "t", type: "platform.somethingNew2030", record };
    const result = encoder()(event, 0);
    const parsed = JSON.parse(text(result.event.data));
    assert.equal(parsed.type, "platform.somethingNew2030");
    assert.deepEqual(parsed.record, record);
    assert.equal(
      text(result.event.data),
      expectedEnvelope(
        "t",
        "platform.somethingNew2030",
        JSON.stringify(record),
      ),
    );
  }
});

Deno.test("encoder: seq numbers the envelopes 1, 2, … per encoder, truncated ones too", () => {
  const encode = encoder(2048);
  const seqs = [
    encode({ time: "t", type: "function", record: "a" }, 0),
    encode({ time: "t", type: "function", record: "x".repeat(5000) }, 0),
    encode({ time: "t", type: "function", record: "b" }, 0),
  ].map((result) => JSON.parse(text(result.event.data)).seq);
  assert.deepEqual(seqs, [1, 2, 3]);
  // Another environment's encoder starts again: the id is environmentId + seq.
  const other = encoder()({ time: "t", type: "function", record: "a" }, 0);
  assert.equal(JSON.parse(text(other.event.data)).seq, 1);
});

Deno.test("encoder: a missing record becomes null rather than invalid JSON", () => {
  const event = { time: "t", type: "x" } as unknown as TelemetryEvent;
  const parsed = JSON.parse(text(encoder()(event, 0).event.data));
  assert.equal(parsed.record, null);
});

Deno.test("partition keys: requestId strategy uses the record's requestId or the environment", () => {
  const encode = valueEncoder({
    context: { ...CONTEXT, environmentId: "env-id" },
    partitionKey: "requestId",
    maxEnvelopeBytes: BIG,
  });
  const choose = (record: unknown) =>
    encode({ time: "t", type: "function", record }, 0).event.partitionKey;
  assert.equal(choose({ requestId: "req-1" }), "req-1");
  assert.equal(choose({ requestId: "" }), "env-id");
  assert.equal(choose({ requestId: 17 }), "env-id");
  assert.equal(choose({ other: "x" }), "env-id");
  assert.equal(choose("text log line with requestId"), "env-id");
  assert.equal(choose(null), "env-id");
  assert.equal(choose([{ requestId: "in-array" }]), "env-id");
  assert.equal(choose("x".repeat(300)), "env-id");
  assert.equal(
    choose({ requestId: "k".repeat(300) }),
    "k".repeat(MAX_PARTITION_KEY_CHARS),
  );
  // A cut that would split a surrogate pair drops the whole character.
  const id = "a".repeat(255) + "😀" + "b";
  const key = choose({ requestId: id });
  assert.equal(key, "a".repeat(255));
  assert.equal(
    choose({ requestId: "a".repeat(254) + "😀" }),
    "a".repeat(254) + "😀",
  );
});

Deno.test("partition keys: environment strategy always uses the environment id", () => {
  const choose = createPartitionKeyChooser("environment", "env-id");
  assert.equal(choose("req-1"), "env-id");
  assert.equal(choose(undefined), "env-id");
});

Deno.test("partition keys: random strategy asks for a fresh key per event", () => {
  let counter = 0;
  const encode = valueEncoder({
    context: CONTEXT,
    partitionKey: "random",
    maxEnvelopeBytes: BIG,
    randomKey: () => `key-${++counter}`,
  });
  const event = { time: "t", type: "function", record: { requestId: "r" } };
  assert.equal(encode(event, 0).event.partitionKey, "key-1");
  assert.equal(encode(event, 0).event.partitionKey, "key-2");

  const byDefault = createPartitionKeyChooser("random", "env-id");
  const keys = new Set(Array.from({ length: 100 }, () => byDefault(undefined)));
  assert.equal(keys.size, 100);
  for (const key of keys) {
    assert.match(
      key,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  }
});

Deno.test("partition keys: the encoder applies the requestId strategy", () => {
  const encode = encoder();
  const withId = encode({
    time: "t",
    type: "platform.start",
    record: { requestId: "abc" },
  }, 0);
  const without = encode({
    time: "t",
    type: "platform.initStart",
    record: { phase: "init" },
  }, 0);
  assert.equal(withId.event.partitionKey, "abc");
  assert.equal(without.event.partitionKey, CONTEXT.environmentId);
});

/** Checks everything a truncated result must satisfy. */
function assertTruncatedCorrectly(
  result: EncodedEvent,
  event: TelemetryEvent,
  maxEnvelopeBytes: number,
): void {
  const full = encoder(Number.MAX_SAFE_INTEGER)(event, 0).event.data;
  assert.ok(full.byteLength > maxEnvelopeBytes, "test input must be oversized");
  assert.equal(result.truncated, true);
  assert.equal(result.originalBytes, full.byteLength);
  assert.ok(
    result.event.data.byteLength <= maxEnvelopeBytes,
    `${result.event.data.byteLength} > ${maxEnvelopeBytes}`,
  );
  const envelope = JSON.parse(
    new TextDecoder("utf-8", { fatal: true }).decode(result.event.data),
  );
  assert.deepEqual(Object.keys(envelope), TRUNCATED_ENVELOPE_KEYS);
  assert.deepEqual(envelope.truncated, { originalBytes: full.byteLength });
  assert.equal(envelope.time, event.time);
  assert.equal(envelope.type, event.type);
  const source = typeof event.record === "string"
    ? event.record
    : JSON.stringify(event.record);
  const prefix: string = envelope.record;
  assert.equal(typeof prefix, "string");
  assert.equal(
    source.slice(0, prefix.length),
    prefix,
    "record must be a prefix",
  );
  assert.ok(prefix.length < source.length);
  // Never ends between the halves of a surrogate pair.
  const last = prefix.charCodeAt(prefix.length - 1);
  const next = source.charCodeAt(prefix.length);
  assert.ok(
    !(last >= 0xd800 && last <= 0xdbff && next >= 0xdc00 && next <= 0xdfff),
    "surrogate pair split",
  );
  // Maximal: one more code point would not fit.
  const step = source.codePointAt(prefix.length)! > 0xffff ? 2 : 1;
  const longer = source.slice(0, prefix.length + step);
  const growth = utf8.encode(JSON.stringify(longer)).byteLength -
    utf8.encode(JSON.stringify(prefix)).byteLength;
  assert.ok(
    result.event.data.byteLength + growth > maxEnvelopeBytes,
    "a longer prefix would still have fitted",
  );
}

Deno.test("truncation: an oversized object record becomes a marked prefix of its JSON", () => {
  const event = {
    time: "2026-11-26T01:02:03.456Z",
    type: "function",
    record: { requestId: "r-9", level: "INFO", message: "m".repeat(5000) },
  };
  const max = 2000;
  const result = encoder(max)(event, 0);
  assertTruncatedCorrectly(result, event, max);
  assert.equal(result.event.partitionKey, "r-9");
  assert.equal(
    result.event.data.byteLength,
    max,
    "ASCII fills the limit exactly",
  );
});

Deno.test("truncation: envelopes at the limit are kept whole, one byte more is cut", () => {
  const event = { time: "t", type: "function", record: "y".repeat(900) };
  const size = encoder()(event, 0).event.data.byteLength;
  const atLimit = encoder(size)(event, 0);
  assert.equal(atLimit.truncated, false);
  assert.equal(atLimit.event.data.byteLength, size);
  const below = encoder(size - 1)(event, 0);
  assertTruncatedCorrectly(below, event, size - 1);
});

Deno.test("truncation: pathological inputs stay within the limit", () => {
  const max = 4096;
  const cases: Record<string, unknown> = {
    "all quotes": '"'.repeat(20_000),
    "all backslashes": "\\".repeat(20_000),
    "all control characters": "\u0001".repeat(20_000),
    "all 4-byte emoji": "😀".repeat(20_000),
    "all CJK": "中".repeat(20_000),
    "combining marks": "e\u0301".repeat(20_000),
    "lone surrogates": "\ud800".repeat(20_000),
    "object of quotes": { message: '"'.repeat(20_000) },
    "object of emoji": { message: "😀".repeat(20_000) },
    "deep array": Array.from({ length: 5000 }, (_, i) => [i, "\\"]),
  };
  for (const [name, record] of Object.entries(cases)) {
    const event = { time: "t", type: "function", record };
    try {
      assertTruncatedCorrectly(encoder(max)(event, 0), event, max);
    } catch (error) {
      throw new Error(`case "${name}": ${(error as Error).message}`);
    }
  }
});

Deno.test("truncation: a huge single string is cut to a 1 MiB envelope", () => {
  const max = BIG - 2048;
  const event = {
    time: "t",
    type: "function",
    record: '😀"x'.repeat(2_000_000),
  };
  assertTruncatedCorrectly(encoder(max)(event, 0), event, max);
});

Deno.test("truncation: random tricky records against random limits (seeded)", () => {
  const random = seededRandom(20261126);
  for (let i = 0; i < 400; i++) {
    const max = random.int(600, 3000);
    const record = random.next() < 0.5
      ? trickyText(random, random.int(100, 3000))
      : {
        requestId: `req-${i}`,
        message: trickyText(random, random.int(100, 3000)),
      };
    const event = { time: "2026-11-26T00:00:00Z", type: "function", record };
    const result = encoder(max)(event, i);
    if (!result.truncated) {
      assert.ok(result.event.data.byteLength <= max);
      assert.deepEqual(JSON.parse(text(result.event.data)).record, record);
      continue;
    }
    assertTruncatedCorrectly(result, event, max);
  }
});

Deno.test("truncation: a pathological type is cut too so the event is never lost", () => {
  const max = 1000;
  const event = {
    time: "2026-11-26T00:00:00Z",
    type: "t".repeat(10_000),
    record: { a: 1 },
  };
  const result = encoder(max)(event, 0);
  assert.equal(result.truncated, true);
  assert.ok(result.event.data.byteLength <= max);
  const envelope = JSON.parse(text(result.event.data));
  assert.equal(envelope.record, "");
  assert.ok(event.type.startsWith(envelope.type));
  assert.ok(envelope.type.length > 0);
  assert.equal(envelope.time, event.time);
  assert.deepEqual(envelope.truncated, { originalBytes: result.originalBytes });
});

Deno.test("encoder: refuses a limit too small for any envelope", () => {
  assert.throws(() => encoder(100), RangeError);
  assert.throws(() => encoder(1.5), RangeError);
});

Deno.test("jsonStringPrefix: sizes are exact for every tricky piece (seeded)", () => {
  const random = seededRandom(7);
  for (let i = 0; i < 300; i++) {
    const source = trickyText(random, random.int(0, 60));
    const budget = random.int(2, 200);
    const literal = jsonStringPrefix(source, budget);
    const size = utf8.encode(literal).byteLength;
    assert.ok(size <= budget, `${size} > ${budget}`);
    const prefix = JSON.parse(literal) as string;
    assert.ok(source.startsWith(prefix));
    if (prefix.length < source.length) {
      const step = source.codePointAt(prefix.length)! > 0xffff ? 2 : 1;
      const longer = JSON.stringify(source.slice(0, prefix.length + step));
      assert.ok(utf8.encode(longer).byteLength > budget);
    }
  }
  assert.throws(() => jsonStringPrefix("abc", 1), RangeError);
});

Deno.test("utf8ByteLength agrees with TextEncoder (seeded)", () => {
  const random = seededRandom(99);
  for (let i = 0; i < 300; i++) {
    const sample = trickyText(random, random.int(0, 80));
    assert.equal(
      utf8ByteLength(sample),
      utf8.encode(sample).byteLength,
      JSON.stringify(sample),
    );
  }
  assert.equal(utf8ByteLength("\ud83d"), 3);
  assert.equal(utf8ByteLength("😀"), 4);
});

Deno.test("slab allocator: small envelopes share a slab, cut without overlap; large ones get their own buffer", () => {
  const allocate = createSlabAllocator(1_000);
  const a = allocate(100);
  const b = allocate(150);
  assert.equal(a.buffer, b.buffer);
  assert.equal(a.buffer.byteLength, 1_000);
  assert.equal(b.byteOffset, a.byteOffset + 100);
  a.fill(1);
  b.fill(2);
  assert.ok(a.every((byte) => byte === 1));
  const big = allocate(251);
  assert.notEqual(big.buffer, a.buffer);
  assert.equal(big.buffer.byteLength, 251);
  // 250 used: three more of 250 fill the slab, the next starts a new one.
  const rest = [allocate(250), allocate(250), allocate(250)];
  assert.ok(rest.every((view) => view.buffer === a.buffer));
  assert.notEqual(allocate(1).buffer, a.buffer);
});

Deno.test("encoder: envelopes are views into slabs without compression, their own buffers with it", () => {
  const event = {
    time: "2026-12-03T00:00:00.000Z",
    type: "function",
    record: "a line",
  };
  const plain = encoder();
  const first = plain(event, 0).event.data;
  const second = plain(event, 0).event.data;
  assert.equal(first.buffer, second.buffer);
  assert.equal(first.buffer.byteLength, ENVELOPE_SLAB_BYTES);
  // Each view holds exactly its own envelope.
  assert.deepEqual(JSON.parse(text(first)).seq, 1);
  assert.deepEqual(JSON.parse(text(second)).seq, 2);
  const compressing = valueEncoder({
    context: CONTEXT,
    partitionKey: "requestId",
    maxEnvelopeBytes: BIG,
    // Never smaller: the envelope stays as allocated.
    compress: (data) => data,
  });
  const own = compressing(event, 0).event.data;
  assert.equal(own.buffer.byteLength, own.byteLength);
});
