import assert from "node:assert/strict";
import {
  demoPayloads,
  type DemoResult,
  demoSucceeded,
  parseDemoArgs,
  table,
  unannouncedDuplicates,
} from "../../scripts/demo.ts";
import type { DeliveryCheck } from "../../scripts/sandbox/delivery_check.ts";

Deno.test("parseDemoArgs: defaults and every option", () => {
  assert.deepEqual(parseDemoArgs([]), {
    invocations: 6,
    runtime: "node",
    memoryMB: 128,
    format: "kpl",
    logFormat: "Text",
    stream: undefined,
    extension: undefined,
  });
  assert.deepEqual(
    parseDemoArgs([
      "--invocations=2",
      "--runtime=python",
      "--memory-mb=1024",
      "--format=json",
      "--log-format=JSON",
      "--stream=real",
      "--extension=/tmp/layer/extensions/kinesis-telemetry",
    ]),
    {
      invocations: 2,
      runtime: "python",
      memoryMB: 1024,
      format: "json",
      logFormat: "JSON",
      stream: "real",
      extension: "/tmp/layer/extensions/kinesis-telemetry",
    },
  );
  assert.throws(() => parseDemoArgs(["--invocations", "0"]), /--invocations/);
  assert.throws(() => parseDemoArgs(["--format", "csv"]), /--format/);
  assert.throws(() => parseDemoArgs(["--memory-mb", "64"]), /--memory-mb/);
  assert.throws(() => parseDemoArgs(["--log-format", "xml"]), /--log-format/);
  assert.throws(() => parseDemoArgs(["--help"]), /usage/);
});

Deno.test("demoPayloads: text and JSON alternate, one burst, one failure second to last", () => {
  const payloads = demoPayloads(6);
  assert.deepEqual(payloads.map((payload) => payload.style), [
    "text",
    "json",
    "text",
    "json",
    "text",
    "json",
  ]);
  assert.deepEqual(
    payloads.flatMap((payload, index) => payload.fail ? [index] : []),
    [4],
  );
  assert.equal(payloads[2].logLines, 25);
  assert.deepEqual(demoPayloads(1), [{ style: "text" }]);
  assert.equal(demoPayloads(3)[1].fail, true);
});

Deno.test("table aligns columns", () => {
  assert.equal(
    table(["name", "n"], [["a", "1"], ["long", "100"]], [1]),
    "  name    n\n  a       1\n  long  100",
  );
});

function result(
  check: Partial<DeliveryCheck>,
  summary: Record<string, unknown> | null,
  exit = { exitedByItself: true, exitCode: 0 },
): DemoResult {
  return {
    check: {
      emitted: 1,
      received: 1,
      delivered: 1,
      lost: [],
      droppedBeforeListener: [],
      neverReceived: [],
      duplicates: [],
      unexpected: [],
      truncated: 0,
      environmentIds: [],
      ...check,
    },
    summary,
    shutdown: {
      reason: "SPINDOWN",
      deadlineMs: 0,
      budgetMs: 2000,
      durationMs: 5,
      extensions: [{ name: "x", signal: null, durationMs: 5, ...exit }],
    },
  } as unknown as DemoResult;
}

Deno.test("demoSucceeded: loss, unannounced duplicates, missed events or a dirty exit fail the demo", () => {
  const event = { time: "t", type: "function", record: "x" };
  const envelope = {} as DeliveryCheck["duplicates"][number];
  assert.equal(demoSucceeded(result({}, {})), true);
  assert.equal(demoSucceeded(result({ lost: [event] }, {})), false);
  assert.equal(demoSucceeded(result({ duplicates: [envelope] }, {})), false);
  assert.equal(
    demoSucceeded(
      result({ duplicates: [envelope] }, { possibleDuplicates: 1 }),
    ),
    true,
  );
  assert.equal(
    unannouncedDuplicates(
      result({ duplicates: [envelope, envelope] }, { possibleDuplicates: 1 }),
    ),
    1,
  );
  assert.equal(demoSucceeded(result({ neverReceived: [event] }, {})), false);
  assert.equal(
    demoSucceeded(
      result({ neverReceived: [{ ...event, type: "extension" }] }, {}),
    ),
    true,
  );
  assert.equal(
    demoSucceeded(result({ droppedBeforeListener: [event] }, {})),
    false,
  );
  assert.equal(
    demoSucceeded(result({}, {}, { exitedByItself: false, exitCode: 137 })),
    false,
  );
});
