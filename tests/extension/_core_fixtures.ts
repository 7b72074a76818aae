/**
 * Small helpers shared by the unit tests of the extension core: a logger
 * that keeps its lines, timers driven by a fake clock, and buffered events
 * built from plain text.
 *
 * @module
 */
import { createClock } from "@sinonjs/fake-timers";
import type { LogLevel } from "../../extension/config.ts";
import type {
  KinesisPutter,
  PutRecordsEntry,
  PutRecordsResult,
} from "../../extension/kinesis_client.ts";
import { createLogger, type Logger } from "../../extension/log.ts";
import type { Timers } from "../../extension/progress.ts";
import type { BufferedEvent } from "../../extension/types.ts";

/** A logger whose lines are kept, parsed, for assertions. */
export interface CapturedLog {
  /** The logger to pass in. */
  logger: Logger;
  /** Every line written, parsed from JSON. */
  lines: Record<string, unknown>[];
  /** Lines whose `msg` equals `msg`. */
  withMsg(msg: string): Record<string, unknown>[];
}

/** Creates a logger at `level` that records its lines instead of writing them. */
export function captureLog(level: LogLevel = "debug"): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(level, (line) => lines.push(JSON.parse(line)));
  return {
    logger,
    lines,
    withMsg: (msg) => lines.filter((line) => line.msg === msg),
  };
}

/** A fake clock with the injectable shapes the core expects. */
export interface FakeTime {
  /** Current fake epoch ms. */
  now: () => number;
  /** Timers running on the fake clock. */
  timers: Timers;
  /** Advances the clock, running due timers and the promise jobs between them. */
  tick(ms: number): Promise<void>;
  /** Runs every pending timer (and timers they schedule), in time order. */
  runAll(): Promise<void>;
  /** Timers scheduled and not yet fired or cleared. */
  pending(): number;
  /** Runs queued promise jobs without advancing the clock. */
  settle(): Promise<void>;
  /**
   * Settles `work` by letting promise jobs run and, whenever nothing but
   * fake timers can make progress, firing the earliest one. Rejects when
   * the work stalls with no timer left (a test waiting for nothing).
   */
  drive<T>(work: Promise<T>): Promise<T>;
}

/** Creates fake time starting at `start` epoch ms. */
export function fakeTime(start = 1_700_000_000_000): FakeTime {
  const clock = createClock(start);
  return {
    now: () => clock.now,
    timers: {
      setTimeout: (callback, ms) => clock.setTimeout(callback, ms),
      clearTimeout: (handle) =>
        clock.clearTimeout(handle as ReturnType<typeof clock.setTimeout>),
    },
    tick: async (ms) => {
      await clock.tickAsync(ms);
    },
    runAll: async () => {
      await clock.runAllAsync();
    },
    pending: () => clock.countTimers(),
    settle: async () => {
      await clock.tickAsync(0);
    },
    drive: async <T>(work: Promise<T>): Promise<T> => {
      let done = false;
      const watched = work.finally(() => done = true);
      // Turns of the real event loop without a timer before "stalled":
      // enough for in-process promise chains, far too few to hide a hang.
      let idleTurns = 0;
      while (!done) {
        await new Promise((resolve) => realSetTimeout(resolve, 0));
        if (done) break;
        if (clock.countTimers() > 0) {
          idleTurns = 0;
          clock.next();
        } else if (++idleTurns > 200) {
          throw new Error(`stalled at fake time ${clock.now}: no timer left`);
        }
      }
      return await watched;
    },
  };
}

const realSetTimeout = globalThis.setTimeout;

const utf8 = new TextEncoder();

/** A buffered event carrying `text` as its envelope bytes. */
export function eventOf(
  text: string,
  partitionKey = "key",
  receivedAt = 0,
): BufferedEvent {
  return {
    data: utf8.encode(text),
    partitionKey,
    receivedAt,
    uncertain: false,
  };
}

/** Text of an event's envelope bytes. */
export function textOf(event: BufferedEvent): string {
  return new TextDecoder().decode(event.data);
}

/** A request seen by a {@linkcode LoopbackServer}. */
export interface SeenRequest {
  /** HTTP method. */
  method: string;
  /** Path of the URL. */
  path: string;
  /** Request headers. */
  headers: Headers;
  /** Body text. */
  body: string;
}

