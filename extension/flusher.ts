/**
 * Moves buffered events to Kinesis within a deadline: takes the buffer,
 * cuts it into PutRecords requests one at a time (sized by the throughput
 * Kinesis showed, see {@linkcode RequestSizer}), sends them, puts back
 * what was not stored, and keeps the counters.
 *
 * @module
 */
import { BatchCursor } from "./batcher.ts";
import { type CarriedEnd, CarriedRequests } from "./carried.ts";
import type { Compressor } from "./compression.ts";
import type { EventBuffer } from "./buffer.ts";
import type { Logger } from "./log.ts";
import type { KinesisRequestError } from "./kinesis_client.ts";
import { RequestSizer } from "./request_sizer.ts";
import { sendBatch, type SendContext } from "./sender.ts";
import type { Stats } from "./stats.ts";
import type { BufferedEvent, OutgoingRecord, RecordFormat } from "./types.ts";

/**
 * Largest PutRecords request the flusher sends (unless one record is
 * larger). Kinesis accepts 5 MiB, but a 5 MiB request takes long enough
 * (230–800 ms on kinesalite) to outlast the hold on every try, and its
 * SDK encoding (base64 in JSON, signing) briefly costs several times its size
 * in memory; below this cap the {@linkcode RequestSizer} sizes each request
 * by the throughput measured so far.
 */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** What one flush achieved. */
export interface FlushOutcome {
  /** Events stored. */
  delivered: number;
  /** Events put back into the buffer. */
  remaining: number;
  /** Whether the deadline cut the flush short. */
  cutShort: boolean;
  /** The last whole-request error of this flush. */
  lastError: KinesisRequestError | undefined;
  /** Events Kinesis refused for good (counted dropped, `kinesis_rejected`). */
  rejected: number;
  /**
   * Whether Kinesis failed this flush: nothing stored, and requests were
   * refused or every entry was. Slowness (a request abandoned at the
   * deadline, which may well have stored its records) is not failure: the
   * next request is smaller.
   */
  failed: boolean;
  /** Whether nothing was stored and every request went unanswered (abandoned). */
  unanswered: boolean;
}

/** The outcome of a flush that has not sent anything (yet). */
export function emptyOutcome(): FlushOutcome {
  return {
    delivered: 0,
    remaining: 0,
    cutShort: false,
    lastError: undefined,
    rejected: 0,
    failed: false,
    unanswered: false,
  };
}

/** How one flush may end early. */
export interface FlushLimits {
  /** Epoch ms by which the flush ends; no request runs past it. */
  deadline: number;
  /**
   * Checked after each request: true ends the flush there (what is not
   * sent stays buffered, and the flush does not count as cut short).
   */
  stopWhen?: () => boolean;
  /**
   * Ends the flush when aborted, the request under way included (given up
   * as at the deadline): a deadline that comes earlier than planned.
   */
  cut?: AbortSignal;
  /**
   * Whether a request written and still unanswered at the deadline or the
   * cut is carried across the possible freeze ({@linkcode Flusher.carried})
   * instead of being given up: for the flushes of an invocation, not for
   * the shutdown's, after which nothing comes back.
   */
  carry?: boolean;
}

/** Settings of the flusher. */
export interface FlusherOptions {
  /** The buffer to drain. */
  buffer: EventBuffer;
  /** Record format. */
  format: RecordFormat;
  /** Per-record limit. */
  maxRecordBytes: number;
  /** Compression of whole record payloads (ndjson), if any. */
  compress?: Compressor;
  /** How to send. */
  send: SendContext;
  /** Counters. */
  stats: Stats;
  /** Logger. */
  logger: Logger;
  /** Own log lines, not worth a log line of their own when flushed alone. */
  ownLogEvents: WeakSet<BufferedEvent>;
  /**
   * Throughput estimate to size requests by; default a new one. Flushers
   * sending to the same stream one after another (the background shipper's
   * slices) share one, so each does not start from the first guess.
   */
  sizer?: RequestSizer;
}

/** Drains the buffer into Kinesis, one flush at a time. */
export class Flusher {
  readonly #options: FlusherOptions;
  #running: Promise<FlushOutcome> | undefined;
  #lastOutcome: FlushOutcome | undefined;
  readonly #sizer: RequestSizer;
  readonly #carried: CarriedRequests;

