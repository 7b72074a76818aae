/**
 * A small, deterministic ZIP writer (and the matching reader) for Lambda
 * layers: entries in the order given, one fixed timestamp, Unix permission
 * bits in the external attributes, raw DEFLATE from `node:zlib` at a fixed
 * level. The same entries give the same bytes, so a layer's SHA-256 only
 * changes when its content does.
 *
 * No ZIP64: a layer is far below 4 GiB (Lambda caps it at 250 MB unpacked).
 *
 * @module
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";

/** One file to store in an archive. */
export interface ZipEntry {
  /** Path inside the archive, with `/` separators and no leading `/`. */
  path: string;
  /** File content. */
  data: Uint8Array;
  /** Unix permission bits, e.g. `0o755` for executables; default `0o644`. */
  mode?: number;
}

/** One file read back from an archive. */
export interface ZipFile {
  /** Path inside the archive. */
  path: string;
  /** Uncompressed content. */
  data: Uint8Array;
  /** Unix permission bits from the external attributes. */
  mode: number;
}

/**
 * MS-DOS date/time of 1980-01-01 00:00:00, the earliest a ZIP can hold: a
 * constant so that rebuilding never changes the bytes.
 */
const FIXED_DOS_TIME = 0;
const FIXED_DOS_DATE = (0 << 9) | (1 << 5) | 1;

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const END_OF_CENTRAL_DIRECTORY_SIGNATURE = 0x06054b50;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const VERSION_NEEDED = 20;
/** High byte 3 = "made on Unix", so readers honour the permission bits. */
const VERSION_MADE_BY = (3 << 8) | VERSION_NEEDED;
const FLAG_UTF8_NAMES = 1 << 11;
const S_IFREG = 0o100000;
const MAX_UINT32 = 0xffffffff;
const MAX_ENTRIES = 0xffff;

/** The compression level used for every entry (fixed: it is part of the bytes). */
export const ZIP_DEFLATE_LEVEL = 9;

const CRC32_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3) of `data`, as ZIP stores it. */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    crc = CRC32_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function validatePath(path: string): void {
  if (
    path === "" || path.startsWith("/") || path.includes("\\") ||
    path.endsWith("/") ||
    path.split("/").some((part) => part === ".." || part === ".")
  ) {
    throw new Error(`zip: invalid entry path "${path}"`);
  }
}

/**
 * Builds a ZIP archive of `entries`, in the given order. Each entry is
 * deflated, or stored when deflating would not make it smaller.
 */
export function createZip(entries: readonly ZipEntry[]): Uint8Array {
  if (entries.length > MAX_ENTRIES) {
    throw new Error(`zip: ${entries.length} entries exceed ${MAX_ENTRIES}`);
  }
  const encoder = new TextEncoder();
  const seen = new Set<string>();
  const localParts: Uint8Array[] = [];
  const centralParts: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    validatePath(entry.path);
    if (seen.has(entry.path)) {
      throw new Error(`zip: duplicate entry "${entry.path}"`);
    }
    seen.add(entry.path);
    const name = encoder.encode(entry.path);
    const mode = entry.mode ?? 0o644;
    const crc = crc32(entry.data);
    const deflated = new Uint8Array(
      deflateRawSync(entry.data, { level: ZIP_DEFLATE_LEVEL }),
    );
    const useDeflate = deflated.length < entry.data.length;
    const stored = useDeflate ? deflated : entry.data;
    if (entry.data.length > MAX_UINT32 || offset > MAX_UINT32) {
      throw new Error("zip: archive too large (ZIP64 is not supported)");
    }
    // Bit 11 says the name is UTF-8; only set it when the name needs it, as
    // `zip` does, so ASCII-only archives look like everyone else's.
    const flags = /^[\x20-\x7e]*$/.test(entry.path) ? 0 : FLAG_UTF8_NAMES;
    const method = useDeflate ? METHOD_DEFLATE : METHOD_STORED;

    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, LOCAL_HEADER_SIGNATURE, true);
    local.setUint16(4, VERSION_NEEDED, true);
    local.setUint16(6, flags, true);
    local.setUint16(8, method, true);
    local.setUint16(10, FIXED_DOS_TIME, true);
    local.setUint16(12, FIXED_DOS_DATE, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, stored.length, true);
    local.setUint32(22, entry.data.length, true);
    local.setUint16(26, name.length, true);
    local.setUint16(28, 0, true);

    const central = new DataView(new ArrayBuffer(46));
    central.setUint32(0, CENTRAL_HEADER_SIGNATURE, true);
    central.setUint16(4, VERSION_MADE_BY, true);
    central.setUint16(6, VERSION_NEEDED, true);
    central.setUint16(8, flags, true);
    central.setUint16(10, method, true);
    central.setUint16(12, FIXED_DOS_TIME, true);
    central.setUint16(14, FIXED_DOS_DATE, true);
    central.setUint32(16, crc, true);
    central.setUint32(20, stored.length, true);
    central.setUint32(24, entry.data.length, true);
    central.setUint16(28, name.length, true);
    central.setUint16(30, 0, true); // extra field length
    central.setUint16(32, 0, true); // comment length
    central.setUint16(34, 0, true); // disk number
    central.setUint16(36, 0, true); // internal attributes
    central.setUint32(38, ((S_IFREG | (mode & 0o7777)) << 16) >>> 0, true);
    central.setUint32(42, offset, true);

    localParts.push(new Uint8Array(local.buffer), name, stored);
    centralParts.push(new Uint8Array(central.buffer), name);
    offset += 30 + name.length + stored.length;
  }
  const centralSize = centralParts.reduce((sum, p) => sum + p.length, 0);
  if (offset + centralSize > MAX_UINT32) {
    throw new Error("zip: archive too large (ZIP64 is not supported)");
  }
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, END_OF_CENTRAL_DIRECTORY_SIGNATURE, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, centralSize, true);
  end.setUint32(16, offset, true);

  const parts = [...localParts, ...centralParts, new Uint8Array(end.buffer)];
  const archive = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let position = 0;
  for (const part of parts) {
    archive.set(part, position);
    position += part.length;
  }
  return archive;
}

