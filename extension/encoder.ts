/**
 * Turns one telemetry event into its envelope (UTF-8 JSON bytes) and picks
 * its partition key. Envelopes larger than the configured limit are shipped
 * with their `record` cut to a string prefix and a `truncated` marker.
 *
 * This runs once per received event, so the constant part of the envelope is
 * serialized once per encoder and every event costs one copy of its own
 * bytes: nothing is parsed or stringified again.
 *
 * @module
 */
import { compressIfSmaller, type Compressor } from "./compression.ts";
import type {
  BufferedEvent,
  EnvelopeContext,
  RawTelemetryEvent,
} from "./types.ts";

/** How the partition key of an event is chosen. */
export type PartitionKeyStrategy = "requestId" | "environment" | "random";

/** Length of the ids {@link newEnvironmentId} makes. */
export const ENVIRONMENT_ID_CHARS = 16;

/**
 * A random id for one execution environment: 96 random bits as 16
 * base64url characters — as unique as a UUID's 122 bits for this purpose
 * (ids of live environments never meet), in less than half its bytes,
 * which every envelope repeats.
 */
export function newEnvironmentId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_");
}

/** Longest partition key Kinesis accepts, in characters. */
export const MAX_PARTITION_KEY_CHARS = 256;

/** Options of {@link createEnvelopeEncoder}. */
export interface EnvelopeEncoderOptions {
  /** Context stamped on every envelope. */
  context: EnvelopeContext;
  /** Partition key strategy. */
  partitionKey: PartitionKeyStrategy;
  /** Largest envelope in bytes; larger ones are truncated to fit. */
  maxEnvelopeBytes: number;
  /** Source of keys for the `random` strategy (default `crypto.randomUUID`). */
  randomKey?: () => string;
  /**
   * Compresses each finished envelope (formats `json` and `kpl`), kept
   * only when smaller. The limit applies to the uncompressed envelope.
   */
  compress?: Compressor;
}

/** What encoding one event produced. */
export interface EncodedEvent {
  /** The envelope ready for the buffer (`uncertain` is false). */
  event: BufferedEvent;
  /** True when `record` was cut to fit `maxEnvelopeBytes`. */
  truncated: boolean;
  /** Size in bytes of the full, untruncated envelope. */
  originalBytes: number;
}

/** Encodes one event received at `receivedAt` (epoch ms). */
export type EnvelopeEncoder = (
  event: RawTelemetryEvent,
  receivedAt: number,
) => EncodedEvent;

/** Digits of the largest `originalBytes` or `seq` (a safe integer). */
const MAX_SAFE_DIGITS = String(Number.MAX_SAFE_INTEGER).length;
/** Introduces the event's sequence number, the last context field. */
const SEQ_HEAD = ',"seq":';

const utf8 = new TextEncoder();
const lenientUtf8 = new TextDecoder();
const TIME_HEAD = utf8.encode('{"time":');
const TYPE_HEAD = utf8.encode(',"type":');
const RECORD_HEAD = utf8.encode(',"record":');

/**
 * Creates an encoder bound to one execution environment's context. The
 * envelope is spliced from the event's own bytes: `time`, `type` and
 * `record` reach the stream exactly as Lambda sent them. Each envelope
 * gets the next `seq` (1, 2, …), so `environmentId` + `seq` is an id of the
 * event that is unique and, within the environment, increases in the
 * order events arrived; a re-sent event keeps its id. Create one encoder per
 * execution environment.
 *
 * @throws RangeError when `maxEnvelopeBytes` cannot hold even an envelope
 * with empty time, type and record plus the truncation marker.
 */
