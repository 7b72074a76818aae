/**
 * The Runtime API side of the sandbox: hands invocations to the runtime's
 * `/invocation/next`, takes its `/response` or `/error` for the invocation
 * in progress, and its `/init/error`.
 *
 * @module
 */
import { apiError } from "./extension_host.ts";
import type { ApiResult } from "./api_server.ts";
import { LongPoll } from "./long_poll.ts";
import type { PlatformStatus, RuntimeDoneTimings } from "./platform_events.ts";

/** What the runtime answered for an invocation. */
export interface RuntimeOutcome {
  /** `success`, or `error` when it posted to `/error`. */
  status: PlatformStatus;
  /** The error type it gave. */
  errorType?: string;
  /** The response (or error document) as text. */
  body: string;
  /** performance.now() when the answer was fully read. */
  respondedAt: number;
  /** Timings for `platform.runtimeDone`. */
  timings: RuntimeDoneTimings;
}

/** An invocation to hand out. */
export interface InvocationRequest {
  /** Request id. */
  requestId: string;
  /** Payload as JSON text. */
  payload: string;
  /** Epoch ms deadline. */
  deadlineMs: number;
  /** ARN of the function. */
  invokedFunctionArn: string;
  /** X-Ray trace header value. */
  traceId: string;
}

/** An invocation handed to the runtime. */
export interface HandedOut {
  /** Request id. */
  requestId: string;
  /** Epoch ms when it was handed out. */
  startedAt: number;
  /** performance.now() when it was handed out. */
  handedOutAt: number;
  /** Resolves with the runtime's answer. */
  outcome: Promise<RuntimeOutcome>;
}

interface InProgress {
  requestId: string;
  startedAt: number;
  handedOutAt: number;
  answered: boolean;
  resolve(outcome: RuntimeOutcome): void;
}

/** The platform's end of the Runtime API. */
export class RuntimeHost {
  /** The runtime's `/invocation/next` mailbox. */
  readonly mailbox = new LongPoll<ApiResult>();
  #current: InProgress | null = null;
  readonly #onInitError: (message: string) => void;

  constructor(onInitError: (message: string) => void) {
    this.#onInitError = onInitError;
  }

  /** Gives the runtime an invocation (to its waiting `/next`, or the next one). */
  handOut(request: InvocationRequest): HandedOut {
    const outcome = Promise.withResolvers<RuntimeOutcome>();
    const current: InProgress = {
      requestId: request.requestId,
      startedAt: Date.now(),
      handedOutAt: performance.now(),
      answered: false,
      resolve: outcome.resolve,
    };
    this.#current = current;
    this.mailbox.put({
      status: 200,
      text: request.payload,
      headers: {
        "Lambda-Runtime-Aws-Request-Id": request.requestId,
        "Lambda-Runtime-Deadline-Ms": String(request.deadlineMs),
        "Lambda-Runtime-Invoked-Function-Arn": request.invokedFunctionArn,
        "Lambda-Runtime-Trace-Id": request.traceId,
      },
    });
    return {
      requestId: current.requestId,
      startedAt: current.startedAt,
      handedOutAt: current.handedOutAt,
      outcome: outcome.promise,
    };
  }

  /** Forgets the invocation in progress (it ended or failed). */
  finish(): void {
    this.#current = null;
  }

  /** Fails the waiting `/next` and every later one. */
  close(): void {
    this.mailbox.close();
  }

  /** `GET /runtime/invocation/next`. */
  async next(): Promise<ApiResult> {
    return await this.mailbox.take();
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
    let documentType: unknown;
    try {
      documentType = JSON.parse(new TextDecoder().decode(body))?.errorType;
    } catch {
      documentType = undefined;
    }
    return this.#settle(
      requestId,
      arrivedAt,
      "error",
      errorType ??
        (typeof documentType === "string" ? documentType : "Unhandled"),
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
    const current = this.#current;
    if (!current || current.requestId !== requestId) {
      return apiError(
        400,
        "InvalidRequestID",
        `no invocation ${requestId} is in progress`,
      );
    }
    if (current.answered) {
      return apiError(
        400,
        "InvalidStateTransition",
        `invocation ${requestId} already has a result`,
      );
    }
    current.answered = true;
    const respondedAt = performance.now();
    current.resolve({
      status,
      ...(errorType ? { errorType } : {}),
      body: new TextDecoder().decode(body),
      respondedAt,
      timings: {
        startedAt: current.startedAt,
        latencyMs: arrivedAt - current.handedOutAt,
        responseMs: respondedAt - arrivedAt,
        producedBytes: body.length,
      },
    });
    return { status: 202, json: { status: "OK" } };
  }
}
