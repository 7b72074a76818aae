import assert from "node:assert/strict";
import {
  type ApiResult,
  createApiHandler,
  type LambdaPlatform,
  MAX_RESPONSE_BYTES,
} from "../../../scripts/sandbox/api_server.ts";

/** Records each call and answers 202 (a fake at the edge of the router). */
function recordingPlatform() {
  const calls: unknown[][] = [];
  const answer = (...call: unknown[]): ApiResult => {
    calls.push(call);
    return { status: 202, json: { status: "OK" } };
  };
  const platform: LambdaPlatform = {
    nextInvocation: () => {
      calls.push(["nextInvocation"]);
      return Promise.resolve({
        status: 200,
        text: '{"payload":1}',
        headers: { "Lambda-Runtime-Aws-Request-Id": "r-1" },
      });
    },
    invocationResponse: (id, body) =>
      answer("response", id, new TextDecoder().decode(body)),
    invocationError: (id, type, body) =>
      answer("error", id, type, new TextDecoder().decode(body)),
    runtimeInitError: (type) => answer("runtimeInitError", type),
    registerExtension: (name, features, body) =>
      answer("register", name, features, body),
    nextExtensionEvent: (id) => {
      calls.push(["nextEvent", id]);
      return Promise.resolve({ status: 200, json: { eventType: "INVOKE" } });
    },
    extensionError: (id, kind, type) =>
      answer("extensionError", id, kind, type),
    subscribeTelemetry: (id, body) => answer("subscribe", id, body),
  };
  return { platform, calls, handle: createApiHandler(platform) };
}

const BASE = "http://127.0.0.1";

Deno.test("each Lambda API path reaches its platform call with headers parsed", async () => {
  const { calls, handle } = recordingPlatform();
  const next = await handle(
    new Request(`${BASE}/2018-06-01/runtime/invocation/next`),
  );
  assert.equal(next.status, 200);
  assert.equal(next.headers.get("Lambda-Runtime-Aws-Request-Id"), "r-1");
  assert.equal(await next.text(), '{"payload":1}');
  await (await handle(
    new Request(`${BASE}/2018-06-01/runtime/invocation/r%2D1/response`, {
      method: "POST",
      body: '"ok ✓"',
    }),
  )).body?.cancel();
  await (await handle(
    new Request(`${BASE}/2018-06-01/runtime/invocation/r-1/error`, {
      method: "POST",
      headers: { "Lambda-Runtime-Function-Error-Type": "Error" },
      body: "{}",
    }),
  )).body?.cancel();
  await (await handle(
    new Request(`${BASE}/2018-06-01/runtime/init/error`, {
      method: "POST",
      headers: { "Lambda-Runtime-Function-Error-Type": "Runtime.X" },
    }),
  )).body?.cancel();
  await (await handle(
    new Request(`${BASE}/2020-01-01/extension/register`, {
      method: "POST",
      headers: {
        "Lambda-Extension-Name": "ext",
        "Lambda-Extension-Accept-Feature": "accountId, other",
      },
      body: '{"events":["INVOKE"]}',
    }),
  )).body?.cancel();
  const event = await handle(
    new Request(`${BASE}/2020-01-01/extension/event/next`, {
      headers: { "Lambda-Extension-Identifier": "id-1" },
    }),
  );
  assert.deepEqual(await event.json(), { eventType: "INVOKE" });
  await (await handle(
    new Request(`${BASE}/2020-01-01/extension/exit/error`, {
      method: "POST",
      headers: {
        "Lambda-Extension-Identifier": "id-1",
        "Lambda-Extension-Function-Error-Type": "Extension.Crash",
      },
    }),
  )).body?.cancel();
  await (await handle(
    new Request(`${BASE}/2022-07-01/telemetry`, {
      method: "PUT",
      headers: { "Lambda-Extension-Identifier": "id-1" },
      body: '{"types":["platform"]}',
    }),
  )).body?.cancel();
  assert.deepEqual(calls, [
    ["nextInvocation"],
    ["response", "r-1", '"ok ✓"'],
    ["error", "r-1", "Error", "{}"],
    ["runtimeInitError", "Runtime.X"],
    ["register", "ext", ["accountId", "other"], { events: ["INVOKE"] }],
    ["nextEvent", "id-1"],
    ["extensionError", "id-1", "exit", "Extension.Crash"],
    ["subscribe", "id-1", { types: ["platform"] }],
  ]);
});

Deno.test("unknown paths, wrong methods, bad JSON and oversized responses are refused", async () => {
  const { calls, handle } = recordingPlatform();
  const notFound = await handle(new Request(`${BASE}/nope`));
  assert.equal(notFound.status, 404);
  await notFound.body?.cancel();
  const wrongMethod = await handle(
    new Request(`${BASE}/2022-07-01/telemetry`, { method: "POST", body: "{}" }),
  );
  assert.equal(wrongMethod.status, 405);
  await wrongMethod.body?.cancel();
  const badJson = await handle(
    new Request(`${BASE}/2022-07-01/telemetry`, { method: "PUT", body: "{x" }),
  );
  assert.equal(badJson.status, 400);
  assert.equal((await badJson.json()).errorType, "InvalidRequestFormat");
  const tooBig = await handle(
    new Request(`${BASE}/2018-06-01/runtime/invocation/r-1/response`, {
      method: "POST",
      body: new Uint8Array(MAX_RESPONSE_BYTES + 1),
    }),
  );
  assert.equal(tooBig.status, 413);
  await tooBig.body?.cancel();
  assert.deepEqual(calls, []);
});

Deno.test("a platform that throws becomes a 500 with the message", async () => {
  const { platform } = recordingPlatform();
  const handle = createApiHandler({
    ...platform,
    nextInvocation: () => Promise.reject(new Error("shutting down")),
  });
  const response = await handle(
    new Request(`${BASE}/2018-06-01/runtime/invocation/next`),
  );
  assert.equal(response.status, 500);
  assert.equal((await response.json()).errorMessage, "shutting down");
});
