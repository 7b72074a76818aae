import assert from "node:assert/strict";
import { splitLatencies } from "../../../scripts/bench/steady.ts";

Deno.test("steady: the last invocation's events, stored at SHUTDOWN, are kept apart from the next-invocation latency", () => {
  const split = splitLatencies([
    { eventAt: 1_000, arrivedAt: 1_400 },
    // The previous invocation's report comes just before the last INVOKE.
    { eventAt: 1_990, arrivedAt: 2_300 },
    { eventAt: 2_000, arrivedAt: 2_650 },
    { eventAt: 2_010, arrivedAt: 2_650 },
  ], 2_000);
  assert.deepEqual(split.latencyMs, [400, 310]);
  assert.deepEqual(split.lastInvocationLatencyMs, [650, 640]);
});