  /** Creates the flusher. */
  constructor(options: FlusherOptions) {
    this.#options = options;
    this.#sizer = options.sizer ?? new RequestSizer();
    this.#carried = new CarriedRequests({
      timers: options.send.timers,
      now: options.send.now,
      onEnd: (records, end) => this.#carriedEnded(records, end),
    });
  }

  /**
   * Requests carried across a possible freeze (see
   * {@linkcode FlushLimits.carry}); their events are neither buffered nor
   * settled until each ends.
   */
  get carried(): CarriedRequests {
    return this.#carried;
  }

  /** Whether a flush is running (a Kinesis request may be in flight). */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** The outcome of the latest flush that had events to send. */
  get lastOutcome(): FlushOutcome | undefined {
    return this.#lastOutcome;
  }

  /** The throughput estimate that sizes requests. */
  get sizer(): RequestSizer {
    return this.#sizer;
  }

  /**
   * Flushes everything buffered now, finishing by `deadline` (epoch ms, or
   * {@linkcode FlushLimits}).
   */
  flush(limits: number | FlushLimits): Promise<FlushOutcome> {
    const { deadline, stopWhen, cut, carry } = typeof limits === "number"
      ? { deadline: limits }
      : limits;
    // One flush at a time keeps the order of retries and the accounting simple.
    this.#running ??= this.#flush(deadline, stopWhen, cut, carry === true)
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  async #flush(
    deadline: number,
    stopWhen: (() => boolean) | undefined,
    cut: AbortSignal | undefined,
    carry: boolean,
  ): Promise<FlushOutcome> {
    const { buffer, stats, logger, send } = this.#options;
    const events = buffer.takeAll();
    const outcome = emptyOutcome();
    if (events.length === 0) return outcome;
    const started = send.now();
    const leftover: BufferedEvent[] = [];
    let requests = 0;
    let sentRequests = 0;
    let failures = false;
    let answered = false;
    let cursor: BatchCursor | undefined;
    try {
      cursor = new BatchCursor(events, {
        format: this.#options.format,
        maxRecordBytes: this.#options.maxRecordBytes,
        maxRequestBytes: MAX_REQUEST_BYTES,
        compress: this.#options.compress,
      });
      while (!cursor.done) {
        if (outcome.cutShort || outcome.lastError?.blocksStream) break;
        if (requests > 0 && stopWhen?.()) break;
        if (cut?.aborted) {
          outcome.cutShort = true;
          break;
        }
        const timeLeft = deadline - send.now();
        if (timeLeft < send.policy.minAttemptMs) {
          outcome.cutShort = true;
          break;
        }
        // Built only now, sized for the time left: no whole-buffer batching
        // (and MD5) in one synchronous step before the first request.
        const batch = cursor.next(this.#sizer.bytesFor(timeLeft))!;
        if (requests > 0 && this.#sizer.expectedMs(batch.bytes) > timeLeft) {
          // Even the smallest request would likely be abandoned: keep it
          // for the next flush. The first request of a flush always goes,
          // so a throughput estimate made low by a stall can recover.
          for (const record of batch.records) leftover.push(...record.events);
          outcome.cutShort = true;
          break;
        }
        const sentAt = send.now();
        let result;
        try {
          result = await sendBatch(
            batch,
            deadline,
            send,
            cut,
            carry ? (request) => this.#carried.add(request) : undefined,
          );
        } catch (error) {
          // sendBatch settles every request itself; should anything else
          // throw, the batch's events stay buffered instead of vanishing.
          logger.error("send failed", { error });
          for (const record of batch.records) leftover.push(...record.events);
          outcome.cutShort = true;
          continue;
        }
        requests += result.requests;
        const elapsed = send.now() - sentAt;
        if (result.abandoned) this.#sizer.abandoned(batch.bytes, elapsed);
        else if (result.delivered.length > 0) {
          this.#sizer.answered(batch.bytes, elapsed);
        }
        stats.kinesisRequests += result.requests;
        stats.carriedRequests += result.carriedRequests;
        stats.kinesisRequestFailures += result.failedRequests;
        stats.retried += result.retriedEvents;
        if (result.lastError) outcome.lastError = result.lastError;
        if (result.failedRequests > 0 && !result.abandoned) failures = true;
        // Given up before it was written: our own slowness (a starved CPU
        // still signing), not an unanswered Kinesis — not for the breaker.
        const unsent = result.abandoned && result.lastError?.outcomeKnown;
        if (!result.abandoned) answered = true;
        if (!unsent) sentRequests += result.requests;
        for (const record of result.delivered) {
          for (const event of record.events) {
            // Every earlier request of unknown outcome may have stored a
            // copy: an event given up twice and then stored can be there
            // three times.
            if (event.uncertain) {
              stats.possibleDuplicates += event.unknownSends ?? 1;
            }
          }
          outcome.delivered += record.events.length;
          buffer.settle(record.events);
        }
        for (const record of result.rejected) {
          outcome.rejected += record.events.length;
          stats.drop("kinesis_rejected", record.events.length);
          buffer.settle(record.events);
        }
        for (const record of result.undelivered) {
          leftover.push(...record.events);
        }
        if (result.undelivered.length > 0) {
          outcome.cutShort = true;
          // Entries refused until the deadline (throttling) fail the flush
          // as much as refused requests do; a client still loading does not.
          if (!result.abandoned && result.requests > 0) failures = true;
        }
      }
    } catch (error) {
      // A batching bug must not lose the events: they stay buffered.
      logger.error("batching failed", { error });
      outcome.cutShort = true;
    }
    for (const event of cursor ? cursor.rest() : events) leftover.push(event);
    stats.delivered += outcome.delivered;
    outcome.remaining = leftover.length;
    outcome.failed = outcome.delivered === 0 && failures;
    outcome.unanswered = outcome.delivered === 0 && sentRequests > 0 &&
      !answered;
    buffer.requeue(leftover);
    if (outcome.cutShort) stats.flushesCutShort++;
    this.#report(events, outcome, send.now() - started);
    this.#lastOutcome = outcome;
    return outcome;
  }

  /**
   * Settles a carried request's events as a flush would have: stored ones
   * are delivered, the others go back to the buffer (as possible
   * duplicates when the request's outcome stayed unknown).
   */
  #carriedEnded(records: OutgoingRecord[], end: CarriedEnd): void {
    const { buffer, stats, logger } = this.#options;
    const back: BufferedEvent[] = [];
    if (end.answer) {
      let delivered = 0;
      records.forEach((record, index) => {
        if (end.answer.entries[index]?.errorCode) {
          back.push(...record.events);
          return;
        }
        for (const event of record.events) {
          if (event.uncertain) {
            stats.possibleDuplicates += event.unknownSends ?? 1;
          }
        }
        delivered += record.events.length;
        buffer.settle(record.events);
      });
      stats.delivered += delivered;
      stats.carriedDelivered += delivered;
    } else {
      stats.kinesisRequestFailures++;
      for (const record of records) back.push(...record.events);
      if (!end.error.outcomeKnown) {
        for (const event of back) {
          event.uncertain = true;
          event.unknownSends = (event.unknownSends ?? 0) + 1;
        }
      }
      logger.debug("carried request failed", {
        error: end.error.message,
        events: back.length,
      });
    }
    buffer.requeue(back);
  }

  #report(
    events: readonly BufferedEvent[],
    outcome: FlushOutcome,
    elapsedMs: number,
  ): void {
    const { logger, ownLogEvents } = this.#options;
    if (outcome.lastError) {
      logger.warn("Kinesis request failed", {
        error: outcome.lastError.message,
        code: outcome.lastError.code,
        delivered: outcome.delivered,
        remaining: outcome.remaining,
        ...(outcome.rejected ? { rejected: outcome.rejected } : {}),
      });
    }
    // Logging a flush made only of this extension's own log lines would
    // make a line that is shipped by the next flush, which logs again…
    if (
      logger.enabled("debug") &&
      events.some((event) => !ownLogEvents.has(event))
    ) {
      logger.debug("flushed", {
        delivered: outcome.delivered,
        remaining: outcome.remaining,
        ms: elapsedMs,
      });
    }
  }
}
