/**
 * The fault tests' rig: kinesalite behind the fault proxy, the scripted
 * Extensions/Telemetry API, and the real extension process (`deno run
 * extension/main.ts` with the shipped permission flags) wired together on
 * loopback; plus the accounting check every fault test ends with.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  type LocalKinesis,
  startLocalKinesis,
} from "../../scripts/sandbox/kinesis_local.ts";
import {
  type FaultPlan,
  type FaultProxy,
  startFaultProxy,
} from "../../scripts/sandbox/kinesis_fault_proxy.ts";
import { readAllRecords } from "../../scripts/lib/kinesis_read.ts";
import { decodeRecord, type Envelope } from "../../scripts/lib/decode.ts";
import { EXTENSION_DENO_FLAGS } from "../../scripts/lib/extension_flags.ts";
import {
  type RecordedCall,
  type ScriptedApi,
  type ScriptedApiOptions,
  startScriptedApi,
} from "../helpers/scripted_extensions_api.ts";
import type { TelemetryEvent } from "../../extension/types.ts";

/** The repository root (the extension is run from source there). */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname;

/** The shutdown summary fields the tests read. */
export interface Summary {
  received: number;
  delivered: number;
  filtered: number;
  dropped: Record<string, number>;
  droppedTotal: number;
  buffered: number;
  truncated: number;
  retried: number;
  possibleDuplicates: number;
  refused: number;
  refusedDeliveries: number;
  spilled: number;
  rejectedBodies: number;
  kinesisRequests: number;
  kinesisRequestFailures: number;
  carriedRequests: number;
  carriedDelivered: number;
  invocations: number;
  reason: string;
  time: string;
}

/** How the extension process ended. */
export interface ExitReport {
  /** Exit code. */
  code: number;
  /** `Date.now()` when the exit was observed. */
  exitedAt: number;
  /** The summary line, if one was written. */
  summary: Summary | undefined;
  /** Every stderr line parsed as JSON (others kept as `{ raw }`). */
  lines: Record<string, unknown>[];
}

/** Options of {@linkcode startRig}. */
export interface RigOptions {
  /** Extra environment for the extension (KINESIS_TELEMETRY_* settings). */
  env?: Record<string, string>;
  /** Initial fault plan. */
  plan?: FaultPlan;
  /** Scripted API options (register/subscribe/next failures). */
  api?: ScriptedApiOptions;
  /** Shards of the test stream. */
  shards?: number;
}

/** A running rig. */
export interface Rig {
  /** The emulator (read the stream through `kinesis.client`, not the proxy). */
  kinesis: LocalKinesis;
  /** The fault proxy the extension sends to. */
  proxy: FaultProxy;
  /** The scripted Extensions/Telemetry API. */
  api: ScriptedApi;
  /** Stream name. */
  stream: string;
  /** The extension process. */
  child: Deno.ChildProcess;
  /** Events the listener acknowledged with 200, in order. */
  acknowledged: TelemetryEvent[];
  /** The extension's stderr lines so far, parsed. */
  lines: readonly Record<string, unknown>[];
  /** Waits until the extension first waits in `/event/next` (it is subscribed). */
  ready(): Promise<void>;
  /** POSTs events to the listener; remembers them when acknowledged. */
  push(events: TelemetryEvent[]): Promise<Response>;
  /**
   * Runs one invocation the way Lambda orders it: INVOKE handed out, the
   * invocation's telemetry delivered, then waits for the extension's next
   * `/event/next`. Returns the extension's time from INVOKE to that call.
   */
  invoke(requestId: string, events: TelemetryEvent[]): Promise<number>;
  /** Queues SHUTDOWN with a deadline `budgetMs` from now and waits for the exit. */
  shutdown(budgetMs?: number): Promise<ExitReport & { deadlineMs: number }>;
  /** Waits for the process to exit (bounded). */
  exited(timeoutMs?: number): Promise<ExitReport>;
  /** Every envelope stored in the stream, in shard order. */
  stored(): Promise<Envelope[]>;
  /**
   * Whether every PutRecords outcome was known to the extension (nothing
   * held, reset or given up on either side), so the counters must be exact.
   */
  outcomesKnown(summary: Summary | undefined): boolean;
  /** The proxy's request log and the extension's last log lines, for failure messages. */
  diagnostics(): string;
  /** Stops everything (kills the process if still running). */
  close(): Promise<void>;
}