export function createEnvelopeEncoder(
  options: EnvelopeEncoderOptions,
): EnvelopeEncoder {
  const { context, maxEnvelopeBytes } = options;
  // Shortest form of what a consumer needs: the qualified function name
  // (function names never hold ":"), region, account, environment.
  const contextFields = `,"function":${
    JSON.stringify(`${context.functionName}:${context.functionVersion}`)
  },"region":${JSON.stringify(context.region)},"accountId":${
    JSON.stringify(context.accountId)
  },"environmentId":${JSON.stringify(context.environmentId)}`;
  const contextHead = utf8.encode(contextFields + SEQ_HEAD);
  const smallestTruncated = utf8ByteLength(
    `{"time":"","type":"","record":""${contextFields}${SEQ_HEAD}${
      "9".repeat(MAX_SAFE_DIGITS)
    },"truncated":{"originalBytes":${"9".repeat(MAX_SAFE_DIGITS)}}}`,
  );
  if (
    !Number.isSafeInteger(maxEnvelopeBytes) ||
    maxEnvelopeBytes < smallestTruncated
  ) {
    throw new RangeError(
      `maxEnvelopeBytes must be an integer of at least ${smallestTruncated} ` +
        `for this context, got ${maxEnvelopeBytes}`,
    );
  }
  const chooseKey = createPartitionKeyChooser(
    options.partitionKey,
    context.environmentId,
    options.randomKey ?? (() => crypto.randomUUID()),
  );
  const fixedBytes = TIME_HEAD.byteLength + TYPE_HEAD.byteLength +
    RECORD_HEAD.byteLength + contextHead.byteLength;
  // The event id's sequence: one encoder per execution environment.
  let sequence = 0;
  const allocate = options.compress
    ? (bytes: number) => new Uint8Array(bytes)
    : createSlabAllocator();

  return (event, receivedAt) => {
    const partitionKey = chooseKey(event.requestId);
    const seq = String(++sequence);
    // The digits and the closing brace: ASCII, written without an encoder.
    const originalBytes = fixedBytes + event.timeJson.byteLength +
      event.typeJson.byteLength + event.recordJson.byteLength +
      seq.length + 1;
    if (originalBytes <= maxEnvelopeBytes) {
      const data = allocate(originalBytes);
      let at = put(data, 0, TIME_HEAD);
      at = put(data, at, event.timeJson);
      at = put(data, at, TYPE_HEAD);
      at = put(data, at, event.typeJson);
      at = put(data, at, RECORD_HEAD);
      at = put(data, at, event.recordJson);
      at = put(data, at, contextHead);
      for (let i = 0; i < seq.length; i++) data[at++] = seq.charCodeAt(i);
      data[at] = 0x7d;
      return {
        event: {
          data: compressIfSmaller(options.compress, data),
          partitionKey,
          receivedAt,
          uncertain: false,
        },
        truncated: false,
        originalBytes,
      };
    }
    const recordText = lenientUtf8.decode(event.recordJson);
    const text = truncatedEnvelopeText({
      event,
      head: `{"time":${lenientUtf8.decode(event.timeJson)},"type":${
        lenientUtf8.decode(event.typeJson)
      },"record":`,
      recordText: event.recordIsString ? JSON.parse(recordText) : recordText,
      contextFields: contextFields + SEQ_HEAD + seq,
      originalBytes,
      maxEnvelopeBytes,
    });
    return {
      event: {
        data: compressIfSmaller(options.compress, utf8.encode(text)),
        partitionKey,
        receivedAt,
        uncertain: false,
      },
      truncated: true,
      originalBytes,
    };
  };
}

/** Size of the slabs envelopes are cut from. */
export const ENVELOPE_SLAB_BYTES = 64 * 1024;

/**
 * Hands out envelopes as views into 64 KiB slabs instead of one buffer
 * each: a buffer of its own per event (an off-heap backing store that the
 * garbage collector tracks one by one) was most of the listener's
 * allocation cost. A slab lives until its last envelope is delivered or
 * dropped. The buffer is drained oldest first, so that is usually one
 * slab beyond what the buffer counts; envelopes put back after a partial
 * failure keep their slabs until they are sent again (the retry comes
 * next). Envelopes of more than a quarter slab get their own buffer. Not
 * used with compression: an envelope that compresses smaller is replaced,
 * and one left uncompressed would keep a mostly dead slab alive.
 */
export function createSlabAllocator(
  slabBytes: number = ENVELOPE_SLAB_BYTES,
): (bytes: number) => Uint8Array {
  let slab = new Uint8Array(0);
  let used = 0;
  return (bytes) => {
    if (bytes > slabBytes / 4) return new Uint8Array(bytes);
    if (used + bytes > slab.byteLength) {
      slab = new Uint8Array(slabBytes);
      used = 0;
    }
    const view = slab.subarray(used, used + bytes);
    used += bytes;
    return view;
  };
}

function put(data: Uint8Array, at: number, part: Uint8Array): number {
  data.set(part, at);
  return at + part.byteLength;
}

interface TruncationInput {
  event: { timeJson: Uint8Array; type: string };
  head: string;
  recordText: string;
  contextFields: string;
  originalBytes: number;
  maxEnvelopeBytes: number;
}

