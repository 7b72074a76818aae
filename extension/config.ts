/**
 * Reads the extension's configuration from the environment once, at the
 * edge, into a typed and validated {@linkcode Config}. Every error names the
 * variable and what it accepts, because it is shown to the user as the
 * function's init error.
 *
 * @module
 */
import { KINESIS_LIMITS, type RecordFormat } from "./types.ts";

/** Telemetry API stream types the extension can subscribe to. */
export type TelemetryType = "platform" | "function" | "extension";
/** Telemetry API schema versions accepted by Lambda. */
export type SchemaVersion = "2022-07-01" | "2022-12-13" | "2025-01-29";
/** How each event's partition key is chosen. */
export type PartitionKeyStrategy = "requestId" | "environment" | "random";
/** Levels of the extension's own log lines. */
export type LogLevel = "error" | "warn" | "info" | "debug";
/**
 * When buffered telemetry goes to Kinesis.
 * - `invoke`: at every INVOKE, while the function runs (adds nothing to an
 *   invocation that outlasts the flush); an invocation's events are stored
 *   during the next one.
 * - `end`: as `invoke`, and again once the invocation's `platform.runtimeDone`
 *   arrived, before the environment freezes (freshness over billed time).
 */
export type FlushStrategy = "invoke" | "end";
/**
 * What an invocation does with a backlog the hold cannot drain (events
 * arriving faster than one hold per invocation ships).
 * - `extend` (default): keeps flushing after the runtime is done, up to
 *   `backlogHoldMs`, while Kinesis takes events: billed time instead of
 *   telemetry Lambda drops once the buffer is full.
 * - `drop`: keeps the `maxHoldMs` bound; when the buffer is full Lambda
 *   drops deliveries (its `platform.logsDropped` events say how many).
 */
export type BacklogPolicy = "extend" | "drop";

/** Telemetry API buffering values sent with the subscription. */
export interface BufferingConfig {
  /** Events per POST (1,000–10,000). */
  maxItems: number;
  /** Bytes per POST (262,144–1,048,576). */
  maxBytes: number;
  /** Longest time Lambda buffers before a POST (25–30,000 ms). */
  timeoutMs: number;
}

/** The validated configuration of one extension process. */
export interface Config {
  /** Stream name (always set; derived from the ARN when an ARN was given). */
  streamName: string;
  /** Stream ARN when the user gave one. */
  streamArn: string | undefined;
  /** AWS region of the stream. */
  region: string;
  /** Kinesis endpoint override (`AWS_ENDPOINT_URL_KINESIS` / `AWS_ENDPOINT_URL`). */
  kinesisEndpoint: string | undefined;
  /** Telemetry types to subscribe to. */
  types: TelemetryType[];
  /** Telemetry API schema version. */
  schemaVersion: SchemaVersion;
  /** Telemetry API buffering. */
  buffering: BufferingConfig;
  /** Listener port; 0 picks a free one. */
  listenerPort: number;
  /**
   * Address the listener binds: every interface in Lambda, where
   * `sandbox.localdomain` must reach it; loopback in a local sandbox.
   */
  listenerHost: string;
  /** Largest request body the listener reads (derived: 4 × buffering.maxBytes). */
  maxBodyBytes: number;
  /** Record format written to Kinesis. */
  format: RecordFormat;
  /** Partition key strategy. */
  partitionKey: PartitionKeyStrategy;
  /** Per-record limit, data plus partition key. */
  maxRecordBytes: number;
  /** Memory bound of buffered, not yet delivered events. */
  maxBufferBytes: number;
  /** Event types never shipped (counted as filtered). */
  excludeTypes: ReadonlySet<string>;
  /** Level of the extension's own logs. */
  logLevel: LogLevel;
  /** Flush strategy. */
  flush: FlushStrategy;
  /** Longest time spent on one invocation before returning to `/event/next`. */
  maxHoldMs: number;
  /** What an invocation does with a backlog the hold cannot drain. */
  backlog: BacklogPolicy;
  /** With `backlog: "extend"`: the longest post-runtime time spent draining it. */
  backlogHoldMs: number;
  /** Time kept free before the SHUTDOWN deadline for the summary and exit. */
  shutdownMarginMs: number;
  /** Longest single PutRecords attempt. */
  requestTimeoutMs: number;
}