let streamCounter = 0;

/** Starts kinesalite, the proxy, the scripted API and the extension process. */
export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const kinesis = await startLocalKinesis();
  const stream = `faults-${Date.now()}-${++streamCounter}`;
  await kinesis.createStream(stream, options.shards ?? 2);
  const proxy = startFaultProxy({
    target: kinesis.endpoint,
    plan: options.plan,
  });
  const api = startScriptedApi(options.api);
  const env: Record<string, string> = {
    AWS_LAMBDA_RUNTIME_API: api.runtimeApi,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_KINESIS: proxy.endpoint,
    AWS_LAMBDA_FUNCTION_NAME: "test-function",
    KINESIS_TELEMETRY_STREAM: stream,
    KINESIS_TELEMETRY_LISTENER_PORT: "0",
    KINESIS_TELEMETRY_LISTENER_HOST: "127.0.0.1",
    KINESIS_TELEMETRY_LOG_LEVEL: "debug",
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    ...options.env,
  };
  for (const name of ["HOME", "DENO_DIR", "PATH"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...EXTENSION_DENO_FLAGS, "extension/main.ts"],
    cwd: REPO_ROOT,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: Record<string, unknown>[] = [];
  const stderrDone = collectLines(child.stderr, lines);
  let exit: Promise<ExitReport> | undefined;
  const exitReport = () =>
    exit ??= child.status.then(async (status) => {
      const exitedAt = Date.now();
      await stderrDone;
      return {
        code: status.code,
        exitedAt,
        summary: lines.find((line) => line.msg === "summary") as
          | Summary
          | undefined,
        lines,
      };
    });
  exitReport();

  const acknowledged: TelemetryEvent[] = [];
  const rig: Rig = {
    kinesis,
    proxy,
    api,
    stream,
    child,
    acknowledged,
    lines,
    ready: () =>
      within(
        api.waitForNext(1),
        20_000,
        "the extension to become ready",
        lines,
      ),
    async push(events) {
      const response = await api.pushTelemetry(JSON.stringify(events));
      await response.body?.cancel();
      if (response.status === 200) acknowledged.push(...events);
      return response;
    },
    async invoke(requestId, events) {
      api.queue({
        eventType: "INVOKE",
        deadlineMs: Date.now() + 10_000,
        requestId,
        invokedFunctionArn:
          "arn:aws:lambda:us-east-1:123456789012:function:test-function",
        tracing: { type: "X-Amzn-Trace-Id", value: "Root=1-0-0" },
      });
      if (events.length > 0) {
        const response = await rig.push(events);
        assert.equal(response.status, 200, "the listener took the delivery");
      }
      await within(
        until(() => nextCallAfter(api, requestId) !== undefined),
        20_000,
        `the extension to finish ${requestId}`,
        lines,
      );
      return holdOf(api, requestId);
    },
    async shutdown(budgetMs = 2_000) {
      const deadlineMs = Date.now() + budgetMs;
      api.queue({
        eventType: "SHUTDOWN",
        shutdownReason: "SPINDOWN",
        deadlineMs,
      });
      return { ...(await rig.exited(budgetMs + 5_000)), deadlineMs };
    },
    exited: (timeoutMs = 10_000) =>
      within(exitReport(), timeoutMs, "the extension to exit", lines),
    async stored() {
      const records = await readAllRecords(kinesis.client, stream);
      return records.flatMap((record) =>
        decodeRecord(record.data).map((event) => event.envelope)
      );
    },
    outcomesKnown: (summary) =>
      summary?.possibleDuplicates === 0 &&
      !lines.some((line) => line.code === "Abandoned") &&
      proxy.putRecordsLog.every((entry) =>
        entry.outcome === "answered" || entry.outcome === "failed"
      ),
    diagnostics() {
      const requests = proxy.putRecordsLog.map((entry) =>
        `#${entry.index} ${entry.entries} entries, ${entry.stored} stored, ${entry.outcome} after ${
          (entry.endedAt ?? Date.now()) - entry.receivedAt
        } ms`
      );
      return [
        "proxy:",
        ...requests,
        "extension:",
        ...lines.slice(-15).map((line) => JSON.stringify(line)),
      ].join("\n");
    },
    async close() {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await exitReport();
      await proxy.stop();
      await api.close();
      await kinesis.stop();
    },
  };
  return rig;
}

