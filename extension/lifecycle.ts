/**
 * The event loop: waits in `/event/next`, decides when buffered telemetry
 * goes to Kinesis, and ends the process cleanly before the SHUTDOWN
 * deadline. It keeps three rules: no Kinesis request is in flight when it
 * calls `/event/next` (the freeze that may follow would cut it); it never
 * spends more than `maxHoldMs` on an invocation; and at SHUTDOWN it flushes
 * until the deadline minus a margin, then counts what is left.
 *
 * @module
 */
import type { EventBuffer } from "./buffer.ts";
import type { Config } from "./config.ts";
import type { LifecycleEvent } from "./extensions_api.ts";
import type { Flusher, FlushOutcome } from "./flusher.ts";
import type { Logger } from "./log.ts";
import type { InvocationProgress, Timers } from "./progress.ts";
import type { Stats } from "./stats.ts";

/** The Extensions API calls the loop makes. */
export interface LifecycleApi {
  /** `GET /event/next`. */
  next(signal?: AbortSignal): Promise<LifecycleEvent>;
  /** `POST /exit/error`. */
  exitError(errorType: string, message: string): Promise<void>;
}

/** What the loop needs. */
export interface LifecycleOptions {
  /** Extensions API. */
  api: LifecycleApi;
  /** The buffer (read for sizes and the final count). */
  buffer: EventBuffer;
  /** Sends buffered events. */
  flusher: Flusher;
  /** Arrival of runtimeDone/report events. */
  progress: InvocationProgress;
  /** Counters. */
  stats: Stats;
  /** Logger. */
  logger: Logger;
  /** Settings. */
  config: Pick<
    Config,
    "flush" | "maxHoldMs" | "shutdownMarginMs" | "types" | "buffering"
  >;
  /** Wall clock. */
  now: () => number;
  /** Timers. */
  timers: Timers;
  /** Aborted on SIGTERM/SIGINT: ends the loop as a SHUTDOWN would. */
  stop?: AbortSignal;
}

/** How the loop ended. */
export interface LifecycleResult {
  /** Process exit code. */
  exitCode: number;
  /** Why it ended. */
  reason: string;
}

/** Consecutive `/event/next` failures tolerated before giving up. */
export const NEXT_ATTEMPTS = 5;
/** Shutdown budget used when a signal, not Lambda, ends the process. */
export const SIGNAL_SHUTDOWN_MS = 1_500;
/** Shortest shutdown flush round (rounds get half the time left). */
export const SHUTDOWN_ROUND_MIN_MS = 100;
/** Longest pause of flushing after Kinesis kept failing. */
export const MAX_BREAKER_MS = 30_000;

/** Runs the loop until SHUTDOWN, a stop signal, or an unrecoverable error. */
export async function runLifecycle(
  options: LifecycleOptions,
): Promise<LifecycleResult> {
  const { api, config, logger, now, progress, stats } = options;
  const platform = config.types.includes("platform");
  // Lambda delivers an invocation's report after the invocation ended, within
  // its buffering timeout: after a long idle period it is due right at the
  // thaw, so waiting for it is cheap and keeps the promise that an
  // invocation's events are stored during the next one. Back to back, it
  // may come up to the buffering timeout later; waiting then would add that
  // to short invocations, and the next invocation, which comes soon, ships it.
  const reportWaitMs = config.buffering.timeoutMs + 50;
  let returnedToNextAt = now();
  const breaker = new FlushBreaker(now);
  let previousRequestId: string | undefined;
  let nextFailures = 0;

  const flush = async (deadline: number): Promise<FlushOutcome> => {
    const outcome = await options.flusher.flush(deadline);
    breaker.record(outcome);
    return outcome;
  };

  while (true) {
    let event: LifecycleEvent;
    try {
      returnedToNextAt = now();
      event = await api.next(options.stop);
      nextFailures = 0;
    } catch (error) {
      if (options.stop?.aborted) {
        event = {
          eventType: "SHUTDOWN",
          deadlineMs: now() + SIGNAL_SHUTDOWN_MS,
          shutdownReason: "SIGNAL",
        };
      } else {
        nextFailures++;
        logger.warn("event/next failed", { error, attempt: nextFailures });
        if (nextFailures >= NEXT_ATTEMPTS) {
          const message = `event/next failed ${nextFailures} times: ${
            (error as Error)?.message ?? error
          }`;
          await finish(options, now() + SIGNAL_SHUTDOWN_MS, previousRequestId);
          await api.exitError("Extension.EventNextFailed", message).catch(
            () => {},
          );
          return { exitCode: 1, reason: message };
        }
        await sleep(options.timers, 50 * 2 ** nextFailures);
        continue;
      }
    }

    if (event.eventType === "SHUTDOWN") {
      logger.debug("shutdown", { reason: event.shutdownReason });
      await finish(
        options,
        event.deadlineMs - config.shutdownMarginMs,
        previousRequestId,
      );
      return { exitCode: 0, reason: `SHUTDOWN ${event.shutdownReason}` };
    }

    stats.invocations++;
    const holdDeadline = Math.min(
      now() + config.maxHoldMs,
      event.deadlineMs,
    );
    const idleMs = now() - returnedToNextAt;
    if (platform && previousRequestId && idleMs > config.buffering.timeoutMs) {
      await progress.waitFor(
        "platform.report",
        previousRequestId,
        // At most half the hold: a report that is late (a long buffering
        // timeout) must not leave the flush no time at all, invocation
        // after invocation, until SHUTDOWN.
        Math.min(reportWaitMs, (holdDeadline - now()) / 2),
      );
    }
    if (options.buffer.length > 0 && breaker.allows()) {
      await flush(holdDeadline);
    }
    if (config.flush === "end" && platform) {
      // Freshness first: this invocation's events before the freeze. The
      // hold starts when the runtime is known to be done. The function's
      // timeout bounds the whole Invoke phase, extensions included: neither
      // the wait nor the flush may go past the invocation's deadline.
      await progress.waitFor(
        "platform.runtimeDone",
        event.requestId,
        event.deadlineMs - now(),
      );
      if (options.buffer.length > 0 && breaker.allows()) {
        await flush(Math.min(now() + config.maxHoldMs, event.deadlineMs));
      }
    }
    previousRequestId = event.requestId;
    if (options.stop?.aborted) {
      await finish(options, now() + SIGNAL_SHUTDOWN_MS, previousRequestId);
      return { exitCode: 0, reason: "SIGNAL" };
    }
  }
}

