import assert from "node:assert/strict";
import { EventBuffer } from "../../extension/buffer.ts";
import { createEnvelopeEncoder } from "../../extension/encoder.ts";
import {
  createTelemetryHandler,
  type EventEncoder,
  type ListenerDeps,
} from "../../extension/listener.ts";
import { OWN_LOG_PREFIX } from "../../extension/log.ts";
import { MAX_EVENT_DEPTH } from "../../extension/event_scanner.ts";
import { InvocationProgress } from "../../extension/progress.ts";
import { SpillStore } from "../../extension/spill.ts";
import { Stats } from "../../extension/stats.ts";
import type { BufferedEvent } from "../../extension/types.ts";
import { captureLog, textOf } from "./_core_fixtures.ts";

const CONTEXT = {
  functionName: "fn",
  functionVersion: "1",
  region: "eu-west-1",
  accountId: "123456789012",
  environmentId: "env-1",
};

interface Harness {
  url: string;
  deps: ListenerDeps;
  buffer: EventBuffer;
  stats: Stats;
  progress: InvocationProgress;
  ownLogEvents: WeakSet<BufferedEvent>;
  log: ReturnType<typeof captureLog>;
  post(body: BodyInit, init?: RequestInit): Promise<Response>;
  envelopes(): Record<string, unknown>[];
  close(): Promise<void>;
}

/** Serves the listener on 127.0.0.1 and a free port. */
function startListener(
  options: Partial<ListenerDeps> & { bufferBytes?: number } = {},
): Harness {
  const buffer = options.buffer ??
    new EventBuffer(options.bufferBytes ?? 1 << 20);
  const stats = new Stats();
  const progress = new InvocationProgress();
  const ownLogEvents = new WeakSet<BufferedEvent>();
  const log = captureLog("debug");
  const deps: ListenerDeps = {
    buffer,
    encode: createEnvelopeEncoder({
      context: CONTEXT,
      partitionKey: "requestId",
      maxEnvelopeBytes: 4096,
    }),
    stats,
    logger: log.logger,
    progress,
    maxBodyBytes: 64 * 1024,
    excludeTypes: new Set(),
    ownLogEvents,
    now: () => 42,
    ...options,
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createTelemetryHandler(deps),
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  return {
    url,
    deps,
    buffer,
    stats,
    progress,
    ownLogEvents,
    log,
    post: (body, init) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        ...init,
      }),
    envelopes: () => buffer.takeAll().map((event) => JSON.parse(textOf(event))),
    close: () => server.shutdown(),
  };
}

function event(type: string, record: unknown, time = "2024-01-01T00:00:00Z") {
  return { time, type, record };
}

/** A request body delivered as the given chunks, with no content-length. */
function chunked(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      const chunk = chunks.shift();
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
}