/** A configuration value is missing or out of range. */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;
  /** Creates the error for one variable. */
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

/** Prefix of every variable the extension reads. */
export const ENV_PREFIX = "KINESIS_TELEMETRY_";

const TYPES: readonly TelemetryType[] = ["platform", "function", "extension"];
const SCHEMA_VERSIONS: readonly SchemaVersion[] = [
  "2022-07-01",
  "2022-12-13",
  "2025-01-29",
];
const FORMATS: readonly RecordFormat[] = ["kpl", "json", "ndjson"];
const PARTITION_KEYS: readonly PartitionKeyStrategy[] = [
  "requestId",
  "environment",
  "random",
];
const LOG_LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug"];
const FLUSH_STRATEGIES: readonly FlushStrategy[] = ["invoke", "end"];
const BACKLOG_POLICIES: readonly BacklogPolicy[] = ["extend", "drop"];
const STREAM_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;
const STREAM_ARN =
  /^arn:aws[a-z-]*:kinesis:([a-z0-9-]+):(\d{12}):stream\/([a-zA-Z0-9_.-]{1,128})$/;
const MIB = 1024 * 1024;

/** Reads one variable; a function so tests pass a plain object. */
export type EnvReader = (name: string) => string | undefined;

/**
 * Parses and validates the configuration.
 *
 * @throws {ConfigError} naming the first variable that is missing or invalid.
 */
