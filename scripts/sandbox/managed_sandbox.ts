/**
 * A local Lambda Managed Instances (LMI) execution environment: the same
 * APIs, processes and telemetry delivery as {@linkcode startSandbox}, with
 * what differs on a managed instance:
 *
 * - `maxConcurrency` invocations run at once (`AWS_LAMBDA_MAX_CONCURRENCY`),
 *   and nothing freezes between or during them;
 * - external extensions may register for `SHUTDOWN` only: anything else is
 *   refused with 403 `Extension.InvalidEventType`, as AWS's Runtime Interface
 *   Emulator refuses it in LMI mode;
 * - the Telemetry API accepts schema `2025-01-29` only, and events have its
 *   shapes (`lambda-managed-instances` init, reports with `durationMs` only);
 * - an invocation has `platform.start` and `platform.report` only (no
 *   `platform.runtimeDone`), SHUTDOWN's reason is `spindown` (lower case);
 * - no invocation queue: with no runtime worker waiting on `/next`, an
 *   invocation is refused with {@linkcode RuntimeUnavailableError} (AWS's
 *   400 `Runtime.Unavailable`); `invokeWhenTaken` sends it again, as the
 *   conformance run does (`queueInvocations` restores a queue);
 * - function logs are JSON (`AWS_LAMBDA_LOG_FORMAT`), yet each record is the
 *   line as written, a string, as AWS's emulator sends it; the environment
 *   says `AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances`.
 *
 * ```ts
 * await using sandbox = await startManagedSandbox({ fn, extensions: [spec], maxConcurrency: 64 });
 * await Promise.all(payloads.map((payload) => sandbox.invokeWhenTaken(payload)));
 * await sandbox.shutdown();
 * ```
 *
 * @module
 */
import { createApiHandler, type LambdaPlatform } from "./api_server.ts";
import {
  type ManagedProcess,
  type ProcessExit,
  startProcess,
} from "./child_process.ts";
import {
  apiError,
  type ExtensionErrorReport,
  ExtensionHost,
  initStepError,
} from "./extension_host.ts";
import { lambdaEnvironment, runtimeLaunch } from "./lambda_env.ts";
import {
  MANAGED_INIT_TYPE,
  managedInitPhaseRecord,
  managedInitStartRecord,
  managedReportRecord,
  managedStartRecord,
} from "./managed_platform_events.ts";
import { BusyListenerGate } from "./managed_delivery_gate.ts";
import { ConcurrentRuntimeHost } from "./managed_runtime_host.ts";
import type { PlatformStatus } from "./platform_events.ts";
import type {
  ExtensionExitReport,
  FunctionSpec,
  LogLine,
  ShutdownReport,
} from "./sandbox.ts";
import {
  DEFAULT_DELIVERY_POLICY,
  type DeliveryPolicy,
  type EmittedEvent,
} from "./telemetry_delivery.ts";
import { TelemetryHub } from "./telemetry_hub.ts";
import { parseSubscription } from "./subscription.ts";
import { delay, settleWithin, withTimeout } from "./timing.ts";
import type { ExtensionSpec } from "./extension_host.ts";

/** The only Telemetry API schema accepted on Lambda Managed Instances. */
export const MANAGED_SCHEMA_VERSION = "2025-01-29";

/**
 * SHUTDOWN reasons on a managed instance: lower case, as AWS's emulator
 * sends `spindown` in LMI mode (ordinary functions get `SPINDOWN`).
 */
export type ManagedShutdownReason = "spindown" | "timeout" | "failure";

/**
 * Delivery on a managed instance, as AWS's emulator does it in LMI mode: one
 * attempt per batch, so a listener answer >= 400 or a transport error drops
 * the batch (and a `platform.logsDropped` tells of it), no retry.
 */
export const MANAGED_DELIVERY_POLICY: DeliveryPolicy = {
  ...DEFAULT_DELIVERY_POLICY,
  maxAttempts: 1,
};

/**
 * The `Sequence-Id` header of a telemetry POST on a managed instance: the
 * base64 SHA-256 of the body, as AWS's emulator sends it in LMI mode.
 */
