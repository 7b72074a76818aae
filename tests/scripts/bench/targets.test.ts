import assert from "node:assert/strict";
import {
  checkTargets,
  HOLD_SLACK_MS,
  type TargetInputs,
} from "../../../scripts/bench/targets.ts";

const meeting: TargetInputs = {
  initMs: { source: 36, floor: 30 },
  initRssMB: { source: 48 },
  steady: { median: 2, p99: 20 },
  sparse: { gapMs: 300, p99: 50, latencyMaxMs: 600 },
  slowMaxMs: 200 + HOLD_SLACK_MS,
  hangMaxMs: 201,
  holdMs: 200,
  extensionEventsPerSecond: 50_000,
  kinesaliteEventsPerSecond: 50_000,
  burstPeakMB: 80,
  burstInitMB: 48,
  bufferCapMB: 8,
  marginMB: 24,
  kplSavings: { bulk: 20 },
};

function verdicts(inputs: TargetInputs): Record<string, boolean | null> {
  return Object.fromEntries(
    checkTargets(inputs).map((check) => [check.name, check.pass]),
  );
}

Deno.test("figures exactly at every target pass", () => {
  const result = verdicts(meeting);
  assert.equal(Object.keys(result).length, 12);
  for (const [name, pass] of Object.entries(result)) {
    assert.equal(pass, true, name);
  }
});

Deno.test("each figure just past its target misses, and only that one", () => {
  const cases: [Partial<TargetInputs>, string][] = [
    [{ initMs: { source: 36.1, floor: 30 } }, "init, from source"],
    [{ initRssMB: { source: 48.1 } }, "RSS after init, from source"],
    [{ steady: { median: 2.1, p99: 5 } }, "post-runtime, steady, median"],
    [{ steady: { median: 1, p99: 20.1 } }, "post-runtime, steady, p99"],
    [
      { sparse: { gapMs: 300, p99: 50.1, latencyMaxMs: 600 } },
      "post-runtime, 300 ms apart, p99 after the first",
    ],
    [
      { sparse: { gapMs: 300, p99: 10, latencyMaxMs: 601 } },
      "delivery, 300 ms apart, latest",
    ],
    [{ slowMaxMs: 226 }, "post-runtime, Kinesis slow, max"],
    [{ hangMaxMs: 226 }, "post-runtime, Kinesis hanging, max"],
    [{ extensionEventsPerSecond: 49_999 }, "throughput kpl, extension alone"],
    [{ kinesaliteEventsPerSecond: 1 }, "throughput kpl, with kinesalite"],
    [{ burstPeakMB: 80.1 }, "peak RSS in the burst"],
    [{ kplSavings: { bulk: 19.9 } }, "kpl vs json PUT payload units, bulk"],
  ];
  for (const [change, name] of cases) {
    const result = verdicts({ ...meeting, ...change });
    const missed = Object.entries(result).filter(([, pass]) => !pass)
      .map(([missedName]) => missedName);
    assert.deepEqual(missed, [name]);
  }
});

Deno.test("the portable layer is judged only when it was measured", () => {
  assert.ok(!("init, portable layer" in verdicts(meeting)));
  const result = verdicts({
    ...meeting,
    initMs: { source: 30, floor: 30, portable: 40 },
    initRssMB: { source: 40, portable: 47 },
  });
  assert.equal(result["init, portable layer"], false);
  assert.equal(result["RSS after init, portable layer"], true);
});

Deno.test("measured text states the ratio against the floor", () => {
  const init = checkTargets(meeting).find((c) =>
    c.name === "init, from source"
  );
  assert.match(init!.measured, /36\.0 ms vs floor 30\.0 ms = 1\.20 ×/);
});

Deno.test("a figure that was not measured is shown but judged neither way", () => {
  const checks = checkTargets({
    ...meeting,
    steady: undefined,
    burstInitMB: undefined,
  });
  const open = checks.filter((check) => check.pass === null);
  assert.deepEqual(open.map((check) => check.name), [
    "post-runtime, steady, median",
    "post-runtime, steady, p99",
    "peak RSS in the burst",
  ]);
  for (const check of open) assert.equal(check.measured, "not measured");
});
