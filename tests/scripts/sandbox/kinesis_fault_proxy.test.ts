/**
 * The fault proxy against a real kinesalite: each fault does what it says
 * (failed entries are really not stored, held requests really get no
 * answer), selections are deterministic, and other actions pass through.
 */
import assert from "node:assert/strict";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from "@aws-sdk/client-kinesis";
import {
  createPicker,
  type FaultPlan,
  type FaultProxy,
  seededRandom,
  type Selector,
  startFaultProxy,
} from "../../../scripts/sandbox/kinesis_fault_proxy.ts";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalKinesis,
  localKinesisClient,
  startLocalKinesis,
} from "../../../scripts/sandbox/kinesis_local.ts";
import { readAllRecords } from "../../../scripts/lib/kinesis_read.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Setup {
  kinesis: LocalKinesis;
  proxy: FaultProxy;
  client: KinesisClient;
  stream: string;
}

async function withProxy(
  plan: FaultPlan,
  body: (setup: Setup) => Promise<void>,
): Promise<void> {
  const kinesis = await startLocalKinesis();
  const stream = "proxied";
  await kinesis.createStream(stream, 1);
  const proxy = startFaultProxy({ target: kinesis.endpoint, plan });
  const client = localKinesisClient(proxy.endpoint);
  try {
    await body({ kinesis, proxy, client, stream });
  } finally {
    client.destroy();
    await proxy.stop();
    await kinesis.stop();
  }
}

/**
 * A client that opens a connection per request: Deno's node:http re-sends
 * a request by itself when a kept-alive connection closes without an
 * answer, which would hide the closes these tests look at.
 */
function noKeepAliveClient(endpoint: string): KinesisClient {
  return new KinesisClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: false } }),
  });
}

function put(
  setup: Setup,
  texts: string[],
  signal?: AbortSignal,
  client: KinesisClient = setup.client,
) {
  return client.send(
    new PutRecordsCommand({
      StreamName: setup.stream,
      Records: texts.map((text) => ({
        Data: encoder.encode(text),
        PartitionKey: text,
      })),
    }),
    { abortSignal: signal },
  );
}

async function storedTexts(setup: Setup): Promise<string[]> {
  const records = await readAllRecords(setup.kinesis.client, setup.stream);
  return records.map((record) => decoder.decode(record.data)).sort();
}

function picks(selector: Selector, count: number): number[] {
  const pick = createPicker(selector);
  const chosen: number[] = [];
  for (let i = 0; i < count; i++) if (pick()) chosen.push(i);
  return chosen;
}

Deno.test("pickers choose positions deterministically", () => {
  assert.deepEqual(picks({ kind: "every", n: 3 }, 10), [0, 3, 6, 9]);
  assert.deepEqual(picks({ kind: "every", n: 4, offset: 1 }, 10), [1, 5, 9]);
  assert.deepEqual(picks({ kind: "first", count: 2 }, 10), [0, 1]);
  assert.deepEqual(picks({ kind: "indexes", indexes: [2, 7] }, 10), [2, 7]);
  assert.deepEqual(picks({ kind: "all" }, 3), [0, 1, 2]);
  assert.deepEqual(picks({ kind: "none" }, 3), []);
  const fraction: Selector = { kind: "fraction", rate: 0.3, seed: 99 };
  const first = picks(fraction, 10_000);
  assert.deepEqual(picks(fraction, 10_000), first, "same seed, same picks");
  assert.notDeepEqual(
    picks({ kind: "fraction", rate: 0.3, seed: 100 }, 10_000),
    first,
  );
  assert.ok(Math.abs(first.length / 10_000 - 0.3) < 0.02, `${first.length}`);
  assert.throws(() => createPicker({ kind: "every", n: 0 }), RangeError);
  assert.throws(
    () => createPicker({ kind: "fraction", rate: 1.5, seed: 1 }),
    RangeError,
  );
  const random = seededRandom(1);
  for (let i = 0; i < 1000; i++) {
    const value = random();
    assert.ok(value >= 0 && value < 1);
  }
});

Deno.test("failed entries are answered in request order and really not stored", async () => {
  await withProxy({
    failEntries: {
      select: { kind: "every", n: 3 },
      errorCode: "InternalFailure",
    },
  }, async (setup) => {
    const texts = ["a0", "a1", "a2", "a3", "a4", "a5", "a6"];
    const answer = await put(setup, texts);
    assert.equal(answer.FailedRecordCount, 3);
    assert.deepEqual(
      answer.Records?.map((r) => r.ErrorCode ?? "ok"),
      [
        "InternalFailure",
        "ok",
        "ok",
        "InternalFailure",
        "ok",
        "ok",
        "InternalFailure",
      ],
    );
    for (const record of answer.Records ?? []) {
      assert.equal(!record.ErrorCode, Boolean(record.SequenceNumber));
    }
    assert.deepEqual(await storedTexts(setup), ["a1", "a2", "a4", "a5"]);
    const counters = setup.proxy.counters();
    assert.equal(counters.entries, 7);
    assert.equal(counters.failedEntries, 3);
    assert.equal(counters.storedEntries, 4);
    assert.equal(setup.proxy.putRecordsLog[0].stored, 4);
  });
});

