/**
 * Chooses how large the next PutRecords request may be from the
 * throughput Kinesis has shown, so that a request finishes within the time
 * left instead of being abandoned at the deadline (an abandoned request
 * stored nothing the extension can count on, and what it did store comes
 * back as duplicates).
 *
 * @module
 */

/** Settings of a {@linkcode RequestSizer}. */
export interface RequestSizerOptions {
  /** Smallest request it asks for (one record is sent whatever the size). */
  minBytes: number;
  /** Largest request it asks for. */
  maxBytes: number;
  /** Throughput assumed before the first answer, in bytes per ms. */
  initialBytesPerMs: number;
}

/**
 * Default sizes: 64 KiB to 1 MiB, starting from 0.5 MB/s (a guess on the
 * low side: a first request too large is abandoned, one too small only
 * makes the next one larger).
 */
export const DEFAULT_SIZER_OPTIONS: RequestSizerOptions = {
  minBytes: 64 * 1024,
  maxBytes: 1024 * 1024,
  initialBytesPerMs: 500,
};

/**
 * Share of the time left that one request is planned to take: the rest
 * leaves room for a retry of throttled entries, and for an answer much
 * slower than the last ones (a busy endpoint or CPU), before the deadline.
 */
export const TIME_SHARE = 0.3;
/** Weight of the newest sample in the moving average of throughput. */
const SMOOTHING = 0.3;

/** Tracks PutRecords throughput and sizes requests from it. */
export class RequestSizer {
  readonly #options: RequestSizerOptions;
  #bytesPerMs: number;

  /** Creates a sizer with `options`. */
  constructor(options: RequestSizerOptions = DEFAULT_SIZER_OPTIONS) {
    this.#options = options;
    this.#bytesPerMs = options.initialBytesPerMs;
  }

  /** The throughput estimate, bytes per ms. */
  get bytesPerMs(): number {
    return this.#bytesPerMs;
  }

  /** The request size for a request that should end within `timeLeftMs`. */
  bytesFor(timeLeftMs: number): number {
    const planned = this.#bytesPerMs * Math.max(0, timeLeftMs) * TIME_SHARE;
    return Math.round(
      Math.min(
        this.#options.maxBytes,
        Math.max(this.#options.minBytes, planned),
      ),
    );
  }

  /** How long a request of `bytes` is expected to take at the estimated throughput. */
  expectedMs(bytes: number): number {
    return bytes / this.#bytesPerMs;
  }

  /** Notes a request of `bytes` answered after `elapsedMs`. */
  answered(bytes: number, elapsedMs: number): void {
    const sample = bytes / Math.max(1, elapsedMs);
    this.#bytesPerMs = SMOOTHING * sample + (1 - SMOOTHING) * this.#bytesPerMs;
  }

  /**
   * Notes a request of `bytes` abandoned after `elapsedMs`: Kinesis is at
   * most half as fast as that would have needed, so the next request is
   * smaller.
   */
  abandoned(bytes: number, elapsedMs: number): void {
    this.#bytesPerMs =
      Math.min(this.#bytesPerMs, bytes / Math.max(1, elapsedMs)) /
      2;
  }
}
