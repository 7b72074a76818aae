/**
 * Judges what one consumer read against what the sandbox's platform sent:
 * every event the extension acknowledged must come out exactly once, its
 * `record` byte for byte as it was POSTed (the raw JSON text between the
 * envelope's `"record":` and the next member, compared with the text the
 * platform sent), and nothing else may come out. With compression on, data
 * that starts with the codec's magic is decompressed (the extension keeps a
 * payload plain when compressing does not make it smaller) and at least one
 * payload must have been compressed; with it off, none may be. The envelope is parsed only for `time` and
 * `type`; the record is never parsed and printed again, so a round trip that
 * changes a number, an escape or a duplicate key shows up as not byte-exact.
 *
 * @module
 */
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import type { EmittedEvent } from "../sandbox/telemetry_delivery.ts";
import type { ConsumedRecord, ReaderOutput } from "./dump.ts";

/** How the extension was told to compress record payloads. */
export type Compression = "none" | "gzip" | "zstd";

/** Every compression the extension offers. */
export const COMPRESSIONS: readonly Compression[] = ["none", "gzip", "zstd"];

/** An event the stream must hold once, as the platform sent it. */
export interface ExpectedEvent {
  /** Its `time`. */
  time: string;
  /** Its `type`. */
  type: string;
  /** Its `record` exactly as POSTed (JSON text). */
  recordJson: string;
}

/** Byte range `[start, end)`. */
export interface Span {
  /** First byte. */
  start: number;
  /** One past the last byte. */
  end: number;
}

