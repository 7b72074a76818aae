/**
 * The buffer's overflow on disk: when the memory bound is reached, whole
 * deliveries' events are written to segment files under `/tmp` (Lambda's
 * ephemeral storage, not counted in the function's memory) instead of the
 * delivery being refused. A refused delivery is retried by Lambda a few
 * times and then dropped; a burst that a small function's CPU share cannot
 * ship as fast as it comes would otherwise lose telemetry that idle
 * invocations afterwards have time to send.
 *
 * Segments are read back oldest first, one at a time, when the memory
 * buffer has room. The store only writes files in its own folder and
 * removes them as they are read; what is left at exit is removed.
 *
 * @module
 */
import type { BufferedEvent } from "./types.ts";

/** The file operations the store uses (Deno's synchronous ones by default). */
export interface SpillFiles {
  /** Creates `path` and its parents. */
  mkdir(path: string): void;
  /** Writes `bytes` to a new file at `path`. */
  write(path: string, bytes: Uint8Array): void;
  /** Reads the whole file at `path`. */
  read(path: string): Uint8Array;
  /** Removes the file or folder at `path` (recursively); absent is fine. */
  remove(path: string): void;
}

/**
 * Deno's synchronous file calls: a segment is one `write` or one `read`
 * system call into the page cache, cheaper on the event loop than the
 * thread hand-offs of the asynchronous ones.
 */