export async function sequenceId(body: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(body),
  );
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** Settings of a managed-instances sandbox. */
export interface ManagedSandboxOptions {
  /** The function (the Node.js runtime: it runs invocations concurrently). */
  fn: FunctionSpec;
  /** External extensions, started in order. */
  extensions?: ExtensionSpec[];
  /** Invocations at once (`AWS_LAMBDA_MAX_CONCURRENCY`, 64). */
  maxConcurrency?: number;
  /** Function name (`sandbox-function`). */
  functionName?: string;
  /** Function version (`1`: LMI runs published versions). */
  functionVersion?: string;
  /** Memory of the execution environment in MB (2,048). */
  memorySizeMB?: number;
  /** Region (`us-east-1`). */
  region?: string;
  /** Account id given to extensions that accept the `accountId` feature. */
  accountId?: string;
  /** Function timeout per invocation (30 s). */
  timeoutMs?: number;
  /** Init budget (10 s here; LMI allows up to 130 s). */
  initTimeoutMs?: number;
  /** Shutdown budget with external extensions (2 s). */
  shutdownBudgetMs?: number;
  /**
   * Telemetry delivery retry policy: {@linkcode MANAGED_DELIVERY_POLICY}
   * (one attempt, as AWS's emulator in LMI mode) unless told.
   */
  delivery?: DeliveryPolicy;
  /**
   * Queue invocations beyond the waiting workers (and beyond
   * `maxConcurrency`) instead of refusing them (false: AWS's emulator in LMI
   * mode has no queue).
   */
  queueInvocations?: boolean;
  /**
   * Drop a telemetry batch that became ready while the previous one was
   * unanswered, as AWS's emulator does in LMI mode (true; see
   * `managed_delivery_gate.ts`). False sends it after the previous one.
   */
  dropWhileBusy?: boolean;
  /** Called for every output line of every process, as it arrives. */
  onLog?(line: LogLine): void;
}

/**
 * An invocation refused because no runtime worker was waiting on `/next`:
 * AWS's emulator answers 400 `{"errorType":"Runtime.Unavailable"}` then.
 */
export class RuntimeUnavailableError extends Error {
  /** The error type AWS's emulator answers with. */
  readonly errorType = "Runtime.Unavailable";

  /** Creates the error. */
  constructor() {
    super(
      "Runtime.Unavailable: no runtime worker is waiting for an invocation",
    );
    this.name = "RuntimeUnavailableError";
  }
}

/** What one invocation on a managed instance did. */
export interface ManagedInvocationRecord {
  /** Request id. */
  requestId: string;
  /** `success` or `error`. */
  status: PlatformStatus;
  /** The response body as text. */
  response: string;
  /** Epoch ms when it was handed out. */
  startedAt: number;
  /** Handed out → runtime response (the report's durationMs). */
  durationMs: number;
  /** Invocations running at the moment it was handed out (itself included). */
  concurrent: number;
}

