/**
 * KPL aggregated records: the format KCL, Firehose and the aws-kinesis-agg
 * libraries de-aggregate. Layout: magic `F3 89 9A C2`, a protobuf (proto2)
 * `AggregatedRecord`, then the 16-byte MD5 of the protobuf bytes.
 *
 * ```
 * message AggregatedRecord { repeated string partition_key_table = 1;
 *                            repeated string explicit_hash_key_table = 2;
 *                            repeated Record records = 3; }
 * message Record { required uint64 partition_key_index = 1;
 *                  optional uint64 explicit_hash_key_index = 2;
 *                  required bytes data = 3; repeated Tag tags = 4; }
 * ```
 *
 * The protobuf is written by hand: the builder knows the exact size of the
 * aggregate at every step, so a batcher can ask "would this user record
 * still fit?" in constant time and the result is written into one buffer.
 *
 * KCL de-aggregates with the hash-key range of the shard it reads and
 * discards an aggregate's user records from the first one whose effective
 * hash key (its explicit hash key, else the MD5 of its partition key) lies
 * outside that range. So an aggregate may carry one explicit hash key that
 * every user record points to: the hash key of the outer record's partition
 * key ({@link hashKeyOf}), which is where Kinesis stores the aggregate.
 *
 * @module
 */
import { md5 } from "./md5.ts";
import { utf8ByteLength } from "./encoder.ts";

/** The four bytes every KPL aggregated record starts with. */
export const KPL_MAGIC: Readonly<Uint8Array> = Uint8Array.of(
  0xf3,
  0x89,
  0x9a,
  0xc2,
);

/** Length of the MD5 digest that ends every aggregated record. */
export const KPL_DIGEST_BYTES = 16;

/** One user record inside an aggregate. */
export interface UserRecord {
  /** The user record's own partition key. */
  partitionKey: string;
  /** Its payload. */
  data: Uint8Array;
  /** Its explicit hash key (decimal), when the aggregate carries one. */
  explicitHashKey?: string;
}

/** Protobuf field keys ((field number << 3) | wire type) used by the format. */
const KEY_TABLE_TAG = (1 << 3) | 2;
const HASH_KEY_TABLE_TAG = (2 << 3) | 2;
const RECORD_TAG = (3 << 3) | 2;
const RECORD_KEY_INDEX_TAG = (1 << 3) | 0;
const RECORD_HASH_KEY_INDEX_TAG = (2 << 3) | 0;
/** Bytes `explicit_hash_key_index: 0` adds to a Record (tag + one-byte varint). */
const HASH_KEY_INDEX_BYTES = 2;
const RECORD_DATA_TAG = (3 << 3) | 2;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Bytes the varint encoding of a non-negative integer takes. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Size of a length-delimited field (tag byte + length varint + payload). */
function fieldSize(payloadBytes: number): number {
  return 1 + varintSize(payloadBytes) + payloadBytes;
}

/** Size of one `Record` message body for a key index and a data length. */
function recordBodySize(
  keyIndex: number,
  dataBytes: number,
  hashKeyIndexBytes: number,
): number {
  return 1 + varintSize(keyIndex) + hashKeyIndexBytes + fieldSize(dataBytes);
}

/**
 * The hash key Kinesis derives from a partition key: the MD5 of its UTF-8
 * bytes read as an unsigned big-endian 128-bit integer, in decimal (the
 * form `ExplicitHashKey` and KCL's range check use).
 */
export function hashKeyOf(partitionKey: string): string {
  let value = 0n;
  for (const byte of md5(utf8.encode(partitionKey))) {
    value = (value << 8n) | BigInt(byte);
  }
  return value.toString();
}

interface PendingRecord {
  keyIndex: number;
  data: Uint8Array;
  bodyBytes: number;
}

/**
 * Accumulates user records into one aggregate. Partition keys are stored
 * once in the key table however many user records use them. With an
 * explicit hash key, the aggregate's one `explicit_hash_key_table` entry is
 * given to every user record.
 */
export class KplAggregateBuilder {
  #keyIndexes = new Map<string, number>();
  #keys: Uint8Array[] = [];
  #records: PendingRecord[] = [];
  #protobufBytes = 0;
  #hashKey: Uint8Array | undefined;
  #hashKeyIndexBytes = 0;

  /** Starts an aggregate, optionally with the explicit hash key of all its user records. */
  constructor(explicitHashKey?: string) {
    this.reset(explicitHashKey);
  }

  /** Number of user records added so far. */
  get count(): number {
    return this.#records.length;
  }

  /** Size of the aggregate `build()` would return now (magic + protobuf + MD5). */
  get byteLength(): number {
    return KPL_MAGIC.length + this.#protobufBytes + KPL_DIGEST_BYTES;
  }

  /**
   * Size the aggregate would have after `add(partitionKey, data)`, without
   * adding. Cost is independent of how many records are already in.
   */
  sizeWith(partitionKey: string, dataBytes: number): number {
    return this.byteLength + this.#growth(partitionKey, dataBytes);
  }