Deno.test("a request whose entries all fail is answered without reaching the emulator", async () => {
  await withProxy({
    failEntries: {
      select: { kind: "all" },
      errorCode: "ProvisionedThroughputExceededException",
    },
  }, async (setup) => {
    const answer = await put(setup, ["b0", "b1"]);
    assert.equal(answer.FailedRecordCount, 2);
    assert.ok(
      answer.Records?.every((r) =>
        r.ErrorCode === "ProvisionedThroughputExceededException"
      ),
    );
    assert.deepEqual(await storedTexts(setup), []);
  });
});

Deno.test("failed requests get the status and a Kinesis error body; positions restart with a new plan", async () => {
  await withProxy({
    failRequests: { select: { kind: "first", count: 1 }, status: 503 },
  }, async (setup) => {
    await assert.rejects(put(setup, ["c0"]), (
      error: Error & {
        $metadata?: { httpStatusCode?: number };
      },
    ) => error.$metadata?.httpStatusCode === 503);
    await put(setup, ["c1"]);
    setup.proxy.configure({
      failRequests: { select: { kind: "first", count: 1 }, status: 500 },
    });
    await assert.rejects(put(setup, ["c2"]), (
      error: Error & {
        name: string;
        $metadata?: { httpStatusCode?: number };
      },
    ) =>
      error.$metadata?.httpStatusCode === 500 &&
      error.name === "InternalFailure");
    assert.deepEqual(await storedTexts(setup), ["c1"]);
    assert.equal(setup.proxy.counters().failedRequests, 2);
  });
});

Deno.test("a held request gets no answer until released; the client giving up is seen", async () => {
  await withProxy({
    hangRequests: { select: { kind: "first", count: 1 } },
  }, async (setup) => {
    const controller = new AbortController();
    const pending = put(setup, ["d0"], controller.signal);
    while (setup.proxy.inFlight() === 0) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const raced = await Promise.race([
      pending.then(() => "answered", () => "failed"),
      new Promise((resolve) => setTimeout(() => resolve("still held"), 200)),
    ]);
    assert.equal(raced, "still held");
    controller.abort();
    await assert.rejects(pending);
    while (setup.proxy.inFlight() > 0) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.equal(setup.proxy.putRecordsLog[0].outcome, "client-closed");
    assert.deepEqual(await storedTexts(setup), []);
  });
});

Deno.test("a held request stored first and answered on release, or closed on release", async () => {
  await withProxy({
    hangRequests: {
      select: { kind: "first", count: 1 },
      forwardFirst: true,
      answerOnRelease: true,
    },
  }, async (setup) => {
    const pending = put(setup, ["e0"]);
    while (setup.proxy.putRecordsLog[0]?.stored !== 1) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.deepEqual(await storedTexts(setup), ["e0"], "stored while held");
    setup.proxy.release();
    const answer = await pending;
    assert.equal(answer.FailedRecordCount, 0);
    assert.deepEqual(await storedTexts(setup), ["e0"], "stored once");

    setup.proxy.configure({
      hangRequests: { select: { kind: "first", count: 1 } },
    });
    const fresh = noKeepAliveClient(setup.proxy.endpoint);
    const closed = put(setup, ["e1"], undefined, fresh);
    while (setup.proxy.inFlight() === 0) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    setup.proxy.release();
    await assert.rejects(closed);
    fresh.destroy();
    assert.equal(setup.proxy.putRecordsLog[1].outcome, "hung");
  });
});

Deno.test("resets close the connection without an answer, with or without storing first", async () => {
  await withProxy({
    resetRequests: { select: { kind: "all" }, forwardFirst: true },
  }, async (setup) => {
    const fresh = noKeepAliveClient(setup.proxy.endpoint);
    try {
      await assert.rejects(put(setup, ["f0"], undefined, fresh));
    } finally {
      fresh.destroy();
    }
    assert.deepEqual(await storedTexts(setup), ["f0"], "stored, then reset");
    assert.equal(setup.proxy.counters().resetRequests, 1);
    assert.equal(setup.proxy.putRecordsLog[0].outcome, "reset");
  });
});

Deno.test("delays hold the answer back, then answer normally", async () => {
  await withProxy({
    delayRequests: { select: { kind: "all" }, ms: 150 },
  }, async (setup) => {
    const started = Date.now();
    const answer = await put(setup, ["g0"]);
    assert.equal(answer.FailedRecordCount, 0);
    const log = setup.proxy.putRecordsLog[0];
    assert.ok(log.endedAt! - log.receivedAt >= 140, "answered after the delay");
    assert.ok(Date.now() - started >= 140);
    assert.equal(setup.proxy.counters().delayedRequests, 1);
  });
});

