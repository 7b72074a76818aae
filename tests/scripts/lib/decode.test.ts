import assert from "node:assert/strict";
import { valueEncoder } from "../../helpers/raw_event.ts";
import { Buffer } from "node:buffer";
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import agg from "aws-kinesis-agg";
import { buildBatches } from "../../../extension/batcher.ts";
import {
  type Compression,
  compressionOf,
  compressionPlan,
  loadCompressor,
} from "../../../extension/compression.ts";
import { deaggregate } from "../../../extension/kpl.ts";
import type {
  BufferedEvent,
  RecordFormat,
  TelemetryEvent,
} from "../../../extension/types.ts";
import {
  decodeRecord,
  functionOf,
  RecordDecodeError,
} from "../../../scripts/lib/decode.ts";
import { startLocalKinesis } from "../../../scripts/sandbox/kinesis_local.ts";
import { readAllRecords } from "../../../scripts/lib/kinesis_read.ts";
import { PutRecordsCommand } from "@aws-sdk/client-kinesis";
import {
  CONTEXT,
  seededRandom,
  trickyText,
} from "../../extension/_codec_fixtures.ts";

const utf8 = new TextEncoder();

const TELEMETRY: TelemetryEvent[] = [
  {
    time: "2026-11-26T01:00:00.000Z",
    type: "platform.start",
    record: { requestId: "req-1", version: "$LATEST" },
  },
  {
    time: "2026-11-26T01:00:00.001Z",
    type: "function",
    record: 'héllo 😀 中文 e\u0301 "quoted"\n',
  },
  {
    time: "2026-11-26T01:00:00.002Z",
    type: "function",
    record: { requestId: "req-1", level: "INFO", message: "json log 🎉" },
  },
  {
    time: "2026-11-26T01:00:00.003Z",
    type: "platform.futureType",
    record: { anything: [1, { nested: null }] },
  },
];

function encodeAll(events: TelemetryEvent[], maxEnvelopeBytes = 1 << 20) {
  const encode = valueEncoder({
    context: CONTEXT,
    partitionKey: "requestId",
    maxEnvelopeBytes,
  });
  return events.map((event, i) => encode(event, i).event);
}

function recordsOf(events: BufferedEvent[], format: RecordFormat) {
  return buildBatches(events, { format, maxRecordBytes: 1 << 20 })
    .flatMap((batch) => batch.records);
}

/** `events` encoded and batched as the extension does with `compression`. */
async function recordsWith(
  events: TelemetryEvent[],
  format: RecordFormat,
  compression: Compression,
) {
  const plan = compressionPlan(format, await loadCompressor(compression));
  const encode = valueEncoder({
    context: CONTEXT,
    partitionKey: "requestId",
    maxEnvelopeBytes: 1 << 20,
    compress: plan.perEvent,
  });
  return buildBatches(events.map((event, i) => encode(event, i).event), {
    format,
    maxRecordBytes: 1 << 20,
    compress: plan.perRecord,
  }).flatMap((batch) => batch.records);
}

Deno.test("decodeRecord: every format gives back the envelopes in order", () => {
  const buffered = encodeAll(TELEMETRY);
  for (const format of ["kpl", "json", "ndjson"] as const) {
    const decoded = recordsOf(buffered, format).flatMap((r) =>
      decodeRecord(r.data)
    );
    assert.equal(decoded.length, TELEMETRY.length, format);
    decoded.forEach((event, i) => {
      assert.deepEqual(event.bytes, buffered[i].data, `${format} ${i} bytes`);
      assert.equal(event.envelope.time, TELEMETRY[i].time);
      assert.equal(event.envelope.type, TELEMETRY[i].type);
      assert.deepEqual(event.envelope.record, TELEMETRY[i].record);
      assert.deepEqual(functionOf(event.envelope), {
        name: CONTEXT.functionName,
        version: CONTEXT.functionVersion,
      });
      assert.equal(event.envelope.region, CONTEXT.region);
      assert.equal(event.envelope.accountId, CONTEXT.accountId);
      assert.equal(event.envelope.environmentId, CONTEXT.environmentId);
      assert.equal("truncated" in event.envelope, false);
      assert.equal(
        event.partitionKey,
        format === "kpl" ? buffered[i].partitionKey : undefined,
      );
    });
  }
});