/**
 * Reads every file of a ZIP archive through its central directory, checking
 * each CRC. Understands what {@linkcode createZip} writes (stored or
 * deflated, no ZIP64, no encryption); anything else is an error.
 */
export function readZip(archive: Uint8Array): ZipFile[] {
  const view = new DataView(
    archive.buffer,
    archive.byteOffset,
    archive.byteLength,
  );
  let endOffset = -1;
  for (
    let i = archive.length - 22;
    i >= 0 && i >= archive.length - 22 - 0xffff;
    i--
  ) {
    if (view.getUint32(i, true) === END_OF_CENTRAL_DIRECTORY_SIGNATURE) {
      endOffset = i;
      break;
    }
  }
  if (endOffset < 0) throw new Error("zip: no end of central directory");
  const count = view.getUint16(endOffset + 10, true);
  let cursor = view.getUint32(endOffset + 16, true);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const files: ZipFile[] = [];
  for (let i = 0; i < count; i++) {
    if (view.getUint32(cursor, true) !== CENTRAL_HEADER_SIGNATURE) {
      throw new Error(`zip: bad central directory entry ${i}`);
    }
    const flags = view.getUint16(cursor + 8, true);
    const method = view.getUint16(cursor + 10, true);
    const crc = view.getUint32(cursor + 16, true);
    const compressedSize = view.getUint32(cursor + 20, true);
    const size = view.getUint32(cursor + 24, true);
    const nameLength = view.getUint16(cursor + 28, true);
    const extraLength = view.getUint16(cursor + 30, true);
    const commentLength = view.getUint16(cursor + 32, true);
    const external = view.getUint32(cursor + 38, true);
    const localOffset = view.getUint32(cursor + 42, true);
    const path = decoder.decode(
      archive.subarray(cursor + 46, cursor + 46 + nameLength),
    );
    if (flags & 1) throw new Error(`zip: "${path}" is encrypted`);
    if (view.getUint32(localOffset, true) !== LOCAL_HEADER_SIGNATURE) {
      throw new Error(`zip: bad local header for "${path}"`);
    }
    const dataStart = localOffset + 30 +
      view.getUint16(localOffset + 26, true) +
      view.getUint16(localOffset + 28, true);
    const raw = archive.subarray(dataStart, dataStart + compressedSize);
    let data: Uint8Array;
    if (method === METHOD_STORED) data = raw.slice();
    else if (method === METHOD_DEFLATE) {
      data = new Uint8Array(inflateRawSync(raw));
    } else throw new Error(`zip: "${path}" uses unsupported method ${method}`);
    if (data.length !== size || crc32(data) !== crc) {
      throw new Error(`zip: "${path}" is corrupt (size or CRC mismatch)`);
    }
    // Directory entries carry nothing a layer needs: folders follow from paths.
    if (!path.endsWith("/")) {
      files.push({ path, data, mode: (external >>> 16) & 0o7777 });
    }
    cursor += 46 + nameLength + extraLength + commentLength;
  }
  return files;
}
