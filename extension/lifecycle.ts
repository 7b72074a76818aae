/**
 * The event loop of an ordinary (freezing) function: waits in
 * `/event/next`, decides when buffered telemetry goes to Kinesis, and ends
 * the process cleanly before the SHUTDOWN deadline. It keeps these rules:
 *
 * - No Kinesis request is started across `/event/next`, and no idle
 *   Kinesis connection is kept across it (`beforeNext`): after a freeze it
 *   may be dead. A request written and still unanswered when the
 *   invocation's time is up is carried across instead of being given up
 *   (`Flusher.carried`: given up, it may have been stored, and its events
 *   sent again would be duplicates); its time runs only while awake.
 * - At INVOKE it flushes what is buffered within `maxHoldMs`, while the
 *   function runs: a light invocation pays nothing after its runtime.
 * - While the current invocation's `platform.runtimeDone` has not arrived,
 *   the runtime may still run and nothing can freeze, so a heavy invocation
 *   (see {@linkcode LifecycleOptions}) keeps flushing until it arrives, then
 *   returns after at most the request under way: its post-runtime cost is at
 *   most the buffering timeout plus one request. From 500 ms into it
 *   (`gatherMs`), deliveries gather into requests of up to 1 MiB (fewer
 *   requests, less CPU); what gathered when runtimeDone comes goes within
 *   the hold.
 * - A backlog the hold cannot drain is drained up to `backlogHoldMs` after
 *   the runtime is done (`backlog: "extend"`), or left to the next
 *   invocations (`"drop"`).
 * - At SHUTDOWN it flushes, and keeps the listener open until no delivery
 *   came for longer than the buffering timeout (lines a runtime logs in its
 *   SIGTERM handler, other extensions' last lines), all until the deadline
 *   minus a margin; then it counts what is left.
 *
 * Contract with the flusher: one flush at a time, each bounded by a
 * deadline (and optionally ended between requests by `stopWhen`), each
 * returning a {@linkcode FlushOutcome} whose `failed` drives the breaker.
 *
 * @module
 */
import type { EventBuffer } from "./buffer.ts";
import type { Config } from "./config.ts";
import type { LifecycleEvent } from "./extensions_api.ts";
import {
  type Flusher,
  type FlushOutcome,
  MAX_REQUEST_BYTES,
} from "./flusher.ts";
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

/** The settings the loop reads. */
export type LifecycleConfig = Pick<
  Config,
  | "flush"
  | "maxHoldMs"
  | "shutdownMarginMs"
  | "types"
  | "buffering"
  | "backlog"
  | "backlogHoldMs"
>;