Deno.test("other actions pass through unchanged, faults apply to PutRecords only", async () => {
  await withProxy({
    failRequests: { select: { kind: "all" }, status: 500 },
  }, async (setup) => {
    await setup.client.send(
      new CreateStreamCommand({ StreamName: "second", ShardCount: 2 }),
    );
    let status: string | undefined;
    for (let i = 0; i < 100 && status !== "ACTIVE"; i++) {
      const summary = await setup.client.send(
        new DescribeStreamSummaryCommand({ StreamName: "second" }),
      );
      status = summary.StreamDescriptionSummary?.StreamStatus;
    }
    const shards = await setup.client.send(
      new ListShardsCommand({ StreamName: "second" }),
    );
    assert.equal(shards.Shards?.length, 2);
    await assert.rejects(
      setup.client.send(
        new DescribeStreamSummaryCommand({ StreamName: "none" }),
      ),
      (error: Error) => error.name === "ResourceNotFoundException",
    );
    const counters = setup.proxy.counters();
    assert.equal(counters.putRecordsRequests, 0);
    assert.ok(counters.passedThrough >= 4);
  });
});

Deno.test("the control interface sets plans and reads counters over HTTP", async () => {
  await withProxy({}, async (setup) => {
    const plan: FaultPlan = {
      failEntries: { select: { kind: "all" }, errorCode: "InternalFailure" },
    };
    const set = await fetch(`${setup.proxy.endpoint}/__faults/plan`, {
      method: "PUT",
      body: JSON.stringify(plan),
    });
    assert.equal(set.status, 200);
    await set.body?.cancel();
    const answer = await put(setup, ["h0"]);
    assert.equal(answer.FailedRecordCount, 1);
    const counters = await (await fetch(
      `${setup.proxy.endpoint}/__faults/counters`,
    )).json();
    assert.equal(counters.failedEntries, 1);
    const release = await fetch(`${setup.proxy.endpoint}/__faults/release`, {
      method: "POST",
    });
    assert.equal(release.status, 200);
    await release.body?.cancel();
  });
});

Deno.test("chunked request bodies are read whole", async () => {
  await withProxy({}, async (setup) => {
    const body = JSON.stringify({
      StreamName: setup.stream,
      Records: [{ Data: btoa("i0"), PartitionKey: "i0" }],
    });
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: Number(new URL(setup.proxy.endpoint).port),
    });
    const half = Math.floor(body.length / 2);
    const chunk = (text: string) =>
      `${encoder.encode(text).length.toString(16)}\r\n${text}\r\n`;
    const request = "POST / HTTP/1.1\r\nHost: x\r\n" +
      "X-Amz-Target: Kinesis_20131202.PutRecords\r\n" +
      "Content-Type: application/x-amz-json-1.1\r\n" +
      "Authorization: AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0\r\n" +
      "X-Amz-Date: 20240101T000000Z\r\n" +
      "Transfer-Encoding: chunked\r\n\r\n" +
      chunk(body.slice(0, half)) + chunk(body.slice(half)) + "0\r\n\r\n";
    await conn.write(encoder.encode(request));
    let answer = "";
    const buffer = new Uint8Array(4096);
    while (!answer.includes("\r\n\r\n") || !answer.includes("}")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      answer += decoder.decode(buffer.subarray(0, n));
    }
    conn.close();
    assert.match(answer, /^HTTP\/1\.1 200/);
    assert.deepEqual(await storedTexts(setup), ["i0"]);
  });
});

Deno.test("over TLS end to end (kinesalite's ssl option, an HTTPS proxy) with an added latency per request", async () => {
  const kinesis = await startLocalKinesis({ tls: true });
  assert.match(kinesis.endpoint, /^https:/);
  const certificate = kinesis.certificate!;
  const ca = await Deno.readTextFile(certificate.caFile);
  const proxy = startFaultProxy({
    target: kinesis.endpoint,
    targetCa: ca,
    tls: {
      cert: await Deno.readTextFile(certificate.certFile),
      key: await Deno.readTextFile(certificate.keyFile),
    },
    latency: { minMs: 10, maxMs: 30, seed: 7 },
  });
  assert.match(proxy.endpoint, /^https:/);
  const client = localKinesisClient(proxy.endpoint, ca);
  try {
    await kinesis.createStream("tls", 1);
    const started = performance.now();
    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      const answer = await client.send(
        new PutRecordsCommand({
          StreamName: "tls",
          Records: [{ Data: encoder.encode(`r${round}`), PartitionKey: "k" }],
        }),
      );
      assert.equal(answer.FailedRecordCount, 0);
    }
    // A lower bound only: each request waited at least the minimum.
    assert.ok(performance.now() - started >= rounds * 10);
    const stored = await readAllRecords(kinesis.client, "tls");
    assert.deepEqual(
      stored.map((record) => decoder.decode(record.data)),
      ["r0", "r1", "r2"],
    );
    // Without the CA, the same endpoint is refused.
    const untrusting = localKinesisClient(proxy.endpoint);
    await assert.rejects(
      untrusting.send(new ListShardsCommand({ StreamName: "tls" })),
    );
    untrusting.destroy();
  } finally {
    client.destroy();
    await proxy.stop();
    await kinesis.stop();
  }
});
