/**
 * Small helpers shared by the unit tests of the extension core: a logger
 * that keeps its lines, timers driven by a fake clock, and buffered events
 * built from plain text.
 *
 * @module
 */
import { createClock } from "@sinonjs/fake-timers";
import type { LogLevel } from "../../extension/config.ts";
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
  };
}

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
