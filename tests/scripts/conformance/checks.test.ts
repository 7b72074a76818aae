/**
 * The verdicts of a conformance run, from hand-made observations: a clean
 * LMI run passes, and each way AWS's emulator or the extension can fall
 * short fails its own check.
 */
import assert from "node:assert/strict";
import {
  expectedFunctionLines,
  findSummary,
  functionLine,
  functionMessage,
  judgeRun,
  type RunObservation,
} from "../../../scripts/conformance/checks.ts";
import type { Envelope } from "../../../scripts/lib/decode.ts";

let seq = 0;
function envelope(type: string, record: unknown): Envelope {
  return {
    seq: ++seq,
    time: "2026-12-02T05:00:00.000Z",
    type,
    record,
    function: "conformance:$LATEST",
    region: "us-east-1",
    accountId: null,
    environmentId: "env",
  };
}

function cleanLmiRun(): RunObservation {
  const ids = ["r1", "r2"];
  const envelopes = ids.flatMap((id) => [
    envelope("platform.start", { requestId: id }),
    envelope("function", `${functionLine(id, 0)}\n`),
    envelope("function", { message: functionLine(id, 1), level: "INFO" }),
    envelope("platform.report", { requestId: id, status: "success" }),
  ]);
  return {
    mode: "lmi",
    answers: new Map(ids.map((id) => [id, {
      status: 200,
      body: `{"requestId": "${id}"}`,
    }])),
    expectedLines: expectedFunctionLines(ids, 2),
    envelopes,
    summary: {
      msg: "summary",
      received: 8,
      delivered: 8,
      filtered: 0,
      droppedTotal: 0,
      refused: 0,
    },
    emulatorLines: [],
    stopped: { code: 0, killed: false },
    exitLinePrefix: "exited with code ",
  };
}

function failing(run: RunObservation): string[] {
  return judgeRun(run).filter((c) => !c.ok).map((c) => c.name);
}

Deno.test("checks: a clean LMI run passes every check", () => {
  const run = cleanLmiRun();
  run.emulatorLines = ["launcher: exited with code 0"];
  assert.deepEqual(failing(run), []);
});

Deno.test("checks: each shortfall fails its own check", () => {
  const base = () => {
    const run = cleanLmiRun();
    run.emulatorLines = ["exited with code 0"];
    return run;
  };
  let run = base();
  run.emulatorLines = [];
  assert.deepEqual(failing(run), [
    "the extension exited by itself with code 0",
  ]);

  run = base();
  run.envelopes = run.envelopes.filter((e) =>
    e.type !== "platform.report" || (e.record as { requestId: string })
        .requestId !== "r2"
  );
  run.summary = { ...run.summary!, received: 7, delivered: 7 };
  assert.deepEqual(failing(run), [
    "every invocation's platform.start and platform.report is in the stream",
  ]);

  run = base();
  run.envelopes = [...run.envelopes, run.envelopes[1]];
  run.summary = { ...run.summary!, received: 9, delivered: 9 };
  assert.deepEqual(failing(run), [
    "every function log line is in the stream exactly once",
  ]);

  run = base();
  run.emulatorLines = [
    "exited with code 0",
    'level=WARN msg="could not send batch to telemetry Subscriber as previous batch hasn\'t processed yet"',
  ];
  assert.equal(failing(run).length, 1);
  assert.match(failing(run)[0], /delivered every telemetry batch/);

  run = base();
  run.summary = { ...run.summary!, droppedTotal: 1, received: 9 };
  assert.deepEqual(failing(run), [
    "nothing dropped or refused by the extension, the summary balances",
  ]);

  run = base();
  run.answers = new Map([...run.answers, ["r3", {
    status: 400,
    body: '{"errorType":"X"}',
  }]]);
  assert.ok(
    failing(run).includes(
      "every invocation answered 200 with the function's result",
    ),
  );

  run = base();
  run.stopped = { code: 1, killed: false };
  assert.deepEqual(failing(run), [
    "the emulator shut down by itself after SIGTERM, exit code 0",
  ]);

  run = base();
  run.summary = undefined;
  assert.ok(
    failing(run).includes(
      "the extension ran its SHUTDOWN path (summary line written)",
    ),
  );
});

Deno.test("checks: classic mode asks for every INVOKE and nothing from the stream", () => {
  const run: RunObservation = {
    ...cleanLmiRun(),
    mode: "classic",
    envelopes: [],
    exitLinePrefix: undefined,
    summary: {
      msg: "summary",
      received: 0,
      delivered: 0,
      droppedTotal: 0,
      invocations: 2,
    },
  };
  assert.deepEqual(failing(run), []);
  run.summary = { ...run.summary!, invocations: 1 };
  assert.deepEqual(failing(run), ["the extension took every INVOKE"]);
});

Deno.test("checks: findSummary and functionMessage", () => {
  assert.deepEqual(
    findSummary([
      "noise",
      'prefix {"msg":"summary","received":1}',
      '{"msg":"ready"}',
    ]),
    { msg: "summary", received: 1 },
  );
  assert.equal(findSummary(["{not json summary"]), undefined);
  assert.equal(functionMessage("a line\n"), "a line");
  assert.equal(functionMessage({ message: "m" }), "m");
  assert.equal(functionMessage(42), undefined);
});
