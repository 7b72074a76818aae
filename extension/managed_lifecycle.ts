/**
 * The lifecycle policy on Lambda Managed Instances (LMI): the extension is
 * registered for SHUTDOWN only, nothing freezes it, and many invocations run
 * at once, seen only through their telemetry. So telemetry is shipped in the
 * background: a flush starts whenever the buffer holds a full request's
 * worth or its oldest event is older than `flushIntervalMs`, with at most
 * `maxInFlight` flushes running at once. At SHUTDOWN it drains until the
 * deadline minus the margin, as on ordinary functions.
 *
 * Each background flush takes its own slice of the buffer into a private
 * one and runs the ordinary {@linkcode Flusher} on it, so accounting,
 * retries and truncation are the same code in both modes; what a slice could
 * not deliver goes back to the front of the shared buffer.
 *
 * @module
 */
import { EventBuffer } from "./buffer.ts";
import type { Config } from "./config.ts";
import type { LifecycleEvent } from "./extensions_api.ts";
import {
  Flusher,
  type FlusherOptions,
  type FlushOutcome,
  MAX_REQUEST_BYTES,
} from "./flusher.ts";
import type { LifecycleApi, LifecycleResult } from "./lifecycle.ts";
import { NEXT_ATTEMPTS, SIGNAL_SHUTDOWN_MS } from "./lifecycle.ts";
import type { Logger } from "./log.ts";
import { RequestSizer } from "./request_sizer.ts";
import type { Timers } from "./progress.ts";
import type { Stats } from "./stats.ts";
import { type BufferedEvent, KINESIS_LIMITS } from "./types.ts";

/**
 * Longest a background flush may take. Shorter than any SHUTDOWN budget
 * (2,000 ms less the margin, 1,500 ms on a signal), so a flush that started
 * just before SHUTDOWN has ended before the deadline and its events are
 * either stored or back in the buffer when the summary counts them.
 */
export const BACKGROUND_FLUSH_BUDGET_MS = 1_000;
/** Longest pause of background flushing after flushes that stored nothing. */
export const MAX_BACKOFF_MS = 30_000;
/** Wait for the answers of flushes that end at the SHUTDOWN deadline. */
const SETTLE_GRACE_MS = 25;
/** First pause after a flush that stored nothing. */
export const FIRST_BACKOFF_MS = 250;

/** Settings of the shipper. */
export interface ShipperOptions {
  /** The shared buffer the listener fills. */
  buffer: EventBuffer;
  /** How each flush sends (everything of the flusher but its buffer). */
  flusher: Omit<FlusherOptions, "buffer">;
  /** Flush triggers and bound. */
  config: Pick<Config, "flushIntervalMs" | "maxInFlight" | "requestTimeoutMs">;
  /** Logger. */
  logger: Logger;
}

/** One background flush under way. */
interface Slice {
  /** The events it took from the shared buffer. */
  events: BufferedEvent[];
  /** Settles when its events are stored or back in the shared buffer. */
  done: Promise<void>;
}

/**
 * Ships the shared buffer in the background with a bounded number of
 * concurrent flushes. `start` begins watching the buffer; `drain` is the
 * SHUTDOWN flush.
 */
export class BackgroundShipper {
  readonly #options: ShipperOptions;
  readonly #slices = new Set<Slice>();
  readonly #tickMs: number;
  #ticker: unknown;
  #failures = 0;
  #pausedUntil = 0;
  #lastOutcome: FlushOutcome | undefined;
  #permanent = false;
  /** One throughput estimate across slices: each slice is a new Flusher. */
  readonly #sizer = new RequestSizer();

