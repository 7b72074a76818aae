/**
 * What a conformance run must show, judged from what can be seen outside
 * the extension: the emulator's answers and output, the extension's summary
 * line, and the envelopes read back from the stream.
 *
 * - Both modes: every invocation answered 200 with the function's result;
 *   the emulator shut down by itself and the extension wrote its summary
 *   (it ran its SHUTDOWN path) with nothing dropped.
 * - Classic (no Telemetry API): the extension took every INVOKE.
 * - LMI: every invocation's `platform.start`, `platform.report` and log
 *   lines are in the stream, the emulator
 *   refused no delivery (no `platform.logsDropped`, no failed batch) and
 *   the summary balances with what the stream holds.
 *
 * @module
 */
import type { Envelope } from "../lib/decode.ts";
import type { EmulatorMode } from "./emulator.ts";

/** One verdict. */
export interface ConformanceCheck {
  /** What was checked. */
  name: string;
  /** Passed or not. */
  ok: boolean;
  /** What was seen. */
  detail: string;
}

/** Everything a run's verdicts are made from. */
export interface RunObservation {
  /** Emulator mode. */
  mode: EmulatorMode;
  /** Invoke answers by request id. */
  answers: ReadonlyMap<string, { status: number; body: string }>;
  /** Function log lines that must be in the stream (LMI). */
  expectedLines: ReadonlySet<string>;
  /** Envelopes read back from the stream. */
  envelopes: readonly Envelope[];
  /** The extension's summary line. */
  summary: Record<string, unknown> | undefined;
  /** Everything the emulator printed. */
  emulatorLines: readonly string[];
  /** How the emulator ended after SIGTERM. */
  stopped: { code: number; killed: boolean };
  /** When the launcher reports the extension's exit: the line's prefix before the code. */
  exitLinePrefix?: string;
}

/** The line the conformance function writes for line `index` of an invocation. */
export function functionLine(requestId: string, index: number): string {
  return `conformance line ${index} of ${requestId}`;
}

/** Every function line the invocations must have produced. */
export function expectedFunctionLines(
  requestIds: readonly string[],
  linesPerInvocation: number,
): Set<string> {
  const lines = new Set<string>();
  for (const requestId of requestIds) {
    for (let index = 0; index < linesPerInvocation; index++) {
      lines.add(functionLine(requestId, index));
    }
  }
  return lines;
}

/** The last `"msg":"summary"` JSON object found in the output lines (also inside a prefixed line). */
export function findSummary(
  lines: readonly string[],
): Record<string, unknown> | undefined {
  for (const line of [...lines].reverse()) {
    const start = line.indexOf('{"');
    if (start < 0 || !line.includes('"summary"')) continue;
    try {
      const parsed = JSON.parse(line.slice(start)) as Record<string, unknown>;
      if (parsed.msg === "summary") return parsed;
    } catch {
      // Not one JSON object.
    }
  }
  return undefined;
}

/** The text of a function log event: a plain string, or the message of a JSON-format line. */
export function functionMessage(record: unknown): string | undefined {
  if (typeof record === "string") return record.trimEnd();
  if (record && typeof record === "object") {
    const message = (record as { message?: unknown }).message;
    if (typeof message === "string") return message.trimEnd();
  }
  return undefined;
}

function requestIdOf(envelope: Envelope): string | undefined {
  const record = envelope.record as { requestId?: unknown } | null;
  return typeof record?.requestId === "string" ? record.requestId : undefined;
}

function check(name: string, ok: boolean, detail: string): ConformanceCheck {
  return { name, ok, detail };
}