Deno.test("listener: 200 once the delivery's events are in the buffer, in order", async () => {
  const harness = startListener();
  try {
    const events = [
      event("platform.start", { requestId: "r1" }),
      event("function", "hello\n"),
      event("extension", { level: "INFO", message: "m" }),
    ];
    const response = await harness.post(JSON.stringify(events));
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "");
    assert.equal(harness.buffer.length, 3);
    assert.equal(harness.stats.received, 3);
    const first = harness.buffer.takeAll();
    assert.equal(first[0].receivedAt, 42);
    assert.equal(first[0].partitionKey, "r1");
    assert.deepEqual(
      first.map((e) => JSON.parse(textOf(e)).record),
      events.map((e) => e.record),
    );
    const envelope = JSON.parse(textOf(first[0]));
    assert.deepEqual(envelope, {
      ...events[0],
      function: "fn:1",
      region: "eu-west-1",
      accountId: "123456789012",
      environmentId: "env-1",
      seq: 1,
    });
    assert.equal(harness.stats.rejectedBodies, 0);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: an empty array is accepted and buffers nothing", async () => {
  const harness = startListener();
  try {
    const response = await harness.post("[]");
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(harness.buffer.length, 0);
    assert.equal(harness.stats.received, 0);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: 405 for anything but POST", async () => {
  const harness = startListener();
  try {
    for (const method of ["GET", "PUT", "DELETE"]) {
      const response = await fetch(harness.url, {
        method,
        body: method === "GET" ? undefined : "[]",
      });
      assert.equal(response.status, 405, method);
      assert.match(await response.text(), /only POST/);
    }
    assert.equal(harness.buffer.length, 0);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: 400 for bodies that are not a JSON array of events", async () => {
  const harness = startListener();
  try {
    const bad: [BodyInit, RegExp][] = [
      ["{not json", /not a JSON array of events: expected \[/],
      ['[{"time":"t","type":"function","record":"x"}', /unexpected end/],
      ['[{"time":"t","type":"function","record":"x"},]', /expected a value/],
      ['[{"a":1}] x', /unexpected data after the array/],
      ['[{"a":"\\q"}]', /bad escape/],
      ['[{"a":01}]', /expected , or a closing bracket/],
      ['[{"a":[1}]', /expected , or a closing bracket/],
      ['{"time":"t","type":"function","record":"x"}', /not a JSON array/],
      ['"a string"', /not a JSON array/],
      [Uint8Array.of(0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d), /not valid UTF-8/],
      // A lone continuation byte and a truncated 3-byte sequence.
      [Uint8Array.of(0x5b, 0x22, 0x80, 0x22, 0x5d), /not valid UTF-8/],
      [Uint8Array.of(0x5b, 0x22, 0xe2, 0x82, 0x22, 0x5d), /not valid UTF-8/],
      ["", /empty body/],
    ];
    for (const [body, reason] of bad) {
      const response = await harness.post(body);
      assert.equal(response.status, 400, String(body));
      assert.match(await response.text(), reason);
    }
    assert.equal(harness.stats.rejectedBodies, bad.length);
    assert.equal(harness.stats.received, 0);
    assert.equal(harness.buffer.length, 0);
    const warnings = harness.log.withMsg("rejected a telemetry delivery");
    assert.equal(warnings.length, bad.length);
    assert.equal(warnings[0].status, 400);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: a POST without a body is 400", async () => {
  const harness = startListener();
  try {
    const response = await fetch(harness.url, { method: "POST" });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /empty body/);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: 413 over the cap with a content-length", async () => {
  const harness = startListener({ maxBodyBytes: 1000 });
  try {
    const body = JSON.stringify([event("function", "x".repeat(1000))]);
    const response = await harness.post(body);
    assert.equal(response.status, 413);
    // Refused on the declared length, before reading the body.
    assert.match(
      await response.text(),
      new RegExp(`body of ${body.length} bytes exceeds the 1000-byte limit`),
    );
    assert.equal(harness.stats.rejectedBodies, 1);
    assert.equal(harness.buffer.length, 0);
    // Exactly at the cap is fine.
    const fits = JSON.stringify([event("function", "")]);
    const padded = fits + " ".repeat(1000 - fits.length);
    const ok = await harness.post(padded);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  } finally {
    await harness.close();
  }
});

Deno.test("listener: 413 over the cap when the body streams without a length", async () => {
  const harness = startListener({ maxBodyBytes: 1000 });
  try {
    const piece = new TextEncoder().encode(" ".repeat(400));
    const response = await harness.post(
      chunked([piece, piece, piece, piece, piece]),
      { duplex: "half" } as RequestInit,
    );
    assert.equal(response.status, 413);
    assert.match(await response.text(), /exceeds the 1000-byte limit/);
    assert.equal(harness.stats.rejectedBodies, 1);
    assert.equal(harness.buffer.length, 0);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: invalid elements are dropped and counted, good ones beside them kept", async () => {
  const harness = startListener();
  try {
    const body = JSON.stringify([
      null,
      7,
      "text",
      [],
      { time: "t", record: {} }, // no type
      { time: "t", type: "", record: {} }, // empty type
      { type: "function", record: "no time" },
      { time: 5, type: "function", record: "time not a string" },
      event("function", "kept 1"),
      { time: "t2", type: "function" }, // no record: kept with null
      event("platform.brandNewThing", { anything: [1, 2] }),
    ]);
    const response = await harness.post(body);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(harness.stats.received, 11);
    assert.equal(harness.stats.dropped.invalid_event, 8);
    const envelopes = harness.envelopes();
    assert.deepEqual(
      envelopes.map((e) => [e.type, e.record]),
      [
        ["function", "kept 1"],
        ["function", null],
        ["platform.brandNewThing", { anything: [1, 2] }],
      ],
    );
    const [warning] = harness.log.withMsg("dropped invalid telemetry events");
    assert.equal(warning.invalid, 8);
    assert.equal(warning.kept, 3);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: events reach the envelope byte for byte: big numbers, 1e400, duplicate keys, escapes", async () => {
  const harness = startListener();
  try {
    const records = [
      '{"requestId":"r-1","n":12345678901234567891,"x":1e400,"y":-0.0000001E-7}',
      '{"k":1,"k":2,"requestId":"r-2","requestId":"r-3"}',
      '"text \\u00e9 \\"quoted\\" \\ud83d\\ude80 \\/ tab\\t"',
      '{"deep":[[[[{"a":[true,false,null,{}]}]]]],"empty":[],"s":"\\u0000"}',
      '{ "spaced" : [ 1 , 2 ] ,\t"requestId" : "r-4" }',
    ];
    const body = "[\n " + records.map((record, i) =>
      `{"time":"2026-01-01T00:00:0${i}Z","type":"function","record":${record}}`
    ).join(" ,\n") + "\n]";
    const response = await harness.post(body);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const texts = harness.buffer.takeAll().map((e) =>
      textOf(e)
    );
    assert.equal(texts.length, records.length);
    texts.forEach((text, i) => {
      assert.ok(
        text.startsWith(
          `{"time":"2026-01-01T00:00:0${i}Z","type":"function","record":${
            records[i]
          },"function":`,
        ),
        text,
      );
    });
  } finally {
    await harness.close();
  }
});

Deno.test("listener: line breaks between a record's tokens become spaces, envelopes stay one line", async () => {
  const harness = startListener();
  try {
    const body =
      '[{"time":"t","type":"function","record":{\r\n"a":\n"x\\ny"}}]';
    const response = await harness.post(body);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const [envelope] = harness.buffer.takeAll().map((e) => textOf(e));
    assert.ok(envelope.includes('"record":{  "a": "x\\ny"}'), envelope);
    assert.ok(!envelope.includes("\n"));
  } finally {
    await harness.close();
  }
});

Deno.test("listener: a 20,000-deep event is dropped alone as invalid_event, the rest kept with 200", async () => {
  const harness = startListener({ maxBodyBytes: 1 << 20 });
  try {
    const deep = "[".repeat(20_000) + "]".repeat(20_000);
    const limit = "[".repeat(MAX_EVENT_DEPTH - 1) +
      "]".repeat(MAX_EVENT_DEPTH - 1);
    const body = `[{"time":"t","type":"function","record":"before"},` +
      `{"time":"t","type":"function","record":${deep}},` +
      `{"time":"t","type":"function","record":${limit}},` +
      `{"time":"t","type":"function","record":"after"}]`;
    const response = await harness.post(body);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(harness.stats.received, 4);
    assert.equal(harness.stats.dropped.invalid_event, 1);
    const kept = harness.buffer.takeAll().map((e) => textOf(e));
    assert.equal(kept.length, 3);
    assert.ok(kept[0].includes('"record":"before"'));
    assert.ok(kept[1].includes(`"record":${limit},`));
    assert.ok(kept[2].includes('"record":"after"'));
    const [warning] = harness.log.withMsg("dropped invalid telemetry events");
    assert.match(String(warning.first), /nested 20001 levels deep/);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: multi-byte UTF-8 split across chunks is decoded byte-exact", async () => {
  const harness = startListener();
  try {
    const record = "naïve €uro 🚀 — 日本語";
    const bytes = new TextEncoder().encode(
      JSON.stringify([event("function", record)]),
    );
    // Cut inside the 4-byte rocket and inside the 3-byte euro sign.
    const rocket = bytes.indexOf(0xf0);
    const euro = bytes.indexOf(0xe2);
    const cuts = [euro + 1, rocket + 2, rocket + 3].sort((a, b) => a - b);
    const chunks: Uint8Array[] = [];
    let start = 0;
    for (const cut of cuts) {
      chunks.push(bytes.slice(start, cut));
      start = cut;
    }
    chunks.push(bytes.slice(start));
    const response = await harness.post(chunked(chunks), {
      duplex: "half",
    } as RequestInit);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const [envelope] = harness.envelopes();
    assert.equal(envelope.record, record);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: a delivery larger than the free space of a non-empty buffer is refused unread", async () => {
  const harness = startListener({ bufferBytes: 1500 });
  try {
    const small = await harness.post(
      JSON.stringify([event("function", "a".repeat(300))]),
    );
    assert.equal(small.status, 200);
    await small.body?.cancel();
    const receivedBefore = harness.stats.received;
    // Bigger than what is free, and not even JSON: it is never looked at.
    const response = await harness.post("x".repeat(2_000));
    assert.equal(response.status, 503);
    assert.match(await response.text(), /buffer full/);
    assert.equal(harness.stats.refusedDeliveries, 1);
    assert.equal(harness.stats.refused, 0, "its events were not counted");
    assert.equal(harness.stats.rejectedBodies, 0, "nor was it parsed");
    assert.equal(harness.stats.received, receivedBefore);
    assert.equal(
      harness.log.withMsg("buffer full: refused a telemetry delivery unread")
        .length,
      1,
    );
  } finally {
    await harness.close();
  }
});

Deno.test("listener: 503 when the buffer is full, nothing half-taken, refused counted", async () => {
  const harness = startListener({ bufferBytes: 2500 });
  try {
    const small = await harness.post(
      JSON.stringify([event("function", "a".repeat(300))]),
    );
    assert.equal(small.status, 200);
    await small.body?.cancel();
    const before = harness.buffer.queuedBytes;
    const response = await harness.post(
      JSON.stringify([
        event("function", "b".repeat(300)),
        event("function", "c".repeat(300)),
        event("function", "d".repeat(300)),
        { bad: true },
      ]),
    );
    assert.equal(response.status, 503);
    assert.match(await response.text(), /buffer full/);
    assert.equal(harness.buffer.length, 1);
    assert.equal(harness.buffer.queuedBytes, before);
    assert.equal(harness.stats.refused, 3);
    assert.equal(harness.stats.refusedDeliveries, 1);
    // Lambda delivers the refused events again: they are not received yet.
    assert.equal(harness.stats.received, 1);
    assert.equal(harness.stats.dropped.invalid_event, 0);
    assert.equal(
      harness.log.withMsg("buffer full: refused a telemetry delivery").length,
      1,
    );
  } finally {
    await harness.close();
  }
});

Deno.test("listener: with a disk overflow, a delivery the memory cannot take is accepted and read back in order", async () => {
  const dir = `${Deno.makeTempDirSync({ prefix: "kt-listener-spill-" })}/s`;
  const buffer = new EventBuffer(
    2500,
    new SpillStore({ dir, maxBytes: 1 << 20 }),
  );
  const harness = startListener({ buffer });
  try {
    const first = await harness.post(
      JSON.stringify([event("function", "a".repeat(300))]),
    );
    assert.equal(first.status, 200);
    await first.body?.cancel();
    const response = await harness.post(
      JSON.stringify([
        event("function", "b".repeat(300)),
        event("function", "c".repeat(300)),
        event("function", "d".repeat(300)),
      ]),
    );
    assert.equal(response.status, 200, await response.text());
    assert.equal(harness.stats.refusedDeliveries, 0);
    assert.equal(harness.stats.received, 4);
    assert.equal(harness.buffer.spilled, 3);
    assert.equal([...Deno.readDirSync(dir)].length, 1, "one segment file");
    const firstTaken = harness.buffer.takeAll();
    assert.equal(firstTaken.length, 1);
    harness.buffer.settle(firstTaken);
    const records = harness.envelopes().map((envelope) => envelope.record);
    assert.deepEqual(records.map((record) => String(record)[0]), [
      "b",
      "c",
      "d",
    ]);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: excluded types are counted as filtered, not buffered", async () => {
  const harness = startListener({
    excludeTypes: new Set(["platform.start", "function"]),
  });
  try {
    const response = await harness.post(JSON.stringify([
      event("platform.start", { requestId: "r" }),
      event("function", "line"),
      event("platform.report", { requestId: "r" }),
    ]));
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(harness.stats.received, 3);
    assert.equal(harness.stats.filtered, 2);
    assert.deepEqual(harness.envelopes().map((e) => e.type), [
      "platform.report",
    ]);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: the extension's own log lines are registered, others are not", async () => {
  const harness = startListener();
  try {
    const own = `${OWN_LOG_PREFIX},"level":"info","msg":"flushed"}`;
    const response = await harness.post(JSON.stringify([
      event("extension", own),
      event("extension", "another extension's line"),
      event("function", own), // the function printing it is not us
      event("extension", { message: own }),
    ]));
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const buffered = harness.buffer.takeAll();
    assert.deepEqual(
      buffered.map((e) => harness.ownLogEvents.has(e)),
      [true, false, false, false],
    );
  } finally {
    await harness.close();
  }
});

Deno.test("listener: runtimeDone and report are noted in progress by request id", async () => {
  const harness = startListener();
  try {
    const response = await harness.post(JSON.stringify([
      event("platform.runtimeDone", { requestId: "r1", status: "success" }),
      event("platform.report", { requestId: "r1", status: "success" }),
      event("platform.report", { status: "success" }), // no id
      event("platform.report", null),
      event("platform.start", { requestId: "r2" }),
    ]));
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(harness.progress.has("platform.runtimeDone", "r1"), true);
    assert.equal(harness.progress.has("platform.report", "r1"), true);
    assert.equal(harness.progress.has("platform.report", "r2"), false);
    assert.equal(harness.progress.has("platform.runtimeDone", "r2"), false);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: excluded runtimeDone and report are still noted in progress", async () => {
  // The lifecycle waits for them (flush=end until the function's deadline):
  // filtered out of the stream, they must still end those waits.
  const harness = startListener({
    excludeTypes: new Set(["platform.runtimeDone", "platform.report"]),
  });
  try {
    const response = await harness.post(JSON.stringify([
      event("platform.runtimeDone", { requestId: "r1", status: "success" }),
      event("platform.report", { requestId: "r1", status: "success" }),
    ]));
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(harness.stats.filtered, 2);
    assert.equal(harness.buffer.length, 0);
    assert.equal(harness.progress.has("platform.runtimeDone", "r1"), true);
    assert.equal(harness.progress.has("platform.report", "r1"), true);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: a refused delivery notes no progress and registers nothing", async () => {
  const harness = startListener({ bufferBytes: 10 });
  try {
    // An empty buffer takes any delivery; the next one finds it full.
    const first = await harness.post(JSON.stringify([event("function", "a")]));
    assert.equal(first.status, 200);
    await first.body?.cancel();
    const response = await harness.post(JSON.stringify([
      event("platform.report", { requestId: "r1" }),
    ]));
    assert.equal(response.status, 503);
    await response.body?.cancel();
    assert.equal(harness.progress.has("platform.report", "r1"), false);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: truncated events are counted", async () => {
  const harness = startListener({
    encode: createEnvelopeEncoder({
      context: CONTEXT,
      partitionKey: "environment",
      maxEnvelopeBytes: 400,
    }),
  });
  try {
    const response = await harness.post(JSON.stringify([
      event("function", "x".repeat(1000)),
      event("function", "short"),
    ]));
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(harness.stats.truncated, 1);
    const [long, short] = harness.envelopes();
    assert.ok(
      (long.truncated as { originalBytes: number }).originalBytes > 1000,
    );
    assert.equal(short.truncated, undefined);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: an unexpected failure answers 500 and buffers nothing", async () => {
  const failing: EventEncoder = () => {
    throw new Error("encoder bug");
  };
  const harness = startListener({ encode: failing });
  try {
    const response = await harness.post(
      JSON.stringify([event("function", "x")]),
    );
    assert.equal(response.status, 500);
    await response.body?.cancel();
    assert.equal(harness.buffer.length, 0);
    assert.equal(harness.stats.received, 0);
    assert.equal(harness.log.withMsg("telemetry listener failed").length, 1);
  } finally {
    await harness.close();
  }
});

Deno.test("listener: without an injected clock events get the wall-clock arrival time", async () => {
  const harness = startListener({ now: undefined });
  try {
    const before = Date.now();
    const response = await harness.post(
      JSON.stringify([event("function", "x")]),
    );
    await response.body?.cancel();
    const [buffered] = harness.buffer.takeAll();
    assert.ok(
      buffered.receivedAt >= before && buffered.receivedAt <= Date.now(),
    );
  } finally {
    await harness.close();
  }
});