  /** Creates the shipper; nothing runs until {@linkcode start}. */
  constructor(options: ShipperOptions) {
    this.#options = options;
    // The buffer is looked at a few times per interval: an event waits at
    // most the interval plus one tick before its flush starts.
    this.#tickMs = Math.max(
      5,
      Math.min(50, Math.floor(options.config.flushIntervalMs / 5)),
    );
  }

  /** Flushes running now. */
  get inFlight(): number {
    return this.#slices.size;
  }

  /** Events taken out by flushes running now. */
  get inFlightEvents(): number {
    let events = 0;
    for (const slice of this.#slices) events += slice.events.length;
    return events;
  }

  /** The outcome of the latest flush that ended. */
  get lastOutcome(): FlushOutcome | undefined {
    return this.#lastOutcome;
  }

  /** Starts watching the buffer. */
  start(): void {
    this.#schedule();
  }

  /** Stops watching the buffer (flushes under way go on). */
  stopWatching(): void {
    this.#options.flusher.send.timers.clearTimeout(this.#ticker);
    this.#ticker = undefined;
  }

  /** Starts every flush that is due now, up to the bound. */
  pump(): void {
    const { config } = this.#options;
    const now = this.#now();
    while (
      this.#slices.size < config.maxInFlight && now >= this.#pausedUntil &&
      !this.#permanent && this.#due(now)
    ) {
      this.#startSlice(
        now + Math.min(config.requestTimeoutMs, BACKGROUND_FLUSH_BUDGET_MS),
      );
    }
  }

  /**
   * The SHUTDOWN flush: stops watching, then keeps up to `maxInFlight`
   * flushes running on whatever is buffered, ignoring the age trigger and
   * the backoff, until the buffer is empty or `deadline` comes. Telemetry
   * keeps arriving for a while after SHUTDOWN (the last reports, within the
   * Telemetry API's buffering timeout): an empty buffer ends the drain only
   * `quietMs` after it began. Resolves once no flush runs or the deadline
   * passed; events of a flush still running then are counted as dropped
   * (`shutdown_deadline`).
   */
  async drain(deadline: number, quietMs = 0): Promise<void> {
    this.stopWatching();
    const { buffer, config, flusher } = this.#options;
    const quietUntil = Math.min(deadline, this.#now() + quietMs);
    while (true) {
      const requestsBefore = flusher.stats.kinesisRequests;
      while (
        this.#slices.size < config.maxInFlight && buffer.length > 0 &&
        !this.#permanent && deadline - this.#now() > SETTLE_GRACE_MS + 10
      ) {
        // Ends early enough for its last answer to settle by the deadline.
        this.#startSlice(deadline - SETTLE_GRACE_MS);
      }
      if (this.#slices.size === 0) {
        const wait = Math.min(this.#tickMs, quietUntil - this.#now());
        if (this.#permanent || buffer.length > 0 || wait <= 0) break;
        await this.#sleep(wait);
        continue;
      }
      const ended = await this.#ended(deadline - this.#now(), "first");
      if (!ended) break;
      // A round that could not even send a request would only spin.
      if (
        this.#lastOutcome?.delivered === 0 &&
        flusher.stats.kinesisRequests === requestsBefore &&
        this.#slices.size === 0
      ) break;
    }
    // Flushes started here end by the deadline less the grace (the sender
    // aborts there); the grace lets their last answers settle.
    if (this.#slices.size > 0) {
      await this.#ended(
        Math.min(SETTLE_GRACE_MS, deadline - this.#now()),
        "all",
      );
    }
    const stranded = this.inFlightEvents;
    if (stranded > 0) {
      // Only a flush that started before a SHUTDOWN shorter than its budget
      // can still run: its events are neither stored nor buffered.
      flusher.stats.drop("shutdown_deadline", stranded);
      this.#slices.clear();
    }
    if (buffer.length > 0 || stranded > 0) {
      this.#options.logger.warn(
        "events not delivered before the shutdown deadline",
        {
          events: buffer.length + stranded,
          error: this.#lastOutcome?.lastError?.message,
        },
      );
    }
  }

  #now(): number {
    return this.#options.flusher.send.now();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) =>
      this.#options.flusher.send.timers.setTimeout(resolve, ms)
    );
  }

  #schedule(): void {
    this.#ticker = this.#options.flusher.send.timers.setTimeout(() => {
      this.pump();
      this.#schedule();
    }, this.#tickMs);
  }

  /** A full request's worth is buffered, or the oldest event is old enough. */
  #due(now: number): boolean {
    const { buffer, config, flusher } = this.#options;
    if (buffer.length === 0) return false;
    if (buffer.queuedBytes >= MAX_REQUEST_BYTES) return true;
    if (
      flusher.format === "json" &&
      buffer.length >= KINESIS_LIMITS.maxRecordsPerRequest
    ) return true;
    return now - (buffer.oldestReceivedAt ?? now) >= config.flushIntervalMs;
  }

  /** Takes up to one request's worth from the front of the shared buffer and flushes it. */
  #startSlice(deadline: number): void {
    const { buffer, flusher, logger } = this.#options;
    const all = buffer.takeAll();
    const limit = flusher.format === "json"
      ? KINESIS_LIMITS.maxRecordsPerRequest
      : Number.POSITIVE_INFINITY;
    let count = 0;
    let bytes = 0;
    while (count < all.length && count < limit && bytes < MAX_REQUEST_BYTES) {
      bytes += all[count].data.byteLength;
      count++;
    }
    const events = all.slice(0, count);
    buffer.requeue(all.slice(count));
    // The slice's events keep counting against the shared bound (taken, not
    // settled) until they are stored or put back.
    const own = new EventBuffer(Number.MAX_SAFE_INTEGER);
    own.offer(events, bytes);
    const slice: Slice = { events, done: Promise.resolve() };
    slice.done = new Flusher({ ...flusher, buffer: own, sizer: this.#sizer })
      .flush(deadline)
      .then(
        (outcome) => this.#record(outcome),
        (error) => logger.error("background flush failed", { error }),
      )
      .finally(() => {
        if (!this.#slices.delete(slice)) return;
        // What the slice did not store goes back to the front, in order.
        const left = own.takeAll();
        const kept = new Set(left);
        buffer.settle(events.filter((event) => !kept.has(event)));
        buffer.requeue(left);
        if (this.#ticker !== undefined) this.pump();
      });
    this.#slices.add(slice);
  }

  #record(outcome: FlushOutcome): void {
    this.#lastOutcome = outcome;
    if (outcome.lastError?.blocksStream) this.#permanent = true;
    // A flush that stored nothing and ran out of time (requests failing, or
    // every entry throttled) pauses flushing; anything stored resets it.
    if (outcome.delivered > 0 || !outcome.cutShort) {
      this.#failures = 0;
      this.#pausedUntil = 0;
      return;
    }
    this.#failures++;
    this.#pausedUntil = this.#now() +
      Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (this.#failures - 1));
  }

  /** Resolves true when the first (or every) flush ended, false after `withinMs`. */
  #ended(withinMs: number, which: "first" | "all"): Promise<boolean> {
    if (withinMs <= 0) return Promise.resolve(false);
    const timers = this.#options.flusher.send.timers;
    const running = [...this.#slices].map((slice) => slice.done);
    let timer: unknown;
    return Promise.race([
      (which === "all" ? Promise.all(running) : Promise.race(running)).then(
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = timers.setTimeout(() => resolve(false), withinMs);
      }),
    ]).finally(() => timers.clearTimeout(timer));
  }
}

/** What the managed-instances loop needs. */
export interface ManagedLifecycleOptions {
  /** Extensions API (only SHUTDOWN comes). */
  api: LifecycleApi;
  /** The background shipper. */
  shipper: BackgroundShipper;
  /** Counters. */
  stats: Stats;
  /** Logger. */
  logger: Logger;
  /** Settings. */
  config: Pick<Config, "shutdownMarginMs" | "buffering">;
  /** Wall clock. */
  now: () => number;
  /** Timers. */
  timers: Timers;
  /** Aborted on SIGTERM/SIGINT: ends the loop as a SHUTDOWN would. */
  stop?: AbortSignal;
}

/**
 * Runs the managed-instances lifecycle: ships in the background while it
 * waits in `/event/next` for SHUTDOWN, then drains until the deadline minus
 * the margin.
 */
export async function runManagedLifecycle(
  options: ManagedLifecycleOptions,
): Promise<LifecycleResult> {
  const { api, config, logger, now, shipper } = options;
  shipper.start();
  let failures = 0;
  while (true) {
    let event: LifecycleEvent;
    try {
      event = await api.next(options.stop);
      failures = 0;
    } catch (error) {
      if (options.stop?.aborted) {
        await shipper.drain(now() + SIGNAL_SHUTDOWN_MS);
        return { exitCode: 0, reason: "SIGNAL" };
      }
      failures++;
      logger.warn("event/next failed", { error, attempt: failures });
      if (failures >= NEXT_ATTEMPTS) {
        const message = `event/next failed ${failures} times: ${
          (error as Error)?.message ?? error
        }`;
        await shipper.drain(now() + SIGNAL_SHUTDOWN_MS);
        await api.exitError("Extension.EventNextFailed", message).catch(
          () => {},
        );
        return { exitCode: 1, reason: message };
      }
      await new Promise((resolve) =>
        options.timers.setTimeout(() => resolve(undefined), 50 * 2 ** failures)
      );
      continue;
    }
    if (event.eventType === "SHUTDOWN") {
      logger.debug("shutdown", { reason: event.shutdownReason });
      await shipper.drain(
        event.deadlineMs - config.shutdownMarginMs,
        // The last deliveries of telemetry emitted before SHUTDOWN.
        config.buffering.timeoutMs + 50,
      );
      return { exitCode: 0, reason: `SHUTDOWN ${event.shutdownReason}` };
    }
    // Lambda sends no INVOKE here (registration asked for SHUTDOWN only);
    // should one come anyway, shipping goes on in the background.
    options.stats.invocations++;
  }
}
