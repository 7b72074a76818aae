/**
 * Cuts buffered events into PutRecords requests: events into records (one
 * per event, newline-delimited, or KPL aggregates), records into batches
 * that respect the Kinesis request limits. Order is kept everywhere and
 * every event lands in exactly one record.
 *
 * @module
 */
import { compressIfSmaller, type Compressor } from "./compression.ts";
import { hashKeyOf, KplAggregateBuilder } from "./kpl.ts";
import { utf8ByteLength } from "./encoder.ts";
import {
  type Batch,
  type BufferedEvent,
  KINESIS_LIMITS,
  type OutgoingRecord,
  type RecordFormat,
} from "./types.ts";

/** Options of {@link buildBatches}. */
export interface BatchOptions {
  /** How events are laid out in records. */
  format: RecordFormat;
  /** Largest record, counting data plus UTF-8 partition key bytes. */
  maxRecordBytes: number;
  /**
   * Largest request (data plus keys) of more than one record; default
   * {@link MAX_BATCH_BYTES}. A larger record is sent alone.
   */
  maxRequestBytes?: number;
  /** Most records per request; default 500. */
  maxRecordsPerRequest?: number;
  /**
   * Compresses each `ndjson` record's payload (kept only when smaller);
   * records are packed by their uncompressed size.
   */
  compress?: Compressor;
}

/**
 * Largest record that packs more than one event, even where the stream takes
 * 10 MiB records: AWS keeps per-shard throughput at 1 MB/s and asks for large
 * records to be rare, and a Lambda consumer takes at most 6 MB per batch. A
 * record above it is only ever one event that needs it.
 */
export const MAX_PACKED_RECORD_BYTES = KINESIS_LIMITS.defaultMaxRecordBytes;

/**
 * Largest PutRecords request (data plus keys), even where 10 MiB requests
 * are allowed: a record larger than this goes alone in its own request,
 * which the 10 MiB request limit of large-record streams admits.
 */
export const MAX_BATCH_BYTES = KINESIS_LIMITS.maxBytesPerRequest;

/**
 * Packs `events` into records of `options.format` and the records into
 * PutRecords-sized batches, in order.
 *
 * @throws RangeError when an option is out of range or one event cannot
 * fit a record on its own (the encoder's limit prevents that).
 */
export function buildBatches(
  events: readonly BufferedEvent[],
  options: BatchOptions,
): Batch[] {
  const maxRecordBytes = options.maxRecordBytes;
  const maxRequestBytes = Math.min(
    options.maxRequestBytes ?? MAX_BATCH_BYTES,
    MAX_BATCH_BYTES,
  );
  const maxRecords = options.maxRecordsPerRequest ??
    KINESIS_LIMITS.maxRecordsPerRequest;
  requireLimit(
    "maxRecordBytes",
    maxRecordBytes,
    1,
    KINESIS_LIMITS.largestMaxRecordBytes,
  );
  requireLimit("maxRequestBytes", maxRequestBytes, 1, Infinity);
  requireLimit(
    "maxRecordsPerRequest",
    maxRecords,
    1,
    KINESIS_LIMITS.maxRecordsPerRequest,
  );

  const batches: Batch[] = [];
  let current: Batch = { records: [], bytes: 0 };
  const emit = (record: OutgoingRecord, recordBytes: number): void => {
    // A record larger than the request cap starts a request and, as any
    // record that follows overflows it, travels alone.
    if (
      current.records.length > 0 &&
      (current.records.length === maxRecords ||
        current.bytes + recordBytes > maxRequestBytes)
    ) {
      batches.push(current);
      current = { records: [], bytes: 0 };
    }
    current.records.push(record);
    current.bytes += recordBytes;
  };

  switch (options.format) {
    case "json":
      packOnePerRecord(events, maxRecordBytes, emit);
      break;
    case "ndjson":
      packNewlineDelimited(events, maxRecordBytes, emit, options.compress);
      break;
    case "kpl":
      packAggregated(events, maxRecordBytes, emit);
      break;
    default:
      throw new RangeError(`unknown record format: ${options.format}`);
  }
  if (current.records.length > 0) batches.push(current);
  return batches;
}

