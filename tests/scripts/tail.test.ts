import assert from "node:assert/strict";
import { loadCompressor } from "../../extension/compression.ts";
import { PutRecordsCommand } from "@aws-sdk/client-kinesis";
import { aggregate } from "../../extension/kpl.ts";
import type { Envelope } from "../../scripts/lib/decode.ts";
import {
  LOCAL_CREDENTIALS,
  startLocalKinesis,
} from "../../scripts/sandbox/kinesis_local.ts";
import {
  formatEvent,
  matchesFilter,
  parseTailArgs,
  printRecord,
  readStream,
} from "../../scripts/tail.ts";

const utf8 = new TextEncoder();

function envelope(type: string, record: unknown, second = 0): Envelope {
  return {
    time: `2026-11-26T10:00:0${second}.000Z`,
    type,
    record,
    function: "orders:$LATEST",
    region: "eu-west-1",
    accountId: null,
    environmentId: "0f0c0a0e-0000-4000-8000-000000000000",
    seq: 1 + second,
  };
}

const START = envelope("platform.start", { requestId: "req-1" }, 1);
const TEXT_LOG = envelope(
  "function",
  "2026-11-26T10:00:01.100Z\treq-1\tINFO\théllo ✓ 🚀",
  1,
);
const JSON_LOG = envelope("function", {
  level: "INFO",
  requestId: "req-2",
  message: "ok",
}, 2);
const REPORT = envelope("platform.report", {
  requestId: "req-1",
  status: "success",
  metrics: {
    durationMs: 12.5,
    billedDurationMs: 13,
    memorySizeMB: 128,
    maxMemoryUsedMB: 60,
    initDurationMs: 150,
  },
}, 3);

Deno.test("parseTailArgs: defaults, filters and start positions", () => {
  const env = (name: string) =>
    ({ KINESIS_TELEMETRY_STREAM: "from-env", AWS_REGION: "eu-west-1" })[name];
  assert.deepEqual(parseTailArgs([], env), {
    stream: "from-env",
    follow: false,
    filter: { types: [], requestId: undefined },
    output: "text",
    from: { kind: "trim-horizon" },
    region: "eu-west-1",
  });
  const parsed = parseTailArgs([
    "--stream",
    "s",
    "-f",
    "--type",
    "platform.report,function",
    "--type",
    "extension",
    "--request-id",
    "req-1",
    "--output",
    "ndjson",
    "--from",
    "2026-11-26T10:00:00Z",
  ], () => undefined);
  assert.equal(parsed.follow, true);
  assert.deepEqual(parsed.filter.types, [
    "platform.report",
    "function",
    "extension",
  ]);
  assert.deepEqual(parsed.from, {
    kind: "at-timestamp",
    time: new Date("2026-11-26T10:00:00Z"),
  });
  assert.equal(parsed.region, "us-east-1");
  assert.throws(() => parseTailArgs([], () => undefined), /--stream/);
  assert.throws(
    () => parseTailArgs(["--stream", "s", "--output", "xml"]),
    /--output/,
  );
  assert.throws(
    () => parseTailArgs(["--stream", "s", "--from", "soon"]),
    /--from/,
  );
  assert.throws(() => parseTailArgs(["--stream", "s", "--bogus"]));
});

Deno.test("matchesFilter: type names and prefixes, request ids in records and text lines", () => {
  const all = { types: [] };
  assert.ok(matchesFilter(TEXT_LOG, all));
  assert.ok(matchesFilter(REPORT, { types: ["platform"] }));
  assert.ok(!matchesFilter(REPORT, { types: ["platform.start"] }));
  assert.ok(!matchesFilter(TEXT_LOG, { types: ["func"] }));
  assert.ok(matchesFilter(START, { types: [], requestId: "req-1" }));
  assert.ok(matchesFilter(TEXT_LOG, { types: [], requestId: "req-1" }));
  assert.ok(!matchesFilter(JSON_LOG, { types: [], requestId: "req-1" }));
  assert.ok(
    matchesFilter(JSON_LOG, { types: ["function"], requestId: "req-2" }),
  );
});

Deno.test("formatEvent: readable lines, reports summarized, truncation marked", () => {
  assert.equal(
    formatEvent(TEXT_LOG),
    `2026-11-26T10:00:01.000Z  ${
      "function".padEnd(31)
    } 2026-11-26T10:00:01.100Z\treq-1\tINFO\théllo ✓ 🚀`,
  );
  assert.match(
    formatEvent(REPORT),
    /platform\.report\s+req-1 success duration 12\.5 ms, billed 13 ms, memory 60\/128 MB, init 150 ms$/,
  );
  assert.match(
    formatEvent({
      ...TEXT_LOG,
      record: "a\rb",
      truncated: { originalBytes: 9 },
    }),
    /a↵b \[truncated from 9 bytes\]$/,
  );
  assert.match(
    formatEvent(JSON_LOG),
    /\{"level":"INFO","requestId":"req-2","message":"ok"\}$/,
  );
});

