/**
 * Tracks which invocations' `platform.runtimeDone` and `platform.report`
 * have arrived, and when telemetry deliveries come, so the lifecycle loop
 * can wait for them with a deadline instead of sleeping a fixed time.
 *
 * @module
 */

/** Platform events whose arrival the lifecycle loop waits for. */
export type ProgressType = "platform.runtimeDone" | "platform.report";

/** Recent request ids remembered per type; older ones are long settled. */
const REMEMBERED = 64;

interface Waiter {
  type: ProgressType;
  requestId: string;
  resolve: (seen: boolean) => void;
  timer: unknown;
}

/** Timer functions, injectable for fake time. */
export interface Timers {
  /** Schedules a callback; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a scheduled callback. */
  clearTimeout(handle: unknown): void;
}

/** The platform's timers. */
export const realTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};

/**
 * Timers for what is scheduled before the first `/event/next`. The first
 * call of Deno's global `setTimeout` loads its Node.js-compatible timers
 * (about 4 ms, measured with Deno 2.9), which init would pay; the timer of
 * `AbortSignal.timeout` does not. It does not keep the process alive,
 * which is right for work that only matters while the extension runs.
 */
export const startupTimers: Timers = {
  setTimeout: (callback, ms) => {
    const handle = { cancelled: false };
    AbortSignal.timeout(ms).addEventListener("abort", () => {
      if (!handle.cancelled) callback();
    }, { once: true });
    return handle;
  },
  clearTimeout: (handle) => {
    if (typeof handle === "object" && handle !== null) {
      (handle as { cancelled: boolean }).cancelled = true;
    }
  },
};

/** Arrival record of runtimeDone/report events by request id. */
export class InvocationProgress {
  readonly #seen: Record<ProgressType, string[]> = {
    "platform.runtimeDone": [],
    "platform.report": [],
  };
  readonly #waiters = new Set<Waiter>();
  readonly #deliveryWaiters = new Set<() => void>();
  readonly #timers: Timers;
  #lastDeliveryAt: number | undefined;
  #openDeliveries = 0;

  /** Creates the tracker using `timers` for deadlines. */
  constructor(timers: Timers = realTimers) {
    this.#timers = timers;
  }

  /** Notes that an event of `type` for `requestId` is now buffered. */
  note(type: ProgressType, requestId: string): void {
    const seen = this.#seen[type];
    seen.push(requestId);
    if (seen.length > REMEMBERED) seen.shift();
    for (const waiter of this.#waiters) {
      if (waiter.type === type && waiter.requestId === requestId) {
        this.#finish(waiter, true);
      }
    }
  }

  /** Whether an event of `type` for `requestId` arrived. */
  has(type: ProgressType, requestId: string): boolean {
    return this.#seen[type].includes(requestId);
  }

  /**
   * Calls `callback` once the event of `type` for `requestId` is noted (at
   * once if it already was); returns a function that cancels the watch.
   */
  whenNoted(
    type: ProgressType,
    requestId: string,
    callback: () => void,
  ): () => void {
    if (this.has(type, requestId)) {
      callback();
      return () => {};
    }
    const waiter: Waiter = {
      type,
      requestId,
      resolve: (seen) => {
        if (seen) callback();
      },
      timer: undefined,
    };
    this.#waiters.add(waiter);
    return () => this.#finish(waiter, false);
  }

  /** Resolves true when the event arrives, false after `timeoutMs`. */
  waitFor(
    type: ProgressType,
    requestId: string,
    timeoutMs: number,
  ): Promise<boolean> {
    if (this.has(type, requestId)) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        type,
        requestId,
        resolve,
        timer: this.#timers.setTimeout(
          () => this.#finish(waiter, false),
          timeoutMs,
        ),
      };
      this.#waiters.add(waiter);
    });
  }

  /**
   * Notes that a telemetry delivery (a POST to the listener) started at
   * `at`; {@linkcode deliveryEnded} follows once it was answered.
   */
  deliveryStarted(_at: number): void {
    this.#openDeliveries++;
  }

  /**
   * Notes that a delivery was answered at `at`; `accepted` when its events
   * were buffered. A refused delivery (503, Lambda retries it) wakes waiters
   * but is no sign of new telemetry: it does not move `lastDeliveryAt`.
   */
  deliveryEnded(at: number, accepted = true): void {
    this.#openDeliveries = Math.max(0, this.#openDeliveries - 1);
    if (accepted) this.#lastDeliveryAt = at;
    const waiters = [...this.#deliveryWaiters];
    this.#deliveryWaiters.clear();
    for (const wake of waiters) wake();
  }

  /** When the latest accepted delivery was answered; undefined before the first. */
  get lastDeliveryAt(): number | undefined {
    return this.#lastDeliveryAt;
  }

  /** Deliveries started and not answered yet. */
  get openDeliveries(): number {
    return this.#openDeliveries;
  }

  /** Resolves true when the next delivery was answered, false after `timeoutMs`. */
  waitForDelivery(timeoutMs: number): Promise<boolean> {
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const wake = () => {
        this.#timers.clearTimeout(timer);
        resolve(true);
      };
      const timer = this.#timers.setTimeout(() => {
        this.#deliveryWaiters.delete(wake);
        resolve(false);
      }, timeoutMs);
      this.#deliveryWaiters.add(wake);
    });
  }

  #finish(waiter: Waiter, seen: boolean): void {
    if (!this.#waiters.delete(waiter)) return;
    this.#timers.clearTimeout(waiter.timer);
    waiter.resolve(seen);
  }
}
