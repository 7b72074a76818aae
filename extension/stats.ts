/**
 * Counters of everything that happens to telemetry events, and the summary
 * line written at shutdown. The accounting invariant the tests check is
 * `received = delivered + filtered + dropped + buffered`.
 *
 * @module
 */

/** Why events were dropped. */
export type DropCause =
  | "invalid_event"
  | "shutdown_deadline"
  | "kinesis_rejected"
  | "spill_lost";

/** Counters of one extension process. */
export class Stats {
  /** Events accepted by the listener (valid and invalid elements alike). */
  received = 0;
  /** Events stored by Kinesis. */
  delivered = 0;
  /** Events not shipped because their type is excluded by configuration. */
  filtered = 0;
  /** Events shipped with a truncated record. */
  truncated = 0;
  /** Event retries after a failed entry or request. */
  retried = 0;
  /** Delivered events that an earlier request of unknown outcome may have stored too. */
  possibleDuplicates = 0;
  /** Events refused with 503 because the buffer was full (Lambda retries them). */
  refused = 0;
  /**
   * Deliveries refused with 503 because the buffer was full, including
   * those refused before they were read (their events are not counted in
   * `refused`: not scanning what cannot be taken is the point).
   */
  refusedDeliveries = 0;
  /**
   * Events written to disk because the memory bound was reached (they are
   * delivered or dropped like the others).
   */
  spilled = 0;
  /** Request bodies rejected with a 4xx (not JSON, too large, invalid UTF-8…). */
  rejectedBodies = 0;
  /** PutRecords requests sent. */
  kinesisRequests = 0;
  /**
   * PutRecords requests still under way when the invocation's time was up,
   * carried across the possible freeze instead of being given up.
   */
  carriedRequests = 0;
  /** Events that carried requests stored (also counted in `delivered`). */
  carriedDelivered = 0;
  /** PutRecords requests that failed as a whole (error, timeout, abort). */
  kinesisRequestFailures = 0;
  /** Flushes cut short by the time budget. */
  flushesCutShort = 0;
  /** Invocations seen. */
  invocations = 0;
  /** Dropped events by cause. */
  readonly dropped: Record<DropCause, number> = {
    invalid_event: 0,
    shutdown_deadline: 0,
    kinesis_rejected: 0,
    spill_lost: 0,
  };

  /** Counts `count` dropped events for `cause`. */
  drop(cause: DropCause, count: number): void {
    this.dropped[cause] += count;
  }

  /** Total dropped events over all causes. */
  get droppedTotal(): number {
    return Object.values(this.dropped).reduce((sum, n) => sum + n, 0);
  }

  /** The summary's fields, with `buffered` the events still held. */
  summary(buffered: number): Record<string, unknown> {
    return {
      received: this.received,
      delivered: this.delivered,
      filtered: this.filtered,
      dropped: { ...this.dropped },
      droppedTotal: this.droppedTotal,
      buffered,
      truncated: this.truncated,
      retried: this.retried,
      possibleDuplicates: this.possibleDuplicates,
      refused: this.refused,
      refusedDeliveries: this.refusedDeliveries,
      spilled: this.spilled,
      rejectedBodies: this.rejectedBodies,
      kinesisRequests: this.kinesisRequests,
      kinesisRequestFailures: this.kinesisRequestFailures,
      carriedRequests: this.carriedRequests,
      carriedDelivered: this.carriedDelivered,
      flushesCutShort: this.flushesCutShort,
      invocations: this.invocations,
    };
  }
}