Deno.test("decodeRecord: gzip and zstd records of every format decode to the same envelopes", async () => {
  const plain = encodeAll(TELEMETRY);
  const many = Array.from({ length: 40 }, () => TELEMETRY).flat();
  for (const compression of ["gzip", "zstd"] as const) {
    for (const format of ["kpl", "json", "ndjson"] as const) {
      const records = await recordsWith(many, format, compression);
      const decoded = records.flatMap((r) => decodeRecord(r.data));
      assert.equal(decoded.length, many.length, `${compression} ${format}`);
      decoded.forEach((event, i) => {
        const original = plain[i % TELEMETRY.length].data;
        // Same bytes but for seq, which keeps counting.
        const text = new TextDecoder().decode(event.bytes);
        assert.equal(
          text.replace(/"seq":\d+}$/, ""),
          new TextDecoder().decode(original).replace(/"seq":\d+}$/, ""),
        );
        assert.equal(event.envelope.seq, i + 1);
      });
      const payloads = format === "kpl"
        ? records.flatMap((r) => deaggregate(r.data)!.map((u) => u.data))
        : records.map((r) => r.data);
      const marked = payloads.filter((p) => compressionOf(p) === compression);
      if (format === "ndjson") {
        assert.equal(marked.length, payloads.length, "every record compressed");
      } else {
        // Small envelopes may not shrink: those stay plain JSON.
        assert.ok(
          marked.length > 0,
          `${compression} ${format} compressed some`,
        );
        for (const payload of payloads) {
          assert.ok(compressionOf(payload) !== "none" || payload[0] === 0x7b);
        }
      }
    }
  }
});

Deno.test("the README's Lambda recipe (aws-kinesis-agg, unpack, split lines) reads every format and compression", async () => {
  const deaggregateSync = (agg as unknown as {
    deaggregateSync(
      record: { partitionKey: string; data: string; sequenceNumber: string },
      computeChecksums: boolean,
      done: (error: unknown, records?: { data: string }[]) => void,
    ): void;
  }).deaggregateSync;
  const unpack = (b: Buffer): Buffer =>
    b[0] === 0x1f && b[1] === 0x8b
      ? gunzipSync(b)
      : b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd
      ? zstdDecompressSync(b)
      : b;
  const many = Array.from({ length: 30 }, () => TELEMETRY).flat();
  for (const compression of ["none", "gzip", "zstd"] as const) {
    for (const format of ["kpl", "json", "ndjson"] as const) {
      const records = await recordsWith(many, format, compression);
      const seqs: number[] = [];
      for (const record of records) {
        deaggregateSync(
          {
            partitionKey: record.partitionKey,
            data: Buffer.from(record.data).toString("base64"),
            sequenceNumber: "1",
          },
          true,
          (error, users) => {
            if (error) throw error;
            for (const user of users ?? []) {
              const text = unpack(Buffer.from(user.data, "base64")).toString();
              for (const line of text.split("\n").filter(Boolean)) {
                const envelope = JSON.parse(line);
                assert.deepEqual(
                  envelope.record,
                  many[envelope.seq - 1].record,
                );
                seqs.push(envelope.seq);
              }
            }
          },
        );
      }
      assert.deepEqual(
        seqs,
        many.map((_, i) => i + 1),
        `${format} ${compression}`,
      );
    }
  }
});

Deno.test("decodeRecord: corrupt compressed data gets a RecordDecodeError", () => {
  assert.throws(
    () => decodeRecord(Uint8Array.of(0x1f, 0x8b, 1, 2, 3)),
    /record: corrupt gzip data/,
  );
  // A cut zstd frame may decode to nothing: still no envelope, still an error.
  assert.throws(
    () => decodeRecord(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 9)),
    RecordDecodeError,
  );
});

Deno.test("decodeRecord: reads aggregates written by aws-kinesis-agg", () => {
  const buffered = encodeAll(TELEMETRY);
  const Aggregator = (agg as unknown as {
    RecordAggregator: new () => {
      addUserRecord(record: { partitionKey: string; data: Buffer }): void;
      build(): { data: Buffer };
    };
  }).RecordAggregator;
  const aggregator = new Aggregator();
  for (const event of buffered) {
    aggregator.addUserRecord({
      partitionKey: event.partitionKey,
      data: Buffer.from(event.data),
    });
  }
  const decoded = decodeRecord(new Uint8Array(aggregator.build().data));
  assert.deepEqual(
    decoded.map((d) => d.partitionKey),
    buffered.map((b) => b.partitionKey),
  );
  assert.deepEqual(
    decoded.map((d) => d.envelope.record),
    TELEMETRY.map((t) => t.record),
  );
});

Deno.test("decodeRecord: truncated envelopes carry their marker", () => {
  const [event] = encodeAll(
    [{ time: "t", type: "function", record: "z".repeat(5000) }],
    1000,
  );
  const [decoded] = decodeRecord(event.data);
  assert.ok(decoded.envelope.truncated);
  assert.ok(decoded.envelope.truncated.originalBytes > 5000);
  assert.equal(typeof decoded.envelope.record, "string");
  assert.ok((decoded.envelope.record as string).startsWith("zzz"));
});

