/**
 * Reads the extension's configuration from the environment once, at the
 * edge, into a typed and validated {@linkcode Config}. Every error names the
 * variable and what it accepts, because it is shown to the user as the
 * function's init error.
 *
 * @module
 */
import type { Compression } from "./compression.ts";
import {
  bufferBoundsFor,
  bufferMisfit,
  functionMemoryMB,
} from "./memory_budget.ts";
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
 * Which lifecycle the extension runs.
 * - `on-demand`: an ordinary function (on-demand, provisioned concurrency,
 *   SnapStart): INVOKE events, a freeze between invocations.
 * - `managed-instances`: Lambda Managed Instances: SHUTDOWN only, no freeze,
 *   many invocations at once, shipping in the background.
 */
export type LifecycleMode = "on-demand" | "managed-instances";

/** The mode and the environment that decided it (logged at start). */
export interface ModeDetection {
  /** The mode. */
  mode: LifecycleMode;
  /** Why: the variables that decided it. */
  reason: string;
}

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
  /** Compression of record payloads (see compression.ts). */
  compression: Compression;
  /** Partition key strategy. */
  partitionKey: PartitionKeyStrategy;
  /** Per-record limit, data plus partition key. */
  maxRecordBytes: number;
  /** Memory bound of buffered, not yet delivered events. */
  maxBufferBytes: number;
  /**
   * Most bytes of deliveries kept on disk when the memory bound is reached
   * (0: none; a full buffer then refuses deliveries and Lambda drops them
   * after its retries).
   */
  maxSpillBytes: number;
  /** Folder of the disk overflow, under {@linkcode SPILL_ROOT}. */
  spillDir: string;
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
  /** Lifecycle mode, detected from the environment. */
  mode: LifecycleMode;
  /** Why that mode (the variables that decided it). */
  modeReason: string;
  /** Managed instances: oldest age of a buffered event before a flush starts. */
  flushIntervalMs: number;
  /** Managed instances: most PutRecords flushes running at once. */
  maxInFlight: number;
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
const COMPRESSIONS: readonly Compression[] = ["none", "gzip", "zstd"];
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

/**
 * The only folder the extension may write (its Deno permissions say so):
 * in Lambda's `/tmp`, which is ephemeral storage, not function memory.
 */
export const SPILL_ROOT = "/tmp/kinesis-telemetry";
/**
 * Default disk overflow: an eighth of Lambda's default 512 MB `/tmp`, the
 * rest is the function's.
 */
export const DEFAULT_SPILL_BYTES = 64 * MIB;
// A segment may not start with a dot, so `.` and `..` cannot climb out.
const SPILL_DIR = new RegExp(
  `^${SPILL_ROOT.replaceAll(".", "\\.")}(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$`,
);

/** Reads one variable; a function so tests pass a plain object. */
export type EnvReader = (name: string) => string | undefined;

/** `AWS_LAMBDA_INITIALIZATION_TYPE` on Lambda Managed Instances. */
export const MANAGED_INSTANCES_INIT_TYPE = "lambda-managed-instances";

/** Telemetry API buffering timeout on Lambda Managed Instances, in ms. */
export const MANAGED_BUFFER_TIMEOUT_MS = 250;
/** The only Telemetry API schema Lambda Managed Instances accepts. */
export const MANAGED_INSTANCES_SCHEMA: SchemaVersion = "2025-01-29";

/**
 * Detects Lambda Managed Instances from what Lambda sets there:
 * `AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`, or
 * `AWS_LAMBDA_MAX_CONCURRENCY` (set only there, and by AWS's emulator in its
 * LMI mode). Needed before registration, which differs between the modes,
 * so it reads nothing that could make the configuration invalid.
 */
export function detectMode(env: EnvReader): ModeDetection {
  const initType = env("AWS_LAMBDA_INITIALIZATION_TYPE")?.trim();
  const concurrency = env("AWS_LAMBDA_MAX_CONCURRENCY")?.trim();
  const reasons: string[] = [];
  if (initType === MANAGED_INSTANCES_INIT_TYPE) {
    reasons.push(`AWS_LAMBDA_INITIALIZATION_TYPE=${initType}`);
  }
  if (concurrency) reasons.push(`AWS_LAMBDA_MAX_CONCURRENCY=${concurrency}`);
  if (reasons.length > 0) {
    return { mode: "managed-instances", reason: reasons.join(", ") };
  }
  return {
    mode: "on-demand",
    reason: `AWS_LAMBDA_INITIALIZATION_TYPE=${
      initType || "unset"
    }, AWS_LAMBDA_MAX_CONCURRENCY unset`,
  };
}

