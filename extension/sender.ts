/**
 * Sends one batch with PutRecords: reads `FailedRecordCount`, retries only
 * the failed entries with exponential backoff and full jitter, and never
 * goes past the deadline it is given — a request still running then is
 * handed over to be carried across the possible freeze (when the caller
 * takes it, see {@linkcode CarriedRequest}) or abandoned. A request refused
 * because of one of its records (a
 * `ValidationException`) is split in halves until the records at fault are
 * alone; only those are rejected.
 *
 * @module
 */
import type { CarriedRequest } from "./carried.ts";
import type { KinesisPutter } from "./kinesis_client.ts";
import {
  asKinesisRequestError,
  KinesisRequestError,
  RECORD_ERRORS,
} from "./kinesis_client.ts";
import type { Timers } from "./progress.ts";
import type { Batch, OutgoingRecord } from "./types.ts";

/** Retry timing. */
export interface RetryPolicy {
  /** First backoff ceiling. */
  baseDelayMs: number;
  /** Largest backoff ceiling. */
  maxDelayMs: number;
  /** Shortest time worth starting an attempt with. */
  minAttemptMs: number;
  /** Longest single attempt. */
  requestTimeoutMs: number;
}

/** Default retry timing. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  baseDelayMs: 25,
  maxDelayMs: 1_000,
  minAttemptMs: 10,
  requestTimeoutMs: 5_000,
};

/** What a send needs. */
export interface SendContext {
  /** The Kinesis client. */
  putter: KinesisPutter;
  /** Wall clock. */
  now: () => number;
  /** Timers for backoff and attempt deadlines. */
  timers: Timers;
  /** Jitter source in [0, 1). */
  random: () => number;
  /** Retry timing. */
  policy: RetryPolicy;
}

/** What happened to a batch. */
export interface SendResult {
  /** Records Kinesis stored. */
  delivered: OutgoingRecord[];
  /** Records not stored by the deadline (their events go back to the buffer). */
  undelivered: OutgoingRecord[];
  /** Records Kinesis refused on their own (sent alone, a permanent error). */
  rejected: OutgoingRecord[];
  /** Requests sent. */
  requests: number;
  /** Requests that failed as a whole. */
  failedRequests: number;
  /** Events sent again after a failure. */
  retriedEvents: number;
  /**
   * Records of requests still under way at the deadline that the caller's
   * `carry` took over: neither stored nor undelivered yet.
   */
  carried: OutgoingRecord[];
  /** Requests handed over to `carry`. */
  carriedRequests: number;
  /** Whether an attempt was abandoned (or carried) at the deadline. */
  abandoned: boolean;
  /** The last whole-request error, if any. */
  lastError: KinesisRequestError | undefined;
}

/**
 * Takes over a request still under way when its deadline or the cut comes
 * (after it was written); false leaves it to be abandoned.
 */
export type Carry = (request: CarriedRequest) => boolean;

/**
 * Sends `batch` until every record is stored or `deadline` (epoch ms) comes;
 * a request written and still unanswered then goes to `carry` if given.
 */
export async function sendBatch(
  batch: Batch,
  deadline: number,
  context: SendContext,
  cut?: AbortSignal,
  carry?: Carry,
): Promise<SendResult> {
  const result: SendResult = {
    delivered: [],
    undelivered: [],
    rejected: [],
    carried: [],
    carriedRequests: 0,
    requests: 0,
    failedRequests: 0,
    retriedEvents: 0,
    abandoned: false,
    lastError: undefined,
  };
  if (!await preparedBefore(context, deadline)) {
    result.undelivered = batch.records;
    return result;
  }
  result.undelivered = await sendRecords(
    batch.records,
    deadline,
    context,
    result,
    cut,
    carry,
  );
  return result;
}

/**
 * Sends `records` with retries into `result`; returns those not stored
 * (in order), which are all of them after a permanent error that is not a
 * single record's fault.
 */
