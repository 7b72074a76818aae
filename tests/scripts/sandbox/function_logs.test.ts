import assert from "node:assert/strict";
import { functionLogRecord } from "../../../scripts/sandbox/function_logs.ts";

const time = new Date("2026-11-26T10:00:00.123Z");

Deno.test("text format: the line itself", () => {
  assert.equal(
    functionLogRecord('{"a":1}', "Text", {
      time,
      requestId: "r-1",
      stream: "stdout",
    }),
    '{"a":1}',
  );
});

Deno.test("JSON format: a JSON object line is passed as the object", () => {
  const line = JSON.stringify({
    timestamp: "t",
    level: "INFO",
    requestId: "r-1",
    message: { nested: "✓" },
  });
  assert.deepEqual(
    functionLogRecord(line, "JSON", {
      time,
      requestId: "r-2",
      stream: "stdout",
    }),
    JSON.parse(line),
  );
});

Deno.test("JSON format: text lines are wrapped with time, level and request id", () => {
  assert.deepEqual(
    functionLogRecord("plain héllo", "JSON", {
      time,
      requestId: "r-1",
      stream: "stdout",
    }),
    {
      timestamp: "2026-11-26T10:00:00.123Z",
      level: "INFO",
      requestId: "r-1",
      message: "plain héllo",
    },
  );
  assert.deepEqual(
    functionLogRecord("[1,2]", "JSON", {
      time,
      requestId: null,
      stream: "stderr",
    }),
    { timestamp: "2026-11-26T10:00:00.123Z", level: "ERROR", message: "[1,2]" },
  );
  assert.equal(
    (functionLogRecord("{broken", "JSON", {
      time,
      requestId: null,
      stream: "stdout",
    }) as { message: string }).message,
    "{broken",
  );
});
