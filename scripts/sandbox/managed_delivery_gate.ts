/**
 * The strictest rule of telemetry delivery on a managed instance, as AWS's
 * emulator applies it in LMI mode: one batch in flight per subscriber, and
 * a batch that became ready (its oldest event reached the subscription's
 * `timeoutMs`) while the previous one was still unanswered is dropped, not
 * sent later ("previous batch hasn't processed yet"). The sandbox's delivery
 * sends its batches one after another; this gate sits in its HTTP client and
 * refuses, before any byte is sent, a batch that AWS would have dropped, so
 * the delivery counts it as dropped and a `platform.logsDropped` tells of it.
 *
 * A batch cut because it is full is judged by its oldest event's timeout
 * too, so a full batch may pass here where AWS would drop it: the gate is at
 * most as strict as AWS, never stricter.
 *
 * @module
 */

/** Why the gate refused a batch (the delivery's `lastError`). */
export const BUSY_LISTENER_DROP =
  "dropped: the batch was ready while the previous one was unanswered (one batch in flight per subscriber, as on Lambda Managed Instances)";

/** The gate for every subscriber of one environment, keyed by listener port. */
export class BusyListenerGate {
  readonly #timeoutMs = new Map<string, number>();
  readonly #answeredAt = new Map<string, number>();
  /** Batches refused so far. */
  dropped = 0;

  /** Notes a subscription's listener and buffering timeout. */
  subscribed(destinationUri: string, timeoutMs: number): void {
    this.#timeoutMs.set(portOf(destinationUri), timeoutMs);
  }

  /** `fetch` with the gate in front: a batch AWS would drop is refused with an error. */
  wrap(inner: typeof fetch): typeof fetch {
    return async (input, init) => {
      const port = portOf(String(input));
      const timeoutMs = this.#timeoutMs.get(port);
      const answeredAt = this.#answeredAt.get(port);
      if (
        timeoutMs !== undefined && answeredAt !== undefined &&
        typeof init?.body === "string"
      ) {
        const readyAt = oldestEventTime(init.body) + timeoutMs;
        if (readyAt < answeredAt) {
          this.dropped++;
          throw new Error(BUSY_LISTENER_DROP);
        }
      }
      try {
        return await inner(input, init);
      } finally {
        this.#answeredAt.set(port, Date.now());
      }
    };
  }
}

function portOf(url: string): string {
  try {
    return new URL(url).port;
  } catch {
    return "";
  }
}

/** Epoch ms of a batch's first event (its oldest: batches keep order). */
function oldestEventTime(body: string): number {
  try {
    const events = JSON.parse(body) as Array<{ time?: string }>;
    const time = Date.parse(events[0]?.time ?? "");
    return Number.isNaN(time) ? Infinity : time;
  } catch {
    return Infinity;
  }
}