/** Builds the text of a truncated envelope; its UTF-8 size is ≤ maxEnvelopeBytes. */
function truncatedEnvelopeText(input: TruncationInput): string {
  const { event, contextFields, maxEnvelopeBytes } = input;
  const tail =
    `${contextFields},"truncated":{"originalBytes":${input.originalBytes}}}`;
  const tailBytes = utf8ByteLength(tail);
  const recordRoom = maxEnvelopeBytes - utf8ByteLength(input.head) - tailBytes;
  if (recordRoom >= 2) {
    return input.head + jsonStringPrefix(input.recordText, recordRoom) + tail;
  }
  // Only a pathological time or type (megabytes long) gets here: cutting
  // them too is better than failing the event, which would lose it whole.
  const timeText: string = JSON.parse(lenientUtf8.decode(event.timeJson));
  const typeText = event.type;
  const room = maxEnvelopeBytes - tailBytes -
    utf8ByteLength(`{"time":"","type":"","record":""`);
  const timeLiteral = jsonStringPrefix(timeText, 2 + Math.floor(room / 2));
  const typeLiteral = jsonStringPrefix(
    typeText,
    2 + room - (utf8ByteLength(timeLiteral) - 2),
  );
  return `{"time":${timeLiteral},"type":${typeLiteral},"record":""${tail}`;
}

/**
 * JSON string literal (quotes included) of the longest prefix of `text`
 * whose UTF-8 encoding fits `maxLiteralBytes`. The prefix ends on a code
 * point boundary. Runs in time linear in the prefix length.
 */
export function jsonStringPrefix(
  text: string,
  maxLiteralBytes: number,
): string {
  const room = maxLiteralBytes - 2;
  if (room < 0) {
    throw new RangeError(`a JSON string needs 2 bytes, got ${maxLiteralBytes}`);
  }
  let used = 0;
  let end = 0;
  while (end < text.length) {
    const code = text.charCodeAt(end);
    let units = 1;
    let cost: number;
    if (code < 0x80) {
      if (code === 0x22 || code === 0x5c) cost = 2;
      else if (code >= 0x20) cost = 1;
      else cost = SHORT_ESCAPES.has(code) ? 2 : 6;
    } else if (code < 0x800) {
      cost = 2;
    } else if (code >= 0xd800 && code <= 0xdfff) {
      const next = end + 1 < text.length ? text.charCodeAt(end + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        cost = 4;
        units = 2;
      } else {
        cost = 6; // JSON.stringify writes a lone surrogate as \uXXXX
      }
    } else {
      cost = 3;
    }
    if (used + cost > room) break;
    used += cost;
    end += units;
  }
  return JSON.stringify(end === text.length ? text : text.slice(0, end));
}

/** Control characters JSON.stringify writes as a two-byte escape. */
const SHORT_ESCAPES = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d]);

/**
 * Number of bytes `TextEncoder` produces for `text` (a lone surrogate
 * becomes U+FFFD, 3 bytes), without allocating.
 */
export function utf8ByteLength(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) {
      bytes += 1;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // 4 bytes for 2 code units
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/**
 * Returns the function that picks an event's partition key from its
 * `record.requestId`. Keys never exceed {@link MAX_PARTITION_KEY_CHARS} and
 * never end in half a surrogate pair.
 */
export function createPartitionKeyChooser(
  strategy: PartitionKeyStrategy,
  environmentId: string,
  randomKey: () => string = () => crypto.randomUUID(),
): (requestId: string | undefined) => string {
  const fallback = capPartitionKey(environmentId);
  switch (strategy) {
    case "environment":
      return () => fallback;
    case "random":
      return () => capPartitionKey(randomKey());
    case "requestId":
      return (requestId) =>
        requestId !== undefined && requestId.length > 0
          ? capPartitionKey(requestId)
          : fallback;
    default:
      throw new RangeError(`unknown partition key strategy: ${strategy}`);
  }
}

function capPartitionKey(key: string): string {
  if (key.length <= MAX_PARTITION_KEY_CHARS) return key;
  const last = key.charCodeAt(MAX_PARTITION_KEY_CHARS - 1);
  const cut = last >= 0xd800 && last <= 0xdbff
    ? MAX_PARTITION_KEY_CHARS - 1
    : MAX_PARTITION_KEY_CHARS;
  return key.slice(0, cut);
}