  /** Adds one user record (the data is referenced, copied only by `build`). */
  add(partitionKey: string, data: Uint8Array): void {
    this.#protobufBytes += this.#growth(partitionKey, data.byteLength);
    let keyIndex = this.#keyIndexes.get(partitionKey);
    if (keyIndex === undefined) {
      keyIndex = this.#keys.length;
      this.#keyIndexes.set(partitionKey, keyIndex);
      this.#keys.push(utf8.encode(partitionKey));
    }
    this.#records.push({
      keyIndex,
      data,
      bodyBytes: recordBodySize(
        keyIndex,
        data.byteLength,
        this.#hashKeyIndexBytes,
      ),
    });
  }

  /** Writes the aggregate into a new buffer of exactly `byteLength` bytes. */
  build(): Uint8Array {
    const out = new Uint8Array(this.byteLength);
    out.set(KPL_MAGIC, 0);
    let at = KPL_MAGIC.length;
    for (const key of this.#keys) {
      out[at++] = KEY_TABLE_TAG;
      at = writeVarint(out, at, key.byteLength);
      out.set(key, at);
      at += key.byteLength;
    }
    const hashKey = this.#hashKey;
    if (hashKey) {
      out[at++] = HASH_KEY_TABLE_TAG;
      at = writeVarint(out, at, hashKey.byteLength);
      out.set(hashKey, at);
      at += hashKey.byteLength;
    }
    for (const record of this.#records) {
      out[at++] = RECORD_TAG;
      at = writeVarint(out, at, record.bodyBytes);
      out[at++] = RECORD_KEY_INDEX_TAG;
      at = writeVarint(out, at, record.keyIndex);
      if (hashKey) {
        out[at++] = RECORD_HASH_KEY_INDEX_TAG;
        out[at++] = 0;
      }
      out[at++] = RECORD_DATA_TAG;
      at = writeVarint(out, at, record.data.byteLength);
      out.set(record.data, at);
      at += record.data.byteLength;
    }
    const protobufEnd = at;
    if (protobufEnd + KPL_DIGEST_BYTES !== out.byteLength) {
      throw new Error("KPL size accounting is off: this is a bug");
    }
    const digest = md5(out.subarray(KPL_MAGIC.length, protobufEnd));
    out.set(digest, protobufEnd);
    return out;
  }

  /**
   * Empties the builder for the next aggregate, whose user records all get
   * `explicitHashKey` when given (a decimal 128-bit integer).
   */
  reset(explicitHashKey?: string): void {
    this.#keyIndexes.clear();
    this.#keys = [];
    this.#records = [];
    if (explicitHashKey === undefined) {
      this.#hashKey = undefined;
      this.#hashKeyIndexBytes = 0;
      this.#protobufBytes = 0;
    } else {
      this.#hashKey = utf8.encode(explicitHashKey);
      this.#hashKeyIndexBytes = HASH_KEY_INDEX_BYTES;
      this.#protobufBytes = fieldSize(this.#hashKey.byteLength);
    }
  }

  #growth(partitionKey: string, dataBytes: number): number {
    let keyIndex = this.#keyIndexes.get(partitionKey);
    let keyTableGrowth = 0;
    if (keyIndex === undefined) {
      keyIndex = this.#keys.length;
      keyTableGrowth = fieldSize(utf8ByteLength(partitionKey));
    }
    return keyTableGrowth +
      fieldSize(recordBodySize(keyIndex, dataBytes, this.#hashKeyIndexBytes));
  }
}

/**
 * Aggregates user records into one KPL record (convenience over the
 * builder), every user record with `explicitHashKey` when given.
 */
export function aggregate(
  records: readonly UserRecord[],
  explicitHashKey?: string,
): Uint8Array {
  const builder = new KplAggregateBuilder(explicitHashKey);
  for (const record of records) builder.add(record.partitionKey, record.data);
  return builder.build();
}

/** True when `bytes` start with the KPL magic. */
export function isKplAggregate(bytes: Uint8Array): boolean {
  return bytes.byteLength >= KPL_MAGIC.length &&
    bytes[0] === KPL_MAGIC[0] && bytes[1] === KPL_MAGIC[1] &&
    bytes[2] === KPL_MAGIC[2] && bytes[3] === KPL_MAGIC[3];
}

/**
 * Splits a KPL aggregated record into its user records, in order. The
 * returned `data` arrays are views into `bytes`.
 *
 * @returns null when `bytes` do not start with the KPL magic.
 * @throws Error when the MD5 does not match or the protobuf is malformed.
 */
