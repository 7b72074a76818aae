/**
 * Record payload compression (`KINESIS_TELEMETRY_COMPRESSION`): gzip or
 * zstd with the runtime's native codecs (Deno's `node:zlib`, implemented in
 * Rust). Both formats mark themselves — gzip data starts with `1F 8B`, zstd
 * frames with `28 B5 2F FD`, an uncompressed envelope with `{` — so a
 * consumer decompresses what starts with a magic and parses the rest as is.
 *
 * What is compressed depends on the format: the whole body of an `ndjson`
 * record, each envelope of `json` (the record) and of `kpl` (each user
 * record's data, the aggregate itself stays readable by KCL). Compressed
 * data is used only when it is smaller, so incompressible input never grows.
 *
 * @module
 */
import type { RecordFormat } from "./types.ts";

/** Compression settings. */
export type Compression = "none" | "gzip" | "zstd";

/** Compresses one payload, synchronously. */
export type Compressor = (data: Uint8Array) => Uint8Array;

/** Where a format applies the compressor. */
export interface CompressionPlan {
  /** Applied to each envelope as it is encoded (`json`, `kpl`). */
  perEvent: Compressor | undefined;
  /** Applied to each record's whole payload (`ndjson`). */
  perRecord: Compressor | undefined;
}

/** First bytes of a gzip member. */
export const GZIP_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x1f, 0x8b);
/** First bytes of a zstd frame. */
export const ZSTD_MAGIC: Readonly<Uint8Array> = Uint8Array.of(
  0x28,
  0xb5,
  0x2f,
  0xfd,
);

/**
 * Loads the codec of `compression` (none needs nothing). `node:zlib` is
 * imported only here, because loading it costs tens of milliseconds that a
 * function without compression should not pay at start.
 */
export async function loadCompressor(
  compression: Compression,
): Promise<Compressor | undefined> {
  if (compression === "none") return undefined;
  const zlib = await import("node:zlib");
  const codec = compression === "gzip"
    ? (data: Uint8Array) => zlib.gzipSync(data)
    : (data: Uint8Array) => zlib.zstdCompressSync(data);
  return (data) => {
    const packed = codec(data);
    // A Buffer is a Uint8Array; a plain view keeps the type simple.
    return new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength);
  };
}

/** Where `format` applies `compressor`. */
export function compressionPlan(
  format: RecordFormat,
  compressor: Compressor | undefined,
): CompressionPlan {
  return format === "ndjson"
    ? { perEvent: undefined, perRecord: compressor }
    : { perEvent: compressor, perRecord: undefined };
}

/** `compressor(data)` when that is smaller, else `data` itself. */
export function compressIfSmaller(
  compressor: Compressor | undefined,
  data: Uint8Array,
): Uint8Array {
  if (!compressor) return data;
  const packed = compressor(data);
  return packed.byteLength < data.byteLength ? packed : data;
}

/** Which codec marked `data`, if any. */
export function compressionOf(data: Uint8Array): Compression {
  if (startsWith(data, GZIP_MAGIC)) return "gzip";
  if (startsWith(data, ZSTD_MAGIC)) return "zstd";
  return "none";
}

function startsWith(data: Uint8Array, magic: Readonly<Uint8Array>): boolean {
  if (data.byteLength < magic.byteLength) return false;
  for (let i = 0; i < magic.byteLength; i++) {
    if (data[i] !== magic[i]) return false;
  }
  return true;
}
