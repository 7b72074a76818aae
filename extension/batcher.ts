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
  const cursor = new BatchCursor(events, options);
  const batches: Batch[] = [];
  for (let batch = cursor.next(); batch; batch = cursor.next()) {
    batches.push(batch);
  }
  return batches;
}

/** One record made, with its size (data plus key) and the next event's index. */
interface MadeRecord {
  record: OutgoingRecord;
  bytes: number;
  end: number;
}

/**
 * Builds batches one request at a time, so a flush encodes (and, for KPL,
 * MD5-hashes) only what it is about to send and can look at its deadline
 * between requests instead of batching a whole buffer in one synchronous
 * step.
 */
export class BatchCursor {
  readonly #events: readonly BufferedEvent[];
  readonly #format: RecordFormat;
  readonly #maxRecordBytes: number;
  readonly #maxRequestBytes: number;
  readonly #maxRecords: number;
  readonly #compress: Compressor | undefined;
  readonly #builder = new KplAggregateBuilder();
  #next = 0;
  /** A record made for the previous batch that did not fit it. */
  #held: MadeRecord | undefined;
  /** Why the record after the last batch could not be made. */
  #error: unknown;

  /**
   * Creates a cursor over `events` (not copied: they must not change while
   * the cursor is used).
   *
   * @throws RangeError when an option is out of range.
   */
  constructor(events: readonly BufferedEvent[], options: BatchOptions) {
    this.#events = events;
    this.#format = options.format;
    this.#maxRecordBytes = options.maxRecordBytes;
    this.#maxRequestBytes = Math.min(
      options.maxRequestBytes ?? MAX_BATCH_BYTES,
      MAX_BATCH_BYTES,
    );
    this.#compress = options.compress;
    this.#maxRecords = options.maxRecordsPerRequest ??
      KINESIS_LIMITS.maxRecordsPerRequest;
    requireLimit(
      "maxRecordBytes",
      this.#maxRecordBytes,
      1,
      KINESIS_LIMITS.largestMaxRecordBytes,
    );
    requireLimit("maxRequestBytes", this.#maxRequestBytes, 1, Infinity);
    requireLimit(
      "maxRecordsPerRequest",
      this.#maxRecords,
      1,
      KINESIS_LIMITS.maxRecordsPerRequest,
    );
    if (!FORMATS.includes(this.#format)) {
      throw new RangeError(`unknown record format: ${this.#format}`);
    }
  }

  /** Whether every event is in a batch returned already. */
  get done(): boolean {
    return this.#held === undefined && this.#next >= this.#events.length;
  }

  /**
   * The next batch, of at most `maxBytes` (never below one record, never
   * above the request limit; a record larger than the limit travels
   * alone), or undefined when every event is batched.
   *
   * @throws RangeError when one event cannot fit a record on its own.
   */
  next(maxBytes: number = this.#maxRequestBytes): Batch | undefined {
    if (this.#error) throw this.#error;
    const limit = Math.min(maxBytes, this.#maxRequestBytes);
    const batch: Batch = { records: [], bytes: 0 };
    while (batch.records.length < this.#maxRecords) {
      let made: MadeRecord | undefined;
      try {
        made = this.#held ?? this.#make();
      } catch (error) {
        // The records before the one that cannot be made still go; the
        // error comes with the next call.
        if (batch.records.length === 0) throw error;
        this.#error = error;
        break;
      }
      if (!made) break;
      if (batch.records.length > 0 && batch.bytes + made.bytes > limit) {
        this.#held = made;
        break;
      }
      this.#held = undefined;
      batch.records.push(made.record);
      batch.bytes += made.bytes;
    }
    return batch.records.length > 0 ? batch : undefined;
  }

  /** Events not in any batch returned so far, in order. */
  rest(): BufferedEvent[] {
    const from = this.#held
      ? this.#held.end - this.#held.record.events.length
      : this.#next;
    return this.#events.slice(from);
  }

  #make(): MadeRecord | undefined {
    if (this.#next >= this.#events.length) return undefined;
    const made = this.#format === "json"
      ? oneEventRecord(this.#events, this.#next, this.#maxRecordBytes)
      : this.#format === "ndjson"
      ? newlineDelimitedRecord(
        this.#events,
        this.#next,
        this.#maxRecordBytes,
        this.#compress,
      )
      : aggregatedRecord(
        this.#events,
        this.#next,
        this.#maxRecordBytes,
        this.#builder,
      );
    this.#next = made.end;
    return made;
  }
}

const FORMATS: readonly RecordFormat[] = ["kpl", "ndjson", "json"];

function oneEventRecord(
  events: readonly BufferedEvent[],
  start: number,
  maxRecordBytes: number,
): MadeRecord {
  const event = events[start];
  const recordBytes = event.data.byteLength +
    utf8ByteLength(event.partitionKey);
  if (recordBytes > maxRecordBytes) {
    throw tooLarge(start, event, maxRecordBytes);
  }
  // The envelope is already the record's payload: no copy.
  return {
    record: {
      data: event.data,
      partitionKey: event.partitionKey,
      events: [event],
    },
    bytes: recordBytes,
    end: start + 1,
  };
}

const NEWLINE = 0x0a;

function newlineDelimitedRecord(
  events: readonly BufferedEvent[],
  start: number,
  maxRecordBytes: number,
  compress: Compressor | undefined,
): MadeRecord {
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
  return {
    record: {
      data: payload,
      partitionKey: first.partitionKey,
      events: events.slice(start, end),
    },
    bytes: payload.byteLength + keyBytes,
    end,
  };
}

function aggregatedRecord(
  events: readonly BufferedEvent[],
  start: number,
  maxRecordBytes: number,
  builder: KplAggregateBuilder,
): MadeRecord {
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
  const packLimit = Math.min(maxRecordBytes, MAX_PACKED_RECORD_BYTES);
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
  return {
    record: {
      data,
      partitionKey: first.partitionKey,
      events: events.slice(start, end),
    },
    bytes: data.byteLength + outerKeyBytes,
    end,
  };
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