type Emit = (record: OutgoingRecord, recordBytes: number) => void;

function packOnePerRecord(
  events: readonly BufferedEvent[],
  maxRecordBytes: number,
  emit: Emit,
): void {
  for (let i = 0; i < events.length; i++) {
    const event = events[i];
    const recordBytes = event.data.byteLength +
      utf8ByteLength(event.partitionKey);
    if (recordBytes > maxRecordBytes) throw tooLarge(i, event, maxRecordBytes);
    // The envelope is already the record's payload: no copy.
    emit(
      { data: event.data, partitionKey: event.partitionKey, events: [event] },
      recordBytes,
    );
  }
}

const NEWLINE = 0x0a;

function packNewlineDelimited(
  events: readonly BufferedEvent[],
  maxRecordBytes: number,
  emit: Emit,
  compress: Compressor | undefined,
): void {
  let start = 0;
  while (start < events.length) {
    const first = events[start];
    const keyBytes = utf8ByteLength(first.partitionKey);
    let dataBytes = first.data.byteLength + 1;
    if (dataBytes + keyBytes > maxRecordBytes) {
      throw tooLarge(start, first, maxRecordBytes);
    }
    const packLimit = Math.min(maxRecordBytes, MAX_PACKED_RECORD_BYTES);
    let end = start + 1;
    while (
      end < events.length &&
      dataBytes + events[end].data.byteLength + 1 + keyBytes <= packLimit
    ) {
      dataBytes += events[end].data.byteLength + 1;
      end++;
    }
    const data = new Uint8Array(dataBytes);
    let at = 0;
    for (let i = start; i < end; i++) {
      data.set(events[i].data, at);
      at += events[i].data.byteLength;
      data[at++] = NEWLINE;
    }
    const payload = compressIfSmaller(compress, data);
    emit(
      {
        data: payload,
        partitionKey: first.partitionKey,
        events: events.slice(start, end),
      },
      payload.byteLength + keyBytes,
    );
    start = end;
  }
}

function packAggregated(
  events: readonly BufferedEvent[],
  maxRecordBytes: number,
  emit: Emit,
): void {
  const builder = new KplAggregateBuilder();
  const packLimit = Math.min(maxRecordBytes, MAX_PACKED_RECORD_BYTES);
  let start = 0;
  while (start < events.length) {
    const first = events[start];
    const outerKeyBytes = utf8ByteLength(first.partitionKey);
    // Every user record maps where Kinesis puts the aggregate, so KCL's
    // per-shard range check keeps them all, across reshardings too.
    builder.reset(hashKeyOf(first.partitionKey));
    if (
      builder.sizeWith(first.partitionKey, first.data.byteLength) +
          outerKeyBytes > maxRecordBytes
    ) {
      throw tooLarge(start, first, maxRecordBytes);
    }
    builder.add(first.partitionKey, first.data);
    let end = start + 1;
    while (
      end < events.length &&
      builder.sizeWith(events[end].partitionKey, events[end].data.byteLength) +
            outerKeyBytes <= packLimit
    ) {
      builder.add(events[end].partitionKey, events[end].data);
      end++;
    }
    const data = builder.build();
    emit(
      {
        data,
        partitionKey: first.partitionKey,
        events: events.slice(start, end),
      },
      data.byteLength + outerKeyBytes,
    );
    start = end;
  }
}

function requireLimit(
  name: string,
  value: number,
  min: number,
  max: number,
): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `${name} must be an integer in [${min}, ${max}], got ${value}`,
    );
  }
}

function tooLarge(
  index: number,
  event: BufferedEvent,
  maxRecordBytes: number,
): RangeError {
  return new RangeError(
    `event ${index} (${event.data.byteLength} bytes, key ` +
      `"${event.partitionKey.slice(0, 64)}") cannot fit a record of ` +
      `${maxRecordBytes} bytes even alone; envelopes must be truncated ` +
      `by the encoder first`,
  );
}