Deno.test("printRecord decompresses gzip and zstd payloads and prints ndjson byte for byte", async () => {
  const exact = JSON.stringify(START).replace(
    '"requestId":"req-1"',
    '"requestId":"req-1","n":12345678901234567891,"n":1e400',
  );
  const options = { filter: { types: [] }, output: "ndjson" as const };
  const base = { shardId: "shard-0", sequenceNumber: "1", partitionKey: "k" };
  for (const compression of ["gzip", "zstd"] as const) {
    const compress = (await loadCompressor(compression))!;
    const lines: string[] = [];
    const write = (line: string) => lines.push(line);
    const kpl = aggregate([{
      partitionKey: "req-1",
      data: compress(utf8.encode(exact)),
    }]);
    const ndjson = compress(utf8.encode(`${exact}\n${exact}\n`));
    assert.equal(printRecord({ ...base, data: kpl }, options, write), 1);
    assert.equal(printRecord({ ...base, data: ndjson }, options, write), 2);
    assert.deepEqual(lines, [exact, exact, exact], compression);
  }
});

Deno.test("printRecord decodes KPL, json and ndjson records and flags foreign data", () => {
  const lines: string[] = [];
  const write = (line: string) => lines.push(line);
  const options = { filter: { types: [] }, output: "ndjson" as const };
  const kpl = aggregate([START, TEXT_LOG].map((event) => ({
    partitionKey: "req-1",
    data: utf8.encode(JSON.stringify(event)),
  })));
  const base = { shardId: "shard-0", sequenceNumber: "1", partitionKey: "k" };
  assert.equal(printRecord({ ...base, data: kpl }, options, write), 2);
  assert.equal(
    printRecord(
      { ...base, data: utf8.encode(JSON.stringify(JSON_LOG)) },
      options,
      write,
    ),
    1,
  );
  assert.equal(
    printRecord(
      {
        ...base,
        data: utf8.encode(
          `${JSON.stringify(REPORT)}\n${JSON.stringify(START)}\n`,
        ),
      },
      { filter: { types: ["platform.report"] }, output: "ndjson" },
      write,
    ),
    1,
  );
  assert.deepEqual(lines.map((line) => JSON.parse(line)), [
    START,
    TEXT_LOG,
    JSON_LOG,
    REPORT,
  ]);
  assert.equal(
    printRecord({ ...base, data: utf8.encode("not json") }, options, write),
    0,
  );
  assert.match(lines.at(-1)!, /^# shard-0 1: not a kinesis-telemetry record/);
});

Deno.test("deno task tail reads kinesalite: both shards, filters, NDJSON output", async () => {
  const kinesis = await startLocalKinesis();
  try {
    await kinesis.createStream("tail-test", 2);
    const kpl = aggregate([START, TEXT_LOG, REPORT].map((event) => ({
      partitionKey: "req-1",
      data: utf8.encode(JSON.stringify(event)),
    })));
    await kinesis.client.send(
      new PutRecordsCommand({
        StreamName: "tail-test",
        Records: [
          // Explicit hash keys at both ends of the range: one record per shard.
          { PartitionKey: "a", ExplicitHashKey: "0", Data: kpl },
          {
            PartitionKey: "b",
            ExplicitHashKey: (2n ** 128n - 1n).toString(),
            Data: utf8.encode(JSON.stringify(JSON_LOG)),
          },
        ],
      }),
    );
    const tail = async (...args: string[]) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-env",
          "--allow-net",
          "--allow-sys",
          new URL("../../scripts/tail.ts", import.meta.url).pathname,
          "--stream",
          "tail-test",
          ...args,
        ],
        env: {
          AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
          AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
          AWS_REGION: "us-east-1",
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, stderr);
      return new TextDecoder().decode(output.stdout).trimEnd().split("\n");
    };
    const everything = await tail("--output", "ndjson");
    assert.deepEqual(
      everything.map((line) => JSON.parse(line)).sort((a, b) =>
        a.time.localeCompare(b.time)
      ),
      [START, TEXT_LOG, JSON_LOG, REPORT],
    );
    const ofRequest = await tail("--request-id", "req-1", "--type", "platform");
    assert.equal(ofRequest.length, 2);
    assert.match(ofRequest[0], /platform\.start/);
    assert.match(ofRequest[1], /platform\.report\s+req-1 success/);
  } finally {
    await kinesis.stop();
  }
});

Deno.test("readStream in follow mode sees records written later and stops on abort", async () => {
  const kinesis = await startLocalKinesis();
  try {
    await kinesis.createStream("follow-test", 1);
    const stop = new AbortController();
    const seen: string[] = [];
    const reading = readStream(kinesis.client, "follow-test", {
      follow: true,
      signal: stop.signal,
      pollIntervalMs: 20,
      onRecord: (record) => {
        seen.push(new TextDecoder().decode(record.data));
        stop.abort();
      },
    });
    await kinesis.client.send(
      new PutRecordsCommand({
        StreamName: "follow-test",
        Records: [{ PartitionKey: "a", Data: utf8.encode("later") }],
      }),
    );
    await reading;
    assert.deepEqual(seen, ["later"]);
  } finally {
    await kinesis.stop();
  }
});
