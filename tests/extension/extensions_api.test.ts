import assert from "node:assert/strict";
import {
  ExtensionsApiClient,
  ExtensionsApiError,
  REGISTERED_EVENTS,
} from "../../extension/extensions_api.ts";
import { serveLoopback } from "./_core_fixtures.ts";

const BASE = "/2020-01-01/extension";

function registered(extra: Record<string, unknown> = {}) {
  return Response.json(
    { functionName: "fn", functionVersion: "7", handler: "h", ...extra },
    { headers: { "Lambda-Extension-Identifier": "id-42" } },
  );
}

Deno.test("extensions api: register sends name, accountId feature and events; keeps the identifier", async () => {
  const server = serveLoopback(() => registered({ accountId: "123456789012" }));
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: server.host,
      extensionName: "kinesis-telemetry",
    });
    assert.equal(client.identifier, "");
    const registration = await client.register();
    assert.deepEqual(registration, {
      identifier: "id-42",
      functionName: "fn",
      functionVersion: "7",
      accountId: "123456789012",
    });
    assert.equal(client.identifier, "id-42");
    const [call] = server.requests;
    assert.equal(call.method, "POST");
    assert.equal(call.path, `${BASE}/register`);
    assert.equal(
      call.headers.get("Lambda-Extension-Name"),
      "kinesis-telemetry",
    );
    assert.equal(
      call.headers.get("Lambda-Extension-Accept-Feature"),
      "accountId",
    );
    assert.deepEqual(JSON.parse(call.body), { events: ["INVOKE", "SHUTDOWN"] });
  } finally {
    await server.close();
  }
});

Deno.test("extensions api: register without accountId or with a non-JSON body uses defaults", async () => {
  let body: BodyInit = "";
  const server = serveLoopback(() =>
    new Response(body, {
      headers: { "Lambda-Extension-Identifier": "id" },
    })
  );
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: server.host,
      extensionName: "x",
    });
    body = "not json";
    assert.deepEqual(await client.register(), {
      identifier: "id",
      functionName: "",
      functionVersion: "",
      accountId: null,
    });
    body = JSON.stringify(["an", "array"]);
    assert.equal((await client.register()).functionName, "");
    body = JSON.stringify({ functionName: 5, accountId: 1 });
    const registration = await client.register();
    assert.equal(registration.functionName, "");
    assert.equal(registration.accountId, null);
  } finally {
    await server.close();
  }
});

Deno.test("extensions api: register failures throw with the status", async () => {
  let answer = new Response("nope", { status: 403 });
  const server = serveLoopback(() => answer);
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: server.host,
      extensionName: "x",
    });
    await assert.rejects(client.register(), (error: unknown) => {
      assert.ok(error instanceof ExtensionsApiError);
      assert.equal(error.status, 403);
      assert.match(error.message, /register answered 403: nope/);
      return true;
    });
    answer = Response.json({});
    await assert.rejects(
      client.register(),
      /without a Lambda-Extension-Identifier header/,
    );
    assert.equal(client.identifier, "");
  } finally {
    await server.close();
  }
});

Deno.test("extensions api: next parses INVOKE and SHUTDOWN and sends the identifier", async () => {
  const events: unknown[] = [
    {
      eventType: "INVOKE",
      deadlineMs: 1234,
      requestId: "req-1",
      invokedFunctionArn: "arn",
      tracing: { type: "X-Amzn-Trace-Id", value: "Root=1" },
    },
    { eventType: "SHUTDOWN", shutdownReason: "SPINDOWN", deadlineMs: 99 },
    { eventType: "INVOKE" },
  ];
  const server = serveLoopback((request) =>
    request.path.endsWith("/register") ? registered() : Response.json(
      events.shift(),
    )
  );
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: server.host,
      extensionName: "x",
    });
    await client.register();
    assert.deepEqual(await client.next(), {
      eventType: "INVOKE",
      deadlineMs: 1234,
      requestId: "req-1",
    });
    assert.deepEqual(await client.next(), {
      eventType: "SHUTDOWN",
      deadlineMs: 99,
      shutdownReason: "SPINDOWN",
    });
    // Fields missing from an event get safe values, not NaN or undefined.
    assert.deepEqual(await client.next(), {
      eventType: "INVOKE",
      deadlineMs: Number.POSITIVE_INFINITY,
      requestId: "",
    });
    const nextCalls = server.requests.filter((r) => r.path.endsWith("/next"));
    assert.equal(nextCalls.length, 3);
    for (const call of nextCalls) {
      assert.equal(call.method, "GET");
      assert.equal(call.path, `${BASE}/event/next`);
      assert.equal(call.headers.get("Lambda-Extension-Identifier"), "id-42");
    }
  } finally {
    await server.close();
  }
});