/**
 * Runs invocations on a healthy Kinesis until one PutRecords was answered:
 * the first flush of a process loads the AWS SDK, a one-time cost that
 * tests of steady-state behaviour keep out of their measurements.
 */
export async function warmUp(rig: Rig): Promise<void> {
  const delivered = () =>
    rig.lines.some((line) =>
      line.msg === "flushed" && (line.delivered as number) > 0
    );
  for (let i = 0; i < 5; i++) {
    await rig.invoke(`warm-up-${i}`, invocationEvents(`warm-up-${i}`, 1));
    if (delivered()) return;
    // A first flush cut short by the SDK's loading opens the flush breaker
    // (250 ms, doubling): wait it out so the next invocation flushes.
    await sleep(300 * 2 ** i);
  }
  throw new Error(
    `the extension delivered nothing during warm-up\n${rig.diagnostics()}`,
  );
}

/** Starts a rig with `options`, runs `body` on it, and closes it however `body` ends. */
export async function withRig<T>(
  options: RigOptions,
  body: (rig: Rig) => Promise<T>,
): Promise<T> {
  const rig = await startRig(options);
  try {
    return await body(rig);
  } finally {
    await rig.close();
  }
}

/** {@linkcode withRig} on a rig that is ready and warmed up ({@linkcode warmUp}). */
export function withWarmRig<T>(
  options: RigOptions,
  body: (rig: Rig) => Promise<T>,
): Promise<T> {
  return withRig(options, async (rig) => {
    await rig.ready();
    await warmUp(rig);
    return await body(rig);
  });
}

/**
 * Runs `count` invocations `req-<from>`, `req-<from + 1>`, … one after the
 * other, each with `logLines` function log lines; returns their holds.
 */
export async function invokeSeries(
  rig: Rig,
  count: number,
  logLines: number,
  from = 0,
): Promise<number[]> {
  const holds: number[] = [];
  for (let i = from; i < from + count; i++) {
    holds.push(
      await rig.invoke(`req-${i}`, invocationEvents(`req-${i}`, logLines)),
    );
  }
  return holds;
}

/**
 * {@linkcode assertAccounting} of `summary` against what the rig
 * acknowledged and what its stream holds now.
 */
export async function assertStreamAccounting(
  rig: Rig,
  summary: Summary | undefined,
  expect: AccountingExpectations,
): Promise<AccountingResult> {
  return assertAccounting(
    summary,
    rig.acknowledged,
    await rig.stored(),
    expect,
    rig,
  );
}

/**
 * {@linkcode assertStreamAccounting} insisting that every acknowledged event
 * is in the stream; the counters must be exact when `exact` says so (by
 * default: when every PutRecords outcome was known, see `rig.outcomesKnown`).
 */
export async function assertAllDelivered(
  rig: Rig,
  summary: Summary | undefined,
  exact?: boolean,
): Promise<AccountingResult> {
  const stored = await rig.stored();
  return assertAccounting(summary, rig.acknowledged, stored, {
    exact: exact ?? rig.outcomesKnown(summary),
    allDelivered: true,
  }, rig);
}

