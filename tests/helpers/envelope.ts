/**
 * The envelope's key order, as the tests of the encoder, the extension and
 * the whole pipeline expect it: the order is part of the record contract.
 *
 * @module
 */

/** Keys of an envelope, in the order they are written. */
export const ENVELOPE_KEYS: readonly string[] = [
  "time",
  "type",
  "record",
  "function",
  "region",
  "accountId",
  "environmentId",
  "seq",
];

/** Keys of a truncated event's envelope: the marker comes last. */
export const TRUNCATED_ENVELOPE_KEYS: readonly string[] = [
  ...ENVELOPE_KEYS,
  "truncated",
];