Deno.test("extensions api: a SHUTDOWN without deadline gets one 2 s ahead", async () => {
  const server = serveLoopback(() => Response.json({ eventType: "SHUTDOWN" }));
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: server.host,
      extensionName: "x",
    });
    const before = Date.now();
    const event = await client.next();
    assert.equal(event.eventType, "SHUTDOWN");
    assert.ok(event.deadlineMs >= before + 2000);
    assert.ok(event.deadlineMs <= Date.now() + 2000);
    assert.equal(
      (event as { shutdownReason: string }).shutdownReason,
      "UNKNOWN",
    );
  } finally {
    await server.close();
  }
});

Deno.test("extensions api: next rejects error statuses and unknown events", async () => {
  const answers = [
    new Response("broken", { status: 500 }),
    Response.json({ eventType: "RESTORE" }),
  ];
  const server = serveLoopback(() => answers.shift()!);
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: server.host,
      extensionName: "x",
    });
    await assert.rejects(client.next(), (error: unknown) => {
      assert.ok(error instanceof ExtensionsApiError);
      assert.equal(error.status, 500);
      assert.match(error.message, /event\/next answered 500: broken/);
      return true;
    });
    await assert.rejects(client.next(), /unknown event.*RESTORE/);
  } finally {
    await server.close();
  }
});

Deno.test("extensions api: next can be aborted while it waits", async () => {
  let release: () => void = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  const server = serveLoopback(async () => {
    await released;
    return Response.json({ eventType: "SHUTDOWN", deadlineMs: 1 });
  });
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: server.host,
      extensionName: "x",
    });
    const controller = new AbortController();
    const waiting = client.next(controller.signal);
    while (server.requests.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    controller.abort();
    await assert.rejects(waiting, (error: unknown) => {
      assert.equal((error as Error).name, "AbortError");
      return true;
    });
  } finally {
    release();
    await server.close();
  }
});

Deno.test("extensions api: init/error before registration names the extension", async () => {
  const server = serveLoopback(() => new Response(null, { status: 202 }));
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: server.host,
      extensionName: "kt",
    });
    await client.initError("Extension.ConfigInvalid", "X: bad");
    const [call] = server.requests;
    assert.equal(call.method, "POST");
    assert.equal(call.path, `${BASE}/init/error`);
    assert.equal(
      call.headers.get("Lambda-Extension-Function-Error-Type"),
      "Extension.ConfigInvalid",
    );
    assert.equal(call.headers.get("Lambda-Extension-Name"), "kt");
    assert.equal(call.headers.get("Lambda-Extension-Identifier"), null);
    assert.deepEqual(JSON.parse(call.body), {
      errorMessage: "X: bad",
      errorType: "Extension.ConfigInvalid",
      stackTrace: [],
    });
  } finally {
    await server.close();
  }
});

Deno.test("extensions api: exit/error after registration carries the identifier; failures throw", async () => {
  let status = 202;
  const server = serveLoopback((request) =>
    request.path.endsWith("/register")
      ? registered()
      : new Response("x", { status })
  );
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: server.host,
      extensionName: "kt",
    });
    await client.register();
    await client.exitError("Extension.Crash", "boom");
    const call = server.requests.at(-1)!;
    assert.equal(call.path, `${BASE}/exit/error`);
    assert.equal(call.headers.get("Lambda-Extension-Identifier"), "id-42");
    assert.equal(call.headers.get("Lambda-Extension-Name"), null);
    status = 400;
    await assert.rejects(
      client.exitError("Extension.Crash", "boom"),
      (error: unknown) =>
        error instanceof ExtensionsApiError && error.status === 400 &&
        /exit\/error answered 400/.test(error.message),
    );
  } finally {
    await server.close();
  }
});

Deno.test("extensions api: an injected fetch is used instead of the global one", async () => {
  const urls: string[] = [];
  const client = new ExtensionsApiClient({
    runtimeApi: "runtime.invalid:9001",
    extensionName: "kt",
    fetch: (input) => {
      urls.push(String(input));
      return Promise.resolve(
        Response.json({ eventType: "SHUTDOWN", deadlineMs: 5 }),
      );
    },
  });
  assert.equal((await client.next()).deadlineMs, 5);
  assert.deepEqual(urls, [
    "http://runtime.invalid:9001/2020-01-01/extension/event/next",
  ]);
});

Deno.test("extensions api: on Lambda Managed Instances it registers for SHUTDOWN only", async () => {
  const server = serveLoopback(() => registered());
  try {
    const client = new ExtensionsApiClient({
      runtimeApi: server.host,
      extensionName: "kinesis-telemetry",
    });
    await client.register(REGISTERED_EVENTS["managed-instances"]);
    assert.deepEqual(JSON.parse(server.requests[0].body), {
      events: ["SHUTDOWN"],
    });
  } finally {
    await server.close();
  }
});
