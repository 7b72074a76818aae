/** The managed sandbox's one-batch-in-flight rule, in front of a listener on loopback. */
import assert from "node:assert/strict";
import {
  BUSY_LISTENER_DROP,
  BusyListenerGate,
} from "../../../scripts/sandbox/managed_delivery_gate.ts";

function batch(time: Date): string {
  return JSON.stringify([{ time: time.toISOString(), type: "function" }]);
}

Deno.test("managed delivery gate: a batch whose timeout passed while the previous POST was unanswered is refused; a later one goes", async () => {
  let answerAfterMs = 0;
  let posts = 0;
  await using listener = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      await request.arrayBuffer();
      posts++;
      await new Promise((resolve) => setTimeout(resolve, answerAfterMs));
      return new Response(null, { status: 200 });
    },
  );
  const url = `http://127.0.0.1:${listener.addr.port}`;
  const gate = new BusyListenerGate();
  gate.subscribed(`http://sandbox.localdomain:${listener.addr.port}`, 25);
  const post = gate.wrap(fetch);
  const send = async (body: string) => {
    const response = await post(url, { method: "POST", body });
    await response.arrayBuffer();
  };

  // The first batch goes; its answer takes 200 ms.
  answerAfterMs = 200;
  const queuedDuringFirst = new Date();
  await send(batch(new Date()));
  // Its oldest event was due 25 ms after it was queued, long before the
  // first answer: on AWS it would have been dropped.
  answerAfterMs = 0;
  await assert.rejects(send(batch(queuedDuringFirst)), {
    message: BUSY_LISTENER_DROP,
  });
  assert.equal(gate.dropped, 1);
  assert.equal(posts, 1, "the refused batch was never sent");
  // An event queued after the answer goes.
  await new Promise((resolve) => setTimeout(resolve, 5));
  await send(batch(new Date()));
  assert.equal(posts, 2);
  assert.equal(gate.dropped, 1);
});

Deno.test("managed delivery gate: a listener it was not told about is not gated", async () => {
  await using listener = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      await request.arrayBuffer();
      return new Response(null, { status: 200 });
    },
  );
  const gate = new BusyListenerGate();
  const post = gate.wrap(fetch);
  const url = `http://127.0.0.1:${listener.addr.port}`;
  const old = new Date(Date.now() - 60_000);
  for (let index = 0; index < 2; index++) {
    const response = await post(url, { method: "POST", body: batch(old) });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  }
  assert.equal(gate.dropped, 0);
});
