import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import {
  classifyError,
  createSdkPutter,
  KinesisRequestError,
  type KinesisTarget,
  memoiseUserAgent,
} from "../../extension/kinesis_client.ts";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startLocalKinesis,
} from "../../scripts/sandbox/kinesis_local.ts";
import { readAllRecords } from "../../scripts/lib/kinesis_read.ts";

const utf8 = new TextEncoder();

function target(endpoint: string, extra: Partial<KinesisTarget> = {}) {
  return {
    streamName: "s",
    streamArn: undefined,
    region: LOCAL_REGION,
    endpoint,
    requestTimeoutMs: 5_000,
    credentials: { ...LOCAL_CREDENTIALS },
    ...extra,
  };
}

/** A loopback HTTP server standing in for Kinesis. */
const fakeKinesis = (handler: Deno.ServeHandler) =>
  Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);

const endpointOf = (server: Deno.HttpServer<Deno.NetAddr>) =>
  `http://127.0.0.1:${server.addr.port}`;

const ONE_RECORD = [{ data: utf8.encode("x"), partitionKey: "k" }];

/**
 * An `assert.rejects` check: a KinesisRequestError with these fields (the
 * code only when given).
 */
function kinesisRequestError(
  expected: { code?: string; permanent: boolean; outcomeKnown: boolean },
) {
  return (error: unknown) => {
    assert.ok(error instanceof KinesisRequestError);
    if (expected.code !== undefined) {
      assert.equal(error.code, expected.code, error.message);
    }
    assert.equal(error.permanent, expected.permanent, error.message);
    assert.equal(error.outcomeKnown, expected.outcomeKnown, error.message);
    return true;
  };
}

Deno.test("kinesis client: the SDK putter stores records in kinesalite and works after reset", async () => {
  const kinesis = await startLocalKinesis();
  try {
    await kinesis.createStream("client-test", 2);
    const putter = createSdkPutter(
      target(kinesis.endpoint, { streamName: "client-test" }),
    );
    const result = await putter.putRecords([
      { data: utf8.encode("one"), partitionKey: "a" },
      { data: utf8.encode("two"), partitionKey: "b" },
    ], new AbortController().signal);
    assert.deepEqual(result, {
      failedRecordCount: 0,
      entries: [
        { errorCode: undefined, errorMessage: undefined },
        { errorCode: undefined, errorMessage: undefined },
      ],
    });
    // After reset the putter builds a new client and keeps working.
    putter.reset();
    await putter.putRecords(
      [{ data: utf8.encode("three"), partitionKey: "c" }],
      new AbortController().signal,
    );
    putter.reset();
    const stored = await readAllRecords(kinesis.client, "client-test");
    const byKey = Object.fromEntries(
      stored.map((r) => [r.partitionKey, new TextDecoder().decode(r.data)]),
    );
    assert.deepEqual(byKey, { a: "one", b: "two", c: "three" });
  } finally {
    await kinesis.stop();
  }
});

