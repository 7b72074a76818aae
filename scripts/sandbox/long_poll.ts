/**
 * A mailbox for one long-polling client (`/event/next`, `/invocation/next`):
 * values wait in order until the client asks, and the client's request waits
 * until a value arrives. Whether the client is currently waiting is what the
 * lifecycle reads to decide that an invocation ended.
 *
 * @module
 */

/** Thrown to a waiting request when the mailbox is closed. */
export class MailboxClosedError extends Error {
  constructor() {
    super("the sandbox is shutting down");
    this.name = "MailboxClosedError";
  }
}

/** Ordered values handed to one long-polling client. */
export class LongPoll<T> {
  #queued: T[] = [];
  #waiter: { resolve(value: T): void; reject(error: Error): void } | null =
    null;
  #waitingListeners: Array<() => void> = [];
  #closed = false;
  /** performance.now() of the moment the client last started waiting. */
  waitingSince = 0;

  /** True while a request of the client is parked here waiting for a value. */
  get waiting(): boolean {
    return this.#waiter !== null;
  }

  /**
   * Called by the request handler: the next value, at once if one is queued,
   * else when `put` gives one. A request aborted by the client stops waiting.
   */
  take(signal?: AbortSignal): Promise<T> {
    if (this.#closed) return Promise.reject(new MailboxClosedError());
    if (this.#queued.length > 0) return Promise.resolve(this.#queued.shift()!);
    if (this.#waiter) {
      // A second concurrent poll replaces the first, as a client that lost
      // its connection and asked again would expect.
      this.#waiter.reject(new Error("superseded by a newer request"));
    }
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        resolve: (value: T) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(value);
        },
        reject: (error: Error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        if (this.#waiter === waiter) this.#waiter = null;
        reject(new Error("client went away"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiter = waiter;
      this.waitingSince = performance.now();
      const listeners = this.#waitingListeners;
      this.#waitingListeners = [];
      for (const listener of listeners) listener();
    });
  }

  /** Gives the client a value: to its waiting request, or queued for its next one. */
  put(value: T): void {
    if (this.#closed) return;
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter.resolve(value);
    } else {
      this.#queued.push(value);
    }
  }

  /** Resolves once the client waits here (at once if it already does). */
  whenWaiting(): Promise<void> {
    if (this.#waiter) return Promise.resolve();
    return new Promise((resolve) => this.#waitingListeners.push(resolve));
  }

  /** Fails any waiting request and every later one. */
  close(): void {
    this.#closed = true;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(new MailboxClosedError());
    this.#queued = [];
  }
}