export const DENO_SPILL_FILES: SpillFiles = {
  mkdir: (path) => Deno.mkdirSync(path, { recursive: true }),
  write: (path, bytes) => Deno.writeFileSync(path, bytes, { createNew: true }),
  read: (path) => Deno.readFileSync(path),
  remove: (path) => {
    try {
      Deno.removeSync(path, { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  },
};

/** Where and how much the store may write. */
export interface SpillOptions {
  /** The store's own folder (created; emptied first: it is this process's). */
  dir: string;
  /** Most bytes of segment files at once. */
  maxBytes: number;
  /** File operations (tests pass failing ones). */
  files?: SpillFiles;
}

/** What one segment file holds, known without reading it. */
interface SegmentInfo {
  path: string;
  events: number;
  /** Sum of the envelopes' sizes. */
  envelopeBytes: number;
  fileBytes: number;
  oldestReceivedAt: number;
}

/** A segment read back: its events, or why they are lost. */
export type SpillRead =
  | { events: BufferedEvent[]; lost?: undefined }
  | { events?: undefined; lost: number; error: unknown };

const MAGIC = 0x4b545331; // "KTS1"
const HEADER_BYTES = 8;
/** receivedAt (f64), key length in UTF-16 units (u16), data length (u32). */
const EVENT_HEADER_BYTES = 14;

/** The on-disk FIFO of spilled deliveries. */
export class SpillStore {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #files: SpillFiles;
  #segments: SegmentInfo[] = [];
  #sequence = 0;
  #events = 0;
  #envelopeBytes = 0;
  #fileBytes = 0;
  #failure: unknown;

  /** Prepares `options.dir` (throws when it cannot be created). */
  constructor(options: SpillOptions) {
    this.#dir = options.dir;
    this.#maxBytes = options.maxBytes;
    this.#files = options.files ?? DENO_SPILL_FILES;
    // The folder is this process's own: what a crashed predecessor with the
    // same name left is not ours to send (its events were counted there).
    this.#files.remove(this.#dir);
    this.#files.mkdir(this.#dir);
  }

  /** The store's folder. */
  get dir(): string {
    return this.#dir;
  }

  /** Events waiting on disk. */
  get events(): number {
    return this.#events;
  }

  /** Envelope bytes waiting on disk. */
  get envelopeBytes(): number {
    return this.#envelopeBytes;
  }

  /** Bytes of segment files on disk. */
  get fileBytes(): number {
    return this.#fileBytes;
  }

  /** Arrival time of the oldest spilled event, or undefined when empty. */
  get oldestReceivedAt(): number | undefined {
    return this.#segments[0]?.oldestReceivedAt;
  }

  /** The first write error, after which the store takes nothing more. */
  get failure(): unknown {
    return this.#failure;
  }

  /**
   * Whether a delivery of about `bytes` may still be written (it is
   * measured again, as envelopes, when it is).
   */
  accepts(bytes: number): boolean {
    return this.#failure === undefined &&
      this.#fileBytes + bytes <= this.#maxBytes;
  }

  /** Envelope bytes and events of the oldest segment, or undefined. */
  peek(): { envelopeBytes: number; events: number } | undefined {
    const next = this.#segments[0];
    return next && { envelopeBytes: next.envelopeBytes, events: next.events };
  }

  /**
   * Writes `events` as one segment; false (nothing written) when it would
   * pass the bound or the disk refuses it (then for good: a full or
   * read-only /tmp does not heal by retrying on every delivery).
   */
  append(events: readonly BufferedEvent[]): boolean {
    if (events.length === 0) return true;
    if (this.#failure !== undefined) return false;
    const segment = encodeSegment(events);
    if (this.#fileBytes + segment.bytes.byteLength > this.#maxBytes) {
      return false;
    }
    const path = `${this.#dir}/${this.#sequence++}.seg`;
    try {
      this.#files.write(path, segment.bytes);
    } catch (error) {
      this.#failure = error;
      this.#files.remove(path);
      return false;
    }
    this.#segments.push({
      path,
      events: events.length,
      envelopeBytes: segment.envelopeBytes,
      fileBytes: segment.bytes.byteLength,
      oldestReceivedAt: events[0].receivedAt,
    });
    this.#events += events.length;
    this.#envelopeBytes += segment.envelopeBytes;
    this.#fileBytes += segment.bytes.byteLength;
    return true;
  }

  /**
   * Reads the oldest segment back and removes its file; undefined when
   * empty. A segment that cannot be read (removed or damaged by someone
   * else) comes back as its count of lost events.
   */
  shift(): SpillRead | undefined {
    // A few hundred segments at most (the bound / a delivery): shift is fine.
    const info = this.#segments.shift();
    if (!info) return undefined;
    this.#events -= info.events;
    this.#envelopeBytes -= info.envelopeBytes;
    this.#fileBytes -= info.fileBytes;
    let result: SpillRead;
    try {
      result = { events: decodeSegment(this.#files.read(info.path), info) };
    } catch (error) {
      result = { lost: info.events, error };
    }
    try {
      this.#files.remove(info.path);
    } catch {
      // Left behind, it is removed with the folder at exit.
    }
    return result;
  }

  /** Forgets every segment and removes the folder; returns the events it held. */
  discard(): number {
    const events = this.#events;
    this.#segments = [];
    this.#events = 0;
    this.#envelopeBytes = 0;
    this.#fileBytes = 0;
    try {
      this.#files.remove(this.#dir);
    } catch {
      // /tmp goes with the execution environment.
    }
    return events;
  }
}

function encodeSegment(
  events: readonly BufferedEvent[],
): { bytes: Uint8Array; envelopeBytes: number } {
  let envelopeBytes = 0;
  let size = HEADER_BYTES;
  for (const event of events) {
    envelopeBytes += event.data.byteLength;
    // A key is stored as its UTF-16 code units: a request id from an event
    // can be any string, lone surrogates included, and must come back equal.
    size += EVENT_HEADER_BYTES + 2 * event.partitionKey.length +
      event.data.byteLength;
  }
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, events.length);
  let at = HEADER_BYTES;
  for (const event of events) {
    const key = event.partitionKey;
    view.setFloat64(at, event.receivedAt);
    view.setUint16(at + 8, key.length);
    view.setUint32(at + 10, event.data.byteLength);
    at += EVENT_HEADER_BYTES;
    for (let i = 0; i < key.length; i++) {
      view.setUint16(at + 2 * i, key.charCodeAt(i));
    }
    at += 2 * key.length;
    bytes.set(event.data, at);
    at += event.data.byteLength;
  }
  return { bytes, envelopeBytes };
}

function decodeSegment(bytes: Uint8Array, info: SegmentInfo): BufferedEvent[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (
    bytes.byteLength !== info.fileBytes || view.getUint32(0) !== MAGIC ||
    view.getUint32(4) !== info.events
  ) {
    throw new Error(
      `spill segment ${info.path} is not the one written (${bytes.byteLength} of ${info.fileBytes} bytes)`,
    );
  }
  const events: BufferedEvent[] = new Array(info.events);
  let at = HEADER_BYTES;
  for (let index = 0; index < info.events; index++) {
    const receivedAt = view.getFloat64(at);
    const keyLength = view.getUint16(at + 8);
    const dataLength = view.getUint32(at + 10);
    at += EVENT_HEADER_BYTES;
    const units = new Array<number>(keyLength);
    for (let i = 0; i < keyLength; i++) units[i] = view.getUint16(at + 2 * i);
    const partitionKey = String.fromCharCode(...units);
    at += 2 * keyLength;
    // Views into the one segment buffer, as the listener's slabs are.
    const data = bytes.subarray(at, at + dataLength);
    at += dataLength;
    events[index] = { data, partitionKey, receivedAt, uncertain: false };
  }
  return events;
}
