/**
 * Compares what the sandbox emitted with what a stream holds, event by
 * event (matched on time + type + record), so the demo and the tests can say
 * exactly what was delivered, lost, duplicated or never offered.
 *
 * @module
 */
import type { Envelope } from "../lib/decode.ts";
import type { TelemetryEvent } from "../../extension/types.ts";
import type { EmittedEvent } from "./telemetry_delivery.ts";

/** The outcome of the comparison. */
export interface DeliveryCheck {
  /** Events the sandbox emitted. */
  emitted: number;
  /** Emitted events the extension's listener acknowledged. */
  received: number;
  /** Acknowledged events found in the stream (once or more). */
  delivered: number;
  /** Acknowledged events not in the stream. */
  lost: TelemetryEvent[];
  /** Events the platform gave up delivering to the listener (after retries). */
  droppedBeforeListener: TelemetryEvent[];
  /**
   * Emitted, never acknowledged and never dropped: offered too late (after
   * the extension stopped listening at SHUTDOWN) or not subscribed.
   */
  neverReceived: TelemetryEvent[];
  /** Envelopes found more often than their event was emitted. */
  duplicates: Envelope[];
  /**
   * Envelopes whose event id (`environmentId` + `seq`) came before: the
   * re-sends a consumer drops by id (counted in `possibleDuplicates`).
   */
  repeatedIds: number;
  /** Envelopes of this environment that match no emitted event. */
  unexpected: Envelope[];
  /** Envelopes whose record was truncated (matched by prefix). */
  truncated: number;
  /** Environment ids seen on matched envelopes. */
  environmentIds: string[];
}

/** The key an event is matched on. */
export function eventKey(
  event: { time: string; type: string; record: unknown },
): string {
  return JSON.stringify([event.time, event.type, event.record]);
}

/**
 * Matches every envelope to an emitted event. Envelopes of other execution
 * environments (an existing stream with older data) are ignored; truncated
 * envelopes match an event of the same time and type whose record's JSON
 * text (or string) starts with the shipped prefix.
 */
export function checkDelivery(
  events: readonly EmittedEvent[],
  envelopes: readonly Envelope[],
  subscriber?: string,
): DeliveryCheck {
  const acknowledged = (entry: EmittedEvent) =>
    subscriber
      ? entry.acknowledgedBy.includes(subscriber)
      : entry.acknowledgedBy.length > 0;
  const dropped = (entry: EmittedEvent) =>
    subscriber
      ? entry.droppedBy.includes(subscriber)
      : entry.droppedBy.length > 0;
  const byKey = new Map<string, { entry: EmittedEvent; seen: number }[]>();
  const byTimeType = new Map<string, { entry: EmittedEvent; seen: number }[]>();
  const slots = events.map((entry) => ({ entry, seen: 0 }));
  for (const slot of slots) {
    push(byKey, eventKey(slot.entry.event), slot);
    push(byTimeType, `${slot.entry.event.time} ${slot.entry.event.type}`, slot);
  }
  const duplicates: Envelope[] = [];
  const unmatched: Envelope[] = [];
  const environmentIds = new Set<string>();
  const ids = new Set<string>();
  let repeatedIds = 0;
  let truncated = 0;
  for (const envelope of envelopes) {
    const id = `${envelope.environmentId}:${envelope.seq}`;
    if (ids.has(id)) repeatedIds++;
    else ids.add(id);
    let candidates = byKey.get(eventKey(envelope)) ?? [];
    if (envelope.truncated) {
      truncated++;
      const prefix = String(envelope.record);
      candidates = (byTimeType.get(`${envelope.time} ${envelope.type}`) ?? [])
        .filter((slot) =>
          recordText(slot.entry.event.record).startsWith(prefix)
        );
    }
    if (candidates.length === 0) {
      unmatched.push(envelope);
      continue;
    }
    environmentIds.add(envelope.environmentId);
    // Identical events (same time, type and record) are interchangeable:
    // fill the least-seen one first so duplicates show as a second sighting.
    const slot = candidates.reduce((least, next) =>
      next.seen < least.seen ? next : least
    );
    if (slot.seen > 0) duplicates.push(envelope);
    slot.seen++;
  }
  const received = slots.filter((slot) => acknowledged(slot.entry));
  return {
    emitted: events.length,
    received: received.length,
    delivered: received.filter((slot) => slot.seen > 0).length,
    lost: received.filter((slot) => slot.seen === 0).map((slot) =>
      slot.entry.event
    ),
    droppedBeforeListener: slots.filter((slot) => dropped(slot.entry))
      .map((slot) => slot.entry.event),
    neverReceived: slots.filter((slot) =>
      !acknowledged(slot.entry) && !dropped(slot.entry) && slot.seen === 0
    ).map((slot) => slot.entry.event),
    duplicates,
    repeatedIds,
    unexpected: unmatched.filter((envelope) =>
      environmentIds.size === 0 || environmentIds.has(envelope.environmentId)
    ),
    truncated,
    environmentIds: [...environmentIds],
  };
}

/** The text a truncated record is a prefix of. */
function recordText(record: unknown): string {
  return typeof record === "string" ? record : JSON.stringify(record);
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