Deno.test("kinesis client: an ARN is sent as StreamARN; per-entry failures come back in order", async () => {
  // kinesalite predates StreamARN, so the wire request is checked here.
  const bodies: Record<string, unknown>[] = [];
  const authorizations: string[] = [];
  const server = fakeKinesis(async (request) => {
    authorizations.push(request.headers.get("authorization") ?? "");
    bodies.push(await request.json());
    return new Response(
      JSON.stringify({
        FailedRecordCount: 1,
        Records: [
          { SequenceNumber: "1", ShardId: "shardId-000000000000" },
          {
            ErrorCode: "ProvisionedThroughputExceededException",
            ErrorMessage: "slow down",
          },
        ],
      }),
      { headers: { "content-type": "application/x-amz-json-1.1" } },
    );
  });
  try {
    const arn = "arn:aws:kinesis:us-east-1:123456789012:stream/by-arn";
    const putter = createSdkPutter(
      target(endpointOf(server), {
        streamName: "by-arn",
        streamArn: arn,
      }),
    );
    const result = await putter.putRecords([
      { data: utf8.encode("one"), partitionKey: "a" },
      { data: utf8.encode("two"), partitionKey: "b" },
    ], new AbortController().signal);
    putter.reset();
    // Signed with the credentials given, not whatever the process has.
    assert.match(
      authorizations[0],
      new RegExp(`Credential=${LOCAL_CREDENTIALS.accessKeyId}/`),
    );
    assert.deepEqual(result, {
      failedRecordCount: 1,
      entries: [
        { errorCode: undefined, errorMessage: undefined },
        {
          errorCode: "ProvisionedThroughputExceededException",
          errorMessage: "slow down",
        },
      ],
    });
    assert.deepEqual(bodies, [{
      StreamARN: arn,
      Records: [
        { Data: btoa("one"), PartitionKey: "a" },
        { Data: btoa("two"), PartitionKey: "b" },
      ],
    }]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("kinesis client: a missing stream is a permanent, known-outcome error", async () => {
  const kinesis = await startLocalKinesis();
  try {
    const putter = createSdkPutter(
      target(kinesis.endpoint, { streamName: "no-such-stream" }),
    );
    await assert.rejects(
      putter.putRecords(ONE_RECORD, new AbortController().signal),
      kinesisRequestError({
        code: "ResourceNotFoundException",
        permanent: true,
        outcomeKnown: true,
      }),
    );
    putter.reset();
  } finally {
    await kinesis.stop();
  }
});

Deno.test("kinesis client: a refused connection never reached Kinesis", async () => {
  // A port that was free a moment ago: nothing listens there now.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const putter = createSdkPutter(target(`http://127.0.0.1:${port}`));
  await assert.rejects(
    putter.putRecords(ONE_RECORD, new AbortController().signal),
    kinesisRequestError({ permanent: false, outcomeKnown: true }),
  );
  putter.reset();
});

Deno.test("kinesis client: an aborted request is Abandoned with an unknown outcome", async () => {
  // A server that accepts the request and never answers.
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  let arrived: () => void = () => {};
  const requestArrived = new Promise<void>((resolve) => arrived = resolve);
  const server = fakeKinesis(async () => {
    arrived();
    await released;
    return new Response("{}");
  });
  try {
    const putter = createSdkPutter(target(endpointOf(server)));
    const controller = new AbortController();
    const attempt = putter.putRecords(ONE_RECORD, controller.signal);
    await requestArrived;
    controller.abort();
    await assert.rejects(
      attempt,
      kinesisRequestError({
        code: "Abandoned",
        permanent: false,
        outcomeKnown: false,
      }),
    );
    putter.reset();
  } finally {
    release();
    await server.shutdown();
  }
});

Deno.test("kinesis client: prepare runs the SDK's request path without sending anything, and each put after it is sent with the same user agent", async () => {
  const seen: string[] = [];
  const server = fakeKinesis(async (request) => {
    await request.text();
    seen.push(request.headers.get("user-agent") ?? "");
    return Response.json({
      FailedRecordCount: 0,
      Records: [{ SequenceNumber: "1", ShardId: "s" }],
    }, { headers: { "content-type": "application/x-amz-json-1.1" } });
  });
  try {
    const putter = createSdkPutter(target(endpointOf(server)));
    await putter.prepare();
    assert.deepEqual(seen, [], "the warm-up reached the network");
    for (let i = 0; i < 3; i++) {
      const result = await putter.putRecords(
        ONE_RECORD,
        new AbortController().signal,
      );
      assert.equal(result.failedRecordCount, 0);
    }
    putter.reset();
    assert.equal(seen.length, 3);
    assert.match(seen[0], /aws-sdk-js\/\S+ .*os\/linux/);
    assert.deepEqual(new Set(seen).size, 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("kinesis client: memoiseUserAgent asks the SDK's provider once", async () => {
  let calls = 0;
  const config: { defaultUserAgentProvider?: () => Promise<unknown> } = {
    defaultUserAgentProvider: () =>
      Promise.resolve([["os/linux", `${++calls}`]]),
  };
  memoiseUserAgent(config);
  const first = await config.defaultUserAgentProvider!();
  const second = await config.defaultUserAgentProvider!();
  assert.equal(calls, 1);
  assert.deepEqual(first, [["os/linux", "1"]]);
  assert.equal(second, first);
  const none: { defaultUserAgentProvider?: () => Promise<unknown> } = {};
  memoiseUserAgent(none);
  assert.equal(none.defaultUserAgentProvider, undefined);
});

Deno.test("kinesis client: classifyError maps service and network errors", () => {
  const service = (name: string, status: number) =>
    Object.assign(new Error(`${name} happened`), {
      name,
      $metadata: { httpStatusCode: status },
    });
  const nodeError = (message: string, code: string) =>
    Object.assign(new Error(message), { code });
  type Expected = { code: string; permanent: boolean; outcomeKnown: boolean };
  /** Refused for good: retrying cannot help. */
  const permanent = (code: string): Expected => ({
    code,
    permanent: true,
    outcomeKnown: true,
  });
  /** Not stored, worth retrying. */
  const retryable = (code: string): Expected => ({
    code,
    permanent: false,
    outcomeKnown: true,
  });
  /** Maybe stored: a retry may duplicate. */
  const outcomeUnknown = (code: string): Expected => ({
    code,
    permanent: false,
    outcomeKnown: false,
  });
  const cases: [unknown, Expected][] = [
    [service("AccessDeniedException", 400), permanent("AccessDeniedException")],
    [service("ValidationException", 400), permanent("ValidationException")],
    [
      service("KMSAccessDeniedException", 400),
      permanent("KMSAccessDeniedException"),
    ],
    [
      service("ProvisionedThroughputExceededException", 400),
      retryable("ProvisionedThroughputExceededException"),
    ],
    // A 5xx may come after the records were stored.
    [service("InternalFailure", 500), outcomeUnknown("InternalFailure")],
    [
      nodeError("connect ECONNREFUSED", "ECONNREFUSED"),
      retryable("ECONNREFUSED"),
    ],
    [nodeError("getaddrinfo ENOTFOUND", "ENOTFOUND"), retryable("ENOTFOUND")],
    [nodeError("socket hang up", "ECONNRESET"), outcomeUnknown("ECONNRESET")],
    [
      Object.assign(new Error("timed out"), { name: "TimeoutError" }),
      outcomeUnknown("TimeoutError"),
    ],
    ["a thrown string", outcomeUnknown("UnknownError")],
    [undefined, outcomeUnknown("UnknownError")],
  ];
  for (const [input, expected] of cases) {
    const error = classifyError(input);
    assert.ok(error instanceof KinesisRequestError);
    assert.equal(error.name, "KinesisRequestError");
    assert.deepEqual(
      {
        code: error.code,
        permanent: error.permanent,
        outcomeKnown: error.outcomeKnown,
      },
      expected,
      String(input),
    );
  }
  assert.match(
    classifyError(service("AccessDeniedException", 400)).message,
    /^AccessDeniedException: AccessDeniedException happened$/,
  );
  assert.match(classifyError("a thrown string").message, /a thrown string/);
});

Deno.test("kinesis client: classifyError says Abandoned whenever the signal was aborted", () => {
  const controller = new AbortController();
  controller.abort();
  const error = classifyError(
    Object.assign(new Error("x"), {
      name: "AccessDeniedException",
      $metadata: { httpStatusCode: 400 },
    }),
    controller.signal,
  );
  assert.equal(error.code, "Abandoned");
  assert.equal(error.outcomeKnown, false);
  assert.equal(error.permanent, false);
  assert.match(error.message, /^request abandoned: AccessDeniedException/);
});

Deno.test("kinesis client: a signature error from clock skew is retryable once the SDK corrected its clock, and the retry is signed with the server's time", async () => {
  // The server's clock runs 20 minutes ahead of this machine's: a request
  // signed with local time is refused as expired, with the server's Date.
  const skewMs = 20 * 60_000;
  const amzDates: string[] = [];
  const server = fakeKinesis((request) => {
    const amzDate = request.headers.get("x-amz-date") ?? "";
    amzDates.push(amzDate);
    const signedAt = Date.parse(
      amzDate.replace(
        /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/,
        "$1-$2-$3T$4:$5:$6Z",
      ),
    );
    const serverNow = Date.now() + skewMs;
    const headers = {
      "content-type": "application/x-amz-json-1.1",
      date: new Date(serverNow).toUTCString(),
    };
    if (Math.abs(serverNow - signedAt) > 5 * 60_000) {
      return new Response(
        JSON.stringify({
          __type: "InvalidSignatureException",
          message: `Signature expired: ${amzDate} is now earlier than ...`,
        }),
        { status: 400, headers },
      );
    }
    return new Response(
      JSON.stringify({
        FailedRecordCount: 0,
        Records: [{ SequenceNumber: "1", ShardId: "shardId-000000000000" }],
      }),
      { headers },
    );
  });
  try {
    const putter = createSdkPutter(target(endpointOf(server)));
    await assert.rejects(
      putter.putRecords(ONE_RECORD, new AbortController().signal),
      kinesisRequestError({
        code: "InvalidSignatureException",
        permanent: false,
        outcomeKnown: true,
      }),
    );
    const result = await putter.putRecords(
      ONE_RECORD,
      new AbortController().signal,
    );
    putter.reset();
    assert.equal(result.failedRecordCount, 0);
    assert.equal(amzDates.length, 2);
  } finally {
    await server.shutdown();
  }
});

Deno.test("kinesis client: a signature error without a clock to correct stays permanent", () => {
  const error = Object.assign(new Error("bad signature"), {
    name: "InvalidSignatureException",
    $metadata: { httpStatusCode: 400 },
  });
  assert.equal(classifyError(error).permanent, true);
  const corrected = Object.assign(new Error("Signature expired"), {
    name: "InvalidSignatureException",
    $metadata: { httpStatusCode: 400, clockSkewCorrected: true },
  });
  assert.equal(classifyError(corrected).permanent, false);
});

Deno.test("kinesis client: the natively built body is the SDK's own, signed as sent, and binary data arrives byte for byte", async () => {
  // Every byte value, a UTF-8 partition key with characters JSON escapes.
  const binary = Uint8Array.from({ length: 777 }, (_, i) => (i * 151) & 255);
  const entries = [
    { data: binary, partitionKey: 'ké"y\\\u0001' },
    { data: new Uint8Array(0), partitionKey: "empty" },
    { data: utf8.encode("x".repeat(70_000)), partitionKey: "large" },
  ];
  const seen: { body: string; headers: Record<string, string> }[] = [];
  const server = fakeKinesis(async (request) => {
    seen.push({
      body: await request.text(),
      headers: Object.fromEntries(request.headers),
    });
    return Response.json({
      FailedRecordCount: 0,
      Records: entries.map(() => ({ SequenceNumber: "1", ShardId: "s" })),
    }, { headers: { "content-type": "application/x-amz-json-1.1" } });
  });
  const kinesis = await startLocalKinesis();
  try {
    const ours = createSdkPutter(target(endpointOf(server)));
    await ours.putRecords(entries, new AbortController().signal);
    ours.reset();
    // The SDK serialising the same records itself.
    const { KinesisClient, PutRecordsCommand } = await import(
      "@aws-sdk/client-kinesis"
    );
    const sdk = new KinesisClient({
      region: LOCAL_REGION,
      endpoint: endpointOf(server),
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    await sdk.send(
      new PutRecordsCommand({
        StreamName: "s",
        Records: entries.map((e) => ({
          Data: e.data,
          PartitionKey: e.partitionKey,
        })),
      }),
    );
    sdk.destroy();
    assert.equal(seen.length, 2);
    assert.deepEqual(JSON.parse(seen[0].body), JSON.parse(seen[1].body));
    assert.equal(
      seen[0].headers["content-length"],
      String(utf8.encode(seen[0].body).byteLength),
    );
    // The signature covers the body that was sent: signed again here from
    // what the server received, with the SDK's own signer, it matches.
    const request = seen[0];
    const signed = /SignedHeaders=([^,]+), Signature=([0-9a-f]+)/.exec(
      request.headers.authorization ?? "",
    );
    assert.ok(signed, request.headers.authorization);
    const { SignatureV4 } = await import("@smithy/signature-v4");
    const signer = new SignatureV4({
      credentials: LOCAL_CREDENTIALS,
      region: LOCAL_REGION,
      service: "kinesis",
      sha256: Sha256,
    });
    const headers = Object.fromEntries(
      signed[1].split(";").map((name) => [name, request.headers[name]]),
    );
    const again = await signer.sign({
      method: "POST",
      protocol: "http:",
      hostname: "127.0.0.1",
      port: server.addr.port,
      path: "/",
      query: {},
      headers,
      body: request.body,
    }, { signingDate: amzDate(request.headers["x-amz-date"]) });
    assert.match(
      String(again.headers.authorization),
      new RegExp(`Signature=${signed[2]}$`),
      "signed over the body that was sent",
    );
    // Stored and read back from kinesalite.
    await kinesis.createStream("binary", 1);
    const stored = createSdkPutter(
      target(kinesis.endpoint, { streamName: "binary" }),
    );
    const result = await stored.putRecords(
      entries,
      new AbortController().signal,
    );
    stored.reset();
    assert.equal(result.failedRecordCount, 0);
    const records = await readAllRecords(kinesis.client, "binary");
    assert.deepEqual(
      records.map((r) => [r.partitionKey, Array.from(r.data)]),
      entries.map((e) => [e.partitionKey, Array.from(e.data)]),
    );
  } finally {
    await server.shutdown();
    await kinesis.stop();
  }
});

/** SHA-256 and HMAC-SHA-256 in the shape the SDK's signer takes. */
class Sha256 {
  #hash: { update(data: Uint8Array | string): void; digest(): Uint8Array };
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined
      ? createHash("sha256")
      : createHmac("sha256", bytesOf(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytesOf(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }
}

function bytesOf(data: string | ArrayBuffer | ArrayBufferView) {
  if (typeof data === "string") return data;
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

/** `20261202T163000Z` as a Date. */
function amzDate(value: string | undefined): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? "");
  assert.ok(m, `x-amz-date ${value}`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}
