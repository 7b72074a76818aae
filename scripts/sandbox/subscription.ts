/**
 * Validation of a Telemetry API subscription request body, with the ranges
 * and messages of the real API, turned into the delivery settings the
 * sandbox uses.
 *
 * @module
 */

/** Schema versions the Telemetry API accepts. */
export const TELEMETRY_SCHEMA_VERSIONS = [
  "2022-07-01",
  "2022-12-13",
  "2025-01-29",
] as const;

/** Event types a subscription may ask for. */
export const TELEMETRY_TYPES = ["platform", "function", "extension"] as const;

/** One kind of telemetry. */
export type TelemetryType = typeof TELEMETRY_TYPES[number];

/** Buffering limits of the Telemetry API: [min, max] and the default. */
export const BUFFERING_LIMITS = {
  maxItems: { min: 1_000, max: 10_000, default: 1_000 },
  maxBytes: { min: 262_144, max: 1_048_576, default: 262_144 },
  timeoutMs: { min: 25, max: 30_000, default: 1_000 },
} as const;

/** Port Lambda keeps for itself. */
const RESERVED_PORT = 9001;

/** Host names Lambda accepts for the listener. */
const SANDBOX_HOSTS = ["sandbox.localdomain", "sandbox"];

/** A validated subscription. */
export interface Subscription {
  /** Schema version asked for. */
  schemaVersion: string;
  /** Types to deliver. */
  types: TelemetryType[];
  /** Delivery buffering. */
  buffering: { maxItems: number; maxBytes: number; timeoutMs: number };
  /** The URI as the extension gave it. */
  destinationUri: string;
  /** Where the sandbox actually POSTs (the sandbox host mapped to 127.0.0.1). */
  deliveryUrl: string;
}

/** Result of validating a request body. */
export type SubscriptionResult =
  | { ok: true; subscription: Subscription }
  | { ok: false; errorType: string; errorMessage: string };

/** Validates a subscription body (already parsed JSON). */
export function parseSubscription(body: unknown): SubscriptionResult {
  const fail = (errorMessage: string): SubscriptionResult => ({
    ok: false,
    errorType: "ValidationError",
    errorMessage,
  });
  if (!isObject(body)) return fail("request body must be a JSON object");
  const schemaVersion = body.schemaVersion;
  if (
    typeof schemaVersion !== "string" ||
    !(TELEMETRY_SCHEMA_VERSIONS as readonly string[]).includes(schemaVersion)
  ) {
    return fail(
      `schemaVersion must be one of ${TELEMETRY_SCHEMA_VERSIONS.join(", ")}`,
    );
  }
  const types = body.types;
  if (
    !Array.isArray(types) || types.length === 0 ||
    !types.every((type) =>
      (TELEMETRY_TYPES as readonly unknown[]).includes(type)
    )
  ) {
    return fail(
      `types must be a non-empty list of ${TELEMETRY_TYPES.join(", ")}`,
    );
  }
  const bufferingInput = body.buffering ?? {};
  if (!isObject(bufferingInput)) return fail("buffering must be an object");
  const buffering: Subscription["buffering"] = {
    maxItems: BUFFERING_LIMITS.maxItems.default,
    maxBytes: BUFFERING_LIMITS.maxBytes.default,
    timeoutMs: BUFFERING_LIMITS.timeoutMs.default,
  };
  for (
    const key of Object.keys(BUFFERING_LIMITS) as Array<keyof typeof buffering>
  ) {
    const value = bufferingInput[key];
    if (value === undefined) continue;
    const { min, max } = BUFFERING_LIMITS[key];
    if (
      !Number.isInteger(value) || (value as number) < min ||
      (value as number) > max
    ) {
      return fail(`buffering.${key} must be an integer in ${min}..${max}`);
    }
    (buffering as Record<string, number>)[key] = value as number;
  }
  const destination = body.destination;
  if (!isObject(destination)) return fail("destination is required");
  if (destination.protocol !== "HTTP") {
    return fail(
      destination.protocol === "TCP"
        ? "TCP destinations are not supported by this sandbox"
        : "destination.protocol must be HTTP or TCP",
    );
  }
  if (typeof destination.URI !== "string") {
    return fail("destination.URI is required");
  }
  let uri: URL;
  try {
    uri = new URL(destination.URI);
  } catch {
    return fail(`destination.URI is not a URL: ${destination.URI}`);
  }
  if (uri.protocol !== "http:" || !SANDBOX_HOSTS.includes(uri.hostname)) {
    return fail(
      "destination.URI must be http://sandbox.localdomain:<port>/…",
    );
  }
  const port = Number(uri.port || "80");
  if (port === RESERVED_PORT) {
    return fail(`port ${RESERVED_PORT} is reserved by Lambda`);
  }
  const delivery = new URL(uri.href);
  delivery.hostname = "127.0.0.1";
  return {
    ok: true,
    subscription: {
      schemaVersion,
      types: types as TelemetryType[],
      buffering,
      destinationUri: destination.URI,
      deliveryUrl: delivery.href,
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