export function parseConfig(env: EnvReader): Config {
  const read = (name: string) => {
    const value = env(name)?.trim();
    return value === "" ? undefined : value;
  };
  const stream = read(`${ENV_PREFIX}STREAM`);
  if (!stream) {
    throw new ConfigError(
      `${ENV_PREFIX}STREAM`,
      "is required: set it to the Kinesis stream name or ARN",
    );
  }
  let streamName: string;
  let streamArn: string | undefined;
  let region = read("AWS_REGION") ?? read("AWS_DEFAULT_REGION");
  if (stream.startsWith("arn:")) {
    const match = STREAM_ARN.exec(stream);
    if (!match) {
      throw new ConfigError(
        `${ENV_PREFIX}STREAM`,
        `"${stream}" is not a Kinesis stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)`,
      );
    }
    streamArn = stream;
    region = match[1];
    streamName = match[3];
  } else if (STREAM_NAME.test(stream)) {
    streamName = stream;
  } else {
    throw new ConfigError(
      `${ENV_PREFIX}STREAM`,
      `"${stream}" is not a valid stream name (1–128 of a-z A-Z 0-9 _ . -)`,
    );
  }
  if (!region) {
    throw new ConfigError(
      "AWS_REGION",
      "is required when KINESIS_TELEMETRY_STREAM is a name, not an ARN",
    );
  }

  const integer = (
    suffix: string,
    fallback: number,
    min: number,
    max: number,
  ): number => {
    const name = `${ENV_PREFIX}${suffix}`;
    const raw = read(name);
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw)) {
      throw new ConfigError(
        name,
        `"${raw}" is not a whole number (allowed ${min}–${max})`,
      );
    }
    const value = Number(raw);
    if (value < min || value > max) {
      throw new ConfigError(
        name,
        `${value} is out of range (allowed ${min}–${max})`,
      );
    }
    return value;
  };
  const choice = <T extends string>(
    suffix: string,
    fallback: T,
    allowed: readonly T[],
  ): T => {
    const name = `${ENV_PREFIX}${suffix}`;
    const raw = read(name);
    if (raw === undefined) return fallback;
    const found = allowed.find((option) =>
      option.toLowerCase() === raw.toLowerCase()
    );
    if (!found) {
      throw new ConfigError(
        name,
        `"${raw}" is not one of ${allowed.join(", ")}`,
      );
    }
    return found;
  };
  const list = (suffix: string): string[] =>
    (read(`${ENV_PREFIX}${suffix}`) ?? "").split(",").map((item) => item.trim())
      .filter((item) => item !== "");

  const typesRaw = list("TYPES");
  const types: TelemetryType[] = typesRaw.length === 0
    ? [...TYPES]
    : typesRaw.map((type) => {
      const found = TYPES.find((known) => known === type.toLowerCase());
      if (!found) {
        throw new ConfigError(
          `${ENV_PREFIX}TYPES`,
          `"${type}" is not one of ${TYPES.join(", ")}`,
        );
      }
      return found;
    });

  const buffering: BufferingConfig = {
    maxItems: integer("BUFFER_MAX_ITEMS", 1000, 1000, 10_000),
    maxBytes: integer("BUFFER_MAX_BYTES", 262_144, 262_144, 1_048_576),
    timeoutMs: integer("BUFFER_TIMEOUT_MS", 100, 25, 30_000),
  };
  const maxBodyBytes = 4 * buffering.maxBytes;
  const maxRecordBytes = integer(
    "MAX_RECORD_BYTES",
    KINESIS_LIMITS.defaultMaxRecordBytes,
    64 * 1024,
    KINESIS_LIMITS.largestMaxRecordBytes,
  );
  const maxBufferBytes = integer(
    "MAX_BUFFER_BYTES",
    8 * MIB,
    1 * MIB,
    512 * MIB,
  );
  if (maxBufferBytes < maxBodyBytes) {
    throw new ConfigError(
      `${ENV_PREFIX}MAX_BUFFER_BYTES`,
      `${maxBufferBytes} is smaller than one Telemetry API delivery can be (${maxBodyBytes} = 4 × ${ENV_PREFIX}BUFFER_MAX_BYTES)`,
    );
  }

  const listenerPort = integer("LISTENER_PORT", 4243, 0, 65_535);
  if (listenerPort === 9001) {
    throw new ConfigError(
      `${ENV_PREFIX}LISTENER_PORT`,
      "9001 is reserved by Lambda; choose another port",
    );
  }

  const listenerHost = read(`${ENV_PREFIX}LISTENER_HOST`) ?? "0.0.0.0";
  if (!/^[a-zA-Z0-9.:-]{1,253}$/.test(listenerHost)) {
    throw new ConfigError(
      `${ENV_PREFIX}LISTENER_HOST`,
      `"${listenerHost}" is not an IP address or host name`,
    );
  }

  const maxHoldMs = integer("MAX_HOLD_MS", 200, 10, 60_000);
  return {
    streamName,
    streamArn,
    region,
    kinesisEndpoint: read("AWS_ENDPOINT_URL_KINESIS") ??
      read("AWS_ENDPOINT_URL"),
    types: [...new Set(types)],
    schemaVersion: choice("SCHEMA_VERSION", "2022-12-13", SCHEMA_VERSIONS),
    buffering,
    listenerPort,
    listenerHost,
    maxBodyBytes,
    format: choice("FORMAT", "kpl", FORMATS),
    partitionKey: choice("PARTITION_KEY", "requestId", PARTITION_KEYS),
    maxRecordBytes,
    maxBufferBytes,
    excludeTypes: new Set(list("EXCLUDE_TYPES")),
    logLevel: choice("LOG_LEVEL", "info", LOG_LEVELS),
    flush: choice("FLUSH", "invoke", FLUSH_STRATEGIES),
    maxHoldMs,
    backlog: choice("BACKLOG", "extend", BACKLOG_POLICIES),
    backlogHoldMs: integer(
      "BACKLOG_HOLD_MS",
      Math.max(1_000, maxHoldMs),
      maxHoldMs,
      60_000,
    ),
    shutdownMarginMs: integer("SHUTDOWN_MARGIN_MS", 150, 50, 1_500),
    requestTimeoutMs: integer("REQUEST_TIMEOUT_MS", 5_000, 100, 60_000),
  };
}
