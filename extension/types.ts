/**
 * Shapes shared by the extension's modules. Kept apart so that every module
 * depends on data, not on another module's implementation.
 *
 * @module
 */

/** One event exactly as the Telemetry API delivers it. */
export interface TelemetryEvent {
  /** ISO-8601 time stamp set by Lambda. */
  time: string;
  /** `platform.*`, `function`, `extension`, or a type Lambda adds later. */
  type: string;
  /** A string (text log format) or an object (JSON log format, platform events). */
  record: unknown;
}

/**
 * One event as the listener cut it out of the body: the raw JSON bytes of
 * its `time`, `type` and `record` (what the envelope is made of) and the
 * few values the extension itself needs, decoded.
 */
export interface RawTelemetryEvent {
  /** `type`, decoded. */
  type: string;
  /** The `time` string literal exactly as sent. */
  timeJson: Uint8Array;
  /** The `type` string literal exactly as sent. */
  typeJson: Uint8Array;
  /** The `record` value exactly as sent (`null` when absent). */
  recordJson: Uint8Array;
  /** Whether `record` is a string (text log format). */
  recordIsString: boolean;
  /** `record.requestId` when the record is an object holding a string one. */
  requestId: string | undefined;
}

/** What the extension knows about where it runs; stamped on every shipped event. */
export interface EnvelopeContext {
  /** Function name from the register answer. */
  functionName: string;
  /** Function version from the register answer. */
  functionVersion: string;
  /** AWS region of the function. */
  region: string;
  /** Account id (from the `accountId` register feature), null when Lambda did not give it. */
  accountId: string | null;
  /** A random id of this execution environment (one per extension process, see `newEnvironmentId`). */
  environmentId: string;
}

/**
 * One telemetry event accepted into the buffer, already serialized as its
 * envelope (UTF-8 JSON bytes) and given its partition key.
 */
export interface BufferedEvent {
  /** The envelope as UTF-8 JSON, at most the configured envelope limit. */
  data: Uint8Array;
  /** Kinesis partition key (ASCII, 1–256 characters). */
  partitionKey: string;
  /** Epoch ms when the listener accepted it (wall clock, keeps running while frozen). */
  receivedAt: number;
  /** True once a request carrying it ended with an unknown outcome (possible duplicate). */
  uncertain: boolean;
  /**
   * Requests carrying it that ended with an unknown outcome: each may have
   * stored a copy (undefined: none).
   */
  unknownSends?: number;
}

/** Record formats the extension can write. */
export type RecordFormat = "kpl" | "json" | "ndjson";

/** One Kinesis record ready for PutRecords, with the events it carries. */
export interface OutgoingRecord {
  /** Record payload. */
  data: Uint8Array;
  /** Outer partition key. */
  partitionKey: string;
  /** The buffered events whose envelopes are inside `data`, in order. */
  events: BufferedEvent[];
}

/** One PutRecords request worth of records (≤ 500 records, ≤ 5 MiB with keys). */
export interface Batch {
  /** Records in request order. */
  records: OutgoingRecord[];
  /** Sum of data bytes plus UTF-8 partition key bytes. */
  bytes: number;
}

/** Kinesis PutRecords limits the batcher must respect. */
export const KINESIS_LIMITS = {
  /** Records per PutRecords request. */
  maxRecordsPerRequest: 500,
  /** Bytes (data + partition keys) per PutRecords request. */
  maxBytesPerRequest: 5 * 1024 * 1024,
  /** Default per-record limit (data + partition key). */
  defaultMaxRecordBytes: 1024 * 1024,
  /** Opt-in per-record limit of large-record streams. */
  largestMaxRecordBytes: 10 * 1024 * 1024,
} as const;

/**
 * Room kept in every record for partition keys and framing (KPL header,
 * protobuf tags, the explicit hash key, MD5), so any envelope up to
 * `maxRecordBytes - RECORD_OVERHEAD_BYTES` fits one record in every format.
 * Compression never adds to it: a payload is compressed only when that
 * makes it smaller.
 */
export const RECORD_OVERHEAD_BYTES = 2048;
