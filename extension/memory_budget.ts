/**
 * The extension's memory budget, derived from the function's memory size
 * (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`): Lambda charges the extension's memory
 * to the function, so the goal is a peak RSS of at most half of it.
 *
 * One formula gives the V8 heap flags (the portable layer's launcher applies
 * the same arithmetic in sh, the compiled binary bakes in those of the
 * smallest size, source runs pass them on the command line) and the bounds
 * of the event buffer; {@linkcode checkBufferFits} refuses, at init, a buffer
 * that the function's memory or the process's heap cannot hold, because a V8
 * out-of-memory abort loses every buffered event.
 *
 * @module
 */

const MIB = 1024 * 1024;

/** The smallest Lambda function memory size (MB), and the default. */
export const SMALLEST_FUNCTION_MEMORY_MB = 128;
/** The largest Lambda function memory size (MB). */
export const LARGEST_FUNCTION_MEMORY_MB = 10_240;

/**
 * What each buffered event costs beyond its envelope bytes: the
 * `BufferedEvent` object, its `Uint8Array` and backing-store header, its
 * partition key string and its slot in the queue (measured 150–250 B with
 * Deno 2.9).
 */
export const EVENT_OVERHEAD_BYTES = 256;

/** V8 heap limits for one function memory size. */
export interface HeapFlags {
  /** `--max-old-space-size` (MiB). */
  oldSpaceMiB: number;
  /** `--max-semi-space-size` (MiB). */
  semiSpaceMiB: number;
}

/** The buffer bounds for one function memory size. */
export interface BufferBounds {
  /** The buffer bound used when `MAX_BUFFER_BYTES` is not set. */
  defaultBytes: number;
  /** The largest bound the function's memory can take. */
  ceilingBytes: number;
}

const clamp = (value: number, min: number, max: number) =>
  Math.min(max, Math.max(min, value));

/**
 * The function memory size from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, or
 * `undefined` when it is not a number Lambda would set (not in Lambda).
 */
export function functionMemoryMB(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
  const value = Number(raw.trim());
  return value >= SMALLEST_FUNCTION_MEMORY_MB &&
      value <= LARGEST_FUNCTION_MEMORY_MB
    ? value
    : undefined;
}

/** One heap limit as a share of the function's memory, within bounds (MiB). */
export interface HeapRule {
  /** The limit is the memory size (MB) divided by this, rounded down... */
  divisor: number;
  /** ...but at least this... */
  min: number;
  /** ...and at most this. */
  max: number;
}

/**
 * Old space: a quarter of the function's memory (32 MiB at 128 MB: a small
 * limit makes V8 collect before the heap grows past what the function can
 * spare). Young generation: semi-spaces of 1/64, at least 2 MiB (2 MiB at
 * 128 MB, 16 MiB from 1,024 MB). V8's own pick under a small old space is
 * so small that bursts spent a third of their CPU in scavenges; 4 MiB at
 * 128 MB cost 8–10 MB more peak RSS in 100,000-event bursts than 2 MiB, at
 * the same CPU per event (10.5–11.3 vs 11.1–11.3 ms per 1,000, two runs
 * each), and 1 MiB cost more CPU (11.0–12.9).
 *
 * Integer arithmetic only: the portable layer's launcher repeats it in
 * POSIX sh.
 */
export const HEAP_RULES: { oldSpace: HeapRule; semiSpace: HeapRule } = {
  oldSpace: { divisor: 4, min: 32, max: 1024 },
  semiSpace: { divisor: 64, min: 2, max: 16 },
};

const apply = (rule: HeapRule, memoryMB: number) =>
  clamp(Math.floor(memoryMB / rule.divisor), rule.min, rule.max);

/** Heap limits for a function of `memoryMB` ({@linkcode HEAP_RULES}). */
export function heapFlagsFor(memoryMB: number): HeapFlags {
  return {
    oldSpaceMiB: apply(HEAP_RULES.oldSpace, memoryMB),
    semiSpaceMiB: apply(HEAP_RULES.semiSpace, memoryMB),
  };
}

/** The `--v8-flags=` value for {@linkcode heapFlagsFor}. */
export function v8FlagsFor(memoryMB: number): string {
  const { oldSpaceMiB, semiSpaceMiB } = heapFlagsFor(memoryMB);
  return `--max-old-space-size=${oldSpaceMiB},--max-semi-space-size=${semiSpaceMiB}`;
}

/**
 * Buffer bounds for a function of `memoryMB`: an eighth of it at most
 * (16 MiB at 128 MB; 512 MiB, half the largest old space, from 4,096 MB on), since Deno with the SDK loaded takes ~40 MB before the
 * first event and one request in flight holds further copies (KPL records,
 * the base64 JSON body) of up to 5 MiB each; a quarter of that by default
 * (4 MiB at 128 MB), 8 MiB at most: bench bursts at 128 MB peaked at about
 * 96 MB + 3.3 × the bound, so every MiB of bound costs the function over
 * 3 MB at the peak; and with a 32 MiB bound a 100,000-event burst at full
 * speed delivered nothing in 120 s (each flush's first, largest requests did
 * not finish within the 200 ms hold and were abandoned, again and again).
 */
export function bufferBoundsFor(memoryMB: number): BufferBounds {
  const ceilingBytes = Math.min(Math.floor(memoryMB / 8), 512) * MIB;
  return {
    ceilingBytes,
    defaultBytes: Math.min(ceilingBytes / 4, 8 * MIB),
  };
}

/**
 * Why a buffer bound of `maxBufferBytes` cannot fit, or `undefined` when it
 * can: it must fit the function's memory ({@linkcode bufferBoundsFor}) and
 * half of the V8 heap (`heapLimitBytes`, `heap_size_limit` of the running
 * process), because in the worst case (small events) about half of a full
 * buffer's charge is objects on the heap, and parsing a delivery needs the
 * rest.
 */
export function bufferMisfit(
  maxBufferBytes: number,
  memoryMB: number | undefined,
  heapLimitBytes: number | undefined,
): string | undefined {
  if (memoryMB !== undefined) {
    const { ceilingBytes } = bufferBoundsFor(memoryMB);
    if (maxBufferBytes > ceilingBytes) {
      return `${maxBufferBytes} does not fit a function of ${memoryMB} MB (at most ${ceilingBytes} = 1/8 of its memory; the extension's memory counts in the function's)`;
    }
  }
  if (heapLimitBytes !== undefined && maxBufferBytes > heapLimitBytes / 2) {
    return `${maxBufferBytes} does not fit the extension's V8 heap of ${
      Math.round(heapLimitBytes / MIB)
    } MiB (at most half of it)`;
  }
  return undefined;
}
