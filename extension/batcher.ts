/**
 * Cuts buffered events into PutRecords requests: events into records (one
 * per event, newline-delimited, or KPL aggregates), records into batches
 * that respect the Kinesis request limits. Order is kept everywhere and
 * every event lands in exactly one record.
 *
 * @module
 */
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
  /** Largest request (data plus keys); default {@link requestByteLimit}. */
  maxRequestBytes?: number;
  /** Most records per request; default 500. */
  maxRecordsPerRequest?: number;
}

/**
 * PutRecords request cap (data plus keys) for a stream whose records may be
 * up to `maxRecordBytes`. The PutRecords API reference allows 10 MiB
 * requests since Kinesis accepted 10 MiB records; 5 MiB requests are kept
 * for streams whose records fit in them, because that limit holds for every
 * endpoint and emulator, and 10 MiB is used only when one record needs it.
 */
export function requestByteLimit(maxRecordBytes: number): number {
  return maxRecordBytes > KINESIS_LIMITS.maxBytesPerRequest
    ? LARGE_RECORD_REQUEST_BYTES
    : KINESIS_LIMITS.maxBytesPerRequest;
}

/** PutRecords request cap (data plus keys) documented alongside 10 MiB records. */
export const LARGE_RECORD_REQUEST_BYTES = 10 * 1024 * 1024;

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
  const maxRequestBytes = options.maxRequestBytes ??
    requestByteLimit(maxRecordBytes);
  const maxRecords = options.maxRecordsPerRequest ??
    KINESIS_LIMITS.maxRecordsPerRequest;
  requireLimit("maxRecordBytes", maxRecordBytes, 1, Infinity);
  requireLimit("maxRequestBytes", maxRequestBytes, maxRecordBytes, Infinity);
  requireLimit(
    "maxRecordsPerRequest",
    maxRecords,
    1,
    KINESIS_LIMITS.maxRecordsPerRequest,
  );

  const batches: Batch[] = [];
  let current: Batch = { records: [], bytes: 0 };
  const emit = (record: OutgoingRecord, recordBytes: number): void => {
    if (
      current.records.length === maxRecords ||
      current.bytes + recordBytes > maxRequestBytes
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
      packNewlineDelimited(events, maxRecordBytes, emit);
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
): void {
  let start = 0;
  while (start < events.length) {
    const first = events[start];
    const keyBytes = utf8ByteLength(first.partitionKey);
    let dataBytes = first.data.byteLength + 1;
    if (dataBytes + keyBytes > maxRecordBytes) {
      throw tooLarge(start, first, maxRecordBytes);
    }
    let end = start + 1;
    while (
      end < events.length &&
      dataBytes + events[end].data.byteLength + 1 + keyBytes <= maxRecordBytes
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
    emit(
      {
        data,
        partitionKey: first.partitionKey,
        events: events.slice(start, end),
      },
      dataBytes + keyBytes,
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
            outerKeyBytes <= maxRecordBytes
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
