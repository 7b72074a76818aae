/**
 * Pushes telemetry to one subscribed listener the way Lambda does: JSON
 * arrays cut by the subscription's buffering (maxItems, maxBytes, timeoutMs),
 * in order, one POST at a time, retried with backoff on errors, dropped after
 * a bounded number of attempts. Paused while the environment is frozen.
 *
 * @module
 */
import type { TelemetryEvent } from "../../extension/types.ts";
import type { Subscription } from "./subscription.ts";

/** One telemetry event the sandbox emitted, with what became of it. */
export interface EmittedEvent {
  /** The event exactly as it is POSTed. */
  event: TelemetryEvent;
  /** UTF-8 size of its JSON text. */
  bytes: number;
  /** Names of the extensions whose listener answered 2xx to a POST carrying it. */
  acknowledgedBy: string[];
  /** Names of the extensions to which it was dropped after failed attempts. */
  droppedBy: string[];
  /** Epoch ms of the first acknowledgement, null until then. */
  acknowledgedAt: number | null;
}

/** Retry and timeout settings of the delivery. */
export interface DeliveryPolicy {
  /** Attempts per batch before it is dropped. */
  maxAttempts: number;
  /** Backoff before the second attempt; doubles per attempt. */
  initialBackoffMs: number;
  /** Longest backoff. */
  maxBackoffMs: number;
  /** Abort a POST that takes longer than this. */
  requestTimeoutMs: number;
}

/** Lambda-like defaults: a few quick retries, then drop. */
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = {
  maxAttempts: 5,
  initialBackoffMs: 50,
  maxBackoffMs: 1_000,
  requestTimeoutMs: 5_000,
};

/** What a dropped batch held, for `platform.logsDropped`. */
export interface DroppedBatch {
  /** Events in the batch. */
  records: number;
  /** Their JSON bytes. */
  bytes: number;
  /** True when the batch held only `platform.logsDropped` notices (do not report again). */
  onlyDropNotices: boolean;
  /** Why the last attempt failed. */
  lastError: string;
}

/** Dependencies of a delivery. */
export interface DeliveryOptions {
  /** Extension name (recorded in `acknowledgedBy` / `droppedBy`). */
  subscriber: string;
  /** The validated subscription. */
  subscription: Subscription;
  /** Retry policy. */
  policy?: DeliveryPolicy;
  /** HTTP client; `fetch` by default. */
  fetch?: typeof fetch;
  /** Called after a batch was dropped. */
  onDropped?(batch: DroppedBatch): void;
}

interface Queued {
  entry: EmittedEvent;
  sequence: number;
  queuedAt: number;
}