/**
 * Parses and validates the configuration. The buffer's default bound comes
 * from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, and a bound that the function's
 * memory or the V8 heap (`heapLimitBytes`, when known) cannot hold is
 * refused (extension/memory_budget.ts).
 *
 * @throws {ConfigError} naming the first variable that is missing or invalid.
 */
export function parseConfig(
  env: EnvReader,
  heapLimitBytes?: number,
): Config {
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

  const managedInstances = detectMode(env).mode === "managed-instances";
  const buffering: BufferingConfig = {
    maxItems: integer("BUFFER_MAX_ITEMS", 1000, 1000, 10_000),
    maxBytes: integer("BUFFER_MAX_BYTES", 262_144, 262_144, 1_048_576),
    // On a managed instance the platform keeps one batch in flight and drops
    // a batch that comes due while the previous one is unanswered (AWS's
    // emulator), so the listener gets a longer window to answer there.
    timeoutMs: integer(
      "BUFFER_TIMEOUT_MS",
      managedInstances ? MANAGED_BUFFER_TIMEOUT_MS : 100,
      25,
      30_000,
    ),
  };
  const maxBodyBytes = 4 * buffering.maxBytes;
  const maxRecordBytes = integer(
    "MAX_RECORD_BYTES",
    KINESIS_LIMITS.defaultMaxRecordBytes,
    64 * 1024,
    KINESIS_LIMITS.largestMaxRecordBytes,
  );
  const memoryMB = functionMemoryMB(read("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
  const maxBufferBytes = integer(
    "MAX_BUFFER_BYTES",
    Math.max(
      memoryMB === undefined ? 8 * MIB : bufferBoundsFor(memoryMB).defaultBytes,
      maxBodyBytes,
    ),
    1 * MIB,
    512 * MIB,
  );
  const misfit = bufferMisfit(maxBufferBytes, memoryMB, heapLimitBytes);
  if (misfit) {
    throw new ConfigError(`${ENV_PREFIX}MAX_BUFFER_BYTES`, misfit);
  }
  if (maxBufferBytes < maxBodyBytes) {
    throw new ConfigError(
      `${ENV_PREFIX}MAX_BUFFER_BYTES`,
      `${maxBufferBytes} is smaller than one Telemetry API delivery can be (${maxBodyBytes} = 4 × ${ENV_PREFIX}BUFFER_MAX_BYTES)`,
    );
  }

  const maxSpillBytes = integer(
    "SPILL_BYTES",
    DEFAULT_SPILL_BYTES,
    0,
    8 * 1024 * MIB,
  );
  const spillDir = read(`${ENV_PREFIX}SPILL_DIR`) ?? `${SPILL_ROOT}/spill`;
  if (!SPILL_DIR.test(spillDir)) {
    throw new ConfigError(
      `${ENV_PREFIX}SPILL_DIR`,
      `"${spillDir}" is not a folder under ${SPILL_ROOT}/ (the only place the extension may write)`,
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

  const detected = detectMode(env);
  const schemaVersion = choice(
    "SCHEMA_VERSION",
    detected.mode === "managed-instances"
      ? MANAGED_INSTANCES_SCHEMA
      : "2022-12-13",
    SCHEMA_VERSIONS,
  );
  if (
    detected.mode === "managed-instances" &&
    schemaVersion !== MANAGED_INSTANCES_SCHEMA
  ) {
    throw new ConfigError(
      `${ENV_PREFIX}SCHEMA_VERSION`,
      `${schemaVersion} is refused on Lambda Managed Instances (${detected.reason}): use ${MANAGED_INSTANCES_SCHEMA} or leave it unset`,
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
    schemaVersion,
    buffering,
    listenerPort,
    listenerHost,
    maxBodyBytes,
    format: choice("FORMAT", "kpl", FORMATS),
    compression: choice("COMPRESSION", "none", COMPRESSIONS),
    partitionKey: choice("PARTITION_KEY", "requestId", PARTITION_KEYS),
    maxRecordBytes,
    maxBufferBytes,
    maxSpillBytes,
    spillDir,
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
    // A managed instance keeps running dozens of invocations beside the
    // extension, so its event loop lags more: more time kept free there.
    shutdownMarginMs: integer(
      "SHUTDOWN_MARGIN_MS",
      detected.mode === "managed-instances" ? 300 : 150,
      50,
      1_500,
    ),
    requestTimeoutMs: integer("REQUEST_TIMEOUT_MS", 5_000, 100, 60_000),
    mode: detected.mode,
    modeReason: detected.reason,
    flushIntervalMs: integer("FLUSH_INTERVAL_MS", 250, 10, 60_000),
    maxInFlight: integer("MAX_IN_FLIGHT", 3, 1, 16),
  };
}
