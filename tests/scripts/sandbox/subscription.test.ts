import assert from "node:assert/strict";
import { parseSubscription } from "../../../scripts/sandbox/subscription.ts";

const VALID = {
  schemaVersion: "2022-12-13",
  types: ["platform", "function"],
  buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 100 },
  destination: {
    protocol: "HTTP",
    URI: "http://sandbox.localdomain:4243/events",
  },
};

function errorOf(body: unknown): string {
  const result = parseSubscription(body);
  assert.equal(result.ok, false);
  return result.ok ? "" : result.errorMessage;
}

Deno.test("a valid subscription maps the sandbox host to loopback", () => {
  const result = parseSubscription(VALID);
  assert.ok(result.ok);
  assert.deepEqual(result.subscription, {
    schemaVersion: "2022-12-13",
    types: ["platform", "function"],
    buffering: { maxItems: 1000, maxBytes: 262144, timeoutMs: 100 },
    destinationUri: "http://sandbox.localdomain:4243/events",
    deliveryUrl: "http://127.0.0.1:4243/events",
  });
  const short = parseSubscription({
    ...VALID,
    destination: { protocol: "HTTP", URI: "http://sandbox:9000" },
  });
  assert.ok(
    short.ok && short.subscription.deliveryUrl === "http://127.0.0.1:9000/",
  );
});

Deno.test("missing buffering values take Lambda's defaults", () => {
  const result = parseSubscription({ ...VALID, buffering: { timeoutMs: 25 } });
  assert.ok(result.ok);
  assert.deepEqual(result.subscription.buffering, {
    maxItems: 1000,
    maxBytes: 262144,
    timeoutMs: 25,
  });
});

Deno.test("every schema version Lambda knows is accepted", () => {
  for (const schemaVersion of ["2022-07-01", "2022-12-13", "2025-01-29"]) {
    assert.ok(parseSubscription({ ...VALID, schemaVersion }).ok, schemaVersion);
  }
});

Deno.test("bad requests are refused with a message naming the field", () => {
  assert.match(errorOf(null), /JSON object/);
  assert.match(
    errorOf({ ...VALID, schemaVersion: "2021-01-01" }),
    /schemaVersion/,
  );
  assert.match(errorOf({ ...VALID, types: [] }), /types/);
  assert.match(errorOf({ ...VALID, types: ["platform", "metrics"] }), /types/);
  for (
    const [key, value] of [
      ["maxItems", 999],
      ["maxItems", 10_001],
      ["maxBytes", 262_143],
      ["maxBytes", 1_048_577],
      ["timeoutMs", 24],
      ["timeoutMs", 30_001],
      ["timeoutMs", 100.5],
    ] as const
  ) {
    assert.match(
      errorOf({ ...VALID, buffering: { ...VALID.buffering, [key]: value } }),
      new RegExp(`buffering\\.${key}`),
    );
  }
  assert.match(errorOf({ ...VALID, destination: undefined }), /destination/);
  assert.match(
    errorOf({ ...VALID, destination: { protocol: "TCP", URI: "sandbox:1" } }),
    /TCP/,
  );
  assert.match(
    errorOf({ ...VALID, destination: { protocol: "UDP", URI: "x" } }),
    /protocol/,
  );
  assert.match(
    errorOf({ ...VALID, destination: { protocol: "HTTP", URI: "not a url" } }),
    /not a URL/,
  );
  assert.match(
    errorOf({
      ...VALID,
      destination: { protocol: "HTTP", URI: "http://127.0.0.1:4243" },
    }),
    /sandbox\.localdomain/,
  );
  assert.match(
    errorOf({
      ...VALID,
      destination: {
        protocol: "HTTP",
        URI: "https://sandbox.localdomain:4243",
      },
    }),
    /sandbox\.localdomain/,
  );
  assert.match(
    errorOf({
      ...VALID,
      destination: { protocol: "HTTP", URI: "http://sandbox.localdomain:9001" },
    }),
    /reserved/,
  );
});
