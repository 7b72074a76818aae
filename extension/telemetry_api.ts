/**
 * Subscribes the listener to the Lambda Telemetry API.
 *
 * @module
 */
import type {
  BufferingConfig,
  SchemaVersion,
  TelemetryType,
} from "./config.ts";

/** Host Lambda resolves to the execution environment for telemetry delivery. */
export const SANDBOX_HOST = "sandbox.localdomain";

/** What to subscribe. */
export interface SubscriptionRequest {
  /** Value of `AWS_LAMBDA_RUNTIME_API`. */
  runtimeApi: string;
  /** Identifier from registration. */
  identifier: string;
  /** Types to receive. */
  types: readonly TelemetryType[];
  /** Schema version. */
  schemaVersion: SchemaVersion;
  /** Buffering, always sent in full: Lambda's defaults differ between pages. */
  buffering: BufferingConfig;
  /** Port the listener is bound to. */
  port: number;
  /** `fetch` to use. */
  fetch?: typeof fetch;
}

/** The Telemetry API refused the subscription. */
export class SubscriptionError extends Error {
  /** HTTP status (0 when no answer came). */
  readonly status: number;
  /** Creates the error. */
  constructor(message: string, status: number) {
    super(message);
    this.name = "SubscriptionError";
    this.status = status;
  }
}

/** The JSON body of a subscription. */
export function subscriptionBody(
  request: Omit<SubscriptionRequest, "runtimeApi" | "identifier" | "fetch">,
): Record<string, unknown> {
  return {
    schemaVersion: request.schemaVersion,
    types: request.types,
    buffering: {
      maxItems: request.buffering.maxItems,
      maxBytes: request.buffering.maxBytes,
      timeoutMs: request.buffering.timeoutMs,
    },
    destination: {
      protocol: "HTTP",
      URI: `http://${SANDBOX_HOST}:${request.port}`,
    },
  };
}

/**
 * What a 2xx answer said: `unsupported` holds the `errorType` of an answer
 * that accepted the call without any telemetry to come (AWS's Runtime
 * Interface Emulator in its classic mode answers 202
 * `{"errorType":"Telemetry.NotSupported"}`).
 */
export interface SubscriptionOutcome {
  /** The error type of an accepted subscription that delivers nothing. */
  unsupported?: string;
}

/** Sends `PUT /2022-07-01/telemetry`; throws {@linkcode SubscriptionError} on a non-2xx answer. */
export async function subscribe(
  request: SubscriptionRequest,
): Promise<SubscriptionOutcome> {
  const doFetch = request.fetch ?? fetch;
  const response = await doFetch(
    `http://${request.runtimeApi}/2022-07-01/telemetry`,
    {
      method: "PUT",
      headers: {
        "Lambda-Extension-Identifier": request.identifier,
        "Content-Type": "application/json",
      },
      body: JSON.stringify(subscriptionBody(request)),
    },
  );
  const text = await response.text();
  if (!response.ok) {
    throw new SubscriptionError(
      `telemetry subscription answered ${response.status}: ${
        text.slice(0, 500)
      }`,
      response.status,
    );
  }
  return { unsupported: errorTypeOf(text) };
}

function errorTypeOf(text: string): string | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const body = JSON.parse(text) as { errorType?: unknown };
    return typeof body.errorType === "string" ? body.errorType : undefined;
  } catch {
    return undefined;
  }
}
