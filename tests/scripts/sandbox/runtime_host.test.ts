import assert from "node:assert/strict";
import { RuntimeHost } from "../../../scripts/sandbox/runtime_host.ts";

const utf8 = new TextEncoder();

function request(requestId: string) {
  return {
    requestId,
    payload: '{"a":1}',
    deadlineMs: Date.now() + 1_000,
    invokedFunctionArn: "arn:aws:lambda:us-east-1:1:function:f",
    traceId: "Root=1-0-0",
  };
}

Deno.test("an invocation is handed to /next with Lambda's headers and settled by /response", async () => {
  const host = new RuntimeHost(() => {});
  const next = host.next();
  const handedOut = host.handOut(request("r-1"));
  const answer = await next;
  assert.equal(answer.status, 200);
  assert.equal(answer.text, '{"a":1}');
  assert.equal(answer.headers?.["Lambda-Runtime-Aws-Request-Id"], "r-1");
  assert.equal(answer.headers?.["Lambda-Runtime-Trace-Id"], "Root=1-0-0");
  assert.ok(
    Number(answer.headers?.["Lambda-Runtime-Deadline-Ms"]) > Date.now(),
  );
  const arrivedAt = performance.now();
  assert.equal(
    host.respond("r-1", utf8.encode('"done ✓"'), arrivedAt).status,
    202,
  );
  const outcome = await handedOut.outcome;
  assert.equal(outcome.status, "success");
  assert.equal(outcome.body, '"done ✓"');
  assert.equal(outcome.timings.producedBytes, 10);
  assert.equal(host.respond("r-1", utf8.encode("{}"), arrivedAt).status, 400);
  host.close();
});

Deno.test("an error takes its type from the header, else from the document", async () => {
  const host = new RuntimeHost(() => {});
  const first = host.handOut(request("r-1"));
  host.fail("r-1", "Runtime.Crash", utf8.encode("{}"), performance.now());
  assert.equal((await first.outcome).errorType, "Runtime.Crash");
  const second = host.handOut(request("r-2"));
  host.fail(
    "r-2",
    null,
    utf8.encode('{"errorType":"TypeError"}'),
    performance.now(),
  );
  const outcome = await second.outcome;
  assert.equal(outcome.status, "error");
  assert.equal(outcome.errorType, "TypeError");
  host.close();
});

Deno.test("answers for an unknown or finished invocation are refused", () => {
  const host = new RuntimeHost(() => {});
  assert.equal(host.respond("nope", new Uint8Array(), 0).status, 400);
  host.handOut(request("r-1"));
  host.finish();
  assert.equal(host.respond("r-1", new Uint8Array(), 0).status, 400);
  host.close();
});

Deno.test("an init error is passed on with its type and body", () => {
  const messages: string[] = [];
  const host = new RuntimeHost((message) => messages.push(message));
  assert.equal(
    host.initError("Runtime.ImportModuleError", utf8.encode("no module"))
      .status,
    202,
  );
  assert.deepEqual(messages, [
    "the runtime reported an init error Runtime.ImportModuleError: no module",
  ]);
  host.close();
});