/** The events the extension acknowledged, as the platform serialized them. */
export function expectedEvents(
  emitted: readonly EmittedEvent[],
  subscriber: string,
): ExpectedEvent[] {
  return emitted
    .filter((entry) => entry.acknowledgedBy.includes(subscriber))
    .map(({ event }) => ({
      time: event.time,
      type: event.type,
      // The sandbox POSTs `JSON.stringify(event)`, so this is the record's
      // text as it was on the wire.
      recordJson: JSON.stringify(event.record),
    }));
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Finds the raw value of a top-level member of a JSON object without
 * building any value (so any depth, number or duplicate key is fine). Takes
 * the last of duplicate members, as `JSON.parse` does. Undefined when the
 * text is not an object or has no such member; the text is assumed to be
 * valid JSON (the caller parsed it).
 */
export function topLevelMember(
  bytes: Uint8Array,
  name: string,
): Span | undefined {
  const wanted = JSON.stringify(name);
  let position = skipWhitespace(bytes, 0);
  if (bytes[position] !== 0x7b) return undefined;
  position++;
  let found: Span | undefined;
  const decoder = new TextDecoder();
  for (;;) {
    position = skipWhitespace(bytes, position);
    if (bytes[position] === 0x7d || position >= bytes.length) return found;
    const keyEnd = endOfString(bytes, position);
    const key = decoder.decode(bytes.subarray(position, keyEnd));
    position = skipWhitespace(bytes, keyEnd);
    position = skipWhitespace(bytes, position + 1); // the colon
    const valueEnd = endOfValue(bytes, position);
    // Keys are compared in their decoded form: "\u0072ecord" is "record".
    if (key === wanted || JSON.parse(key) === name) {
      found = { start: position, end: valueEnd };
    }
    position = skipWhitespace(bytes, valueEnd);
    if (bytes[position] === 0x2c) position++;
  }
}

function skipWhitespace(bytes: Uint8Array, position: number): number {
  while (position < bytes.length && WHITESPACE.has(bytes[position])) {
    position++;
  }
  return position;
}

/** One past the closing quote of the string starting at `position`. */
function endOfString(bytes: Uint8Array, position: number): number {
  for (let index = position + 1; index < bytes.length; index++) {
    if (bytes[index] === BACKSLASH) index++;
    else if (bytes[index] === QUOTE) return index + 1;
  }
  return bytes.length;
}

/** One past the value starting at `position`; nesting counted, not recursed. */
function endOfValue(bytes: Uint8Array, position: number): number {
  let depth = 0;
  let index = position;
  while (index < bytes.length) {
    const byte = bytes[index];
    if (byte === QUOTE) {
      index = endOfString(bytes, index);
      if (depth === 0) return index;
      continue;
    }
    if (byte === 0x7b || byte === 0x5b) depth++;
    else if (byte === 0x7d || byte === 0x5d) {
      if (depth === 0) return index; // end of the enclosing object
      depth--;
      if (depth === 0) return index + 1;
    } else if (depth === 0 && (byte === 0x2c || WHITESPACE.has(byte))) {
      return index; // end of a number, true, false or null
    }
    index++;
  }
  return index;
}

/** How each codec's data starts (gzip member, zstd frame). */
const MAGICS: Record<Exclude<Compression, "none">, number[]> = {
  gzip: [0x1f, 0x8b],
  zstd: [0x28, 0xb5, 0x2f, 0xfd],
};
const NEWLINE = 0x0a;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The codec whose magic `data` starts with, if any. */
export function compressionOf(
  data: Uint8Array,
): Exclude<Compression, "none"> | undefined {
  for (const [codec, magic] of Object.entries(MAGICS)) {
    if (magic.every((byte, index) => data[index] === byte)) {
      return codec as Exclude<Compression, "none">;
    }
  }
  return undefined;
}

/**
 * The envelope texts in a user record's data: decompressed when it starts
 * with the magic of the `compression` in use, then split at newlines (one
 * for json and kpl, one or more for ndjson).
 *
 * @throws Error when compressed data does not decompress.
 */
export function envelopeLines(
  data: Uint8Array,
  compression: Compression,
): Uint8Array[] {
  const codec = compressionOf(data);
  const plain = compression !== "none" && codec === compression
    ? new Uint8Array(
      codec === "gzip" ? gunzipSync(data) : zstdDecompressSync(data),
    )
    : data;
  const lines: Uint8Array[] = [];
  let start = 0;
  while (start < plain.length) {
    let end = plain.indexOf(NEWLINE, start);
    if (end === -1) end = plain.length;
    if (end > start) lines.push(plain.subarray(start, end));
    start = end + 1;
  }
  return lines;
}

/** What one consumer got, counted. */
export interface Verdict {
  /** Events the extension acknowledged. */
  expected: number;
  /** Of those, read exactly once and byte-exact. */
  exactlyOnce: number;
  /** Of those, never read (byte-exact). */
  missing: number;
  /** Sightings beyond the first. */
  duplicated: number;
  /** Envelopes whose time, type and parsed record match an event but whose record bytes differ. */
  notByteExact: number;
  /** Envelopes that match no event at all. */
  unexpected: number;
  /** User records or lines that are not (compressed) envelopes. */
  undecodable: number;
  /** User records whose data was compressed with the codec in use. */
  compressed: number;
  /** Whether compression was on (then some data must be compressed). */
  compression: Compression;
  /** User records the consumer handed out. */
  userRecords: number;
  /** User records it discarded (KCL's range check). */
  discarded: number;
  /** Stored records it read. */
  storedRecords: number;
  /** A few examples of what went wrong. */
  problems: string[];
}

/**
 * True when the consumer saw every event exactly once, byte-exact, discarded
 * none, and (compression on) some data came compressed.
 */
export function verdictPassed(verdict: Verdict): boolean {
  return verdict.exactlyOnce === verdict.expected && verdict.expected > 0 &&
    verdict.missing === 0 && verdict.duplicated === 0 &&
    verdict.notByteExact === 0 && verdict.unexpected === 0 &&
    verdict.undecodable === 0 &&
    (verdict.compression === "none" || verdict.compressed > 0) &&
    verdict.discarded === 0;
}

const MAX_PROBLEMS = 5;

/** Compares one consumer's output with the events it should hold. */
export function judgeConsumer(
  output: ReaderOutput,
  expected: readonly ExpectedEvent[],
  compression: Compression,
): Verdict {
  const key = (time: string, type: string, recordJson: string) =>
    `${JSON.stringify([time, type])}${recordJson}`;
  const seen = new Map<string, number>();
  for (const event of expected) {
    const k = key(event.time, event.type, event.recordJson);
    seen.set(k, seen.get(k) ?? 0);
  }
  // Identical events (same time, type and record) are interchangeable.
  const wanted = new Map<string, number>();
  for (const event of expected) {
    const k = key(event.time, event.type, event.recordJson);
    wanted.set(k, (wanted.get(k) ?? 0) + 1);
  }
  const verdict: Verdict = {
    expected: expected.length,
    exactlyOnce: 0,
    missing: 0,
    duplicated: 0,
    notByteExact: 0,
    unexpected: 0,
    undecodable: 0,
    compressed: 0,
    compression,
    userRecords: output.records.length,
    discarded: output.shards.reduce((sum, shard) => sum + shard.discarded, 0),
    storedRecords: output.shards.reduce((sum, shard) => sum + shard.records, 0),
    problems: [],
  };
  // Built on the first envelope that matches nothing: the events' keys
  // with both sides printed again, to tell a changed record from a stranger.
  let reprintedSet: Set<string> | undefined;
  const reprintedKeys = () =>
    reprintedSet ??= new Set(
      expected.map((event) =>
        key(event.time, event.type, reprinted(event.recordJson) ?? "")
      ),
    );
  const problem = (text: string) => {
    if (verdict.problems.length < MAX_PROBLEMS) verdict.problems.push(text);
  };
  for (const record of output.records) {
    if (compression !== "none" && compressionOf(record.data) === compression) {
      verdict.compressed++;
    }
    let lines: Uint8Array[];
    try {
      lines = envelopeLines(record.data, compression);
    } catch (error) {
      verdict.undecodable++;
      problem(`${where(record)}: ${(error as Error).message}`);
      continue;
    }
    for (const line of lines) {
      const envelope = parseEnvelope(line);
      if (!envelope) {
        verdict.undecodable++;
        problem(
          `${where(record)}: not a JSON envelope with time, type, record`,
        );
        continue;
      }
      const k = key(envelope.time, envelope.type, envelope.recordJson);
      const count = seen.get(k);
      if (count === undefined) {
        const again = reprinted(envelope.recordJson);
        if (
          again !== undefined &&
          reprintedKeys().has(key(envelope.time, envelope.type, again))
        ) {
          verdict.notByteExact++;
          problem(
            `${where(record)}: ${envelope.type} record not byte-exact: ${
              envelope.recordJson.slice(0, 80)
            }`,
          );
        } else {
          verdict.unexpected++;
          problem(`${where(record)}: unexpected ${envelope.type} event`);
        }
        continue;
      }
      seen.set(k, count + 1);
    }
  }
  for (const [k, count] of seen) {
    const copies = wanted.get(k) ?? 0;
    verdict.exactlyOnce += Math.min(count, copies);
    verdict.missing += Math.max(0, copies - count);
    verdict.duplicated += Math.max(0, count - copies);
  }
  if (compression !== "none" && verdict.compressed === 0) {
    problem(`compression ${compression}: no data came compressed`);
  }
  if (verdict.missing > 0) {
    problem(`${verdict.missing} event(s) never came out`);
  }
  if (verdict.discarded > 0) {
    const shards = output.shards.filter((shard) => shard.discarded > 0)
      .map((shard) => `${shard.shardId}: ${shard.discarded}`);
    problem(`user records discarded per shard: ${shards.join(", ")}`);
  }
  return verdict;
}

interface ParsedEnvelope {
  time: string;
  type: string;
  recordJson: string;
}

function parseEnvelope(line: Uint8Array): ParsedEnvelope | undefined {
  let text: string;
  let value: Record<string, unknown>;
  try {
    text = strictUtf8.decode(line);
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value?.time !== "string" || typeof value.type !== "string") {
    return undefined;
  }
  const span = topLevelMember(line, "record");
  if (!span) return undefined;
  return {
    time: value.time,
    type: value.type,
    recordJson: strictUtf8.decode(line.subarray(span.start, span.end)),
  };
}

/** The record's text as `JSON.stringify` prints it again, undefined when not JSON. */
function reprinted(recordJson: string): string | undefined {
  try {
    return JSON.stringify(JSON.parse(recordJson));
  } catch {
    return undefined;
  }
}

function where(record: ConsumedRecord): string {
  return `${record.shardId} ${record.sequenceNumber}${
    record.subSequenceNumber === null ? "" : `/${record.subSequenceNumber}`
  }`;
}
