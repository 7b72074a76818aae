/**
 * The Runtime API side of a managed instance: many invocations at once. A
 * runtime that runs N invocations concurrently keeps up to N
 * `/invocation/next` requests open; each invocation goes to one of them (or
 * waits for the next one), and each `/response` or `/error` settles its own
 * invocation by request id.
 *
 * @module
 */
import type { ApiResult } from "./api_server.ts";
import { apiError } from "./extension_host.ts";
import { MailboxClosedError } from "./long_poll.ts";
import type { PlatformStatus } from "./platform_events.ts";
import type {
  HandedOut,
  InvocationRequest,
  RuntimeOutcome,
} from "./runtime_host.ts";

interface Running {
  startedAt: number;
  handedOutAt: number;
  answered: boolean;
  resolve(outcome: RuntimeOutcome): void;
}

/** The platform's end of the Runtime API, for concurrent invocations. */
export class ConcurrentRuntimeHost {
  readonly #parked: Array<PromiseWithResolvers<ApiResult>> = [];
  readonly #queued: ApiResult[] = [];
  readonly #running = new Map<string, Running>();
  readonly #firstPoll = Promise.withResolvers<void>();
  readonly #onInitError: (message: string) => void;
  #closed = false;

  /** Creates the host; `onInitError` hears the runtime's `/init/error`. */
  constructor(onInitError: (message: string) => void) {
    this.#onInitError = onInitError;
  }

  /** Invocations handed out and not answered yet. */
  get running(): number {
    return this.#running.size;
  }

  /** `/invocation/next` requests waiting now. */
  get waiting(): number {
    return this.#parked.length;
  }

  /** Resolves once the runtime asked for its first invocation (its init ended). */
  whenWaiting(): Promise<void> {
    return this.#firstPoll.promise;
  }

  /** Gives the runtime an invocation: to a waiting `/next`, or the next one. */
  handOut(request: InvocationRequest): HandedOut {
    const outcome = Promise.withResolvers<RuntimeOutcome>();
    const running: Running = {
      startedAt: Date.now(),
      handedOutAt: performance.now(),
      answered: false,
      resolve: outcome.resolve,
    };
    this.#running.set(request.requestId, running);
    const answer: ApiResult = {
      status: 200,
      text: request.payload,
      headers: {
        "Lambda-Runtime-Aws-Request-Id": request.requestId,
        "Lambda-Runtime-Deadline-Ms": String(request.deadlineMs),
        "Lambda-Runtime-Invoked-Function-Arn": request.invokedFunctionArn,
        "Lambda-Runtime-Trace-Id": request.traceId,
      },
    };
    const parked = this.#parked.shift();
    if (parked) parked.resolve(answer);
    else this.#queued.push(answer);
    return {
      requestId: request.requestId,
      startedAt: running.startedAt,
      handedOutAt: running.handedOutAt,
      outcome: outcome.promise,
    };
  }

  /** Forgets an invocation that ended or failed. */
  finish(requestId: string): void {
    this.#running.delete(requestId);
  }

  /** Fails every waiting `/next` and every later one. */
  close(): void {
    this.#closed = true;
    for (const parked of this.#parked.splice(0)) {
      parked.reject(new MailboxClosedError());
    }
  }

  /** `GET /runtime/invocation/next`. */
  next(): Promise<ApiResult> {
    if (this.#closed) return Promise.reject(new MailboxClosedError());
    this.#firstPoll.resolve();
    const queued = this.#queued.shift();
    if (queued) return Promise.resolve(queued);
    const parked = Promise.withResolvers<ApiResult>();
    this.#parked.push(parked);
    return parked.promise;
  }

  /** `POST /runtime/invocation/{id}/response`. */
  respond(requestId: string, body: Uint8Array, arrivedAt: number): ApiResult {
    return this.#settle(requestId, arrivedAt, "success", undefined, body);
  }

  /** `POST /runtime/invocation/{id}/error`. */
  fail(
    requestId: string,
    errorType: string | null,
    body: Uint8Array,
    arrivedAt: number,
  ): ApiResult {
    return this.#settle(
      requestId,
      arrivedAt,
      "error",
      errorType ?? errorTypeOf(body),
      body,
    );
  }

  /** `POST /runtime/init/error`. */
  initError(errorType: string | null, body: Uint8Array): ApiResult {
    this.#onInitError(
      `the runtime reported an init error ${errorType}: ${
        new TextDecoder().decode(body)
      }`,
    );
    return { status: 202, json: { status: "OK" } };
  }

  #settle(
    requestId: string,
    arrivedAt: number,
    status: PlatformStatus,
    errorType: string | undefined,
    body: Uint8Array,
  ): ApiResult {
    const running = this.#running.get(requestId);
    if (!running) {
      return apiError(
        400,
        "InvalidRequestID",
        `no invocation ${requestId} is in progress`,
      );
    }
    if (running.answered) {
      return apiError(
        400,
        "InvalidStateTransition",
        `invocation ${requestId} already has a result`,
      );
    }
    running.answered = true;
    const respondedAt = performance.now();
    running.resolve({
      status,
      ...(errorType ? { errorType } : {}),
      body: new TextDecoder().decode(body),
      respondedAt,
      timings: {
        startedAt: running.startedAt,
        latencyMs: arrivedAt - running.handedOutAt,
        responseMs: respondedAt - arrivedAt,
        producedBytes: body.length,
      },
    });
    return { status: 202, json: { status: "OK" } };
  }
}

/** The `errorType` of an error document, `Unhandled` when it has none. */
function errorTypeOf(body: Uint8Array): string {
  try {
    const type = JSON.parse(new TextDecoder().decode(body))?.errorType;
    return typeof type === "string" ? type : "Unhandled";
  } catch {
    return "Unhandled";
  }
}