/** Delivery of telemetry to one listener. */
export class TelemetryDelivery {
  readonly #options: DeliveryOptions;
  readonly #policy: DeliveryPolicy;
  readonly #fetch: typeof fetch;
  #queue: Queued[] = [];
  #queuedBytes = 0;
  #nextSequence = 1;
  #settledSequence = 0;
  #flushThrough = 0;
  #paused = false;
  #closed = false;
  #inFlight: Promise<unknown> | null = null;
  #wake: () => void = () => {};
  #settleWaiters: Array<{ sequence: number; resolve(): void }> = [];
  readonly #pump: Promise<void>;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#policy = options.policy ?? DEFAULT_DELIVERY_POLICY;
    this.#fetch = options.fetch ?? fetch;
    this.#pump = this.#run();
  }

  /** Number of events waiting to be delivered. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Adds an event to the end of the queue. */
  enqueue(entry: EmittedEvent): void {
    if (this.#closed) return;
    this.#queue.push({
      entry,
      sequence: this.#nextSequence++,
      queuedAt: performance.now(),
    });
    this.#queuedBytes += entry.bytes;
    this.#wake();
  }

  /**
   * Stops starting POSTs (the platform is frozen too) and resolves once a
   * POST already under way has ended.
   */
  async pause(): Promise<void> {
    this.#paused = true;
    await this.#inFlight?.catch(() => {});
  }

  /** Lets delivery go on after `pause`. */
  resume(): void {
    this.#paused = false;
    this.#wake();
  }

  /**
   * Delivers what is queued now without waiting for timers; resolves when
   * it was acknowledged or dropped. `all` takes everything; `due` only
   * takes it when the oldest event's buffering timeout already passed by the
   * wall clock (what Lambda sends right at a thaw: the whole buffer, since
   * its timer fired), else leaves it to its timer.
   */
  flush(which: "all" | "due" = "all"): Promise<void> {
    const oldest = this.#queue[0];
    const timeoutMs = this.#options.subscription.buffering.timeoutMs;
    if (
      which === "due" &&
      (!oldest || oldest.queuedAt + timeoutMs > performance.now())
    ) {
      // Nothing is due; a POST under way is still waited for.
      return this.#inFlight
        ? this.#inFlight.then(() => {}, () => {})
        : Promise.resolve();
    }
    const target = this.#nextSequence - 1;
    if (this.#settledSequence >= target) return Promise.resolve();
    this.#flushThrough = Math.max(this.#flushThrough, target);
    this.#wake();
    return new Promise((resolve) =>
      this.#settleWaiters.push({ sequence: target, resolve })
    );
  }

  /** Stops delivering (what is queued stays undelivered) and waits for the loop to end. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake();
    await this.#pump;
    for (const waiter of this.#settleWaiters) waiter.resolve();
    this.#settleWaiters = [];
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      const delay = this.#delayUntilDue();
      if (delay > 0) {
        await this.#sleep(delay);
        continue;
      }
      const batch = this.#cutBatch();
      const delivered = await this.#deliver(batch);
      if (this.#closed && !delivered) return;
      const settledAt = Date.now();
      for (const { entry } of batch) {
        if (delivered) {
          entry.acknowledgedBy.push(this.#options.subscriber);
          entry.acknowledgedAt ??= settledAt;
        } else {
          entry.droppedBy.push(this.#options.subscriber);
        }
      }
      this.#settledSequence = batch[batch.length - 1].sequence;
      this.#settleWaiters = this.#settleWaiters.filter((waiter) => {
        if (waiter.sequence > this.#settledSequence) return true;
        waiter.resolve();
        return false;
      });
    }
  }

  /** 0 when a batch should go now, else how long to wait (Infinity: until woken). */
  #delayUntilDue(): number {
    if (this.#paused || this.#queue.length === 0) return Infinity;
    const { maxItems, maxBytes, timeoutMs } =
      this.#options.subscription.buffering;
    if (
      this.#queue.length >= maxItems || this.#queuedBytes >= maxBytes ||
      this.#queue[0].sequence <= this.#flushThrough
    ) {
      return 0;
    }
    return Math.max(0, this.#queue[0].queuedAt + timeoutMs - performance.now());
  }

  #cutBatch(): Queued[] {
    const { maxItems, maxBytes } = this.#options.subscription.buffering;
    const batch: Queued[] = [];
    let bytes = 2;
    while (this.#queue.length > 0 && batch.length < maxItems) {
      const next = this.#queue[0];
      if (batch.length > 0 && bytes + next.entry.bytes + 1 > maxBytes) break;
      batch.push(this.#queue.shift()!);
      bytes += next.entry.bytes + 1;
      this.#queuedBytes -= next.entry.bytes;
    }
    return batch;
  }

  /** POSTs the batch with retries; true when acknowledged, false when dropped. */
  async #deliver(batch: Queued[]): Promise<boolean> {
    const body = `[${
      batch.map((item) => JSON.stringify(item.entry.event)).join(",")
    }]`;
    let lastError = "";
    for (let attempt = 1; attempt <= this.#policy.maxAttempts; attempt++) {
      while (this.#paused && !this.#closed) await this.#sleep(Infinity);
      if (this.#closed) return false;
      const outcome = this.#post(body);
      this.#inFlight = outcome;
      const result = await outcome;
      this.#inFlight = null;
      if (result === null) return true;
      lastError = result;
      if (attempt < this.#policy.maxAttempts) {
        const backoff = Math.min(
          this.#policy.maxBackoffMs,
          this.#policy.initialBackoffMs * 2 ** (attempt - 1),
        );
        await this.#sleep(backoff, true);
      }
    }
    this.#options.onDropped?.({
      records: batch.length,
      bytes: batch.reduce((sum, item) => sum + item.entry.bytes, 0),
      onlyDropNotices: batch.every((item) =>
        item.entry.event.type === "platform.logsDropped"
      ),
      lastError,
    });
    return false;
  }

  /** One POST; null on a 2xx answer, else why it failed. */
  async #post(body: string): Promise<string | null> {
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new Error("listener did not answer in time")),
      this.#policy.requestTimeoutMs,
    );
    try {
      const response = await this.#fetch(
        this.#options.subscription.deliveryUrl,
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          signal: abort.signal,
        },
      );
      await response.arrayBuffer();
      return response.ok ? null : `listener answered ${response.status}`;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Waits `ms` or until something changes (an enqueue, resume, flush or
   * close). A backoff wait ignores everything but close.
   */
  #sleep(ms: number, onlyClose = false): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        this.#wake = () => {};
        resolve();
      };
      if (Number.isFinite(ms)) timer = setTimeout(done, ms);
      this.#wake = onlyClose
        ? () => {
          if (this.#closed) done();
        }
        : done;
    });
  }
}