async function sendRecords(
  records: OutgoingRecord[],
  deadline: number,
  context: SendContext,
  result: SendResult,
  cut: AbortSignal | undefined,
  carry: Carry | undefined,
): Promise<OutgoingRecord[]> {
  const { now, policy } = context;
  let pending = records;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (cut?.aborted) break;
    if (attempt > 0) {
      const ceiling = Math.min(
        policy.maxDelayMs,
        policy.baseDelayMs * 2 ** (attempt - 1),
      );
      const delay = Math.floor(ceiling * context.random());
      if (now() + delay + policy.minAttemptMs > deadline) break;
      await sleep(context.timers, delay);
      for (const record of pending) {
        result.retriedEvents += record.events.length;
      }
    }
    const budget = Math.min(policy.requestTimeoutMs, deadline - now());
    if (budget < policy.minAttemptMs) break;
    result.requests++;
    try {
      const answer = await attemptWithin(
        context,
        pending,
        budget,
        cut,
        carry,
        // A request that used up its own timeout is not coming back: only
        // the deadline's end (or the cut) is carried.
        budget < policy.requestTimeoutMs,
      );
      const failed: OutgoingRecord[] = [];
      pending.forEach((record, index) => {
        if (answer.entries[index]?.errorCode) failed.push(record);
        else result.delivered.push(record);
      });
      pending = failed;
    } catch (error) {
      if (error instanceof CarriedAway) {
        result.carried.push(...pending);
        result.carriedRequests++;
        result.abandoned = true;
        return [];
      }
      const requestError = asKinesisRequestError(error);
      result.failedRequests++;
      result.lastError = requestError;
      if (!requestError.outcomeKnown) {
        for (const record of pending) {
          for (const event of record.events) {
            event.uncertain = true;
            event.unknownSends = (event.unknownSends ?? 0) + 1;
          }
        }
      }
      if (requestError.code === "Abandoned") {
        result.abandoned = true;
        context.putter.reset();
      }
      if (requestError.permanent && RECORD_ERRORS.has(requestError.code)) {
        // Refused whole because of some record in it (Kinesis does not say
        // which): halves are sent on their own until the culprits are alone,
        // so one bad record never blocks the others behind it.
        if (pending.length === 1) {
          result.rejected.push(pending[0]);
          return [];
        }
        const half = Math.ceil(pending.length / 2);
        const left = await sendRecords(
          pending.slice(0, half),
          deadline,
          context,
          result,
          cut,
          carry,
        );
        const right = await sendRecords(
          pending.slice(half),
          deadline,
          context,
          result,
          cut,
          carry,
        );
        return [...left, ...right];
      }
      if (requestError.permanent) break;
    }
  }
  return pending;
}

/** Thrown out of an attempt that `carry` took over. */
class CarriedAway extends Error {}

/**
 * One attempt that settles within `budgetMs` whatever the client does: the
 * abort signal ends the request, and the race ends the wait even if a
 * client ignored the signal. A request already written is offered to
 * `carry` first.
 */
async function attemptWithin(
  context: SendContext,
  records: OutgoingRecord[],
  budgetMs: number,
  cut: AbortSignal | undefined,
  carry: Carry | undefined,
  carryAtTimeout: boolean,
) {
  const controller = new AbortController();
  const startedAt = context.now();
  let timer: unknown;
  let giveUp = (_why: string, _carryable: boolean) => {};
  let answer: ReturnType<KinesisPutter["putRecords"]> | undefined;
  const expired = new Promise<never>((_, reject) => {
    giveUp = (why, carryable) => {
      context.timers.clearTimeout(timer);
      if (
        carryable && carry && answer &&
        (context.putter.requestSent?.(controller.signal) ?? true) &&
        carry({
          records,
          answer,
          abort: () => controller.abort(),
          awakeBudgetMs: context.policy.requestTimeoutMs -
            (context.now() - startedAt),
        })
      ) {
        reject(new CarriedAway());
        return;
      }
      controller.abort();
      // Read in the same turn as the abort: a request the client had not
      // started to write is known not stored (no duplicate when its events
      // go again); on a small function the CPU spent before the write (the
      // SDK's serialising and signing) is most of a request's time.
      const sent = context.putter.requestSent?.(controller.signal) ?? true;
      reject(
        new KinesisRequestError(
          `request abandoned ${why}${sent ? "" : ", before it was sent"}`,
          { outcomeKnown: !sent, permanent: false, code: "Abandoned" },
        ),
      );
    };
    timer = context.timers.setTimeout(
      () => giveUp(`after ${budgetMs} ms`, carryAtTimeout),
      budgetMs,
    );
  });
  const onCut = () => giveUp("at the flush's cut", true);
  cut?.addEventListener("abort", onCut, { once: true });
  if (cut?.aborted) onCut();
  try {
    answer = context.putter.putRecords(records, controller.signal);
    return await Promise.race([answer, expired]);
  } finally {
    context.timers.clearTimeout(timer);
    cut?.removeEventListener("abort", onCut);
  }
}

/**
 * Waits for the client to be ready, at most until `deadline`: a client
 * still loading when time runs out leaves the records unsent, not unknown.
 */
async function preparedBefore(
  context: SendContext,
  deadline: number,
): Promise<boolean> {
  let timer: unknown;
  const ready = context.putter.prepare().then(() => true, () => true);
  const late = new Promise<boolean>((resolve) => {
    timer = context.timers.setTimeout(
      () => resolve(false),
      Math.max(0, deadline - context.now()),
    );
  });
  try {
    return await Promise.race([ready, late]);
  } finally {
    context.timers.clearTimeout(timer);
  }
}

/** Always through a timer, even for 0 ms, so retries never starve the event loop. */
function sleep(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) =>
    timers.setTimeout(() => resolve(), Math.max(0, ms))
  );
}