/** Judges one run. */
export function judgeRun(run: RunObservation): ConformanceCheck[] {
  const checks: ConformanceCheck[] = [];
  const failedInvokes = [...run.answers].filter(([id, answer]) =>
    answer.status !== 200 || !answer.body.includes(id)
  );
  checks.push(check(
    "every invocation answered 200 with the function's result",
    run.answers.size > 0 && failedInvokes.length === 0,
    failedInvokes.length === 0
      ? `${run.answers.size} answered`
      : `${failedInvokes.length} of ${run.answers.size} failed, e.g. ${
        failedInvokes[0][1].status
      } ${failedInvokes[0][1].body.slice(0, 300)}`,
  ));
  checks.push(check(
    "the emulator shut down by itself after SIGTERM, exit code 0",
    !run.stopped.killed && run.stopped.code === 0,
    run.stopped.killed ? "it was killed" : `exit code ${run.stopped.code}`,
  ));
  if (run.exitLinePrefix !== undefined) {
    const prefix = run.exitLinePrefix;
    const exitLine = run.emulatorLines.find((line) => line.includes(prefix));
    const code = exitLine?.slice(exitLine.indexOf(prefix) + prefix.length)
      .trim();
    checks.push(check(
      "the extension exited by itself with code 0",
      code === "0",
      exitLine ? `exit code ${code}` : "it did not exit by itself",
    ));
  }
  const summary = run.summary;
  checks.push(check(
    "the extension ran its SHUTDOWN path (summary line written)",
    summary !== undefined,
    summary ? JSON.stringify(summary).slice(0, 400) : "no summary line",
  ));
  if (!summary) return checks;
  const received = Number(summary.received);
  const delivered = Number(summary.delivered);
  const filtered = Number(summary.filtered ?? 0);
  const droppedTotal = Number(summary.droppedTotal);
  // Deliveries refused unread have no event count: either counter says so.
  const refused = Number(summary.refused ?? 0) +
    Number(summary.refusedDeliveries ?? 0);
  checks.push(check(
    "nothing dropped or refused by the extension, the summary balances",
    droppedTotal === 0 && refused === 0 &&
      received === delivered + filtered,
    `received ${received}, delivered ${delivered}, filtered ${filtered}, dropped ${droppedTotal}, refused ${refused}`,
  ));

  if (run.mode === "classic") {
    checks.push(check(
      "the extension took every INVOKE",
      Number(summary.invocations) === run.answers.size,
      `summary invocations ${summary.invocations}, sent ${run.answers.size}`,
    ));
    return checks;
  }

  checks.push(check(
    "the summary's delivered count equals the envelopes in the stream",
    delivered === run.envelopes.length,
    `summary ${delivered}, stream ${run.envelopes.length}`,
  ));
  const platformMissing: string[] = [];
  for (const requestId of run.answers.keys()) {
    // AWS's emulator sends no platform.runtimeDone per invocation in LMI
    // mode (README: Conformance with AWS's emulator).
    for (const type of ["platform.start", "platform.report"]) {
      const found = run.envelopes.some((e) =>
        e.type === type && requestIdOf(e) === requestId
      );
      if (!found) platformMissing.push(`${type} of ${requestId}`);
    }
  }
  checks.push(check(
    "every invocation's platform.start and platform.report is in the stream",
    platformMissing.length === 0,
    platformMissing.length === 0
      ? `${run.answers.size * 2} events found`
      : `${platformMissing.length} missing, e.g. ${platformMissing[0]}`,
  ));
  const seen = new Map<string, number>();
  const unexpected: unknown[] = [];
  for (const envelope of run.envelopes) {
    if (envelope.type !== "function") continue;
    const message = functionMessage(envelope.record);
    if (message !== undefined && run.expectedLines.has(message)) {
      seen.set(message, (seen.get(message) ?? 0) + 1);
    } else unexpected.push(envelope.record);
  }
  const missingLines = [...run.expectedLines].filter((l) => !seen.has(l));
  const duplicated = [...seen].filter(([, n]) => n > 1);
  checks.push(check(
    "every function log line is in the stream exactly once",
    missingLines.length === 0 && duplicated.length === 0,
    `${seen.size} of ${run.expectedLines.size} found, ${duplicated.length} duplicated${
      missingLines[0] ? `, e.g. missing "${missingLines[0]}"` : ""
    }${
      unexpected.length > 0
        ? `; ${unexpected.length} other function events, e.g. ${
          JSON.stringify(unexpected[0]).slice(0, 300)
        }`
        : ""
    }`,
  ));
  const logsDropped = run.envelopes.filter((e) =>
    e.type === "platform.logsDropped"
  );
  const failedBatches = run.emulatorLines.filter((line) =>
    line.includes("could not send batch") ||
    line.includes("previous batch hasn't processed")
  );
  checks.push(check(
    "the emulator delivered every telemetry batch (no platform.logsDropped, no failed batch)",
    logsDropped.length === 0 && failedBatches.length === 0,
    `${logsDropped.length} platform.logsDropped, ${failedBatches.length} failed batches${
      failedBatches[0] ? `: ${failedBatches[0].slice(0, 300)}` : ""
    }`,
  ));
  return checks;
}