/** An HTTP server on 127.0.0.1 answering with a test's handler. */
export interface LoopbackServer {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** Requests seen, in arrival order. */
  requests: SeenRequest[];
  /** Stops the server. */
  close(): Promise<void>;
}

/** Starts a loopback server on a free port; `answer` sees each request after it is recorded. */
export function serveLoopback(
  answer: (request: SeenRequest) => Response | Promise<Response>,
): LoopbackServer {
  const requests: SeenRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const seen = {
        method: request.method,
        path: new URL(request.url).pathname,
        headers: request.headers,
        body: await request.text(),
      };
      requests.push(seen);
      return await answer(seen);
    },
  );
  return {
    host: `127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

/** One call a {@linkcode ScriptedPutter} received. */
export interface PutterCall {
  /** Partition keys of the entries, in request order. */
  keys: string[];
  /** Payloads as text, in request order. */
  texts: string[];
  /** The request's abort signal. */
  signal: AbortSignal;
  /** Clock reading when the call started. */
  at: number;
}

/** How a {@linkcode ScriptedPutter} answers one call. */
export type PutterAnswer = (
  entries: readonly PutRecordsEntry[],
  signal: AbortSignal,
) => Promise<PutRecordsResult>;

/** Every entry stored. */
export const storeAll: PutterAnswer = (entries) =>
  Promise.resolve({
    failedRecordCount: 0,
    entries: entries.map(() => ({})),
  });

/** Entries at `failing` indices fail with `code`; the others are stored. */
export function failEntries(
  failing: readonly number[],
  code = "ProvisionedThroughputExceededException",
): PutterAnswer {
  return (entries) =>
    Promise.resolve({
      failedRecordCount: failing.length,
      entries: entries.map((_, index) =>
        failing.includes(index)
          ? { errorCode: code, errorMessage: "scripted failure" }
          : {}
      ),
    });
}

/** The whole request fails with `error`. */
export function rejectWith(error: unknown): PutterAnswer {
  return () => Promise.reject(error);
}

/** `answer`, given after `ms` on `timers` (a request that takes time). */
export function after(
  ms: number,
  timers: Timers,
  answer: PutterAnswer,
): PutterAnswer {
  return (entries, signal) =>
    new Promise<void>((resolve) => timers.setTimeout(() => resolve(), ms)).then(
      () => answer(entries, signal),
    );
}

/** The request never settles; it only notices its abort signal. */
export const hang: PutterAnswer = () => new Promise<never>(() => {});

/**
 * A Kinesis putter that answers from a script (the last answer repeats) and
 * records each call with the injected clock's time.
 */
export class ScriptedPutter implements KinesisPutter {
  /** Calls received. */
  readonly calls: PutterCall[] = [];
  /** Times reset() was called. */
  resets = 0;
  /** Times prepare() was called. */
  prepares = 0;
  /** What prepare() returns; a test may replace it with a slow promise. */
  prepared: Promise<void> = Promise.resolve();
  /** Requests neither answered nor aborted yet. */
  inFlight = 0;
  /** Whether an aborted request had been sent; unset: the sender assumes so. */
  requestSent?: (signal: AbortSignal) => boolean;
  readonly #answers: PutterAnswer[];
  readonly #now: () => number;

  /** Creates the putter with its answers, reading time from `now`. */
  constructor(answers: PutterAnswer[], now: () => number = Date.now) {
    this.#answers = [...answers];
    this.#now = now;
  }

  /** Answers with the next scripted answer. */
  putRecords(
    entries: readonly PutRecordsEntry[],
    signal: AbortSignal,
  ): Promise<PutRecordsResult> {
    this.calls.push({
      keys: entries.map((entry) => entry.partitionKey),
      texts: entries.map((entry) => new TextDecoder().decode(entry.data)),
      signal,
      at: this.#now(),
    });
    const answer = this.#answers.length > 1
      ? this.#answers.shift()!
      : this.#answers[0] ?? storeAll;
    this.inFlight++;
    let open = true;
    const close = () => {
      if (open) this.inFlight--;
      open = false;
    };
    signal.addEventListener("abort", close, { once: true });
    return answer(entries, signal).finally(close);
  }

  /** Ready at once, unless a test gave a `prepared` promise. */
  prepare(): Promise<void> {
    this.prepares++;
    return this.prepared;
  }

  /** Counts the reset. */
  reset(): void {
    this.resets++;
  }
}
