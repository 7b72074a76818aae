import assert from "node:assert/strict";
import { putRecordsBody } from "../../extension/put_records_body.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The body as the SDK's serialiser writes it: a JSON object, base64 data. */
function expected(
  target: { streamName: string; streamArn: string | undefined },
  entries: { data: Uint8Array; partitionKey: string }[],
): string {
  const records = entries.map((entry) => ({
    Data: btoa(String.fromCharCode(...entry.data)),
    PartitionKey: entry.partitionKey,
  }));
  return JSON.stringify(
    target.streamArn
      ? { Records: records, StreamARN: target.streamArn }
      : { Records: records, StreamName: target.streamName },
  );
}

Deno.test("putRecordsBody writes what JSON.stringify writes, for every padding length", () => {
  const entries = [0, 1, 2, 3, 4, 5, 300].map((length, i) => ({
    data: Uint8Array.from({ length }, (_, j) => (j * 37 + i) & 0xff),
    partitionKey: `key-${i}`,
  }));
  const target = { streamName: "telemetry", streamArn: undefined };
  assert.equal(
    utf8.decode(putRecordsBody(target, entries)),
    expected(target, entries),
  );
});

Deno.test("putRecordsBody escapes partition keys and names the stream ARN when set", () => {
  const entries = [
    { data: Uint8Array.of(0xff, 0x00), partitionKey: 'quote " and \\ é 😀' },
    { data: new Uint8Array(0), partitionKey: "\u0001" },
  ];
  const target = {
    streamName: "ignored",
    streamArn: "arn:aws:kinesis:eu-west-1:123456789012:stream/t",
  };
  const body = putRecordsBody(target, entries);
  assert.equal(utf8.decode(body), expected(target, entries));
  assert.deepEqual(
    JSON.parse(utf8.decode(body)).Records[0].PartitionKey,
    entries[0].partitionKey,
  );
});

Deno.test("putRecordsBody of no entries is an empty Records array", () => {
  const target = { streamName: "s", streamArn: undefined };
  assert.equal(utf8.decode(putRecordsBody(target, [])), expected(target, []));
});
