/**
 * PutRecords requests still under way when the lifecycle loop returns to
 * Lambda, carried across the possible freeze instead of being given up.
 *
 * A request given up after it was written may have been stored: sending
 * its records again makes duplicates (on a 128 MB function, where a 1 MiB
 * request outlasts the hold, thousands in a burst). Carried, it is most
 * often answered at the thaw: the answer waited in the socket, or Kinesis
 * retransmits it once the environment runs again. Only a request that then
 * fails, or stays unanswered for its time, has its events sent again (as
 * possible duplicates, as before).
 *
 * A carried request's time runs only while the environment is known to be
 * awake: {@linkcode CarriedRequests.suspend} before each `/event/next`,
 * {@linkcode CarriedRequests.resume} after it. Otherwise its timer, which
 * ran through the freeze, would fire at the thaw before the answer could be
 * read, and give up the very requests that were answered meanwhile.
 *
 * @module
 */
import {
  asKinesisRequestError,
  KinesisRequestError,
  type PutRecordsResult,
} from "./kinesis_client.ts";
import type { Timers } from "./progress.ts";
import type { OutgoingRecord } from "./types.ts";

/** Requests carried at once at most; a further one is given up as before. */
export const MAX_CARRIED_REQUESTS = 2;
/**
 * Awake time a carried request gets at least, whatever was left of its
 * attempt: after a long freeze, Kinesis's retransmitted answer takes a
 * moment to come.
 */
export const CARRIED_MIN_MS = 1_000;

/** A request handed over by the sender when its time ran out after it was written. */
export interface CarriedRequest {
  /** The records it carries, in request order. */
  records: OutgoingRecord[];
  /** The client's answer (rejects with a {@linkcode KinesisRequestError}). */
  answer: Promise<PutRecordsResult>;
  /** Ends the request (its connection is closed). */
  abort(): void;
  /** Awake time it may still take (at least {@linkcode CARRIED_MIN_MS}). */
  awakeBudgetMs: number;
}

/** How a carried request ended: Kinesis's answer, or an error. */
export type CarriedEnd =
  | { answer: PutRecordsResult; error?: undefined }
  | { error: KinesisRequestError; answer?: undefined };

/** Settings of {@linkcode CarriedRequests}. */
export interface CarriedRequestsOptions {
  /** Timers for each request's awake time. */
  timers: Timers;
  /** Wall clock. */
  now: () => number;
  /** Called once per request when it ends, whichever way. */
  onEnd: (records: OutgoingRecord[], end: CarriedEnd) => void;
  /** Requests carried at once at most; default {@linkcode MAX_CARRIED_REQUESTS}. */
  maxRequests?: number;
}

interface Entry {
  request: CarriedRequest;
  budgetMs: number;
  armedAt: number | undefined;
  timer: unknown;
  ended: boolean;
}

/** The requests carried across `/event/next`, each until it ends or its awake time runs out. */
export class CarriedRequests {
  readonly #options: CarriedRequestsOptions;
  readonly #entries = new Set<Entry>();
  readonly #waiters = new Set<() => void>();
  #suspended = false;

  /** Creates an empty set. */
  constructor(options: CarriedRequestsOptions) {
    this.#options = options;
  }

  /** Requests carried now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Takes `request` over; false (the caller gives it up) when the set is full. */
  add(request: CarriedRequest): boolean {
    if (
      this.#entries.size >= (this.#options.maxRequests ?? MAX_CARRIED_REQUESTS)
    ) {
      return false;
    }
    const entry: Entry = {
      request,
      budgetMs: Math.max(request.awakeBudgetMs, CARRIED_MIN_MS),
      armedAt: undefined,
      timer: undefined,
      ended: false,
    };
    this.#entries.add(entry);
    request.answer.then(
      (answer) => this.#end(entry, { answer }),
      (error) => this.#end(entry, { error: asKinesisRequestError(error) }),
    );
    if (!this.#suspended) this.#arm(entry);
    return true;
  }

  /** Stops every request's clock: a freeze may follow. */
  suspend(): void {
    if (this.#suspended) return;
    this.#suspended = true;
    const now = this.#options.now();
    for (const entry of this.#entries) {
      this.#options.timers.clearTimeout(entry.timer);
      entry.timer = undefined;
      if (entry.armedAt !== undefined) {
        entry.budgetMs = Math.max(0, entry.budgetMs - (now - entry.armedAt));
        entry.armedAt = undefined;
      }
    }
  }

  /** Starts every request's clock again: the environment is awake. */
  resume(): void {
    if (!this.#suspended) return;
    this.#suspended = false;
    for (const entry of this.#entries) this.#arm(entry);
  }

  /**
   * Gives every request at most `maxMs` more (awake): at SHUTDOWN, after a
   * freeze that may have outlived its connection, the rest of the deadline
   * is for sending its events again.
   */
  shorten(maxMs: number): void {
    if (this.#suspended) return;
    const now = this.#options.now();
    for (const entry of this.#entries) {
      const left = entry.budgetMs - (now - (entry.armedAt ?? now));
      if (left <= maxMs) continue;
      this.#options.timers.clearTimeout(entry.timer);
      entry.budgetMs = Math.max(0, maxMs);
      this.#arm(entry);
    }
  }

  /** Resolves when a carried request ends, or after `timeoutMs`. */
  whenAnyEnds(timeoutMs: number): Promise<void> {
    if (this.#entries.size === 0 || timeoutMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        this.#options.timers.clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = this.#options.timers.setTimeout(wake, timeoutMs);
      this.#waiters.add(wake);
    });
  }

  /** Gives up every carried request now (the shutdown deadline). */
  abortAll(): void {
    // Newest first: each goes back to the front of the buffer, so the
    // oldest ends up first again.
    for (const entry of [...this.#entries].reverse()) {
      this.#giveUp(entry, "at the shutdown deadline");
    }
  }

  #arm(entry: Entry): void {
    entry.armedAt = this.#options.now();
    entry.timer = this.#options.timers.setTimeout(
      () => this.#giveUp(entry, "after its awake time"),
      entry.budgetMs,
    );
  }

  #giveUp(entry: Entry, why: string): void {
    if (entry.ended) return;
    // Ended first, so that the rejection the abort causes is not read as
    // a second end.
    this.#end(entry, {
      error: new KinesisRequestError(`carried request abandoned ${why}`, {
        outcomeKnown: false,
        permanent: false,
        code: "Abandoned",
      }),
    });
    entry.request.abort();
  }

  #end(entry: Entry, end: CarriedEnd): void {
    if (entry.ended) return;
    entry.ended = true;
    this.#options.timers.clearTimeout(entry.timer);
    this.#entries.delete(entry);
    this.#options.onEnd(entry.request.records, end);
    for (const wake of [...this.#waiters]) wake();
  }
}
