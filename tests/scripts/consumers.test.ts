import assert from "node:assert/strict";
import {
  DEFAULT_COMPRESSIONS,
  formatRun,
  parseConsumersArgs,
  runPassed,
  runProblems,
  type RunReport,
} from "../../scripts/consumers.ts";
import type { DumpShard } from "../../scripts/consumers/dump.ts";
import { judgeConsumer, type Verdict } from "../../scripts/consumers/judge.ts";
import type { ScenarioResult } from "../../scripts/consumers/scenario.ts";
import { midpoint, scenarioPayload } from "../../scripts/consumers/scenario.ts";

Deno.test("parseConsumersArgs: defaults, lists, bad values", () => {
  assert.deepEqual(parseConsumersArgs([]), {
    formats: ["kpl", "ndjson", "json"],
    compressions: [...DEFAULT_COMPRESSIONS],
    invocations: 30,
    keep: undefined,
  });
  assert.deepEqual(
    parseConsumersArgs([
      "--format=kpl, json,kpl",
      "--compression=gzip,none",
      "--invocations=8",
      "--keep=/tmp/x",
    ]),
    {
      formats: ["kpl", "json"],
      compressions: ["gzip", "none"],
      invocations: 8,
      keep: "/tmp/x",
    },
  );
  assert.throws(() => parseConsumersArgs(["--format=csv"]), /--format takes/);
  assert.throws(
    () => parseConsumersArgs(["--compression="]),
    /--compression takes/,
  );
  assert.throws(() => parseConsumersArgs(["--invocations=3"]), /4\.\.500/);
  assert.throws(() => parseConsumersArgs(["--help"]), /usage/);
});

Deno.test("midpoint: splits a shard's range in two non-empty halves", () => {
  const end = (2n ** 128n - 1n).toString();
  assert.equal(midpoint("0", end), (2n ** 127n).toString());
  assert.equal(midpoint("10", "13"), "12");
});

Deno.test("scenarioPayload: json and text logs, bulk lines, one failure second to last", () => {
  const payloads = Array.from({ length: 6 }, (_, i) => scenarioPayload(i, 6));
  assert.deepEqual(payloads[0], { style: "json" });
  assert.deepEqual(payloads[2], {
    style: "json",
    logLines: 12,
    lineBytes: 300,
  });
  assert.deepEqual(payloads[4], { style: "json", fail: true });
  assert.equal(
    payloads.filter((p) => (p as { fail?: boolean }).fail).length,
    1,
  );
});

function shard(id: string, records: number, parents: string[] = []): DumpShard {
  return {
    id,
    startingHashKey: "0",
    endingHashKey: "1",
    parents,
    closed: false,
    records: Array.from({ length: records }, (_, i) => ({
      sequenceNumber: String(i),
      partitionKey: "k",
      arrivedAtMs: 0,
      data: new Uint8Array(1),
    })),
  };
}

function scenario(
  parentRecords: number,
  childRecords: number,
  exit = 0,
): ScenarioResult {
  return {
    shards: [
      shard("p", parentRecords),
      shard("c1", childRecords, ["p"]),
      shard("c2", 0, ["p"]),
    ],
    expected: [{ time: "t", type: "function", recordJson: '"x"' }],
    split: { parent: "p", children: ["c1", "c2"] },
    droppedBeforeListener: 0,
    extensionExitCode: exit,
  };
}

Deno.test("runProblems: the split must have data on both sides, the listener take everything, the extension exit cleanly", () => {
  assert.deepEqual(runProblems(scenario(2, 1)), []);
  assert.deepEqual(runProblems(scenario(0, 1)), [
    "the split shard p holds no record",
  ]);
  assert.deepEqual(runProblems(scenario(2, 0)), [
    "no record was written to a child shard after the split",
  ]);
  assert.deepEqual(runProblems(scenario(2, 1, 1)), [
    "the extension exited with 1",
  ]);
  assert.deepEqual(
    runProblems({ ...scenario(2, 1), droppedBeforeListener: 3 }),
    ["the platform dropped 3 event(s) the listener did not take"],
  );
  assert.deepEqual(
    runProblems({ ...scenario(2, 1), split: { parent: "", children: [] } }),
    ["no shard was split"],
  );
});

/** A consumer that read the one expected event once. */
const PASSING: Verdict = judgeConsumer(
  {
    records: [{
      shardId: "p",
      sequenceNumber: "1",
      subSequenceNumber: null,
      partitionKey: "k",
      explicitHashKey: null,
      data: new TextEncoder().encode(
        '{"time":"t","type":"function","record":"x"}',
      ),
    }],
    shards: [{ shardId: "p", records: 1, taken: 1, discarded: 0 }],
  },
  [{ time: "t", type: "function", recordJson: '"x"' }],
  "none",
);

Deno.test("runPassed and formatRun: one failing consumer fails the run and is named", () => {
  const report: RunReport = {
    format: "kpl",
    compression: "gzip",
    scenario: scenario(2, 1),
    verdicts: [
      {
        consumer: "kcl",
        verdict: {
          ...PASSING,
          exactlyOnce: 0,
          missing: 1,
          discarded: 1,
          problems: ["1 event(s) never came out"],
        },
      },
      { consumer: "python", verdict: PASSING },
      { consumer: "npm", verdict: PASSING },
    ],
    runProblems: [],
  };
  assert.equal(runPassed(report), false);
  assert.equal(
    runPassed({ ...report, verdicts: report.verdicts.slice(1) }),
    true,
  );
  assert.equal(
    runPassed({
      ...report,
      verdicts: report.verdicts.slice(1),
      runProblems: ["no shard was split"],
    }),
    false,
  );
  const lines = formatRun(report);
  assert.match(
    lines[0],
    /^kpl, compression gzip: 1 events acknowledged, 3 records over 3 shards \(p split into c1 \+ c2\)/,
  );
  assert.equal(lines[1], "  records per shard: p 2, c1 1, c2 0");
  assert.match(
    lines[2],
    /^ {2}FAIL KCL AggregatorUtil .* exactly once 0\/1, missing 1, .*compressed 0; user records 1 taken, 1 discarded$/,
  );
  assert.equal(lines[3].trim(), "1 event(s) never came out");
  assert.match(lines[4], /^ {2}ok {3}aws_kinesis_agg \(PyPI\)/);
});
