/**
 * The extension's start-up sequence and shutdown accounting, with every
 * dependency passed in: register, read the configuration (errors go to
 * `/init/error`), start the listener, subscribe, run the lifecycle loop,
 * then close the listener and write the summary.
 *
 * @module
 */
import { EventBuffer, type SpillEvents } from "./buffer.ts";
import {
  type Config,
  ConfigError,
  detectMode,
  ENV_PREFIX,
  type EnvReader,
  type LogLevel,
  parseConfig,
} from "./config.ts";
import { compressionPlan, loadCompressor } from "./compression.ts";
import { createEnvelopeEncoder, newEnvironmentId } from "./encoder.ts";
import {
  ExtensionsApiClient,
  REGISTERED_EVENTS,
  type Registration,
} from "./extensions_api.ts";
import { Flusher, type FlusherOptions } from "./flusher.ts";
import type { KinesisPutter } from "./kinesis_client.ts";
import { runLifecycle } from "./lifecycle.ts";
import { BackgroundShipper, runManagedLifecycle } from "./managed_lifecycle.ts";
import { createTelemetryHandler } from "./listener.ts";
import { createLogger, type LineSink, type Logger } from "./log.ts";
import {
  InvocationProgress,
  realTimers,
  startupTimers,
  type Timers,
} from "./progress.ts";
import { DEFAULT_RETRY_POLICY } from "./sender.ts";
import { type SpillFiles, SpillStore } from "./spill.ts";
import { Stats } from "./stats.ts";
import { subscribe } from "./telemetry_api.ts";
import { type BufferedEvent, RECORD_OVERHEAD_BYTES } from "./types.ts";

/** A running HTTP server, as far as the extension needs one. */
export interface ListeningServer {
  /** The bound port. */
  port: number;
  /** Stops accepting and waits for open requests to finish. */
  shutdown(): Promise<void>;
}

/** Starts the telemetry listener; `Deno.serve` in production. */
export type ServeFunction = (
  port: number,
  handler: (request: Request) => Promise<Response>,
  hostname: string,
) => ListeningServer;

/** Everything the extension takes from its surroundings. */
export interface ExtensionDeps {
  /** Environment variables. */
  env: EnvReader;
  /** Extension name registered with Lambda. */
  extensionName: string;
  /** `fetch` for the Extensions and Telemetry APIs. */
  fetch?: typeof fetch;
  /** Builds the Kinesis client from the validated configuration. */
  createPutter: (config: Config) => KinesisPutter;
  /** Starts the listener. */
  serve: ServeFunction;
  /** Log line sink (stderr). */
  logSink?: LineSink;
  /** Wall clock. */
  now?: () => number;
  /** Timers. */
  timers?: Timers;
  /** Jitter source. */
  random?: () => number;
  /** Aborted by SIGTERM/SIGINT. */
  stop?: AbortSignal;
  /** Environment id; random by default. */
  environmentId?: string;
  /**
   * Looks up the process's V8 heap limit (bytes), that a buffer bound the
   * user chose must fit. Asked only when `KINESIS_TELEMETRY_MAX_BUFFER_BYTES`
   * is set: the default bound fits any heap the extension starts with, and
   * the lookup (`node:v8`) costs a few ms of init.
   */
  heapLimitBytes?: () => number | Promise<number>;
  /** Names this process's spill folder; `Deno.pid` by default. */
  processId?: number;
  /** File operations of the spill store (tests pass failing ones). */
  spillFiles?: SpillFiles;
}

/** Subscription attempts before init fails (Lambda's init budget is 10 s). */
const SUBSCRIBE_ATTEMPTS = 3;
/** Longest wait for open listener requests at exit. */
const LISTENER_CLOSE_MS = 100;
/** Delay before loading the Kinesis client: time for the first /event/next to be sent. */
const PRELOAD_DELAY_MS = 20;

