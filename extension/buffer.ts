/**
 * A bounded FIFO of encoded telemetry events. It counts bytes, not items,
 * so memory stays bounded whatever the events' sizes: each event's envelope
 * plus {@linkcode EVENT_OVERHEAD_BYTES} for what holding it costs besides
 * (small events would otherwise overrun the bound several times over);
 * events taken out for a send keep counting against the bound until they
 * are settled.
 *
 * @module
 */
import { EVENT_OVERHEAD_BYTES } from "./memory_budget.ts";
import type { BufferedEvent } from "./types.ts";

/** The buffer of events waiting for Kinesis. */
export class EventBuffer {
  #items: BufferedEvent[] = [];
  #queuedBytes = 0;
  #takenBytes = 0;
  readonly #maxBytes: number;

  /** Creates a buffer holding at most `maxBytes` of events (queued plus taken). */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** The bound: bytes queued plus taken never exceed it. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Events waiting in the queue. */
  get length(): number {
    return this.#items.length;
  }

  /** Bytes waiting in the queue. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Bytes taken out for a send and not yet settled. */
  get takenBytes(): number {
    return this.#takenBytes;
  }

  /** Bytes still free under the bound. */
  get freeBytes(): number {
    return this.#maxBytes - this.#queuedBytes - this.#takenBytes;
  }

  /**
   * Whether a delivery of at least `bytes` is sure to be refused by
   * {@linkcode offer}: its envelopes are larger than its events' JSON.
   */
  refuses(bytes: number): boolean {
    const empty = this.#queuedBytes === 0 && this.#takenBytes === 0;
    return !empty && bytes > this.freeBytes;
  }

  /** Arrival time of the oldest queued event, or undefined when empty. */
  get oldestReceivedAt(): number | undefined {
    return this.#items[0]?.receivedAt;
  }

  /**
   * Appends all `events` (`bytes`: their envelopes' sizes), or none of them
   * when they do not fit: a partial accept cannot be acknowledged to Lambda
   * without losing or duplicating.
   */
  offer(events: readonly BufferedEvent[], bytes: number): boolean {
    const charge = bytes + events.length * EVENT_OVERHEAD_BYTES;
    // An empty buffer takes any delivery: envelopes outgrow their events
    // (context on each), so a delivery larger than the whole bound would
    // otherwise be refused forever. The overshoot is one delivery at most.
    const empty = this.#queuedBytes === 0 && this.#takenBytes === 0;
    if (charge > this.freeBytes && !empty) return false;
    for (const event of events) this.#items.push(event);
    this.#queuedBytes += charge;
    return true;
  }

  /** Takes every queued event out, oldest first, for a send. */
  takeAll(): BufferedEvent[] {
    const taken = this.#items;
    this.#items = [];
    this.#takenBytes += this.#queuedBytes;
    this.#queuedBytes = 0;
    return taken;
  }

  /** Forgets taken events that were delivered (or dropped). */
  settle(events: readonly BufferedEvent[]): void {
    this.#takenBytes -= chargeOf(events);
  }

  /** Puts taken events back at the front, in their order, to be sent again. */
  requeue(events: readonly BufferedEvent[]): void {
    if (events.length === 0) return;
    const bytes = chargeOf(events);
    this.#takenBytes -= bytes;
    this.#queuedBytes += bytes;
    this.#items = [...events, ...this.#items];
  }
}

/** Sum of the envelope sizes of `events`. */
export function sizeOf(events: readonly BufferedEvent[]): number {
  let bytes = 0;
  for (const event of events) bytes += event.data.byteLength;
  return bytes;
}

/** What `events` count against the bound: envelopes plus per-event overhead. */
export function chargeOf(events: readonly BufferedEvent[]): number {
  return sizeOf(events) + events.length * EVENT_OVERHEAD_BYTES;
}