/** What the loop needs. */
export interface LifecycleOptions {
  /** Extensions API. */
  api: LifecycleApi;
  /** The buffer (read for sizes and the final count). */
  buffer: EventBuffer;
  /** Sends buffered events. */
  flusher: Flusher;
  /** Arrival of runtimeDone/report events and of deliveries. */
  progress: InvocationProgress;
  /** Counters. */
  stats: Stats;
  /** Logger. */
  logger: Logger;
  /** Settings. */
  config: LifecycleConfig;
  /** Wall clock. */
  now: () => number;
  /** Timers. */
  timers: Timers;
  /** Aborted on SIGTERM/SIGINT: ends the loop as a SHUTDOWN would. */
  stop?: AbortSignal;
  /**
   * Called before each `/event/next`, where a freeze may follow: closes the
   * Kinesis connections kept since the thaw (reused within and between the
   * flushes of one invocation, never across a possible freeze).
   */
  beforeNext?: () => void;
  /**
   * While the runtime of a heavy invocation runs, the longest an event
   * waits for more before a request is sent (see `gatheringMs`); default
   * {@linkcode GATHER_MS}, 0 sends each delivery as it comes.
   */
  gatherMs?: number;
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
/**
 * Slack over the buffering timeout before a silence counts as "no more
 * deliveries": Lambda's timer and the POST itself take a little longer.
 */
export const QUIET_SLACK_MS = 25;
/** Flushes in a row without one answer that count as an outage. */
export const UNANSWERED_FLUSHES = 3;
/**
 * Shortest window of a flush while the runtime still runs (see
 * `keepShipping`).
 */
export const RUNNING_FLUSH_MS = 2_000;

/**
 * How long a heavy invocation without its runtimeDone stays after the last
 * delivery when no delivery was refused or rejected since the INVOKE (a
 * light one with `flush=end` keeps the buffering timeout + the hold):
 * nothing that could have carried runtimeDone was lost, so the runtime is
 * most likely still running and silent. On a 128 MB function (7 % of a
 * CPU) the runtime and Lambda's deliveries stall for 300–400 ms at times;
 * leaving after the buffering timeout + the hold then parked the extension
 * in `/event/next` for the rest of a 60 s invocation that logged heavily
 * (3 of 7 runs stored 4–63 % of it). After a refusal the shorter wait holds.
 */
export const RUNTIME_SILENCE_MS = 1_000;
/** Shortest time left worth starting a flush with. */
const MIN_FLUSH_MS = 10;

/** Runs the loop until SHUTDOWN, a stop signal, or an unrecoverable error. */
export async function runLifecycle(
  options: LifecycleOptions,
): Promise<LifecycleResult> {
  const { api, config, logger, now, progress, stats } = options;
  const platform = config.types.includes("platform");
  const breaker = new FlushBreaker(now);
  let previousRequestId: string | undefined;
  let nextFailures = 0;
  // What the previous cycle (INVOKE to INVOKE, or init) brought, to tell a
  // heavy invocation from a light one before its telemetry arrives.
  let receivedBefore = stats.received;
  let refusedBefore = stats.refusedDeliveries;
  let backlogLeft = false;
  let carriedStoredSeen = stats.carriedDelivered;
  // A carried request that stored its records shows Kinesis answering,
  // late: the flushes it left unanswered were slowness, not an outage.
  const flushAllowed = () => {
    if (stats.carriedDelivered > carriedStoredSeen) {
      carriedStoredSeen = stats.carriedDelivered;
      breaker.stored();
    }
    return breaker.allows();
  };

  const flush = async (
    deadline: number,
    stopWhen?: () => boolean,
    cut?: AbortSignal,
  ): Promise<FlushOutcome | undefined> => {
    if (
      options.buffer.length === 0 || !flushAllowed() ||
      deadline - now() < MIN_FLUSH_MS || cut?.aborted
    ) return undefined;
    const outcome = await options.flusher.flush({
      deadline,
      stopWhen,
      cut,
      carry: true,
    });
    breaker.record(outcome);
    return outcome;
  };

  while (true) {
    let event: LifecycleEvent;
    const carried = options.flusher.carried;
    try {
      options.beforeNext?.();
      carried.suspend();
      event = await api.next(options.stop);
      carried.resume();
      nextFailures = 0;
    } catch (error) {
      carried.resume();
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
          await finish(options, now() + SIGNAL_SHUTDOWN_MS);
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
      await finish(options, event.deadlineMs - config.shutdownMarginMs);
      return { exitCode: 0, reason: `SHUTDOWN ${event.shutdownReason}` };
    }

    stats.invocations++;
    const invokedAt = now();
    const turnedAwayAtInvoke = stats.refusedDeliveries + stats.rejectedBodies;
    const requestId = event.requestId;
    const runtimeDone = () =>
      progress.has("platform.runtimeDone", requestId ?? "");
    // Heavy: the first invocation (nothing known yet), or one after a cycle
    // that brought a full delivery's worth of events, refused deliveries or
    // left a backlog. Only a heavy one waits for its runtimeDone.
    const heavy = platform && requestId !== undefined &&
      (previousRequestId === undefined ||
        stats.received - receivedBefore >= config.buffering.maxItems ||
        stats.refusedDeliveries > refusedBefore || backlogLeft);
    receivedBefore = stats.received;
    refusedBefore = stats.refusedDeliveries;
    const holdDeadline = Math.min(
      invokedAt + config.maxHoldMs,
      event.deadlineMs,
    );
    const first = await flush(holdDeadline);
    // Kinesis refusing: anything more would only cost time.
    const kinesisDown = first?.failed === true;
    if (
      first && !kinesisDown && previousRequestId &&
      progress.has("platform.report", previousRequestId)
    ) {
      // The previous invocation's report often arrives at the thaw, while
      // the first flush ran: it goes within the same hold, not a cycle
      // later (never waited for, so sparse invocations pay nothing).
      await flush(holdDeadline);
    }
    let runtimeDoneAt: number | undefined;
    if (
      requestId !== undefined && !kinesisDown &&
      (heavy || (config.flush === "end" && platform))
    ) {
      runtimeDoneAt = await keepShipping(
        options,
        flush,
        requestId,
        runtimeDone,
        flushAllowed,
        invokedAt,
        event.deadlineMs,
        heavy ? turnedAwayAtInvoke : undefined,
      );
    }
    if (config.flush === "end" && platform && runtimeDoneAt !== undefined) {
      // Freshness first: this invocation's events before the freeze.
      await flush(Math.min(now() + config.maxHoldMs, event.deadlineMs));
    }
    const lastOutcome = options.flusher.lastOutcome;
    if (
      config.backlog === "extend" && options.buffer.length > 0 &&
      lastOutcome && lastOutcome.delivered > 0
    ) {
      // A backlog the hold could not drain while Kinesis takes events: keep
      // going, bounded from when the runtime was (known) done.
      const extendUntil = Math.min(
        (runtimeDoneAt ?? invokedAt) + config.backlogHoldMs,
        event.deadlineMs,
      );
      while (options.buffer.length > 0 && extendUntil - now() >= MIN_FLUSH_MS) {
        const outcome = await flush(extendUntil);
        if (!outcome || outcome.delivered === 0) break;
      }
    }
    // A backlog while Kinesis takes events: the next invocation stays.
    backlogLeft = options.buffer.length > 0 &&
      (options.flusher.lastOutcome?.delivered ?? 0) > 0;
    logger.debug("invocation", {
      heavy,
      ms: now() - invokedAt,
      runtimeDone: runtimeDone(),
      buffered: options.buffer.length,
    });
    previousRequestId = requestId;
    if (options.stop?.aborted) {
      await finish(options, now() + SIGNAL_SHUTDOWN_MS);
      return { exitCode: 0, reason: "SIGNAL" };
    }
  }
}

/**
 * Flushes while the runtime may still be running, until the invocation's
 * `platform.runtimeDone` arrives; a flush under way then ends after its
 * current request. Without runtimeDone it stops when no delivery came for
 * the buffering timeout plus the hold (its runtimeDone was refused or is
 * late, or it runs without logging); a heavy one (`turnedAwayAtInvoke`:
 * deliveries refused or rejected before its INVOKE), while no delivery was
 * turned away since, for {@linkcode RUNTIME_SILENCE_MS} (its runtime stalls
 * at times on a small function); and by the invocation's deadline. Returns
 * when runtimeDone was seen, or undefined when it was not.
 */
async function keepShipping(
  options: LifecycleOptions,
  flush: (
    deadline: number,
    stopWhen?: () => boolean,
    cut?: AbortSignal,
  ) => Promise<FlushOutcome | undefined>,
  requestId: string,
  runtimeDone: () => boolean,
  canFlush: () => boolean,
  invokedAt: number,
  deadlineMs: number,
  turnedAwayAtInvoke: number | undefined,
): Promise<number | undefined> {
  const { config, now, progress, stats } = options;
  const quietMs = config.buffering.timeoutMs + config.maxHoldMs;
  // Deliveries refused (buffer full): Lambda is queueing telemetry faster
  // than Kinesis takes it, and runtimeDone waits behind it. That backlog
  // gets at most `backlogHoldMs` (none with `drop`); the rest waits for
  // the next invocations in Lambda's retries.
  let refusedBefore = stats.refusedDeliveries;
  let refusingSince: number | undefined;
  // The latest moment the runtime was seen running (runtimeDone not yet
  // arrived): a lower bound of when it was done.
  let seenRunningAt = invokedAt;
  // The request under way when runtimeDone arrives gets the hold, then it
  // is given up (a hanging Kinesis costs the invocation no more than a
  // light one's hold); until then nothing can freeze, and no request is
  // cut short.
  const cut = new AbortController();
  let cutTimer: unknown;
  // Whether the last turn let deliveries gather instead of sending.
  let gathering = false;
  const stopWatching = progress.whenNoted(
    "platform.runtimeDone",
    requestId,
    () => {
      cutTimer = options.timers.setTimeout(
        () => cut.abort(),
        config.maxHoldMs,
      );
    },
  );
  try {
    while (!runtimeDone() && deadlineMs - now() >= MIN_FLUSH_MS) {
      seenRunningAt = now();
      // Never past the point where a flush still fits before the deadline.
      const gather = Math.min(
        gatheringMs(
          options.buffer,
          options.gatherMs ?? GATHER_MS,
          invokedAt,
          now(),
        ),
        deadlineMs - now() - 2 * MIN_FLUSH_MS,
      );
      gathering = gather > 0;
      if (gathering) {
        // runtimeDone comes in a delivery, and ends the wait.
        await progress.waitForDelivery(gather);
        continue;
      }
      // While the runtime runs nothing freezes: each flush gets a window of
      // at least RUNNING_FLUSH_MS, so that on a small function (7 % of a
      // CPU at 128 MB, shared with the runtime) a request is built, signed
      // and answered instead of being given up again and again. It ends
      // between requests once runtimeDone arrives, and the request under
      // way then gets at most the hold (`cut`).
      const outcome = await flush(
        Math.min(
          now() +
            Math.max(
              config.buffering.timeoutMs + config.maxHoldMs,
              RUNNING_FLUSH_MS,
            ),
          deadlineMs,
        ),
        runtimeDone,
        cut.signal,
      );
      // Kinesis failing (refusing, or several flushes without an answer: the
      // breaker): staying would only cost time, nothing could be shipped.
      if (outcome?.failed || !canFlush()) return undefined;
      if (runtimeDone()) break;
      if (stats.refusedDeliveries > refusedBefore) {
        refusingSince ??= now();
        const budget = config.backlog === "extend" ? config.backlogHoldMs : 0;
        if ((progress.lastDeliveryAt ?? -Infinity) > refusingSince) {
          // A delivery was accepted since: Lambda's deliveries get through
          // again, so runtimeDone is not stuck behind refused ones and will
          // come. Going to /event/next now would stop shipping while the
          // runtime still logs (everything after would be refused).
          refusingSince = undefined;
          refusedBefore = stats.refusedDeliveries;
        } else if (now() - refusingSince >= budget) return undefined;
      }
      if (outcome && options.buffer.length > 0) continue;
      const since = Math.max(progress.lastDeliveryAt ?? invokedAt, invokedAt);
      // runtimeDone may be lost or stuck only behind a delivery turned away.
      const silenceMs =
        stats.refusedDeliveries + stats.rejectedBodies === turnedAwayAtInvoke
          ? Math.max(quietMs, RUNTIME_SILENCE_MS)
          : quietMs;
      const wait = Math.min(since + silenceMs - now(), deadlineMs - now());
      if (wait <= 0 && progress.openDeliveries === 0) return undefined;
      // runtimeDone comes in a delivery: wake on every answered one.
      await progress.waitForDelivery(Math.max(wait, MIN_FLUSH_MS));
    }
    if (gathering && runtimeDone()) {
      // What was gathering when runtimeDone came (that delivery included)
      // goes now, within the hold from runtimeDone (`cut`), as a light
      // invocation's events do.
      await flush(
        Math.min(now() + config.maxHoldMs, deadlineMs),
        undefined,
        cut.signal,
      );
    }
  } finally {
    stopWatching();
    options.timers.clearTimeout(cutTimer);
  }
  return runtimeDone() ? seenRunningAt : undefined;
}

/**
 * Default of {@linkcode LifecycleOptions.gatherMs}: the longest an event
 * waits for company while the runtime runs.
 */
export const GATHER_MS = 500;

/**
 * How long to let deliveries gather before the next request while the
 * runtime runs (0: send now): until a request's worth is buffered (1 MiB,
 * or a quarter of the buffer bound if that is less), or the oldest event
 * has waited `gatherMs`. Every PutRecords costs the SDK's request path
 * whatever its size, so requests sent as fast as deliveries come spend the
 * function's CPU share on overhead (a 100,000-event burst: 165 requests
 * instead of 64); nothing can freeze meanwhile.
 *
 * Only once the invocation has run for `gatherMs`: a short one's events
 * would otherwise wait for its runtimeDone and go only then, within the
 * hold, where on a slow machine the request is cut after it was sent (the
 * smoke test's first invocation stored 6 copies that way).
 */
export function gatheringMs(
  buffer: EventBuffer,
  gatherMs: number,
  invokedAt: number,
  at: number,
): number {
  const oldest = buffer.oldestReceivedAt;
  if (oldest === undefined || gatherMs <= 0) return 0;
  if (at - invokedAt < gatherMs) return 0;
  const enough = Math.min(MAX_REQUEST_BYTES, buffer.maxBytes / 4);
  if (buffer.queuedBytes >= enough) return 0;
  return Math.max(0, oldest + gatherMs - at);
}

/**
 * The shutdown flush: flushes until `deadline` and keeps listening until no
 * delivery came for longer than the buffering timeout (the last report, the
 * runtime's SIGTERM-handler lines and other extensions' last lines come
 * only now), then counts whatever could not be delivered.
 */
async function finish(
  options: LifecycleOptions,
  deadline: number,
): Promise<void> {
  const { buffer, config, now, progress, flusher } = options;
  const carried = flusher.carried;
  const shutdownAt = now();
  // Half the time left for a carried request's answer (as for a shutdown
  // round): unanswered by then, its events go again before the deadline.
  carried.shorten(Math.max((deadline - now()) / 2, SHUTDOWN_ROUND_MIN_MS));
  const quietMs = config.buffering.timeoutMs + QUIET_SLACK_MS;
  let lastOutcome: FlushOutcome | undefined;
  let stuck = false;
  while (deadline - now() > MIN_FLUSH_MS) {
    if (buffer.length > 0 && !stuck) {
      // Half the time left per round: a request that stalls (SHUTDOWN may
      // follow a long freeze) must leave time for a retry on a fresh
      // connection instead of taking every buffered event down with it.
      const round = Math.max((deadline - now()) / 2, SHUTDOWN_ROUND_MIN_MS);
      const requestsBefore = options.stats.kinesisRequests;
      lastOutcome = await flusher.flush(Math.min(deadline, now() + round));
      // Without progress, a round that could not even send a request, or
      // one squeezed into the last few milliseconds, would only spin until
      // the deadline; throttled entries are worth another round before that.
      stuck = lastOutcome.lastError?.blocksStream === true ||
        lastOutcome.delivered === 0 &&
          (options.stats.kinesisRequests === requestsBefore ||
            deadline - now() < SHUTDOWN_ROUND_MIN_MS);
      continue;
    }
    const since = Math.max(progress.lastDeliveryAt ?? shutdownAt, shutdownAt);
    const quietLeft = since + quietMs - now();
    // Kinesis refusing: what still comes could not be delivered either.
    if (stuck) break;
    const quiet = quietLeft <= 0 && progress.openDeliveries === 0;
    if (quiet && carried.size === 0) break;
    // Quiet, a request carried from the last invocation may still be
    // answered (its events go again if not): waited for until the deadline,
    // still waking for any delivery that comes meanwhile.
    const wait = Math.max(
      Math.min(quiet ? Infinity : quietLeft, deadline - now()),
      MIN_FLUSH_MS,
    );
    await (carried.size === 0 ? progress.waitForDelivery(wait) : Promise.race([
      progress.waitForDelivery(wait),
      carried.whenAnyEnds(wait),
    ]));
  }
  // Unanswered by the deadline: their events are counted with the rest.
  carried.abortAll();
  if (buffer.length > 0) {
    options.logger.warn("events not delivered before the shutdown deadline", {
      events: buffer.length,
      error: lastOutcome?.lastError?.message,
    });
  }
}

/**
 * Pauses flushing after flushes that delivered nothing because Kinesis
 * failed, so an outage costs the hold time on a few invocations, not on
 * every one.
 */
class FlushBreaker {
  #failures = 0;
  #unanswered = 0;
  #pausedUntil = 0;
  #pausedForSilence = false;
  constructor(private readonly now: () => number) {}

