/**
 * Realistic Telemetry API traffic for the bench: per invocation a
 * `platform.start`, N function log lines (Text log format, Node's
 * `time\trequestId\tINFO\tmessage` layout) of a chosen size, a
 * `platform.runtimeDone` and a `platform.report`, serialized into POST
 * bodies the way Lambda batches them.
 *
 * @module
 */
import type { TelemetryEvent } from "../../extension/types.ts";

/** Shape of the generated traffic. */
export interface TrafficShape {
  /** Function log lines per invocation. */
  linesPerInvocation: number;
  /** Characters of each log message (ASCII, so also bytes). */
  messageBytes: number;
}

/** A typical workload: 20 log lines of about 400 bytes per invocation. */
export const TYPICAL_TRAFFIC: TrafficShape = {
  linesPerInvocation: 20,
  messageBytes: 400,
};

/** Events one invocation produces: its lines plus start, runtimeDone and report. */
export function eventsPerInvocation(shape: TrafficShape): number {
  return shape.linesPerInvocation + 3;
}

const WORDS = [
  "order",
  "processed",
  "user",
  "cache",
  "miss",
  "latency",
  "items",
  "checkout",
  "token",
  "refresh",
  "queue",
  "depth",
  "retry",
  "ok",
  "region",
  "shard",
];

/** A log message of exactly `bytes` ASCII characters, varied by `seed`. */
export function logMessage(bytes: number, seed: number): string {
  let state = (seed * 2654435761) >>> 0;
  let text = `seq=${seed}`;
  while (text.length < bytes) {
    state = (state * 1103515245 + 12345) >>> 0;
    text += ` ${WORDS[state % WORDS.length]}=${state % 10_000}`;
  }
  return text.slice(0, bytes);
}

/** All events of one invocation, stamped `at` (epoch ms). */
export function invocationEvents(
  requestId: string,
  shape: TrafficShape,
  at: number,
  seed = 0,
): TelemetryEvent[] {
  const time = new Date(at).toISOString();
  const events: TelemetryEvent[] = [{
    time,
    type: "platform.start",
    record: { requestId, version: "$LATEST" },
  }];
  for (let line = 0; line < shape.linesPerInvocation; line++) {
    events.push({
      time,
      type: "function",
      record: `${time}\t${requestId}\tINFO\t${
        logMessage(shape.messageBytes, seed + line)
      }\n`,
    });
  }
  events.push({
    time,
    type: "platform.runtimeDone",
    record: {
      requestId,
      status: "success",
      metrics: { durationMs: 2.5, producedBytes: 42 },
      spans: [
        { name: "responseLatency", start: time, durationMs: 1.2 },
        { name: "responseDuration", start: time, durationMs: 0.1 },
      ],
    },
  });
  events.push({
    time,
    type: "platform.report",
    record: {
      requestId,
      status: "success",
      metrics: {
        durationMs: 3.1,
        billedDurationMs: 4,
        memorySizeMB: 128,
        maxMemoryUsedMB: 70,
      },
    },
  });
  return events;
}

/** Lambda's default Telemetry API buffering: how it cuts POST bodies. */
export const DEFAULT_BATCHING = { maxItems: 1000, maxBytes: 262_144 };

/**
 * `total` events of back-to-back invocations, cut into POST bodies the way
 * the Telemetry API batches them (at most `maxItems` events and about
 * `maxBytes` of JSON each), already UTF-8 encoded so the driver spends no
 * time on them during a measurement.
 */
export function telemetryBodies(
  total: number,
  shape: TrafficShape,
  batching: { maxItems: number; maxBytes: number } = DEFAULT_BATCHING,
  at: number = Date.now(),
): Uint8Array<ArrayBuffer>[] {
  const encoder = new TextEncoder();
  const bodies: Uint8Array<ArrayBuffer>[] = [];
  let pending: string[] = [];
  // "[" + "]" and one comma per event after the first.
  let pendingBytes = 2;
  const cut = () => {
    bodies.push(encoder.encode(`[${pending.join(",")}]`));
    pending = [];
    pendingBytes = 2;
  };
  let made = 0;
  for (let invocation = 0; made < total; invocation++) {
    const requestId = `00000000-0000-4000-8000-${
      invocation.toString(16).padStart(12, "0")
    }`;
    for (const event of invocationEvents(requestId, shape, at, invocation)) {
      if (made === total) break;
      const json = JSON.stringify(event);
      // Log lines are ASCII here, so string length is the byte count.
      const bytes = json.length + (pending.length > 0 ? 1 : 0);
      if (
        pending.length > 0 &&
        (pending.length === batching.maxItems ||
          pendingBytes + bytes > batching.maxBytes)
      ) cut();
      pendingBytes += json.length + (pending.length > 0 ? 1 : 0);
      pending.push(json);
      made++;
    }
  }
  if (pending.length > 0) cut();
  return bodies;
}