/** Runs the extension to its end and returns the process exit code. */
export async function runExtension(deps: ExtensionDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  const timers = deps.timers ?? realTimers;
  const preloadTimers = deps.timers ?? startupTimers;
  const earlyLevel = (deps.env("KINESIS_TELEMETRY_LOG_LEVEL") ?? "info")
    .toLowerCase();
  let logger = createLogger(
    isLogLevel(earlyLevel) ? earlyLevel : "info",
    deps.logSink,
    now,
  );
  const runtimeApi = deps.env("AWS_LAMBDA_RUNTIME_API");
  if (!runtimeApi) {
    logger.error("AWS_LAMBDA_RUNTIME_API is not set: not running in Lambda");
    return 1;
  }
  const api = new ExtensionsApiClient({
    runtimeApi,
    extensionName: deps.extensionName,
    fetch: deps.fetch,
  });

  let registration: Registration;
  try {
    // Lambda Managed Instances refuse any registration but SHUTDOWN, so the
    // mode is known before the rest of the configuration is read.
    registration = await api.register(
      REGISTERED_EVENTS[detectMode(deps.env).mode],
    );
  } catch (error) {
    logger.error("registration failed", { error });
    await api.initError("Extension.RegisterFailed", String(error)).catch(
      () => {},
    );
    return 1;
  }

  let config: Config;
  try {
    const boundChosen = deps.env(`${ENV_PREFIX}MAX_BUFFER_BYTES`)?.trim();
    const heapLimitBytes = boundChosen
      ? await deps.heapLimitBytes?.()
      : undefined;
    config = parseConfig(deps.env, heapLimitBytes);
  } catch (error) {
    const message = error instanceof ConfigError
      ? error.message
      : String(error);
    logger.error("invalid configuration", { error: message });
    await api.initError("Extension.ConfigInvalid", message).catch(() => {});
    return 1;
  }
  logger = createLogger(config.logLevel, deps.logSink, now);

  const stats = new Stats();
  const buffer = new EventBuffer(
    config.maxBufferBytes,
    openSpill(config, deps, logger),
    spillReporting(stats, logger),
  );
  const progress = new InvocationProgress(timers);
  const ownLogEvents = new WeakSet<BufferedEvent>();
  const compression = compressionPlan(
    config.format,
    await loadCompressor(config.compression),
  );
  const encoder = createEnvelopeEncoder({
    context: {
      functionName: registration.functionName ||
        (deps.env("AWS_LAMBDA_FUNCTION_NAME") ?? ""),
      functionVersion: registration.functionVersion ||
        (deps.env("AWS_LAMBDA_FUNCTION_VERSION") ?? ""),
      region: config.region,
      accountId: registration.accountId,
      environmentId: deps.environmentId ?? newEnvironmentId(),
    },
    partitionKey: config.partitionKey,
    maxEnvelopeBytes: config.maxRecordBytes - RECORD_OVERHEAD_BYTES,
    compress: compression.perEvent,
  });

  let server: ListeningServer;
  try {
    const handler = createTelemetryHandler({
      buffer,
      encode: encoder,
      stats,
      logger,
      progress,
      maxBodyBytes: config.maxBodyBytes,
      excludeTypes: config.excludeTypes,
      ownLogEvents,
      now,
    });
    server = deps.serve(
      config.listenerPort,
      // Each delivery is noted in progress: the lifecycle waits for them
      // (runtimeDone of a heavy invocation, the last lines at SHUTDOWN).
      async (request) => {
        progress.deliveryStarted(now());
        let status = 500;
        try {
          const response = await handler(request);
          status = response.status;
          return response;
        } finally {
          progress.deliveryEnded(now(), status === 200);
        }
      },
      config.listenerHost,
    );
  } catch (error) {
    const message = `listener could not start on port ${config.listenerPort}: ${
      (error as Error)?.message ?? error
    }`;
    logger.error(message);
    await api.initError("Extension.ListenerFailed", message).catch(() => {});
    return 1;
  }

  const managed = config.mode === "managed-instances";
  const putter = deps.createPutter(config);
  if (managed) {
    // Nothing freezes a managed instance: telemetry arrives as soon as the
    // subscription is made, and loading the SDK holds the event loop for
    // hundreds of ms. A delivery answered that late makes the platform drop
    // the next one (AWS's emulator: "previous batch hasn't processed yet",
    // then platform.logsDropped), so the SDK loads here, during init.
    await putter.prepare().catch((error) =>
      logger.warn("Kinesis client could not be prepared", { error })
    );
  }
  const subscribed = await subscribeWithRetry(
    config,
    runtimeApi,
    registration.identifier,
    server.port,
    deps.fetch,
    timers,
    logger,
  );
  if (subscribed !== true) {
    await api.initError("Extension.SubscribeFailed", subscribed).catch(
      () => {},
    );
    await closeServer(server, timers);
    return 1;
  }
  logger.info("ready", {
    stream: config.streamArn ?? config.streamName,
    format: config.format,
    mode: config.mode,
    modeReason: config.modeReason,
    ...(managed
      ? {
        flush: "background",
        flushIntervalMs: config.flushIntervalMs,
        maxInFlight: config.maxInFlight,
      }
      : { flush: config.flush }),
    schemaVersion: config.schemaVersion,
    port: server.port,
    types: config.types,
  });

  let preload: unknown;
  const flusherOptions: Omit<FlusherOptions, "buffer"> = {
    format: config.format,
    maxRecordBytes: config.maxRecordBytes,
    compress: compression.perRecord,
    stats,
    logger,
    ownLogEvents,
    send: {
      putter,
      now,
      timers,
      random: deps.random ?? Math.random,
      policy: {
        ...DEFAULT_RETRY_POLICY,
        requestTimeoutMs: config.requestTimeoutMs,
      },
    },
  };
  const flusher = new Flusher({ buffer, ...flusherOptions });
  const shipper = managed
    ? new BackgroundShipper({
      buffer,
      flusher: flusherOptions,
      config,
      logger,
    })
    : undefined;

  // The SHUTDOWN deadline, once known: closing the listener must end by it.
  let exitBy: number | undefined;
  let result;
  try {
    // The SDK loads after the first /event/next call went out, so it costs
    // nothing of Lambda's init phase and the first flush does not pay it.
    preload = preloadTimers.setTimeout(() => {
      putter.prepare().catch((error) =>
        logger.warn("Kinesis client could not be prepared", { error })
      );
    }, PRELOAD_DELAY_MS);
    const lifecycleApi = {
      next: async (signal?: AbortSignal) => {
        const event = await api.next(signal);
        if (event.eventType === "SHUTDOWN") exitBy = event.deadlineMs;
        return event;
      },
      exitError: (errorType: string, message: string) =>
        api.exitError(errorType, message),
    };
    const common = {
      api: lifecycleApi,
      stats,
      logger,
      config,
      now,
      timers,
      stop: deps.stop,
    };
    // One policy per mode, chosen once: the loops share the pipeline only.
    result = shipper
      ? await runManagedLifecycle({ ...common, shipper })
      : await runLifecycle({
        ...common,
        buffer,
        flusher,
        progress,
        beforeNext: () => putter.releaseConnections?.(),
      });
  } catch (error) {
    logger.error("lifecycle failed", { error });
    await api.exitError("Extension.Crash", String(error)).catch(() => {});
    result = { exitCode: 1, reason: String(error) };
  }

  preloadTimers.clearTimeout(preload);
  // Closed before counting, so no event is accepted after the summary.
  await closeServer(
    server,
    timers,
    exitBy === undefined
      ? LISTENER_CLOSE_MS
      : Math.max(0, Math.min(LISTENER_CLOSE_MS, exitBy - now())),
  );
  // A request still carried (the loop failed before its shutdown flush)
  // goes back to the buffer as undelivered, so its events are counted.
  flusher.carried.abortAll();
  // Spilled events were never sent: no copies of them can be in the stream.
  const spilledLeft = buffer.discardSpilled();
  if (buffer.length > 0 || spilledLeft > 0) {
    // An event dropped now may still be in the stream as often as requests
    // of unknown outcome carried it: all but one of those are extra copies.
    const left = buffer.takeAll();
    for (const event of left) {
      stats.possibleDuplicates += Math.max(0, (event.unknownSends ?? 0) - 1);
    }
    stats.drop(
      (shipper ?? flusher).lastOutcome?.lastError?.blocksStream
        ? "kinesis_rejected"
        : "shutdown_deadline",
      left.length + spilledLeft,
    );
  }
  logger.info("summary", {
    ...stats.summary(0),
    reason: result.reason,
  });
  return result.exitCode;
}