  allows(): boolean {
    return this.now() >= this.#pausedUntil;
  }

  /** Records stored after all (a carried request): ends a pause for silence. */
  stored(): void {
    this.#unanswered = 0;
    if (!this.#pausedForSilence) return;
    this.#pausedForSilence = false;
    this.#failures = 0;
    this.#pausedUntil = 0;
  }

  record(outcome: FlushOutcome): void {
    // Refused requests or every entry throttled pause flushing at once.
    // Requests that went unanswered may be slow, not failing (they may
    // have stored their records): only several flushes in a row without
    // one answer count as an outage. Anything stored resets it.
    this.#unanswered = outcome.unanswered && outcome.delivered === 0
      ? this.#unanswered + 1
      : 0;
    const outage = outcome.delivered === 0 &&
      (outcome.failed || this.#unanswered >= UNANSWERED_FLUSHES);
    if (!outage) {
      if (!outcome.unanswered) this.#failures = 0;
      this.#pausedUntil = 0;
      this.#pausedForSilence = false;
      return;
    }
    this.#pausedForSilence = !outcome.failed;
    this.#failures++;
    this.#pausedUntil = this.now() +
      Math.min(MAX_BREAKER_MS, 250 * 2 ** (this.#failures - 1));
  }
}

function sleep(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(() => resolve(), ms));
}