Deno.test("decodeRecord: blank lines between ndjson envelopes are skipped", () => {
  const [a, b] = encodeAll(TELEMETRY.slice(0, 2));
  const data = new Uint8Array([
    ...a.data,
    0x0a,
    0x0a,
    ...b.data,
    0x0a,
  ]);
  const decoded = decodeRecord(data);
  assert.deepEqual(decoded.map((d) => d.bytes), [a.data, b.data]);
});

Deno.test("decodeRecord: malformed data gets a clear RecordDecodeError", () => {
  const [good] = encodeAll(TELEMETRY.slice(0, 1));
  const envelope = JSON.parse(new TextDecoder().decode(good.data));
  const variant = (change: Record<string, unknown>) =>
    utf8.encode(JSON.stringify({ ...envelope, ...change }));
  const withoutRecord = { ...envelope };
  delete withoutRecord.record;
  const kpl = recordsOf([good], "kpl")[0].data.slice();
  kpl[8] ^= 0x01;

  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(0), /no envelope/],
    ["not UTF-8", Uint8Array.of(0x7b, 0xff, 0x7d), /line 1: not valid UTF-8/],
    ["not JSON", utf8.encode("hello"), /line 1: not JSON/],
    [
      "second line bad",
      new Uint8Array([...good.data, 0x0a, 0x5b]),
      /line 2: not JSON/,
    ],
    ["array", utf8.encode("[1,2]"), /not a JSON object/],
    ["time not a string", variant({ time: 5 }), /"time" is not a string/],
    [
      "no record",
      utf8.encode(JSON.stringify(withoutRecord)),
      /"record" is missing/,
    ],
    ["bad function", variant({ function: "f" }), /"function" is not/],
    ["bad accountId", variant({ accountId: 12 }), /"accountId"/],
    ["no seq", variant({ seq: undefined }), /"seq" is not a positive/],
    ["seq 0", variant({ seq: 0 }), /"seq" is not a positive/],
    [
      "bad marker",
      variant({ truncated: { originalBytes: "x" } }),
      /"truncated"/,
    ],
    [
      "marker on object",
      variant({ truncated: { originalBytes: 9 } }),
      /truncated "record" must be a string/,
    ],
    ["corrupted KPL", kpl, /MD5 mismatch/],
  ];
  for (const [name, data, pattern] of cases) {
    assert.throws(
      () => decodeRecord(data),
      (error: unknown) =>
        error instanceof RecordDecodeError && pattern.test(error.message),
      name,
    );
  }
});

Deno.test("decodeRecord: batches stored by Kinesis (kinesalite) decode back in order", async () => {
  const random = seededRandom(314);
  const telemetry: TelemetryEvent[] = Array.from({ length: 1200 }, (_, i) => ({
    time: new Date(Date.UTC(2026, 10, 26, 1, 0, 0, i)).toISOString(),
    type: i % 3 === 0 ? "function" : "platform.report",
    record: i % 3 === 0 ? trickyText(random, random.int(0, 200)) : {
      requestId: `req-${i >> 3}`,
      status: "success",
      note: trickyText(random, 20),
    },
  }));
  // A few events beyond the envelope limit, so truncated ones travel too.
  telemetry[7] = { time: "t", type: "function", record: "😀".repeat(400_000) };
  telemetry[600] = {
    time: "t",
    type: "function",
    record: { requestId: "big", m: "\\".repeat(900_000) },
  };
  const buffered = encodeAll(telemetry, (1 << 20) - 2048);
  const kinesis = await startLocalKinesis();
  try {
    for (const format of ["kpl", "json", "ndjson"] as const) {
      const stream = `codec-${format}`;
      await kinesis.createStream(stream, 1);
      const batches = buildBatches(buffered, {
        format,
        maxRecordBytes: 1 << 20,
      });
      for (const batch of batches) {
        const answer = await kinesis.client.send(
          new PutRecordsCommand({
            StreamName: stream,
            Records: batch.records.map((r) => ({
              Data: r.data,
              PartitionKey: r.partitionKey,
            })),
          }),
        );
        assert.equal(answer.FailedRecordCount ?? 0, 0, format);
      }
      const stored = await readAllRecords(kinesis.client, stream);
      const decoded = stored.flatMap((record) => decodeRecord(record.data));
      assert.equal(decoded.length, buffered.length, format);
      decoded.forEach((event, i) => {
        assert.deepEqual(event.bytes, buffered[i].data, `${format} event ${i}`);
      });
      const truncated = decoded.filter((d) => d.envelope.truncated);
      assert.deepEqual(
        truncated.map((d) => decoded.indexOf(d)),
        [7, 600],
        format,
      );
    }
  } finally {
    await kinesis.stop();
  }
});
