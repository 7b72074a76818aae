/**
 * Shared inputs of the codec tests (encoder, KPL, batcher, decoder):
 * a seeded random source so property-style tests are deterministic, and
 * text generators that stress UTF-8 and JSON escaping.
 *
 * @module
 */
import type { BufferedEvent, EnvelopeContext } from "../../extension/types.ts";

/** A deterministic random source (mulberry32) with helpers. */
export interface SeededRandom {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  /** One element of `items`. */
  pick<T>(items: readonly T[]): T;
}

/** Creates a {@link SeededRandom} from a 32-bit seed. */
export function seededRandom(seed: number): SeededRandom {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
  };
}

/**
 * Pieces of text that are hard to cut and escape: ASCII, characters JSON
 * escapes (quote, backslash, controls), 2-, 3- and 4-byte UTF-8, combining
 * marks, line/paragraph separators and lone surrogates.
 */
export const TRICKY_PIECES: readonly string[] = [
  "a",
  "Z",
  " ",
  '"',
  "\\",
  "\n",
  "\t",
  "\u0001",
  "\u001f",
  "\u007f",
  "é",
  "ß",
  "中",
  "日本語",
  "\u2028",
  "\u2029",
  "😀",
  "👩‍👩‍👧",
  "e\u0301",
  "\ud800",
  "\udfff",
  "\ufeff",
];

/** A random string of `pieces` tricky pieces. */
export function trickyText(random: SeededRandom, pieces: number): string {
  let text = "";
  for (let i = 0; i < pieces; i++) text += random.pick(TRICKY_PIECES);
  return text;
}

/** The context used by most codec tests. */
export const CONTEXT: EnvelopeContext = {
  functionName: "orders-api",
  functionVersion: "$LATEST",
  region: "eu-west-1",
  accountId: "123456789012",
  environmentId: "5b1e9f0c-3c55-4f6e-9d7a-0c4a2f1e8b11",
};

const utf8 = new TextEncoder();

/**
 * A buffered event whose data is a small JSON document of exactly
 * `dataBytes` bytes carrying `id` (so tests can trace it), keyed `key`.
 */
export function eventOfSize(
  id: number,
  dataBytes: number,
  key: string,
): BufferedEvent {
  const head = `{"id":${id},"pad":"`;
  const tail = `"}`;
  const padding = dataBytes - head.length - tail.length;
  if (padding < 0) throw new RangeError(`${dataBytes} bytes is too small`);
  return {
    data: utf8.encode(head + "x".repeat(padding) + tail),
    partitionKey: key,
    receivedAt: id,
    uncertain: false,
  };
}

/** Reads back the `id` an {@link eventOfSize} event carries. */
export function idOf(data: Uint8Array): number {
  return (JSON.parse(new TextDecoder().decode(data)) as { id: number }).id;
}