/**
 * {@linkcode assertAllDelivered} with inexact counters, insisting that some
 * events were stored more than once (`why` says how they came to be).
 */
export async function assertAllDeliveredSomeTwice(
  rig: Rig,
  summary: Summary | undefined,
  why: string,
): Promise<void> {
  const { duplicatedEvents } = await assertAllDelivered(rig, summary, false);
  assert.ok(duplicatedEvents > 0, why);
}

/**
 * The extension's time on one invocation: from the INVOKE answer to its
 * next `/event/next` call (what Lambda bills as post-runtime duration when
 * the function returns at once).
 */
export function holdOf(api: ScriptedApi, requestId: string): number {
  const served = api.served.find((served) =>
    served.event.requestId === requestId
  );
  assert.ok(served, `INVOKE ${requestId} was handed out`);
  const nextCall = nextCallAfter(api, requestId);
  assert.ok(nextCall, `the extension came back after ${requestId}`);
  return nextCall.at - served.at;
}

/** The extension's first `/event/next` call after it was handed `requestId`. */
export function nextCallAfter(
  api: ScriptedApi,
  requestId: string,
): RecordedCall | undefined {
  const served = api.served.find((served) =>
    served.event.requestId === requestId
  );
  if (!served) return undefined;
  return api.calls.find((call, index) =>
    index > served.callIndex && call.path.endsWith("/event/next")
  );
}

/** Resolves once `condition()` holds (polled every few ms; bound it with {@linkcode within}). */
export async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(3);
}

/** Telemetry of one invocation: start, `logLines` function lines, runtimeDone, report. */
export function invocationEvents(
  requestId: string,
  logLines: number,
  tag = "line",
): TelemetryEvent[] {
  const time = new Date().toISOString();
  const events: TelemetryEvent[] = [
    {
      time,
      type: "platform.start",
      record: { requestId, version: "$LATEST" },
    },
  ];
  for (let i = 0; i < logLines; i++) {
    events.push({ time, type: "function", record: `${tag} ${requestId} ${i}` });
  }
  events.push(
    {
      time,
      type: "platform.runtimeDone",
      record: { requestId, status: "success", metrics: { durationMs: 1.5 } },
    },
    {
      time,
      type: "platform.report",
      record: {
        requestId,
        status: "success",
        metrics: {
          durationMs: 2,
          billedDurationMs: 2,
          memorySizeMB: 128,
          maxMemoryUsedMB: 60,
        },
      },
    },
  );
  return events;
}

/** Identity of an event for matching pushed to stored: type plus its record. */
export function eventKey(event: { type: string; record: unknown }): string {
  return `${event.type}|${
    typeof event.record === "string"
      ? event.record
      : JSON.stringify(event.record)
  }`;
}

/** What the accounting check should insist on. */
export interface AccountingExpectations {
  /**
   * No request ended with an unknown outcome, so counters are exact:
   * stored = delivered, missing = dropped, no duplicates.
   */
  exact: boolean;
  /** Every acknowledged event must be in the stream (nothing dropped). */
  allDelivered: boolean;
  /** Acknowledged elements that were not valid events (counted invalid_event). */
  invalidElements?: number;
}

/**
 * The accounting invariant, checked from the summary AND from the stream:
 * received = delivered + filtered + dropped (nothing left buffered); every
 * acknowledged event is in the stream or counted dropped with a cause;
 * nothing is in the stream that was not acknowledged; duplicates only
 * within `possibleDuplicates`.
 */
export function assertAccounting(
  summary: Summary | undefined,
  acknowledged: readonly TelemetryEvent[],
  stored: readonly Envelope[],
  expect: AccountingExpectations,
  rig?: Rig,
): AccountingResult {
  try {
    return checkAccounting(summary, acknowledged, stored, expect);
  } catch (error) {
    if (rig && error instanceof Error) {
      error.message += `\n${rig.diagnostics()}`;
    }
    throw error;
  }
}

