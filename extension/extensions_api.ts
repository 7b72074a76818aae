/**
 * A client of the Lambda Extensions API: register, next event, init and exit
 * errors. Plain `fetch`, injected, so tests speak to a scripted server.
 *
 * @module
 */

/** What Lambda answers to a successful registration. */
export interface Registration {
  /** `Lambda-Extension-Identifier`, needed on every later call. */
  identifier: string;
  /** Name of the function. */
  functionName: string;
  /** Version of the function. */
  functionVersion: string;
  /** Account id, when the `accountId` feature was granted. */
  accountId: string | null;
}

/** An INVOKE event. */
export interface InvokeEvent {
  /** Discriminator. */
  eventType: "INVOKE";
  /** Epoch ms when the invocation times out. */
  deadlineMs: number;
  /** The invocation's request id. */
  requestId: string;
}

/** A SHUTDOWN event. */
export interface ShutdownEvent {
  /** Discriminator. */
  eventType: "SHUTDOWN";
  /** Epoch ms when whatever still runs is killed. */
  deadlineMs: number;
  /** SPINDOWN, TIMEOUT or FAILURE. */
  shutdownReason: string;
}

/** Lifecycle events an extension can register for. */
export type ExtensionEventType = "INVOKE" | "SHUTDOWN";

/**
 * Events registered for on ordinary functions, and on Lambda Managed
 * Instances, where an external extension may register for SHUTDOWN only
 * (anything else is refused with 403 `Extension.InvalidEventType`).
 */
export const REGISTERED_EVENTS = {
  "on-demand": ["INVOKE", "SHUTDOWN"],
  "managed-instances": ["SHUTDOWN"],
} as const satisfies Record<string, readonly ExtensionEventType[]>;

/** An event from `/event/next`. */
export type LifecycleEvent = InvokeEvent | ShutdownEvent;

/** An Extensions API call answered with an unexpected status. */
export class ExtensionsApiError extends Error {
  /** HTTP status, 0 when no answer came. */
  readonly status: number;
  /** Creates the error. */
  constructor(message: string, status: number) {
    super(message);
    this.name = "ExtensionsApiError";
    this.status = status;
  }
}

/** Options of {@linkcode ExtensionsApiClient}. */
export interface ExtensionsApiOptions {
  /** Value of `AWS_LAMBDA_RUNTIME_API` (host:port). */
  runtimeApi: string;
  /** Extension name: the base name of the executable in /opt/extensions. */
  extensionName: string;
  /** `fetch` to use. */
  fetch?: typeof fetch;
}

/** The Extensions API, version 2020-01-01. */
export class ExtensionsApiClient {
  readonly #base: string;
  readonly #name: string;
  readonly #fetch: typeof fetch;
  #identifier = "";

  /** Creates a client; nothing is sent until {@linkcode register}. */
  constructor(options: ExtensionsApiOptions) {
    this.#base = `http://${options.runtimeApi}/2020-01-01/extension`;
    this.#name = options.extensionName;
    this.#fetch = options.fetch ?? fetch;
  }

  /** The identifier from registration ("" before it). */
  get identifier(): string {
    return this.#identifier;
  }

  /** Registers for `events` (INVOKE and SHUTDOWN by default), asking for the account id. */
  async register(
    events: readonly ExtensionEventType[] = REGISTERED_EVENTS["on-demand"],
  ): Promise<Registration> {
    const response = await this.#fetch(`${this.#base}/register`, {
      method: "POST",
      headers: {
        "Lambda-Extension-Name": this.#name,
        "Lambda-Extension-Accept-Feature": "accountId",
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ events }),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new ExtensionsApiError(
        `register answered ${response.status}: ${text.slice(0, 500)}`,
        response.status,
      );
    }
    const identifier = response.headers.get("Lambda-Extension-Identifier");
    if (!identifier) {
      throw new ExtensionsApiError(
        "register answered without a Lambda-Extension-Identifier header",
        response.status,
      );
    }
    this.#identifier = identifier;
    const body = parseObject(text);
    return {
      identifier,
      functionName: stringOr(body.functionName, ""),
      functionVersion: stringOr(body.functionVersion, ""),
      accountId: typeof body.accountId === "string" ? body.accountId : null,
    };
  }

  /**
   * Waits for the next lifecycle event. Deliberately without a timeout: the
   * call blocks for as long as the environment stays idle or frozen.
   */
  async next(signal?: AbortSignal): Promise<LifecycleEvent> {
    const response = await this.#fetch(`${this.#base}/event/next`, {
      headers: { "Lambda-Extension-Identifier": this.#identifier },
      signal,
    });
    const text = await response.text();
    if (!response.ok) {
      throw new ExtensionsApiError(
        `event/next answered ${response.status}: ${text.slice(0, 500)}`,
        response.status,
      );
    }
    const body = parseObject(text);
    if (body.eventType === "INVOKE") {
      return {
        eventType: "INVOKE",
        deadlineMs: numberOr(body.deadlineMs, Number.POSITIVE_INFINITY),
        requestId: stringOr(body.requestId, ""),
      };
    }
    if (body.eventType === "SHUTDOWN") {
      return {
        eventType: "SHUTDOWN",
        deadlineMs: numberOr(body.deadlineMs, Date.now() + 2000),
        shutdownReason: stringOr(body.shutdownReason, "UNKNOWN"),
      };
    }
    throw new ExtensionsApiError(
      `event/next answered an unknown event: ${text.slice(0, 200)}`,
      response.status,
    );
  }

  /** Reports a failed init (before or after registration); Lambda then fails the init. */
  initError(errorType: string, message: string): Promise<void> {
    return this.#reportError("init/error", errorType, message);
  }

  /** Reports an unrecoverable error after init. */
  exitError(errorType: string, message: string): Promise<void> {
    return this.#reportError("exit/error", errorType, message);
  }

  async #reportError(
    path: string,
    errorType: string,
    message: string,
  ): Promise<void> {
    const headers: Record<string, string> = {
      "Lambda-Extension-Function-Error-Type": errorType,
      "Content-Type": "application/json",
    };
    // Before registration there is no identifier; Lambda then accepts the
    // extension name instead, so the error still reaches the user.
    if (this.#identifier) {
      headers["Lambda-Extension-Identifier"] = this.#identifier;
    } else headers["Lambda-Extension-Name"] = this.#name;
    const response = await this.#fetch(`${this.#base}/${path}`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        errorMessage: message,
        errorType,
        stackTrace: [],
      }),
    });
    await response.body?.cancel();
    if (!response.ok) {
      throw new ExtensionsApiError(
        `${path} answered ${response.status}`,
        response.status,
      );
    }
  }
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? value
      : {};
  } catch {
    return {};
  }
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" ? value : fallback;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}
