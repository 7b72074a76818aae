/**
 * The Telemetry API destination: an HTTP handler that turns each POSTed JSON
 * array into buffered envelopes. It reads the whole body as bytes, checks
 * UTF-8 once, cuts the array into the raw bytes of its elements (never
 * parsing an event into values), answers 4xx to what it cannot use, and 200
 * only once the events are in the buffer. An element that is not an event
 * is dropped alone and counted; the rest of the delivery is kept.
 *
 * @module
 */
import type { EventBuffer } from "./buffer.ts";
import type { Logger } from "./log.ts";
import { OWN_LOG_PREFIX } from "./log.ts";
import type { InvocationProgress } from "./progress.ts";
import type { Stats } from "./stats.ts";
import type { BufferedEvent, RawTelemetryEvent } from "./types.ts";
import {
  JsonSyntaxError,
  readEvent,
  scanEventArray,
  type ScannedElement,
} from "./event_scanner.ts";

/** Turns one event into its buffered form (the encoder's job). */
export type EventEncoder = (
  event: RawTelemetryEvent,
  receivedAt: number,
) => { event: BufferedEvent; truncated: boolean };

/** What the handler needs. */
export interface ListenerDeps {
  /** Where accepted events go. */
  buffer: EventBuffer;
  /** Envelope encoder. */
  encode: EventEncoder;
  /** Counters. */
  stats: Stats;
  /** The extension's logger. */
  logger: Logger;
  /** Arrival tracker of runtimeDone/report events. */
  progress: InvocationProgress;
  /** Largest body read; larger ones get 413. */
  maxBodyBytes: number;
  /** Event types not shipped. */
  excludeTypes: ReadonlySet<string>;
  /** Receives this extension's own log lines, so flushes of only those are not logged again. */
  ownLogEvents: WeakSet<BufferedEvent>;
  /** Wall clock. */
  now?: () => number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
/** How this extension's own log lines start, as a JSON string literal. */
const OWN_LOG_LITERAL = new TextEncoder().encode(
  JSON.stringify(OWN_LOG_PREFIX).slice(0, -1),
);

class BadRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Creates the `Deno.serve` handler of the telemetry listener. */
export function createTelemetryHandler(
  deps: ListenerDeps,
): (request: Request) => Promise<Response> {
  const now = deps.now ?? Date.now;
  return async (request) => {
    try {
      if (request.method !== "POST") {
        await request.body?.cancel();
        return text(405, "only POST is accepted");
      }
      // A delivery that cannot fit is refused before it is scanned: on a
      // small function, scanning deliveries only to refuse them (Lambda
      // retries each) took all of the CPU share, and nothing was shipped.
      const declared = Number(request.headers.get("content-length") ?? NaN);
      if (deps.buffer.refuses(declared)) {
        await request.body?.cancel();
        return refuseUnread(deps, declared);
      }
      const body = await readBody(request, deps.maxBodyBytes);
      if (deps.buffer.refuses(body.byteLength)) {
        return refuseUnread(deps, body.byteLength);
      }
      const elements = scanBody(body);
      return accept(body, elements, deps, now());
    } catch (error) {
      if (error instanceof BadRequest) {
        deps.stats.rejectedBodies++;
        deps.logger.warn("rejected a telemetry delivery", {
          status: error.status,
          reason: error.message,
        });
        return text(error.status, error.message);
      }
      deps.logger.error("telemetry listener failed", { error });
      return text(500, "internal error");
    }
  };
}

function accept(
  body: Uint8Array,
  items: ScannedElement[],
  deps: ListenerDeps,
  receivedAt: number,
): Response {
  const accepted: BufferedEvent[] = [];
  const progress: [string, string][] = [];
  let acceptedBytes = 0;
  let invalid = 0;
  let filtered = 0;
  let truncated = 0;
  let own: BufferedEvent[] | undefined;
  let firstProblem: string | undefined;
  for (const item of items) {
    const event = readEvent(body, item);
    if (typeof event === "string") {
      invalid++;
      firstProblem ??= `element at byte ${item.span.start}: ${event}`;
      continue;
    }
    if (
      event.type === "platform.runtimeDone" || event.type === "platform.report"
    ) {
      // Noted even when excluded: the lifecycle waits for their arrival.
      if (event.requestId !== undefined) {
        progress.push([event.type, event.requestId]);
      }
    }
    if (deps.excludeTypes.has(event.type)) {
      filtered++;
      continue;
    }
    const encoded = deps.encode(event, receivedAt);
    accepted.push(encoded.event);
    acceptedBytes += encoded.event.data.byteLength;
    if (encoded.truncated) truncated++;
    if (event.type === "extension" && isOwnLogLine(event)) {
      (own ??= []).push(encoded.event);
    }
  }
  if (!deps.buffer.offer(accepted, acceptedBytes)) {
    // Refusing the whole delivery makes Lambda retry it later; taking part of
    // it could not be acknowledged without losing or duplicating the rest.
    deps.stats.refused += accepted.length;
    deps.stats.refusedDeliveries++;
    deps.logger.warn("buffer full: refused a telemetry delivery", {
      events: accepted.length,
      bytes: acceptedBytes,
      freeBytes: deps.buffer.freeBytes,
    });
    return text(503, "buffer full, retry later");
  }
  const stats = deps.stats;
  stats.received += items.length;
  stats.filtered += filtered;
  stats.truncated += truncated;
  if (invalid > 0) {
    stats.drop("invalid_event", invalid);
    deps.logger.warn("dropped invalid telemetry events", {
      invalid,
      kept: accepted.length,
      first: firstProblem,
    });
  }
  if (own) { for (const event of own) deps.ownLogEvents.add(event); }
  for (const [type, requestId] of progress) {
    deps.progress.note(type as "platform.report", requestId);
  }
  return new Response(null, { status: 200 });
}

async function readBody(
  request: Request,
  maxBytes: number,
): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    await request.body?.cancel();
    throw new BadRequest(
      413,
      `body of ${declared} bytes exceeds the ${maxBytes}-byte limit`,
    );
  }
  if (!request.body) throw new BadRequest(400, "empty body");
  if (declared !== null && /^\d+$/.test(declared)) {
    // The server reads exactly the declared length, so the limit holds;
    // read whole in one native step, this costs half of reading it chunk
    // by chunk through the stream (measured: 0.25 vs 0.45 ms of CPU per
    // 256 KB delivery). Lambda declares the length of every delivery.
    return await request.bytes();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new BadRequest(
        413,
        `body exceeds the ${maxBytes}-byte limit`,
      );
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

function scanBody(body: Uint8Array): ScannedElement[] {
  if (body.byteLength === 0) throw new BadRequest(400, "empty body");
  const report = { nonAscii: false };
  let elements: ScannedElement[];
  try {
    elements = scanEventArray(body, report);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new BadRequest(
      400,
      `body is not a JSON array of events: ${error.message.slice(0, 200)}`,
    );
  }
  if (report.nonAscii) {
    try {
      // Checked on the whole body at once, so multi-byte characters that
      // straddle network chunks are judged whole. An ASCII body (most log
      // lines) skips it: decoding it only to check it was a tenth of the
      // listener's CPU.
      utf8.decode(body);
    } catch {
      throw new BadRequest(400, "body is not valid UTF-8");
    }
  }
  return elements;
}

function refuseUnread(deps: ListenerDeps, bytes: number): Response {
  deps.stats.refusedDeliveries++;
  deps.logger.warn("buffer full: refused a telemetry delivery unread", {
    bytes,
    freeBytes: deps.buffer.freeBytes,
  });
  return text(503, "buffer full, retry later");
}

function isOwnLogLine(event: RawTelemetryEvent): boolean {
  const record = event.recordJson;
  if (!event.recordIsString || record.byteLength < OWN_LOG_LITERAL.byteLength) {
    return false;
  }
  for (let i = 0; i < OWN_LOG_LITERAL.byteLength; i++) {
    if (record[i] !== OWN_LOG_LITERAL[i]) return false;
  }
  return true;
}

function text(status: number, message: string): Response {
  return new Response(message, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
