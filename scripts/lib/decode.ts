/**
 * Reads the envelopes back out of a Kinesis record the extension wrote, in
 * any of its formats: KPL aggregates (recognized by their magic), one JSON
 * envelope per record, or newline-delimited envelopes — each compressed or
 * not (gzip and zstd mark themselves with their magic bytes). For
 * consumers: the demo, the tail command and the tests.
 *
 * @module
 */
import { gunzipSync, zstdDecompressSync } from "node:zlib";
import { compressionOf } from "../../extension/compression.ts";
import { deaggregate } from "../../extension/kpl.ts";

/** One shipped telemetry event, as the extension lays it out. */
export interface Envelope {
  /** ISO-8601 time stamp set by Lambda. */
  time: string;
  /** Telemetry event type (`platform.report`, `function`, …). */
  type: string;
  /**
   * The event's record exactly as Lambda sent it; when `truncated` is
   * present, a prefix of the original record's JSON text (or of the string
   * itself when the record was a string).
   */
  record: unknown;
  /** The function the extension ran with, qualified: `name:version` (see {@link functionOf}). */
  function: string;
  /** AWS region of the function. */
  region: string;
  /** Account id, null when Lambda did not give it. */
  accountId: string | null;
  /** Id of the execution environment that shipped the event. */
  environmentId: string;
  /**
   * The event's number within its environment (1, 2, … in arrival order):
   * `environmentId` + `seq` identifies the event, and a duplicate (see
   * `possibleDuplicates`) repeats it.
   */
  seq: number;
  /** Present only when `record` was cut to fit a Kinesis record. */
  truncated?: { originalBytes: number };
}

/** The function name and version of an envelope's qualified `function`. */
export function functionOf(
  envelope: Envelope,
): { name: string; version: string } {
  const at = envelope.function.lastIndexOf(":");
  return {
    name: envelope.function.slice(0, at),
    version: envelope.function.slice(at + 1),
  };
}

/** One envelope found in a record. */
export interface DecodedEvent {
  /** The parsed envelope. */
  envelope: Envelope;
  /** The user record's own partition key (KPL), undefined for json/ndjson. */
  partitionKey: string | undefined;
  /** The envelope's raw UTF-8 bytes (decompressed when it was compressed). */
  bytes: Uint8Array;
}

/** A record that does not hold what the extension writes. */
export class RecordDecodeError extends Error {
  /** Names this error class in stack traces and logs. */
  override name = "RecordDecodeError";
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const NEWLINE = 0x0a;

/**
 * Decodes every envelope in one Kinesis record's data, in order.
 *
 * @throws RecordDecodeError when the data is not a well-formed record of
 * one of the extension's formats.
 */
export function decodeRecord(data: Uint8Array): DecodedEvent[] {
  let userRecords;
  try {
    userRecords = deaggregate(data);
  } catch (error) {
    throw new RecordDecodeError((error as Error).message, { cause: error });
  }
  if (userRecords !== null) {
    return userRecords.map((user, i) => {
      const where = `KPL user record ${i}`;
      const bytes = decompressed(user.data, where);
      return {
        envelope: parseEnvelope(bytes, where),
        partitionKey: user.partitionKey,
        bytes,
      };
    });
  }
  data = decompressed(data, "record");
  const events: DecodedEvent[] = [];
  let start = 0;
  let line = 0;
  while (start <= data.byteLength) {
    let end = data.indexOf(NEWLINE, start);
    if (end === -1) end = data.byteLength;
    if (end > start) {
      const bytes = data.subarray(start, end);
      events.push({
        envelope: parseEnvelope(bytes, `line ${line + 1}`),
        partitionKey: undefined,
        bytes,
      });
    }
    start = end + 1;
    line++;
  }
  if (events.length === 0) {
    throw new RecordDecodeError("record holds no envelope (empty data)");
  }
  return events;
}

/**
 * `data` decompressed when it starts with the gzip or zstd magic, else
 * `data` itself: an envelope starts with `{`, never with either magic.
 */
export function decompressed(data: Uint8Array, where = "data"): Uint8Array {
  const compression = compressionOf(data);
  if (compression === "none") return data;
  try {
    const out = compression === "gzip"
      ? gunzipSync(data)
      : zstdDecompressSync(data);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (error) {
    throw new RecordDecodeError(
      `${where}: corrupt ${compression} data (${(error as Error).message})`,
      { cause: error },
    );
  }
}

function parseEnvelope(bytes: Uint8Array, where: string): Envelope {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new RecordDecodeError(`${where}: not valid UTF-8`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RecordDecodeError(
      `${where}: not JSON (${(error as Error).message}): ${preview(text)}`,
    );
  }
  const problem = envelopeProblem(value);
  if (problem) {
    throw new RecordDecodeError(
      `${where}: not an envelope (${problem}): ${preview(text)}`,
    );
  }
  return value as Envelope;
}

/** Names the first way `value` differs from an {@link Envelope}, if any. */
function envelopeProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "not a JSON object";
  }
  const envelope = value as Record<string, unknown>;
  for (const key of ["time", "type", "region", "environmentId"]) {
    if (typeof envelope[key] !== "string") return `"${key}" is not a string`;
  }
  if (!("record" in envelope)) return `"record" is missing`;
  if (
    typeof envelope.function !== "string" || !envelope.function.includes(":")
  ) {
    return `"function" is not "name:version"`;
  }
  if (envelope.accountId !== null && typeof envelope.accountId !== "string") {
    return `"accountId" is neither a string nor null`;
  }
  if (!Number.isSafeInteger(envelope.seq) || (envelope.seq as number) < 1) {
    return `"seq" is not a positive integer`;
  }
  if ("truncated" in envelope) {
    const marker = envelope.truncated as Record<string, unknown> | null;
    if (
      typeof marker !== "object" || marker === null ||
      !Number.isSafeInteger(marker.originalBytes)
    ) {
      return `"truncated" is not {originalBytes}`;
    }
    if (typeof envelope.record !== "string") {
      return `a truncated "record" must be a string`;
    }
  }
  return undefined;
}

function preview(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