/** A running managed-instances sandbox. */
export interface ManagedSandbox {
  /** `127.0.0.1:<port>`, as `AWS_LAMBDA_RUNTIME_API`. */
  readonly runtimeApi: string;
  /** Invocations at once. */
  readonly maxConcurrency: number;
  /** Init phase duration. */
  readonly initDurationMs: number;
  /** Every telemetry event emitted, in order, with what became of it. */
  readonly events: readonly EmittedEvent[];
  /** Every finished invocation. */
  readonly invocations: readonly ManagedInvocationRecord[];
  /** Every output line of the extensions. */
  readonly extensionLog: readonly LogLine[];
  /** Every output line of the function runtime. */
  readonly functionLog: readonly LogLine[];
  /** Errors extensions reported with /init/error or /exit/error. */
  readonly extensionErrors: readonly ExtensionErrorReport[];
  /** Invocations refused with `Runtime.Unavailable` so far. */
  readonly refusedInvocations: number;
  /** Telemetry batches dropped because the previous one was still unanswered. */
  readonly batchesDroppedWhileBusy: number;
  /**
   * Runs one invocation; rejects with {@linkcode RuntimeUnavailableError}
   * when no runtime worker waits (with `queueInvocations`: up to
   * `maxConcurrency` run at once, more wait for a free slot).
   */
  invoke(payload: unknown): Promise<ManagedInvocationRecord>;
  /**
   * `invoke`, sent again (under a new request id) while it is refused with
   * `Runtime.Unavailable`, for up to the function timeout.
   */
  invokeWhenTaken(payload: unknown): Promise<ManagedInvocationRecord>;
  /** Sends SHUTDOWN (reason `spindown` unless told) and ends every process by the deadline. */
  shutdown(reason?: ManagedShutdownReason): Promise<ShutdownReport>;
  /** Kills whatever still runs and closes the server. Idempotent. */
  stop(): Promise<void>;
  /** Same as `stop`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a managed-instances sandbox and runs its init; rejects (after cleaning up) when init fails. */
export async function startManagedSandbox(
  options: ManagedSandboxOptions,
): Promise<ManagedSandbox> {
  if (options.fn.runtime !== "node") {
    throw new Error(
      "the managed-instances sandbox runs the node runtime (its client runs invocations concurrently)",
    );
  }
  const environment = new ManagedEnvironment(options);
  try {
    await environment.init();
  } catch (error) {
    await environment.stop();
    throw error;
  }
  return environment;
}

type Phase = "init" | "ready" | "shutdown" | "ended";

/** Registration on a managed instance: SHUTDOWN only, as AWS's emulator enforces. */
export function managedRegistrationRefusal(body: unknown) {
  const events = (body as { events?: unknown } | undefined)?.events;
  if (!Array.isArray(events)) return null;
  const refused = events.find((event) => event !== "SHUTDOWN");
  if (refused === undefined) return null;
  return apiError(
    403,
    "Extension.InvalidEventType",
    `${String(refused)}: ErrorInvalidEventType`,
  );
}

/** A subscription on a managed instance: schema 2025-01-29 only. */
export function managedSubscriptionRefusal(body: unknown) {
  const schemaVersion = (body as { schemaVersion?: unknown } | undefined)
    ?.schemaVersion;
  if (schemaVersion === MANAGED_SCHEMA_VERSION) return null;
  return apiError(
    400,
    "ValidationError",
    `schemaVersion must be ${MANAGED_SCHEMA_VERSION} on Lambda Managed Instances (got ${
      JSON.stringify(schemaVersion)
    })`,
  );
}

/**
 * Buffering defaults of a subscription on a managed instance, as AWS's
 * emulator applies them in LMI mode: 10,000 items (ordinary functions get
 * 1,000), 262,144 bytes, 1,000 ms; the ranges are the same as elsewhere.
 */
export const MANAGED_BUFFERING_DEFAULTS = {
  maxItems: 10_000,
  maxBytes: 262_144,
  timeoutMs: 1_000,
} as const;

/** The subscription body with LMI's buffering defaults for what it leaves out. */
export function withManagedBufferingDefaults(body: unknown): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return body;
  }
  const buffering = (body as { buffering?: unknown }).buffering ?? {};
  if (
    typeof buffering !== "object" || buffering === null ||
    Array.isArray(buffering)
  ) {
    return body;
  }
  return {
    ...body,
    buffering: { ...MANAGED_BUFFERING_DEFAULTS, ...buffering },
  };
}

class ManagedEnvironment implements ManagedSandbox, LambdaPlatform {
  readonly invocations: ManagedInvocationRecord[] = [];
  readonly extensionLog: LogLine[] = [];
  readonly functionLog: LogLine[] = [];
  readonly maxConcurrency: number;
  initDurationMs = 0;
  refusedInvocations = 0;