/**
 * The shutdown flush: waits briefly for the last invocation's report, which
 * Lambda sends only now, then flushes until `deadline` and counts whatever
 * could not be delivered.
 */
async function finish(
  options: LifecycleOptions,
  deadline: number,
  lastRequestId: string | undefined,
): Promise<void> {
  const { buffer, config, now, progress, flusher } = options;
  if (config.types.includes("platform") && lastRequestId) {
    await progress.waitFor(
      "platform.report",
      lastRequestId,
      Math.min(config.buffering.timeoutMs + 100, (deadline - now()) / 3),
    );
  }
  let lastOutcome: FlushOutcome | undefined;
  while (buffer.length > 0 && deadline - now() > 10) {
    // Half the time left per round: a request that stalls (SHUTDOWN may
    // follow a long freeze) must leave time for a retry on a fresh
    // connection instead of taking every buffered event down with it.
    const round = Math.max((deadline - now()) / 2, SHUTDOWN_ROUND_MIN_MS);
    const requestsBefore = options.stats.kinesisRequests;
    lastOutcome = await flusher.flush(Math.min(deadline, now() + round));
    if (lastOutcome.lastError?.blocksStream) break;
    // Without progress, a round that could not even send a request, or one
    // squeezed into the last few milliseconds, would only spin until the
    // deadline; throttled entries are worth another round before that.
    if (
      lastOutcome.delivered === 0 &&
      (options.stats.kinesisRequests === requestsBefore ||
        deadline - now() < SHUTDOWN_ROUND_MIN_MS)
    ) break;
  }
  if (buffer.length > 0) {
    options.logger.warn("events not delivered before the shutdown deadline", {
      events: buffer.length,
      error: lastOutcome?.lastError?.message,
    });
  }
}

/**
 * Pauses flushing after flushes that delivered nothing, so a Kinesis outage
 * costs the hold time on a few invocations, not on every one.
 */
class FlushBreaker {
  #failures = 0;
  #pausedUntil = 0;
  constructor(private readonly now: () => number) {}

  allows(): boolean {
    return this.now() >= this.#pausedUntil;
  }

  record(outcome: FlushOutcome): void {
    // A flush that stored nothing and ran out of time (requests failing, or
    // every entry throttled) pauses flushing; anything stored resets it.
    if (outcome.delivered > 0 || !outcome.cutShort) {
      this.#failures = 0;
      this.#pausedUntil = 0;
      return;
    }
    this.#failures++;
    this.#pausedUntil = this.now() +
      Math.min(MAX_BREAKER_MS, 250 * 2 ** (this.#failures - 1));
  }
}

function sleep(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(() => resolve(), ms));
}