async function subscribeWithRetry(
  config: Config,
  runtimeApi: string,
  identifier: string,
  port: number,
  fetchFn: typeof fetch | undefined,
  timers: Timers,
  logger: Logger,
): Promise<true | string> {
  let lastError = "";
  for (let attempt = 1; attempt <= SUBSCRIBE_ATTEMPTS; attempt++) {
    try {
      const outcome = await subscribe({
        runtimeApi,
        identifier,
        types: config.types,
        schemaVersion: config.schemaVersion,
        buffering: config.buffering,
        port,
        fetch: fetchFn,
      });
      if (outcome.unsupported) {
        // Not an init failure: the function must still run where a local
        // emulator has no Telemetry API, but nothing will be shipped there.
        logger.warn(
          "telemetry subscription accepted without a Telemetry API: no events will arrive",
          { errorType: outcome.unsupported },
        );
      }
      return true;
    } catch (error) {
      lastError = (error as Error)?.message ?? String(error);
      const status = (error as { status?: number }).status ?? 0;
      logger.warn("telemetry subscription failed", {
        attempt,
        error: lastError,
      });
      // A 4xx is a refusal that a retry cannot change.
      if (status >= 400 && status < 500) break;
      if (attempt < SUBSCRIBE_ATTEMPTS) {
        await new Promise((resolve) =>
          timers.setTimeout(() => resolve(undefined), 100 * attempt)
        );
      }
    }
  }
  return lastError;
}