/** What the stream held, compared with what was acknowledged. */
export interface AccountingResult {
  /** Acknowledged events not in the stream. */
  missing: number;
  /** Stored copies beyond the first of each event. */
  extraCopies: number;
  /** Events stored more than once. */
  duplicatedEvents: number;
}

function checkAccounting(
  summary: Summary | undefined,
  acknowledged: readonly TelemetryEvent[],
  stored: readonly Envelope[],
  expect: AccountingExpectations,
): AccountingResult {
  assert.ok(summary, "the extension wrote a summary line");
  const invalid = expect.invalidElements ?? 0;
  assert.equal(
    summary.received,
    acknowledged.length + invalid,
    "received counts every acknowledged element",
  );
  assert.equal(summary.buffered, 0, "nothing left uncounted in the buffer");
  assert.equal(
    summary.received,
    summary.delivered + summary.filtered + summary.droppedTotal +
      summary.buffered,
    "received = delivered + filtered + dropped",
  );
  assert.equal(
    summary.droppedTotal,
    Object.values(summary.dropped).reduce((a, b) => a + b, 0),
    "every drop has a cause",
  );
  assert.equal(summary.dropped.invalid_event ?? 0, invalid);

  const wanted = new Map<string, number>();
  for (const event of acknowledged) {
    wanted.set(eventKey(event), (wanted.get(eventKey(event)) ?? 0) + 1);
  }
  assert.equal(wanted.size, acknowledged.length, "test events are unique");
  const copies = new Map<string, number>();
  for (const envelope of stored) {
    const key = eventKey(envelope);
    assert.ok(wanted.has(key), `stored event was acknowledged: ${key}`);
    copies.set(key, (copies.get(key) ?? 0) + 1);
  }
  const missing = [...wanted.keys()].filter((key) => !copies.has(key)).length;
  const extraCopies = stored.length - copies.size;
  const duplicated = [...copies].filter(([, n]) => n > 1);
  const lostToCauses = summary.droppedTotal - invalid;

  // possibleDuplicates counts events (not copies): an event resent after
  // several requests of unknown outcome may be stored several times.
  assert.ok(
    duplicated.length <= summary.possibleDuplicates,
    `events stored twice or more (${duplicated.length}: ${
      duplicated.slice(0, 5).map(([key, n]) => `${n}× ${key}`).join("; ")
    }) ≤ possibleDuplicates (${summary.possibleDuplicates})`,
  );
  assert.ok(
    copies.size >= summary.delivered,
    `every event counted delivered is stored (${copies.size} ≥ ${summary.delivered})`,
  );
  assert.ok(
    missing <= lostToCauses,
    `every missing event is counted dropped (${missing} ≤ ${lostToCauses})`,
  );
  if (expect.exact) {
    assert.equal(extraCopies, 0, "no duplicates without unknown outcomes");
    assert.equal(copies.size, summary.delivered, "stored = delivered");
    assert.equal(missing, lostToCauses, "missing = dropped");
  }
  if (expect.allDelivered) {
    assert.equal(missing, 0, "every acknowledged event is in the stream");
    assert.equal(lostToCauses, 0, "nothing dropped");
  }
  return { missing, extraCopies, duplicatedEvents: duplicated.length };
}

/** Rejects with a message naming `what` (and the last log lines) after `ms`. */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  lines?: readonly Record<string, unknown>[],
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const tail = (lines ?? []).slice(-8).map((line) =>
            JSON.stringify(line)
          ).join("\n");
          reject(
            new Error(`timed out after ${ms} ms waiting for ${what}\n${tail}`),
          );
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sleeps `ms` (for setting up a fault window, never for asserting speed). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function collectLines(
  stream: ReadableStream<Uint8Array>,
  into: Record<string, unknown>[],
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  const take = (line: string) => {
    if (line.trim() === "") return;
    try {
      into.push(JSON.parse(line));
    } catch {
      into.push({ raw: line });
    }
  };
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = pending.indexOf("\n")) !== -1) {
      take(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  }
  take(pending);
}
