/**
 * Builds the listener's view of an event ({@link RawTelemetryEvent}) from a
 * value or from JSON text, through the same scanner the listener uses, for
 * tests that drive the encoder directly.
 *
 * @module
 */
import { readEvent, scanEventArray } from "../../extension/event_scanner.ts";
import type { RawTelemetryEvent } from "../../extension/types.ts";
import {
  createEnvelopeEncoder,
  type EncodedEvent,
  type EnvelopeEncoderOptions,
} from "../../extension/encoder.ts";

/** The raw view of one event given as the JSON text of an array element. */
export function rawEventFromJson(elementJson: string): RawTelemetryEvent {
  const body = new TextEncoder().encode(`[${elementJson}]`);
  const [element] = scanEventArray(body);
  const event = readEvent(body, element);
  if (typeof event === "string") throw new Error(`not an event: ${event}`);
  return event;
}

/** The raw view of one event value, as `JSON.stringify` writes it. */
export function rawEventOf(event: unknown): RawTelemetryEvent {
  return rawEventFromJson(JSON.stringify(event));
}

/**
 * An envelope encoder that takes event values (serialized with
 * `JSON.stringify`, then scanned as the listener would).
 */
export function valueEncoder(
  options: EnvelopeEncoderOptions,
): (event: unknown, receivedAt: number) => EncodedEvent {
  const encode = createEnvelopeEncoder(options);
  return (event, receivedAt) => encode(rawEventOf(event), receivedAt);
}