  readonly #options: ManagedSandboxOptions;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #httpClient: Deno.HttpClient;
  readonly #hub: TelemetryHub;
  readonly #gate = new BusyListenerGate();
  /** Identifiers of the extensions that subscribed (once each on LMI). */
  readonly #subscribed = new Set<string>();
  readonly #extensions: ExtensionHost;
  readonly #runtimeHost: ConcurrentRuntimeHost;
  readonly #initFailure = Promise.withResolvers<never>();
  readonly #fnName: string;
  readonly #fnVersion: string;
  readonly #region: string;
  readonly #accountId: string;
  #runtime: ManagedProcess | null = null;
  #phase: Phase = "init";
  #stopping: Promise<void> | null = null;
  #slots: Array<() => void> = [];
  #active = 0;
  #exitWatch: Promise<never> | null = null;

  constructor(options: ManagedSandboxOptions) {
    this.#options = options;
    this.maxConcurrency = options.maxConcurrency ?? 64;
    this.#fnName = options.functionName ?? "sandbox-function";
    this.#fnVersion = options.functionVersion ?? "1";
    this.#region = options.region ?? "us-east-1";
    this.#accountId = options.accountId ?? "123456789012";
    const onInitError = (message: string) => {
      if (this.#phase === "init") this.#initFailure.reject(new Error(message));
    };
    this.#initFailure.promise.catch(() => {});
    this.#httpClient = Deno.createHttpClient({});
    const post: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      if (typeof init?.body === "string") {
        headers.set("Sequence-Id", await sequenceId(init.body));
      }
      return fetch(input, { ...init, headers, client: this.#httpClient });
    };
    this.#hub = new TelemetryHub({
      policy: options.delivery ?? MANAGED_DELIVERY_POLICY,
      fetch: options.dropWhileBusy === false ? post : this.#gate.wrap(post),
    });
    this.#extensions = new ExtensionHost(options.extensions ?? [], {
      functionName: this.#fnName,
      functionVersion: this.#fnVersion,
      handler: options.fn.handler,
      accountId: this.#accountId,
      hub: this.#hub,
      acceptsRegistration: () => this.#phase === "init",
      onInitError,
    });
    this.#runtimeHost = new ConcurrentRuntimeHost(onInitError);
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createApiHandler(this),
    );
  }

  get runtimeApi(): string {
    return `127.0.0.1:${this.#server.addr.port}`;
  }

  get batchesDroppedWhileBusy(): number {
    return this.#gate.dropped;
  }

  get events(): readonly EmittedEvent[] {
    return this.#hub.events;
  }

  get extensionErrors(): readonly ExtensionErrorReport[] {
    return this.#extensions.errors;
  }

  async init(): Promise<void> {
    const started = performance.now();
    const budget = this.#options.initTimeoutMs ?? 10_000;
    const remaining = () => Math.max(1, budget - (performance.now() - started));
    const { fn } = this.#options;
    if (fn.runtime === "java") {
      // The LMI mode runs its functions through the sandbox's own clients,
      // which serve several invocations at once; there is none for Java.
      throw new Error("the Managed Instances sandbox runs node or python");
    }
    const launch = runtimeLaunch(fn.runtime, fn.taskRoot, fn.handler);
    const memorySizeMB = this.#options.memorySizeMB ?? 2_048;
    this.#hub.emit(
      "platform.initStart",
      managedInitStartRecord({
        functionName: this.#fnName,
        functionVersion: this.#fnVersion,
        runtimeVersion: launch.runtimeVersion,
        instanceId: crypto.randomUUID(),
        instanceMaxMemoryBytes: memorySizeMB * 1024 * 1024,
      }),
    );
    const baseEnv = {
      ...lambdaEnvironment(this.runtimeApi, {
        name: this.#fnName,
        version: this.#fnVersion,
        memorySizeMB,
        region: this.#region,
        accountId: this.#accountId,
        logFormat: "JSON",
        credentials: {
          accessKeyId: "AKIDLOCALSANDBOX",
          secretAccessKey: "local-sandbox-secret",
        },
        variables: fn.variables ?? {},
      }),
      ...launch.env,
      AWS_LAMBDA_INITIALIZATION_TYPE: MANAGED_INIT_TYPE,
      AWS_LAMBDA_MAX_CONCURRENCY: String(this.maxConcurrency),
      KINESIS_TELEMETRY_LISTENER_HOST: "127.0.0.1",
    };
    for (const extension of this.#extensions.extensions) {
      extension.process = startProcess({
        label: extension.spec.name,
        argv: extension.spec.argv,
        env: { ...baseEnv, ...extension.spec.env },
        cwd: extension.spec.cwd,
        onLine: (line, stream) =>
          this.#onLine(extension.spec.name, line, stream),
      });
    }
    await this.#initStep(
      Promise.all(this.#extensions.extensions.map((e) => e.registered.promise)),
      remaining(),
      () =>
        `extensions did not register: ${
          this.#extensions.unregistered().join(", ")
        }`,
    );
    this.#runtime = startProcess({
      label: "runtime",
      argv: launch.argv,
      env: baseEnv,
      cwd: fn.taskRoot,
      onLine: (line, stream) => this.#onLine("function", line, stream),
    });
    try {
      await this.#initStep(
        this.#runtimeHost.whenWaiting(),
        remaining(),
        () => "the function runtime did not finish its init",
      );
    } catch (error) {
      this.#hub.emit(
        "platform.initRuntimeDone",
        managedInitPhaseRecord("error", { errorType: "Runtime.InitError" }),
      );
      throw error;
    }
    this.#hub.emit(
      "platform.initRuntimeDone",
      managedInitPhaseRecord("success"),
    );
    await this.#initStep(
      this.#extensions.allWaiting(),
      remaining(),
      () => "extensions did not call /event/next after init",
    );
    this.initDurationMs = performance.now() - started;
    this.#hub.emit(
      "platform.initReport",
      managedInitPhaseRecord("success", { durationMs: this.initDurationMs }),
    );
    this.#phase = "ready";
  }

  async #initStep(
    step: Promise<unknown>,
    withinMs: number,
    describe: () => string,
  ): Promise<void> {
    try {
      await withTimeout(
        Promise.race([step, this.#initFailure.promise, this.#anyExit()]),
        withinMs,
        "init step",
      );
    } catch (error) {
      throw initStepError(error, withinMs, describe, this.#extensions.errors);
    }
  }

  async invoke(payload: unknown): Promise<ManagedInvocationRecord> {
    if (this.#phase !== "ready") {
      throw new Error(`cannot invoke: the sandbox is ${this.#phase}`);
    }
    if (!this.#options.queueInvocations) {
      // No queue, as on AWS: only a worker waiting on /next takes it.
      if (this.#runtimeHost.waiting === 0) {
        this.refusedInvocations++;
        throw new RuntimeUnavailableError();
      }
    } else if (this.#active >= this.maxConcurrency) {
      // Beyond maxConcurrency an invocation waits for a free slot.
      await new Promise<void>((resolve) => this.#slots.push(resolve));
    }
    this.#active++;
    const concurrent = this.#active;
    const requestId = crypto.randomUUID();
    try {
      const timeoutMs = this.#options.timeoutMs ?? 30_000;
      const traceId = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${
        crypto.randomUUID().replaceAll("-", "").slice(0, 24)
      };Sampled=0`;
      const invokedFunctionArn =
        `arn:aws:lambda:${this.#region}:${this.#accountId}:function:${this.#fnName}:${this.#fnVersion}`;
      this.#hub.emit(
        "platform.start",
        managedStartRecord(requestId, this.#fnVersion, invokedFunctionArn),
      );
      const handedOut = this.#runtimeHost.handOut({
        requestId,
        payload: JSON.stringify(payload ?? {}),
        deadlineMs: Date.now() + timeoutMs,
        invokedFunctionArn,
        traceId,
      });
      const outcome = await withTimeout(
        Promise.race([handedOut.outcome, this.#anyExit()]),
        timeoutMs,
        `invocation ${requestId} timed out`,
      );
      // No platform.runtimeDone on a managed instance: its spans go in the
      // report. No extension holds an invocation here: it ends with the response.
      const durationMs = outcome.respondedAt - handedOut.handedOutAt;
      this.#hub.emit(
        "platform.report",
        managedReportRecord(
          requestId,
          outcome.status,
          durationMs,
          outcome.timings,
          outcome.errorType,
        ),
      );
      const record: ManagedInvocationRecord = {
        requestId,
        status: outcome.status,
        response: outcome.body,
        startedAt: handedOut.startedAt,
        durationMs,
        concurrent,
      };
      this.invocations.push(record);
      return record;
    } finally {
      this.#runtimeHost.finish(requestId);
      this.#active--;
      this.#slots.shift()?.();
    }
  }

  async invokeWhenTaken(payload: unknown): Promise<ManagedInvocationRecord> {
    // A runtime that never polls again (it died) must not keep this forever.
    const giveUpAt = performance.now() + (this.#options.timeoutMs ?? 30_000);
    while (true) {
      try {
        return await this.invoke(payload);
      } catch (error) {
        if (!(error instanceof RuntimeUnavailableError)) throw error;
        if (performance.now() > giveUpAt) throw error;
        // A worker polls again right after its answer: try again shortly.
        await delay(2);
      }
    }
  }

  async shutdown(
    reason: ManagedShutdownReason = "spindown",
  ): Promise<ShutdownReport> {
    if (this.#phase !== "ready") {
      throw new Error(`cannot shut down: the sandbox is ${this.#phase}`);
    }
    if (this.#active > 0) {
      throw new Error(
        `cannot shut down: ${this.#active} invocation(s) still run`,
      );
    }
    this.#phase = "shutdown";
    // The last invocations' lines may still be on their way (Node writes to
    // a pipe asynchronously): read them before SIGTERM can cut them off.
    await this.#quietOutput();
    const budget = this.#options.shutdownBudgetMs ?? 2_000;
    const started = performance.now();
    const deadline = started + budget;
    const deadlineMs = Date.now() + budget;
    const notTold = this.#extensions.send("SHUTDOWN", {
      shutdownReason: reason,
      deadlineMs,
    });
    for (const extension of notTold) extension.process?.signal("SIGKILL");
    const runtime = this.#runtime;
    const sigtermAt = performance.now();
    runtime?.signal("SIGTERM");
    const processes = this.#processes();
    await settleWithin(
      Promise.all(processes.map((process) => process.exited)),
      budget,
      null,
    );
    for (const process of processes) {
      if (!process.exit) process.signal("SIGKILL");
    }
    await withTimeout(
      Promise.all(processes.map((process) => process.exited)),
      5_000,
      "processes did not end after SIGKILL",
    );
    await this.#hub.close();
    this.#phase = "ended";
    const runtimeExit = runtime?.exit;
    return {
      reason,
      // No freeze and no separate runtime window here: the runtime gets
      // SIGTERM together with the extensions' SHUTDOWN.
      runtime: runtimeExit
        ? {
          exitedByItself: runtimeExit.signal !== "SIGKILL",
          exitCode: runtimeExit.code,
          signal: runtimeExit.signal,
          durationMs: runtimeExit.at - sigtermAt,
        }
        : null,
      deadlineMs,
      budgetMs: budget,
      durationMs: performance.now() - started,
      extensions: this.#extensions.extensions.map((extension) =>
        exitReport(
          extension.spec.name,
          extension.process!.exit!,
          started,
          deadline,
        )
      ),
    };
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stopNow();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stopNow(): Promise<void> {
    this.#phase = "ended";
    this.#runtimeHost.close();
    this.#extensions.close();
    const processes = this.#processes();
    for (const process of processes) process.signal("SIGKILL");
    try {
      await withTimeout(
        Promise.all(processes.map((process) => process.exited)),
        5_000,
        "processes did not end after SIGKILL",
      );
    } finally {
      await this.#hub.close();
      await this.#server.shutdown();
      this.#httpClient.close();
    }
  }

  /** Waits until no line arrived for ten turns of 2 ms (at most ~300 ms). */
  async #quietOutput(): Promise<void> {
    let quietTurns = 0;
    for (let turn = 0; turn < 150 && quietTurns < 10; turn++) {
      const seen = this.functionLog.length + this.extensionLog.length;
      await delay(2);
      quietTurns = this.functionLog.length + this.extensionLog.length === seen
        ? quietTurns + 1
        : 0;
    }
  }

  #onLine(source: string, line: string, stream: "stdout" | "stderr"): void {
    const time = new Date();
    const logLine = { source, stream, line, time: time.toISOString() };
    this.#options.onLog?.(logLine);
    if (source === "function") {
      this.functionLog.push(logLine);
      // The record is the line as written, a string, whatever the log
      // format: AWS's emulator does not parse JSON lines in LMI. The
      // runtime's JSON lines carry their own requestId (many invocations
      // interleave).
      this.#hub.emit("function", line);
    } else {
      this.extensionLog.push(logLine);
      this.#hub.emit("extension", line);
    }
  }

  #processes(): ManagedProcess[] {
    const processes = this.#extensions.extensions.flatMap((e) =>
      e.process ? [e.process] : []
    );
    if (this.#runtime) processes.push(this.#runtime);
    return processes;
  }

  /** Rejects when any process ends (none may end before SHUTDOWN); one watcher for all waits. */
  #anyExit(): Promise<never> {
    if (this.#exitWatch && this.#runtime) return this.#exitWatch;
    this.#exitWatch = Promise.race(
      this.#processes().map((process) =>
        process.exited.then((exit) => {
          throw new Error(
            `${process.label} exited (code ${exit.code}${
              exit.signal ? `, ${exit.signal}` : ""
            })`,
          );
        })
      ),
    );
    this.#exitWatch.catch(() => {});
    return this.#exitWatch;
  }

  // ---- the APIs: LMI's rules first, then the shared hosts ----------------------

  nextInvocation = () => this.#runtimeHost.next();
  invocationResponse: LambdaPlatform["invocationResponse"] = (id, body, at) =>
    this.#runtimeHost.respond(id, body, at);
  invocationError: LambdaPlatform["invocationError"] = (id, type, body, at) =>
    this.#runtimeHost.fail(id, type, body, at);
  runtimeInitError: LambdaPlatform["runtimeInitError"] = (type, body) =>
    this.#runtimeHost.initError(type, body);
  registerExtension: LambdaPlatform["registerExtension"] = (
    name,
    features,
    body,
  ) =>
    managedRegistrationRefusal(body) ??
      this.#extensions.register(name, features, body);
  nextExtensionEvent: LambdaPlatform["nextExtensionEvent"] = (id) =>
    this.#extensions.next(id);
  extensionError: LambdaPlatform["extensionError"] = (id, kind, type, body) =>
    this.#extensions.reportError(id, kind, type, body);
  subscribeTelemetry: LambdaPlatform["subscribeTelemetry"] = (id, body) => {
    const refusal = managedSubscriptionRefusal(body);
    if (refusal) return refusal;
    const withDefaults = withManagedBufferingDefaults(body) as {
      buffering?: { timeoutMs?: unknown };
      destination?: { URI?: unknown };
    };
    // AWS's emulator validates the body, then refuses a second subscriber of
    // the same name with a bare 500 (`subscriber already exists`, logged).
    if (
      id !== null && this.#subscribed.has(id) &&
      parseSubscription(withDefaults).ok
    ) {
      return apiError(500, "InternalServerError", "Internal Server Error");
    }
    const answer = this.#extensions.subscribe(id, withDefaults);
    if (answer.status === 200 && id !== null) {
      this.#subscribed.add(id);
      this.#gate.subscribed(
        String(withDefaults.destination?.URI),
        Number(withDefaults.buffering?.timeoutMs),
      );
    }
    return answer;
  };
}

function exitReport(
  name: string,
  exit: ProcessExit,
  started: number,
  deadline: number,
): ExtensionExitReport {
  return {
    name,
    exitedByItself: exit.signal !== "SIGKILL" && exit.at <= deadline,
    exitCode: exit.code,
    signal: exit.signal,
    durationMs: exit.at - started,
  };
}