export function deaggregate(bytes: Uint8Array): UserRecord[] | null {
  if (!isKplAggregate(bytes)) return null;
  if (bytes.byteLength < KPL_MAGIC.length + KPL_DIGEST_BYTES) {
    throw new Error(
      `KPL aggregate too short: ${bytes.byteLength} bytes, need at least ` +
        `${KPL_MAGIC.length + KPL_DIGEST_BYTES}`,
    );
  }
  const protobufEnd = bytes.byteLength - KPL_DIGEST_BYTES;
  const protobuf = bytes.subarray(KPL_MAGIC.length, protobufEnd);
  const expected = md5(protobuf);
  for (let i = 0; i < KPL_DIGEST_BYTES; i++) {
    if (expected[i] !== bytes[protobufEnd + i]) {
      throw new Error("KPL aggregate MD5 mismatch: the record is corrupted");
    }
  }
  const keys: string[] = [];
  const hashKeys: string[] = [];
  const parsed: ParsedRecord[] = [];
  const reader = new ProtobufReader(protobuf, "AggregatedRecord");
  while (!reader.done) {
    const { field, wireType } = reader.fieldKey();
    if (field === 1 && wireType === WIRE_LENGTH_DELIMITED) {
      keys.push(decodeKey(reader.lengthDelimited()));
    } else if (field === 2 && wireType === WIRE_LENGTH_DELIMITED) {
      hashKeys.push(decodeKey(reader.lengthDelimited()));
    } else if (field === 3 && wireType === WIRE_LENGTH_DELIMITED) {
      parsed.push(parseRecord(reader.lengthDelimited(), parsed.length));
    } else if (field === 1 || field === 2 || field === 3) {
      throw new Error(
        `malformed KPL aggregate: field ${field} has wire type ${wireType}`,
      );
    } else {
      reader.skip(wireType);
    }
  }
  return parsed.map(({ keyIndex, hashKeyIndex, data }, i) => {
    if (keyIndex >= keys.length) {
      throw new Error(
        `malformed KPL aggregate: user record ${i} uses partition key ` +
          `${keyIndex} of a ${keys.length}-entry table`,
      );
    }
    if (hashKeyIndex === undefined) {
      return { partitionKey: keys[keyIndex], data };
    }
    if (hashKeyIndex >= hashKeys.length) {
      throw new Error(
        `malformed KPL aggregate: user record ${i} uses explicit hash key ` +
          `${hashKeyIndex} of a ${hashKeys.length}-entry table`,
      );
    }
    return {
      partitionKey: keys[keyIndex],
      data,
      explicitHashKey: hashKeys[hashKeyIndex],
    };
  });
}

interface ParsedRecord {
  keyIndex: number;
  hashKeyIndex: number | undefined;
  data: Uint8Array;
}

function parseRecord(body: Uint8Array, position: number): ParsedRecord {
  const reader = new ProtobufReader(body, `Record ${position}`);
  let keyIndex: number | undefined;
  let hashKeyIndex: number | undefined;
  let data: Uint8Array | undefined;
  while (!reader.done) {
    const { field, wireType } = reader.fieldKey();
    if (field === 1 && wireType === WIRE_VARINT) keyIndex = reader.varint();
    else if (field === 2 && wireType === WIRE_VARINT) {
      hashKeyIndex = reader.varint();
    } else if (field === 3 && wireType === WIRE_LENGTH_DELIMITED) {
      data = reader.lengthDelimited();
    } else if (field === 1 || field === 2 || field === 3) {
      throw new Error(
        `malformed KPL Record ${position}: field ${field} has wire type ${wireType}`,
      );
    } else reader.skip(wireType);
  }
  if (keyIndex === undefined || data === undefined) {
    throw new Error(
      `malformed KPL Record ${position}: missing ${
        keyIndex === undefined ? "partition_key_index" : "data"
      }`,
    );
  }
  return { keyIndex, hashKeyIndex, data };
}

function decodeKey(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new Error("malformed KPL aggregate: a table key is not UTF-8");
  }
}

/** Minimal proto2 wire-format reader over one message's bytes. */
class ProtobufReader {
  #at = 0;
  readonly bytes: Uint8Array;
  readonly what: string;

  constructor(bytes: Uint8Array, what: string) {
    this.bytes = bytes;
    this.what = what;
  }

  get done(): boolean {
    return this.#at >= this.bytes.byteLength;
  }

  fieldKey(): { field: number; wireType: number } {
    const key = this.varint();
    const field = Math.floor(key / 8);
    if (field === 0) this.#fail("field number 0");
    return { field, wireType: key % 8 };
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.#at >= this.bytes.byteLength) this.#fail("truncated varint");
      const byte = this.bytes[this.#at++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) this.#fail("varint too large");
        return value;
      }
      scale *= 128;
    }
    return this.#fail("varint longer than 10 bytes");
  }

  lengthDelimited(): Uint8Array {
    const length = this.varint();
    const end = this.#at + length;
    if (end > this.bytes.byteLength) {
      this.#fail(`length ${length} runs past the end`);
    }
    const view = this.bytes.subarray(this.#at, end);
    this.#at = end;
    return view;
  }

  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_LENGTH_DELIMITED) this.lengthDelimited();
    else if (wireType === WIRE_FIXED64) this.#advance(8);
    else if (wireType === WIRE_FIXED32) this.#advance(4);
    else this.#fail(`unsupported wire type ${wireType}`);
  }

  #advance(count: number): void {
    if (this.#at + count > this.bytes.byteLength) {
      this.#fail("fixed-width field runs past the end");
    }
    this.#at += count;
  }

  #fail(why: string): never {
    throw new Error(`malformed KPL ${this.what}: ${why} at byte ${this.#at}`);
  }
}

function writeVarint(out: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}
