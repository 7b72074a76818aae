/**
 * A bounded FIFO of encoded telemetry events. It counts bytes, not items,
 * so memory stays bounded whatever the events' sizes: each event's envelope
 * plus {@linkcode EVENT_OVERHEAD_BYTES} for what holding it costs besides
 * (small events would otherwise overrun the bound several times over);
 * events taken out for a send keep counting against the bound until they
 * are settled.
 *
 * With a {@linkcode SpillStore}, deliveries that do not fit in memory go to
 * disk instead of being refused, and come back, oldest first, as the memory
 * bound frees up. While anything is on disk, new deliveries go there too, so
 * the order of arrival is kept.
 *
 * @module
 */
import { EVENT_OVERHEAD_BYTES } from "./memory_budget.ts";
import type { SpillStore } from "./spill.ts";
import type { BufferedEvent } from "./types.ts";

/** What the buffer reports about its spill store. */
export interface SpillEvents {
  /** Events written to disk; `first`: nothing was on disk before. */
  onSpilled?(events: number, first: boolean): void;
  /** Events of a segment that could not be read back. */
  onLost?(events: number, error: unknown): void;
  /** The first write that failed (the store takes nothing after it). */
  onFailed?(error: unknown): void;
}

/** The buffer of events waiting for Kinesis. */
export class EventBuffer {
  #items: BufferedEvent[] = [];
  #queuedBytes = 0;
  #takenBytes = 0;
  readonly #maxBytes: number;
  readonly #spill: SpillStore | undefined;
  readonly #spillEvents: SpillEvents;
  #failureReported = false;

  /**
   * Creates a buffer holding at most `maxBytes` of events (queued plus
   * taken) in memory, and what does not fit in `spill` when given.
   */
  constructor(
    maxBytes: number,
    spill?: SpillStore,
    spillEvents: SpillEvents = {},
  ) {
    this.#maxBytes = maxBytes;
    this.#spill = spill;
    this.#spillEvents = spillEvents;
  }

  /** The bound: bytes queued plus taken never exceed it. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Events waiting, in memory and on disk. */
  get length(): number {
    return this.#items.length + (this.#spill?.events ?? 0);
  }

  /** Events waiting on disk. */
  get spilled(): number {
    return this.#spill?.events ?? 0;
  }

  /** Envelope bytes waiting, in memory (with their overhead) and on disk. */
  get queuedBytes(): number {
    return this.#queuedBytes + (this.#spill?.envelopeBytes ?? 0);
  }

  /** Bytes taken out for a send and not yet settled. */
  get takenBytes(): number {
    return this.#takenBytes;
  }

  /** Bytes still free under the memory bound. */
  get freeBytes(): number {
    return this.#maxBytes - this.#queuedBytes - this.#takenBytes;
  }

  /**
   * Whether a delivery of at least `bytes` is sure to be refused by
   * {@linkcode offer}: its envelopes are larger than its events' JSON.
   */
  refuses(bytes: number): boolean {
    if (this.#spill?.accepts(bytes)) return false;
    return !this.#emptyInMemory() && bytes > this.freeBytes;
  }

  /** Arrival time of the oldest waiting event, or undefined when empty. */
  get oldestReceivedAt(): number | undefined {
    return this.#items[0]?.receivedAt ?? this.#spill?.oldestReceivedAt;
  }

  /**
   * Appends all `events` (`bytes`: their envelopes' sizes), or none of them
   * when they do not fit: a partial accept cannot be acknowledged to Lambda
   * without losing or duplicating.
   */
  offer(events: readonly BufferedEvent[], bytes: number): boolean {
    const charge = bytes + events.length * EVENT_OVERHEAD_BYTES;
    const spill = this.#spill;
    // An empty buffer takes any delivery: envelopes outgrow their events
    // (context on each), so a delivery larger than the whole bound would
    // otherwise be refused forever. The overshoot is one delivery at most.
    const fits = charge <= this.freeBytes || this.#emptyInMemory();
    if (fits && !(spill && spill.events > 0)) return this.#push(events, charge);
    if (spill) {
      if (spill.append(events)) {
        this.#spillEvents.onSpilled?.(
          events.length,
          spill.events === events.length,
        );
        return true;
      }
      if (spill.failure !== undefined && !this.#failureReported) {
        this.#failureReported = true;
        this.#spillEvents.onFailed?.(spill.failure);
      }
    }
    // The disk is full or failing: out of order in memory rather than refused.
    return fits && this.#push(events, charge);
  }

  #push(events: readonly BufferedEvent[], charge: number): true {
    for (const event of events) this.#items.push(event);
    this.#queuedBytes += charge;
    return true;
  }

  /**
   * Takes every queued event out, oldest first, for a send: those in memory,
   * then spilled segments as long as they fit under the bound.
   */
  takeAll(): BufferedEvent[] {
    this.#refill();
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

  /**
   * Puts taken events back to be sent again, in their order, in front of
   * those that arrived after them: a request carried across a freeze can
   * end after later events were taken and put back (oldest still first).
   */
  requeue(events: readonly BufferedEvent[]): void {
    if (events.length === 0) return;
    const bytes = chargeOf(events);
    this.#takenBytes -= bytes;
    this.#queuedBytes += bytes;
    const items = this.#items;
    this.#items = items.length === 0 ||
        events[events.length - 1].receivedAt <= items[0].receivedAt
      ? [...events, ...items]
      : mergeByArrival(events, items);
  }

  /**
   * Forgets what is on disk (at shutdown, when it can no longer be sent);
   * returns its count of events.
   */
  discardSpilled(): number {
    return this.#spill?.discard() ?? 0;
  }

  #emptyInMemory(): boolean {
    return this.#queuedBytes === 0 && this.#takenBytes === 0;
  }

  #refill(): void {
    const spill = this.#spill;
    if (!spill) return;
    for (let next = spill.peek(); next; next = spill.peek()) {
      const charge = next.envelopeBytes + next.events * EVENT_OVERHEAD_BYTES;
      if (charge > this.freeBytes && !this.#emptyInMemory()) return;
      const read = spill.shift()!;
      if (read.events === undefined) {
        this.#spillEvents.onLost?.(read.lost, read.error);
        continue;
      }
      this.#push(read.events, charge);
    }
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

/** Merges two arrival-ordered lists; on a tie the first list's event goes first. */
function mergeByArrival(
  first: readonly BufferedEvent[],
  second: readonly BufferedEvent[],
): BufferedEvent[] {
  const merged: BufferedEvent[] = [];
  let i = 0;
  let j = 0;
  while (i < first.length && j < second.length) {
    merged.push(
      first[i].receivedAt <= second[j].receivedAt ? first[i++] : second[j++],
    );
  }
  while (i < first.length) merged.push(first[i++]);
  while (j < second.length) merged.push(second[j++]);
  return merged;
}