async function closeServer(
  server: ListeningServer,
  timers: Timers,
  waitMs = LISTENER_CLOSE_MS,
): Promise<void> {
  let timer: unknown;
  await Promise.race([
    server.shutdown().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = timers.setTimeout(resolve, waitMs);
    }),
  ]);
  timers.clearTimeout(timer);
}

function isLogLevel(value: string): value is LogLevel {
  return ["error", "warn", "info", "debug"].includes(value);
}

/**
 * The disk overflow of the buffer, when configured and its folder can be
 * made; without it a full buffer refuses deliveries, as before.
 */
function openSpill(
  config: Config,
  deps: ExtensionDeps,
  logger: Logger,
): SpillStore | undefined {
  if (config.maxSpillBytes === 0) return undefined;
  const dir = `${config.spillDir}/${deps.processId ?? Deno.pid}`;
  try {
    return new SpillStore({
      dir,
      maxBytes: config.maxSpillBytes,
      files: deps.spillFiles,
    });
  } catch (error) {
    logger.warn("no disk overflow: a full buffer refuses deliveries", {
      dir,
      error,
    });
    return undefined;
  }
}

/** Counts and logs what the buffer's spill store does. */
function spillReporting(stats: Stats, logger: Logger): SpillEvents {
  return {
    onSpilled: (events, first) => {
      stats.spilled += events;
      if (first) {
        logger.warn("buffer full: deliveries go to disk until it drains", {
          events,
        });
      }
    },
    onLost: (events, error) => {
      stats.drop("spill_lost", events);
      logger.error("spilled events could not be read back", { events, error });
    },
    onFailed: (error) => {
      logger.warn("disk overflow failed: a full buffer refuses deliveries", {
        error,
      });
    },
  };
}
