/**
 * The platform's telemetry stream: every event the sandbox emits, kept in
 * order with what became of it, and fanned out to the delivery of each
 * subscribed extension (by type). Telemetry emitted before an extension
 * subscribed waits for its first subscription, as Lambda buffers init
 * telemetry until then.
 *
 * @module
 */
import type { TelemetryEvent } from "../../extension/types.ts";
import {
  logsDroppedRecord,
  telemetrySubscriptionRecord,
} from "./platform_events.ts";
import type { Subscription } from "./subscription.ts";
import { settleWithin } from "./timing.ts";
import {
  DEFAULT_DELIVERY_POLICY,
  type DeliveryPolicy,
  type EmittedEvent,
  TelemetryDelivery,
} from "./telemetry_delivery.ts";

/** `platform`, `function` or `extension` for an event type. */
export function typeCategory(type: string): string {
  return type.startsWith("platform.") ? "platform" : type;
}

/** Settings of the hub. */
export interface TelemetryHubOptions {
  /** Retry policy of every delivery. */
  policy?: DeliveryPolicy;
  /** HTTP client of the deliveries. */
  fetch?: typeof fetch;
}

/** Every emitted event and the deliveries to subscribers. */
export class TelemetryHub {
  /** Every event emitted, in order. */
  readonly events: EmittedEvent[] = [];
  readonly #subscribers = new Map<
    string,
    { types: string[]; delivery: TelemetryDelivery }
  >();
  readonly #options: TelemetryHubOptions;
  readonly #encoder = new TextEncoder();

  constructor(options: TelemetryHubOptions = {}) {
    this.#options = options;
  }

  /** Emits an event now: recorded, and queued for every subscriber of its type. */
  emit(type: string, record: unknown): EmittedEvent {
    const event: TelemetryEvent = {
      time: new Date().toISOString(),
      type,
      record,
    };
    const entry: EmittedEvent = {
      event,
      bytes: this.#encoder.encode(JSON.stringify(event)).length,
      acknowledgedBy: [],
      droppedBy: [],
      acknowledgedAt: null,
    };
    this.events.push(entry);
    const category = typeCategory(type);
    for (const { types, delivery } of this.#subscribers.values()) {
      if (types.includes(category)) delivery.enqueue(entry);
    }
    return entry;
  }

  /**
   * Starts (or replaces) the delivery to `subscriber`. The first
   * subscription also receives every matching event emitted so far.
   */
  subscribe(subscriber: string, subscription: Subscription): void {
    const previous = this.#subscribers.get(subscriber);
    const delivery = new TelemetryDelivery({
      subscriber,
      subscription,
      policy: this.#options.policy ?? DEFAULT_DELIVERY_POLICY,
      fetch: this.#options.fetch,
      onDropped: (batch) => {
        // A dropped notice is not noticed again: a listener that stays down
        // would otherwise make an endless chain of them.
        if (!batch.onlyDropNotices) {
          this.emit(
            "platform.logsDropped",
            logsDroppedRecord(batch.records, batch.bytes),
          );
        }
      },
    });
    const types: string[] = subscription.types;
    if (previous) {
      void previous.delivery.close();
    } else {
      for (const entry of this.events) {
        if (types.includes(typeCategory(entry.event.type))) {
          delivery.enqueue(entry);
        }
      }
    }
    this.#subscribers.set(subscriber, { types, delivery });
    this.emit(
      "platform.telemetrySubscription",
      telemetrySubscriptionRecord(subscriber, types),
    );
  }

  /** Stops every delivery (the environment freezes); waits for POSTs under way. */
  async pause(): Promise<void> {
    await Promise.all(this.#deliveries().map((delivery) => delivery.pause()));
  }

  /** Lets deliveries go on. */
  resume(): void {
    for (const delivery of this.#deliveries()) delivery.resume();
  }

  /** Delivers what is pending now (see `TelemetryDelivery.flush`), waiting at most `withinMs`. */
  async flush(withinMs: number, which: "all" | "due" = "all"): Promise<void> {
    await settleWithin(
      Promise.all(this.#deliveries().map((delivery) => delivery.flush(which))),
      withinMs,
      null,
    );
  }

  /** Ends every delivery; what is still queued stays undelivered. */
  async close(): Promise<void> {
    await Promise.all(this.#deliveries().map((delivery) => delivery.close()));
  }

  #deliveries(): TelemetryDelivery[] {
    return [...this.#subscribers.values()].map(({ delivery }) => delivery);
  }
}
