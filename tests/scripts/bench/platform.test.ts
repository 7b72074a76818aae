import assert from "node:assert/strict";
import { startBenchPlatform } from "../../../scripts/bench/platform.ts";

Deno.test("the bench platform times register, subscribe and next, and hands out events", async () => {
  const platform = startBenchPlatform();
  const base = `http://${platform.runtimeApi}`;
  try {
    const registered = await fetch(`${base}/2020-01-01/extension/register`, {
      method: "POST",
      headers: { "Lambda-Extension-Name": "probe" },
      body: JSON.stringify({ events: ["INVOKE", "SHUTDOWN"] }),
    });
    const id = registered.headers.get("Lambda-Extension-Identifier");
    assert.equal(registered.status, 200);
    assert.equal((await registered.json()).functionName, "bench-function");
    assert.ok(id);
    const subscribed = await fetch(`${base}/2022-07-01/telemetry`, {
      method: "PUT",
      headers: { "Lambda-Extension-Identifier": id },
      body: JSON.stringify({
        destination: {
          protocol: "HTTP",
          URI: "http://sandbox.localdomain:4321",
        },
      }),
    });
    await subscribed.body?.cancel();
    assert.equal(subscribed.status, 200);
    assert.equal(platform.listenerUrl, "http://127.0.0.1:4321/");

    const next = () =>
      fetch(`${base}/2020-01-01/extension/event/next`, {
        headers: { "Lambda-Extension-Identifier": id },
      }).then((response) => response.json());
    const first = next();
    const parkedAt = await platform.whenWaiting();
    platform.invoke("req-1", 12345);
    assert.deepEqual(
      { ...(await first), invokedFunctionArn: undefined, tracing: undefined },
      {
        eventType: "INVOKE",
        requestId: "req-1",
        deadlineMs: 12345,
        invokedFunctionArn: undefined,
        tracing: undefined,
      },
    );
    // An event handed out before the extension asks waits for it.
    platform.shutdown(2000);
    const second = await next();
    assert.equal(second.eventType, "SHUTDOWN");

    const { registeredAt, subscribedAt, firstNextAt } = platform.timeline;
    assert.ok(registeredAt! <= subscribedAt!);
    assert.ok(subscribedAt! <= firstNextAt!);
    assert.ok(firstNextAt! <= parkedAt);
  } finally {
    await platform.close();
  }
});

Deno.test("the bench platform records init and exit errors", async () => {
  const platform = startBenchPlatform();
  try {
    const response = await fetch(
      `http://${platform.runtimeApi}/2020-01-01/extension/init/error`,
      { method: "POST", body: "bad config" },
    );
    await response.body?.cancel();
    assert.equal(response.status, 202);
    assert.deepEqual(platform.errors, ["error: bad config"]);
  } finally {
    await platform.close();
  }
});
