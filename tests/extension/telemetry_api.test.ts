import assert from "node:assert/strict";
import {
  SANDBOX_HOST,
  subscribe,
  subscriptionBody,
  SubscriptionError,
} from "../../extension/telemetry_api.ts";
import { serveLoopback } from "./_core_fixtures.ts";

const REQUEST = {
  types: ["platform", "function"] as const,
  schemaVersion: "2022-12-13" as const,
  buffering: { maxItems: 1000, maxBytes: 262_144, timeoutMs: 100 },
  port: 4243,
};

Deno.test("telemetry api: body has schema, types, all buffering values and the sandbox destination", () => {
  assert.equal(SANDBOX_HOST, "sandbox.localdomain");
  const body = subscriptionBody({
    ...REQUEST,
    types: [...REQUEST.types],
    buffering: { ...REQUEST.buffering, extra: 1 } as typeof REQUEST.buffering,
  });
  assert.deepEqual(body, {
    schemaVersion: "2022-12-13",
    types: ["platform", "function"],
    buffering: { maxItems: 1000, maxBytes: 262_144, timeoutMs: 100 },
    destination: {
      protocol: "HTTP",
      URI: "http://sandbox.localdomain:4243",
    },
  });
});

Deno.test("telemetry api: subscribe PUTs the body with the identifier", async () => {
  const server = serveLoopback(() => new Response("OK"));
  try {
    await subscribe({
      ...REQUEST,
      types: [...REQUEST.types],
      runtimeApi: server.host,
      identifier: "id-7",
      port: 5555,
    });
    const [call] = server.requests;
    assert.equal(call.method, "PUT");
    assert.equal(call.path, "/2022-07-01/telemetry");
    assert.equal(call.headers.get("Lambda-Extension-Identifier"), "id-7");
    assert.equal(call.headers.get("Content-Type"), "application/json");
    assert.equal(
      JSON.parse(call.body).destination.URI,
      "http://sandbox.localdomain:5555",
    );
  } finally {
    await server.close();
  }
});

Deno.test("telemetry api: a local emulator's 202 counts as success", async () => {
  const server = serveLoopback(() => new Response(null, { status: 202 }));
  try {
    await subscribe({
      ...REQUEST,
      types: [...REQUEST.types],
      runtimeApi: server.host,
      identifier: "id",
    });
    assert.equal(server.requests.length, 1);
  } finally {
    await server.close();
  }
});

Deno.test("telemetry api: a 202 that says Telemetry.NotSupported is reported, not taken as telemetry to come", async () => {
  const server = serveLoopback(() =>
    new Response(
      JSON.stringify({
        errorMessage: "Telemetry API is not supported",
        errorType: "Telemetry.NotSupported",
      }),
      { status: 202 },
    )
  );
  try {
    const outcome = await subscribe({
      ...REQUEST,
      types: [...REQUEST.types],
      runtimeApi: server.host,
      identifier: "id",
    });
    assert.equal(outcome.unsupported, "Telemetry.NotSupported");
  } finally {
    await server.close();
  }
});

Deno.test("telemetry api: a refusal throws SubscriptionError with status and text", async () => {
  const server = serveLoopback(() =>
    new Response("Logs API subscription exists", { status: 400 })
  );
  try {
    await assert.rejects(
      subscribe({
        ...REQUEST,
        types: [...REQUEST.types],
        runtimeApi: server.host,
        identifier: "id",
      }),
      (error: unknown) => {
        assert.ok(error instanceof SubscriptionError);
        assert.equal(error.status, 400);
        assert.match(
          error.message,
          /answered 400: Logs API subscription exists/,
        );
        return true;
      },
    );
  } finally {
    await server.close();
  }
});

Deno.test("telemetry api: an injected fetch is used", async () => {
  const seen: string[] = [];
  await subscribe({
    ...REQUEST,
    types: [...REQUEST.types],
    runtimeApi: "api.invalid:1",
    identifier: "id",
    fetch: (input, init) => {
      seen.push(`${init?.method} ${input}`);
      return Promise.resolve(new Response("OK"));
    },
  });
  assert.deepEqual(seen, ["PUT http://api.invalid:1/2022-07-01/telemetry"]);
});
