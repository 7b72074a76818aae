/**
 * Moves buffered events to Kinesis within a deadline: takes the buffer,
 * cuts it into PutRecords batches, sends them, puts back what was not
 * stored, and keeps the counters.
 *
 * @module
 */
import { buildBatches } from "./batcher.ts";
import type { Compressor } from "./compression.ts";
import type { EventBuffer } from "./buffer.ts";
import type { Logger } from "./log.ts";
import type { KinesisRequestError } from "./kinesis_client.ts";
import { sendBatch, type SendContext } from "./sender.ts";
import type { Stats } from "./stats.ts";
import type { Batch, BufferedEvent, RecordFormat } from "./types.ts";

/**
 * Largest PutRecords request the flusher sends (unless one record is
 * larger). Kinesis accepts 5 MiB, but a 5 MiB request takes long enough
 * (230–800 ms on kinesalite) to outlast the hold on every try, and its
 * SDK encoding (base64 in JSON, signing) briefly costs several times its size
 * in memory; 1 MiB requests make steady progress within the hold.
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
}

/** Drains the buffer into Kinesis, one flush at a time. */
export class Flusher {
  readonly #options: FlusherOptions;
  #running: Promise<FlushOutcome> | undefined;
  #lastOutcome: FlushOutcome | undefined;

  /** Creates the flusher. */
  constructor(options: FlusherOptions) {
    this.#options = options;
  }

  /** Whether a flush is running (a Kinesis request may be in flight). */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** The outcome of the latest flush that had events to send. */
  get lastOutcome(): FlushOutcome | undefined {
    return this.#lastOutcome;
  }

  /** Flushes everything buffered now, finishing by `deadline` (epoch ms). */
  flush(deadline: number): Promise<FlushOutcome> {
    // One flush at a time keeps the order of retries and the accounting simple.
    this.#running ??= this.#flush(deadline).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #flush(deadline: number): Promise<FlushOutcome> {
    const { buffer, stats, logger, send } = this.#options;
    const events = buffer.takeAll();
    const outcome: FlushOutcome = {
      delivered: 0,
      remaining: 0,
      cutShort: false,
      lastError: undefined,
    };
    if (events.length === 0) return outcome;
    const started = send.now();
    const leftover: BufferedEvent[] = [];
    let batches: Batch[];
    try {
      batches = buildBatches(events, {
        format: this.#options.format,
        maxRecordBytes: this.#options.maxRecordBytes,
        maxRequestBytes: MAX_REQUEST_BYTES,
        compress: this.#options.compress,
      });
    } catch (error) {
      // A batching bug must not lose the events: they stay buffered.
      logger.error("batching failed", { error });
      batches = [];
      for (const event of events) leftover.push(event);
      outcome.cutShort = true;
    }
    for (const batch of batches) {
      if (outcome.cutShort || outcome.lastError?.permanent) {
        for (const record of batch.records) leftover.push(...record.events);
        continue;
      }
      let result;
      try {
        result = await sendBatch(batch, deadline, send);
      } catch (error) {
        // sendBatch settles every request itself; should anything else
        // throw, the batch's events stay buffered instead of vanishing.
        logger.error("send failed", { error });
        for (const record of batch.records) leftover.push(...record.events);
        outcome.cutShort = true;
        continue;
      }
      stats.kinesisRequests += result.requests;
      stats.kinesisRequestFailures += result.failedRequests;
      stats.retried += result.retriedEvents;
      if (result.lastError) outcome.lastError = result.lastError;
      for (const record of result.delivered) {
        for (const event of record.events) {
          if (event.uncertain) stats.possibleDuplicates++;
        }
        outcome.delivered += record.events.length;
        buffer.settle(record.events);
      }
      for (const record of result.undelivered) {
        leftover.push(...record.events);
      }
      if (result.undelivered.length > 0) outcome.cutShort = true;
    }
    stats.delivered += outcome.delivered;
    outcome.remaining = leftover.length;
    buffer.requeue(leftover);
    if (outcome.cutShort) stats.flushesCutShort++;
    this.#report(events, outcome, send.now() - started);
    this.#lastOutcome = outcome;
    return outcome;
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
