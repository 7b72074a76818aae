/**
 * A local Lambda execution environment: one loopback server with the Runtime,
 * Extensions and Telemetry APIs, real extension and runtime processes with
 * Lambda's environment, telemetry pushed to the subscribed listeners, and
 * Lambda's lifecycle (init, invoke, freeze between invocations, SHUTDOWN with
 * a 2 s deadline: SIGTERM and up to 300 ms for the runtime, the rest for the
 * extensions, SIGKILL after it). Where the machine allows it, every
 * process of the environment runs in one cgroup with Lambda's CPU share and
 * memory limit and is frozen by the cgroup freezer (see `limits.ts`); SIGSTOP
 * per process group is the fallback.
 *
 * ```ts
 * const sandbox = await startSandbox({ fn: { runtime: "node", taskRoot, handler: "index.handler" }, extensions: [spec] });
 * try {
 *   const invocation = await sandbox.invoke({ hello: "world" });
 *   const shutdown = await sandbox.shutdown();
 * } finally {
 *   await sandbox.stop();
 * }
 * ```
 *
 * @module
 */
import { createApiHandler, type LambdaPlatform } from "./api_server.ts";
import {
  type ManagedProcess,
  type OutputStream,
  type ProcessExit,
  startProcess,
} from "./child_process.ts";
import {
  type ExtensionErrorReport,
  ExtensionHost,
  type ExtensionSpec,
  initStepError,
} from "./extension_host.ts";
import { functionLogRecord, type LogFormat } from "./function_logs.ts";
import type { SandboxCgroup } from "./cgroup.ts";
import {
  type LambdaLimitsOptions,
  type LimitsStatus,
  openLimits,
} from "./limits.ts";
import { EnvironmentResetError, outOfMemoryCause } from "./oom.ts";
import {
  type FunctionConfig,
  lambdaEnvironment,
  type RuntimeKind,
} from "./lambda_env.ts";
import { functionLaunch } from "./runtime_clients.ts";
import {
  initReportRecord,
  initRuntimeDoneRecord,
  initStartRecord,
  type PlatformStatus,
  reportRecord,
  runtimeDoneRecord,
  startRecord,
} from "./platform_events.ts";
import {
  type HandedOut,
  RuntimeHost,
  type RuntimeOutcome,
} from "./runtime_host.ts";
import type { DeliveryPolicy, EmittedEvent } from "./telemetry_delivery.ts";
import { TelemetryHub } from "./telemetry_hub.ts";
import { delay, settleWithin, withTimeout } from "./timing.ts";

export type { EmittedEvent } from "./telemetry_delivery.ts";
export type { LogFormat } from "./function_logs.ts";
export type { RuntimeKind } from "./lambda_env.ts";
export type { ExtensionErrorReport, ExtensionSpec } from "./extension_host.ts";
export type { LambdaLimitsOptions, LimitsStatus } from "./limits.ts";
export { EnvironmentResetError } from "./oom.ts";

/** The function: which runtime client runs which handler. */
export interface FunctionSpec {
  /** Runtime client. */
  runtime: RuntimeKind;
  /** Folder with the handler code (`LAMBDA_TASK_ROOT`). */
  taskRoot: string;
  /** `file.export`, e.g. `index.handler` (Java: `package.Class::method`). */
  handler: string;
  /**
   * Which runtime interface client runs it: AWS's own (`aws`, the default;
   * see `runtime_clients.ts`), or the sandbox's home-made one (`sandbox`;
   * Node and Python only).
   */
  client?: "aws" | "sandbox";
  /** The function's own environment variables. */
  variables?: Record<string, string>;
}

/** Settings of a sandbox. */
export interface SandboxOptions {
  /** The function. */
  fn: FunctionSpec;
  /** External extensions, started in order. */
  extensions?: ExtensionSpec[];
  /** Function name (`sandbox-function`). */
  functionName?: string;
  /** Function version (`$LATEST`). */
  functionVersion?: string;
  /**
   * M, the function's memory in MB (128): `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`,
   * the memory limit of the environment's cgroup and its CPU quota of
   * M/1,769 of one vCPU.
   */
  memoryMB?: number;
  /** Older name of `memoryMB`. */
  memorySizeMB?: number;
  /**
   * Lambda's CPU share and memory limit (on by default; says once when the
   * machine cannot give them); `false` runs unconstrained on purpose.
   */
  limits?: LambdaLimitsOptions | false;
  /** Region (`us-east-1`). */
  region?: string;
  /** Account id given to extensions that accept the `accountId` feature. */
  accountId?: string;
  /** Function log format (`Text`). */
  logFormat?: LogFormat;
  /** Credentials of the execution role (dummy ones by default). */
  credentials?: FunctionConfig["credentials"];
  /** Function timeout per invocation (30 s). */
  timeoutMs?: number;
  /** Init budget shared by extensions and runtime (10 s). */
  initTimeoutMs?: number;
  /** Shutdown budget with external extensions (2 s). */
  shutdownBudgetMs?: number;
  /** Freeze processes between invocations (true). */
  freeze?: boolean;
  /** Longest wait on thaw for pending telemetry before handing out the event (1 s). */
  thawDeliveryWaitMs?: number;
  /**
   * What goes out at a thaw before the event is handed out: `all` pending
   * telemetry (default), or only what is `due` by its buffering timeout —
   * closer to Lambda for back-to-back invocations, where the previous
   * report may then arrive during the next invocation.
   */
  thawDelivery?: "all" | "due";
  /** Telemetry delivery retry policy. */
  delivery?: DeliveryPolicy;
  /** Called for every output line of every process, as it arrives. */
  onLog?(line: LogLine): void;
}

/** One output line of a process. */
export interface LogLine {
  /** `function` or the extension's name. */
  source: string;
  /** Which stream. */
  stream: OutputStream;
  /** The line, without its newline. */
  line: string;
  /** When the sandbox read it (ISO-8601). */
  time: string;
}

/** What one invocation did and cost. */
export interface InvocationRecord {
  /** Request id. */
  requestId: string;
  /** `success` or `error` (the handler failed). */
  status: PlatformStatus;
  /** Error type when the handler failed. */
  errorType?: string;
  /** The response body as text (the error document when it failed). */
  response: string;
  /** Epoch ms when the invocation was handed out. */
  startedAt: number;
  /** Handed out → runtime response. */
  runtimeDurationMs: number;
  /** Runtime response → last extension back in /event/next. */
  postRuntimeMs: number;
  /** Whole invoke phase (the report's durationMs). */
  durationMs: number;
  /** The report's billedDurationMs. */
  billedDurationMs: number;
  /** Peak memory of the function process (MB, rounded up). */
  maxMemoryUsedMB: number;
  /** Peak memory per extension process (MB, rounded up). */
  extensionMaxMemoryMB: Record<string, number>;
}

/** How one extension ended at SHUTDOWN. */
export interface ExtensionExitReport {
  /** Extension name. */
  name: string;
  /** True when it exited before the deadline without being killed. */
  exitedByItself: boolean;
  /** Exit code (137 when SIGKILLed). */
  exitCode: number;
  /** Signal that ended it, if any. */
  signal: string | null;
  /** SHUTDOWN handed out → process ended. */
  durationMs: number;
}

/** How the runtime ended at SHUTDOWN (SIGTERM, then SIGKILL after 300 ms). */
export interface RuntimeExitReport {
  /** True when it ended within its 300 ms after SIGTERM. */
  exitedByItself: boolean;
  /** Exit code. */
  exitCode: number;
  /** Signal that ended it, if any. */
  signal: string | null;
  /** SIGTERM → process ended. */
  durationMs: number;
}

/** The runtime's share of the SHUTDOWN budget after SIGTERM (Lambda's 300 ms). */
export const RUNTIME_SIGTERM_MS = 300;

/** What SHUTDOWN did. */
export interface ShutdownReport {
  /** `SPINDOWN`, `TIMEOUT` or `FAILURE`. */
  reason: string;
  /** The runtime's end (null when it never started). */
  runtime: RuntimeExitReport | null;
  /** The deadline given to extensions (epoch ms). */
  deadlineMs: number;
  /** The shutdown budget (deadline − start). */
  budgetMs: number;
  /** Per extension. */
  extensions: ExtensionExitReport[];
  /** SHUTDOWN start → every process ended. */
  durationMs: number;
}

/** Process ids, for tests that look at process state. */
export interface ProcessIds {
  /** The function runtime. */
  runtime: number | null;
  /** Per extension name. */
  extensions: Record<string, number>;
}

/** A running sandbox. */
export interface Sandbox {
  /** `127.0.0.1:<port>`, as `AWS_LAMBDA_RUNTIME_API`. */
  readonly runtimeApi: string;
  /** Init phase duration. */
  readonly initDurationMs: number;
  /**
   * Where init's time went (ms from its start): every extension registered
   * (the runtime starts only then), the runtime ready in `/next`. The rest,
   * up to `initDurationMs`, is extensions finishing their init.
   */
  readonly initPhases: {
    extensionsRegisteredMs: number;
    runtimeReadyMs: number;
  };
  /** Every telemetry event emitted, in order, with what became of it. */
  readonly events: readonly EmittedEvent[];
  /** Every finished invocation. */
  readonly invocations: readonly InvocationRecord[];
  /** Every output line of the extensions. */
  readonly extensionLog: readonly LogLine[];
  /** Every output line of the function runtime. */
  readonly functionLog: readonly LogLine[];
  /** Errors extensions reported with /init/error or /exit/error. */
  readonly extensionErrors: readonly ExtensionErrorReport[];
  /** True while the processes are stopped between invocations. */
  readonly frozen: boolean;
  /** The CPU and memory limits in force (or why there are none). */
  readonly limits: LimitsStatus;
  /** Peak memory of the whole environment in MB (the cgroup's; 0 without one). */
  environmentPeakMemoryMB(): Promise<number>;
  /** Current process ids. */
  processIds(): ProcessIds;
  /** Runs one invocation to its end (runtime responded, every extension back in /next). */
  invoke(payload: unknown): Promise<InvocationRecord>;
  /** Sends SHUTDOWN and ends every process by the deadline. */
  shutdown(
    reason?: "SPINDOWN" | "TIMEOUT" | "FAILURE",
  ): Promise<ShutdownReport>;
  /** Kills whatever still runs and closes the server. Idempotent. */
  stop(): Promise<void>;
  /** Same as `stop`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Dummy credentials for local runs. */
const LOCAL_SANDBOX_CREDENTIALS = {
  accessKeyId: "AKIDLOCALSANDBOX",
  secretAccessKey: "local-sandbox-secret",
};

/** Starts a sandbox and runs its init phase; rejects (after cleaning up) when init fails. */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const environment = new ExecutionEnvironment(options);
  try {
    await environment.init();
  } catch (error) {
    await environment.stop();
    throw error;
  }
  return environment;
}

type Phase = "init" | "idle" | "invoking" | "shutdown" | "ended" | "failed";

/**
 * The lifecycle of one execution environment. The API state lives in
 * {@linkcode ExtensionHost} and {@linkcode RuntimeHost}, telemetry in
 * {@linkcode TelemetryHub}; this class starts processes, sequences the
 * phases, measures them and emits the platform events.
 */
class ExecutionEnvironment implements Sandbox, LambdaPlatform {
  readonly invocations: InvocationRecord[] = [];
  readonly extensionLog: LogLine[] = [];
  readonly functionLog: LogLine[] = [];
  initDurationMs = 0;
  initPhases = { extensionsRegisteredMs: 0, runtimeReadyMs: 0 };
  frozen = false;

  readonly #options: SandboxOptions;
  readonly #fn: FunctionConfig;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #httpClient: Deno.HttpClient;
  readonly #hub: TelemetryHub;
  readonly #extensions: ExtensionHost;
  readonly #runtimeHost: RuntimeHost;
  readonly #initFailure = Promise.withResolvers<never>();
  #runtime: ManagedProcess | null = null;
  #phase: Phase = "init";
  #logRequestId: string | null = null;
  #stopping: Promise<void> | null = null;
  #linesSeen = 0;
  #cgroup: SandboxCgroup | null = null;
  #invocationStart = { epochMs: 0, at: 0 };
  limits: LimitsStatus;
  readonly #exitWatchers = new Map<ManagedProcess, Promise<never>>();

  constructor(options: SandboxOptions) {
    this.#options = options;
    this.#fn = {
      name: options.functionName ?? "sandbox-function",
      version: options.functionVersion ?? "$LATEST",
      memorySizeMB: options.memoryMB ?? options.memorySizeMB ?? 128,
      region: options.region ?? "us-east-1",
      accountId: options.accountId ?? "123456789012",
      logFormat: options.logFormat ?? "Text",
      credentials: options.credentials ?? LOCAL_SANDBOX_CREDENTIALS,
      variables: options.fn.variables ?? {},
    };
    const onInitError = (message: string) => {
      if (this.#phase === "init") this.#initFailure.reject(new Error(message));
    };
    // Rejections of this promise are always raced; keep an unobserved one quiet.
    this.#initFailure.promise.catch(() => {});
    this.#httpClient = Deno.createHttpClient({});
    this.#hub = new TelemetryHub({
      policy: options.delivery,
      fetch: (input, init) =>
        fetch(input, { ...init, client: this.#httpClient }),
    });
    this.#extensions = new ExtensionHost(options.extensions ?? [], {
      functionName: this.#fn.name,
      functionVersion: this.#fn.version,
      handler: options.fn.handler,
      accountId: this.#fn.accountId,
      hub: this.#hub,
      acceptsRegistration: () => this.#phase === "init",
      onInitError,
    });
    this.#runtimeHost = new RuntimeHost(onInitError);
    this.limits = {
      enforced: false,
      memoryMB: this.#fn.memorySizeMB,
      reason: "not started",
      cpuQuotaDuringInit: false,
      freezer: "signal",
    };
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createApiHandler(this),
    );
  }

  get runtimeApi(): string {
    return `127.0.0.1:${this.#server.addr.port}`;
  }

  get events(): readonly EmittedEvent[] {
    return this.#hub.events;
  }

  get extensionErrors(): readonly ExtensionErrorReport[] {
    return this.#extensions.errors;
  }

  processIds(): ProcessIds {
    const extensions: Record<string, number> = {};
    for (const extension of this.#extensions.extensions) {
      if (extension.process) {
        extensions[extension.spec.name] = extension.process.pid;
      }
    }
    return { runtime: this.#runtime?.pid ?? null, extensions };
  }

  // ---- init ------------------------------------------------------------------

  async init(): Promise<void> {
    const opened = await openLimits(
      this.#fn.memorySizeMB,
      this.#options.limits ?? {},
    );
    this.#cgroup = opened.cgroup;
    this.limits = opened.status;
    // Installing a missing runtime client is not part of init.
    const launch = await functionLaunch(this.#options.fn);
    const started = performance.now();
    const budget = this.#options.initTimeoutMs ?? 10_000;
    const remaining = () => Math.max(1, budget - (performance.now() - started));
    this.#hub.emit(
      "platform.initStart",
      initStartRecord({
        functionName: this.#fn.name,
        functionVersion: this.#fn.version,
        runtimeVersion: launch.runtimeVersion,
      }),
    );
    // Every process of the environment sees the same variables (the
    // runtime's _HANDLER and LAMBDA_TASK_ROOT too); extensions add their own.
    const baseEnv = {
      ...lambdaEnvironment(this.runtimeApi, this.#fn),
      ...launch.env,
      // `sandbox.localdomain` is 127.0.0.1 here: telemetry listeners stay
      // on loopback instead of every interface of the machine.
      KINESIS_TELEMETRY_LISTENER_HOST: "127.0.0.1",
    };
    for (const extension of this.#extensions.extensions) {
      extension.process = startProcess({
        label: extension.spec.name,
        argv: this.#inCgroup(extension.spec.argv),
        env: { ...baseEnv, ...extension.spec.env },
        cwd: extension.spec.cwd,
        onLine: (line, stream) =>
          this.#onExtensionLine(extension.spec.name, line, stream),
      });
    }
    // Extensions register first; the runtime starts only after all did.
    await this.#initStep(
      Promise.all(
        this.#extensions.extensions.map((e) => e.registered.promise),
      ),
      remaining(),
      () =>
        `extensions did not register: ${
          this.#extensions.unregistered().join(", ")
        }`,
    );
    this.initPhases.extensionsRegisteredMs = performance.now() - started;
    this.#runtime = startProcess({
      label: "runtime",
      argv: this.#inCgroup(launch.argv),
      env: baseEnv,
      cwd: this.#options.fn.taskRoot,
      onLine: (line, stream) => this.#onFunctionLine(line, stream),
    });
    try {
      await this.#initStep(
        this.#runtimeHost.mailbox.whenWaiting(),
        remaining(),
        () => "the function runtime did not finish its init",
      );
    } catch (error) {
      this.#hub.emit(
        "platform.initRuntimeDone",
        initRuntimeDoneRecord("error", "Runtime.InitError"),
      );
      throw error;
    }
    this.initPhases.runtimeReadyMs = performance.now() - started;
    this.#hub.emit(
      "platform.initRuntimeDone",
      initRuntimeDoneRecord("success"),
    );
    await this.#initStep(
      this.#extensions.allWaiting(),
      remaining(),
      () => "extensions did not call /event/next after init",
    );
    this.initDurationMs = performance.now() - started;
    this.#hub.emit(
      "platform.initReport",
      initReportRecord("success", this.initDurationMs),
    );
    this.#phase = "idle";
    // Init ran without the quota unless asked (see LambdaLimitsOptions).
    if (this.#cgroup && !this.limits.cpuQuotaDuringInit) {
      await this.#cgroup.applyCpuQuota();
    }
    await this.#freeze();
  }

  #inCgroup(argv: readonly string[]): readonly string[] {
    return this.#cgroup ? this.#cgroup.wrap(argv) : argv;
  }

  async environmentPeakMemoryMB(): Promise<number> {
    return Math.ceil((await this.#cgroup?.peakMemoryBytes() ?? 0) / 1048576);
  }

  /** Waits for one init step, failing on an init error, an exit or the budget. */
  async #initStep(
    step: Promise<unknown>,
    withinMs: number,
    describe: () => string,
  ): Promise<void> {
    try {
      await withTimeout(
        Promise.race([
          step,
          this.#initFailure.promise,
          this.#anyExit("during init"),
        ]),
        withinMs,
        "init step",
      );
    } catch (error) {
      throw initStepError(error, withinMs, describe, this.#extensions.errors);
    }
  }

  // ---- invoke ----------------------------------------------------------------

  async invoke(payload: unknown): Promise<InvocationRecord> {
    if (this.#phase !== "idle") {
      throw new Error(`cannot invoke: the sandbox is ${this.#phase}`);
    }
    this.#phase = "invoking";
    try {
      await this.#thaw();
      const record = await this.#runInvocation(payload);
      this.#phase = "idle";
      await this.#freeze();
      return record;
    } catch (error) {
      this.#phase = "failed";
      throw await this.#resetOnOutOfMemory(error);
    } finally {
      this.#runtimeHost.finish();
    }
  }

  /**
   * A process of the environment OOM-killed in its cgroup: the invocation
   * fails as in Lambda (`Runtime.OutOfMemory` for the runtime,
   * `Extension.Crash` for an extension), its runtimeDone and report say so,
   * and the environment is reset (SHUTDOWN with reason FAILURE to the rest).
   */
  async #resetOnOutOfMemory(error: unknown): Promise<unknown> {
    const cause = await outOfMemoryCause(error, this.#cgroup);
    if (!cause) return error;
    const requestId = this.#logRequestId ?? "";
    this.#hub.emit(
      "platform.runtimeDone",
      runtimeDoneRecord(requestId, "failure", {
        startedAt: this.#invocationStart.epochMs,
        latencyMs: performance.now() - this.#invocationStart.at,
        responseMs: 0,
        producedBytes: 0,
      }, cause.errorType),
    );
    this.#hub.emit(
      "platform.report",
      reportRecord(requestId, "failure", {
        durationMs: performance.now() - this.#invocationStart.at,
        memorySizeMB: this.#fn.memorySizeMB,
        maxMemoryUsedMB: this.#fn.memorySizeMB,
      }, cause.errorType),
    );
    let shutdown: ShutdownReport | null = null;
    try {
      shutdown = await this.shutdown("FAILURE");
    } catch {
      // The reset is best effort; the error below is what matters.
    }
    return new EnvironmentResetError(cause, requestId, shutdown, error);
  }

  async #runInvocation(payload: unknown): Promise<InvocationRecord> {
    const requestId = crypto.randomUUID();
    this.#invocationStart = { epochMs: Date.now(), at: performance.now() };
    const traceId = traceHeader();
    const timeoutMs = this.#options.timeoutMs ?? 30_000;
    const deadlineMs = Date.now() + timeoutMs;
    const invokedFunctionArn =
      `arn:aws:lambda:${this.#fn.region}:${this.#fn.accountId}:function:${this.#fn.name}`;
    this.#logRequestId = requestId;
    this.#hub.emit(
      "platform.start",
      startRecord(requestId, this.#fn.version, traceId),
    );
    this.#extensions.send("INVOKE", {
      deadlineMs,
      requestId,
      invokedFunctionArn,
      tracing: { type: "X-Amzn-Trace-Id", value: traceId },
    });
    const handedOut = this.#runtimeHost.handOut({
      requestId,
      payload: JSON.stringify(payload ?? {}),
      deadlineMs,
      invokedFunctionArn,
      traceId,
    });
    const outcome = await withTimeout(
      Promise.race([handedOut.outcome, this.#anyExit("during an invocation")]),
      timeoutMs,
      `invocation ${requestId} timed out`,
    );
    // Lines the handler wrote before responding are already in the pipe:
    // read them first so they come before runtimeDone, as in Lambda.
    await this.#drainOutput();
    this.#hub.emit(
      "platform.runtimeDone",
      runtimeDoneRecord(
        requestId,
        outcome.status,
        outcome.timings,
        outcome.errorType,
      ),
    );
    await withTimeout(
      Promise.race([
        this.#extensions.allWaiting(),
        this.#anyExit("during an invocation"),
      ]),
      Math.max(1, deadlineMs - Date.now()),
      `extensions did not return to /event/next after invocation ${requestId}`,
    );
    const backAt = Math.max(
      outcome.respondedAt,
      ...this.#extensions.extensions.map((e) => e.mailbox.waitingSince),
    );
    await this.#drainOutput();
    return await this.#report(handedOut, outcome, backAt);
  }

  /** Measures memory, emits `platform.report` and records the invocation. */
  async #report(
    handedOut: HandedOut,
    outcome: RuntimeOutcome,
    backAt: number,
  ): Promise<InvocationRecord> {
    const durationMs = backAt - handedOut.handedOutAt;
    // Lambda's figure is the whole environment's (extensions included):
    // the cgroup's peak where there is one.
    const maxMemoryUsedMB = this.#cgroup
      ? await this.environmentPeakMemoryMB()
      : Math.ceil((await this.#runtime!.peakMemoryKiB()) / 1024);
    const extensionMaxMemoryMB: Record<string, number> = {};
    for (const extension of this.#extensions.extensions) {
      extensionMaxMemoryMB[extension.spec.name] = Math.ceil(
        (await extension.process!.peakMemoryKiB()) / 1024,
      );
    }
    const first = this.invocations.length === 0;
    this.#hub.emit(
      "platform.report",
      reportRecord(handedOut.requestId, outcome.status, {
        durationMs,
        memorySizeMB: this.#fn.memorySizeMB,
        maxMemoryUsedMB,
        ...(first ? { initDurationMs: this.initDurationMs } : {}),
      }, outcome.errorType),
    );
    const record: InvocationRecord = {
      requestId: handedOut.requestId,
      status: outcome.status,
      ...(outcome.errorType ? { errorType: outcome.errorType } : {}),
      response: outcome.body,
      startedAt: handedOut.startedAt,
      runtimeDurationMs: outcome.respondedAt - handedOut.handedOutAt,
      postRuntimeMs: backAt - outcome.respondedAt,
      durationMs,
      billedDurationMs: Math.ceil(durationMs),
      maxMemoryUsedMB,
      extensionMaxMemoryMB,
    };
    this.invocations.push(record);
    return record;
  }

  // ---- shutdown and stop -------------------------------------------------------

  async shutdown(
    reason: "SPINDOWN" | "TIMEOUT" | "FAILURE" = "SPINDOWN",
  ): Promise<ShutdownReport> {
    if (this.#phase !== "idle" && this.#phase !== "failed") {
      throw new Error(`cannot shut down: the sandbox is ${this.#phase}`);
    }
    this.#phase = "shutdown";
    // What is pending (the last report) goes out after SHUTDOWN, with the
    // runtime's SIGTERM lines, as Lambda sends it only now.
    await this.#thaw(false);
    this.#logRequestId = null;
    const budget = this.#options.shutdownBudgetMs ?? 2_000;
    const started = performance.now();
    const deadline = started + budget;
    const deadlineMs = Date.now() + budget;
    const runtime = await this.#endRuntime(
      Math.min(RUNTIME_SIGTERM_MS, budget),
    );
    const notTold = this.#extensions.send("SHUTDOWN", {
      shutdownReason: reason,
      deadlineMs,
    });
    // An extension that did not ask to be told has nothing to wait for.
    for (const extension of notTold) extension.process?.signal("SIGKILL");
    void this.#hub.flush(Math.max(1, deadline - performance.now()), "all");
    const processes = this.#processes();
    await settleWithin(
      Promise.all(processes.map((process) => process.exited)),
      Math.max(0, deadline - performance.now()),
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
    return {
      reason,
      deadlineMs,
      budgetMs: budget,
      runtime,
      durationMs: performance.now() - started,
      extensions: this.#extensions.extensions.map((extension) => {
        const exit = extension.process!.exit as ProcessExit;
        return {
          name: extension.spec.name,
          exitedByItself: exit.signal !== "SIGKILL" && exit.at <= deadline,
          exitCode: exit.code,
          signal: exit.signal,
          durationMs: exit.at - started,
        };
      }),
    };
  }

  /**
   * Lambda's first SHUTDOWN step: SIGTERM to the runtime, up to `withinMs`
   * for it to end (its handler's lines are read and go out as telemetry),
   * SIGKILL after that. Extensions get SHUTDOWN only then.
   */
  async #endRuntime(withinMs: number): Promise<RuntimeExitReport | null> {
    const runtime = this.#runtime;
    if (!runtime) return null;
    const started = performance.now();
    runtime.signal("SIGTERM");
    await settleWithin(runtime.exited, withinMs, null);
    const killed = !runtime.exit;
    if (killed) runtime.signal("SIGKILL");
    const exit = await runtime.exited;
    await this.#drainOutput();
    return {
      exitedByItself: !killed,
      exitCode: exit.code,
      signal: exit.signal,
      durationMs: exit.at - started,
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
    if (this.#phase !== "ended") this.#phase = "failed";
    this.#runtimeHost.close();
    this.#extensions.close();
    const processes = this.#processes();
    // A task frozen by the cgroup freezer dies only once thawed.
    if (this.frozen && this.#cgroup) await this.#cgroup.thaw();
    for (const process of processes) process.signal("SIGKILL");
    try {
      await withTimeout(
        Promise.all(processes.map((process) => process.exited)),
        5_000,
        "processes did not end after SIGKILL",
      );
    } finally {
      await this.#removeCgroup();
      await this.#hub.close();
      await this.#server.shutdown();
      this.#httpClient.close();
    }
  }

  /** Ends whatever is left in the cgroup (escaped its group) and removes it. */
  async #removeCgroup(): Promise<void> {
    const cgroup = this.#cgroup;
    if (!cgroup) return;
    await cgroup.thaw().catch(() => {});
    for (const pid of await cgroup.pids()) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await cgroup.remove();
  }

  // ---- freeze and thaw ---------------------------------------------------------

  async #freeze(): Promise<void> {
    if (this.#options.freeze === false) return;
    // The platform's own delivery stops too: finish a POST under way first so
    // it is not cut in half by the stop.
    await this.#hub.pause();
    if (this.#cgroup && this.limits.freezer === "cgroup") {
      if (await this.#cgroup.freeze(1_000)) {
        this.frozen = true;
        return;
      }
      // The freezer did not settle: thaw it and fall back to SIGSTOP.
      await this.#cgroup.thaw();
      this.limits = { ...this.limits, freezer: "signal" };
    }
    const processes = this.#processes();
    for (const process of processes) process.signal("SIGSTOP");
    // Frozen means stopped, not "signal sent": wait until the kernel did it.
    await Promise.all(processes.map((process) => process.waitStopped(1_000)));
    this.frozen = true;
  }

  async #thaw(deliverPending = true): Promise<void> {
    if (this.frozen) {
      if (this.#cgroup && this.limits.freezer === "cgroup") {
        await this.#cgroup.thaw();
      } else {
        for (const process of this.#processes()) process.signal("SIGCONT");
      }
      this.frozen = false;
      this.#hub.resume();
    }
    // What piled up while frozen goes out before the next event, as in Lambda.
    if (!deliverPending) return;
    await this.#hub.flush(
      this.#options.thawDeliveryWaitMs ?? 1_000,
      this.#options.thawDelivery ?? "all",
    );
  }

  // ---- output --------------------------------------------------------------------

  #onExtensionLine(name: string, line: string, stream: OutputStream): void {
    const logLine = {
      source: name,
      stream,
      line,
      time: new Date().toISOString(),
    };
    this.extensionLog.push(logLine);
    this.#linesSeen++;
    this.#options.onLog?.(logLine);
    this.#hub.emit("extension", line);
  }

  #onFunctionLine(line: string, stream: OutputStream): void {
    const time = new Date();
    const logLine = {
      source: "function",
      stream,
      line,
      time: time.toISOString(),
    };
    this.functionLog.push(logLine);
    this.#linesSeen++;
    this.#options.onLog?.(logLine);
    this.#hub.emit(
      "function",
      functionLogRecord(line, this.#fn.logFormat, {
        time,
        requestId: this.#logRequestId,
        stream,
      }),
    );
  }

  /**
   * Waits until no output line arrived for two event-loop turns (at most
   * ~50 ms): data already in a pipe is read within a turn or two.
   */
  async #drainOutput(): Promise<void> {
    let quietTurns = 0;
    for (let turn = 0; turn < 50 && quietTurns < 2; turn++) {
      const seen = this.#linesSeen;
      await delay(1);
      quietTurns = this.#linesSeen === seen ? quietTurns + 1 : 0;
    }
  }

  // ---- helpers -----------------------------------------------------------------------

  #processes(): ManagedProcess[] {
    const processes = this.#extensions.extensions.flatMap((e) =>
      e.process ? [e.process] : []
    );
    if (this.#runtime) processes.push(this.#runtime);
    return processes;
  }

  /** Rejects when any process ends (none may end before SHUTDOWN). */
  #anyExit(when: string): Promise<never> {
    return Promise.race(
      this.#processes().map((process) => this.#exitOf(process)),
    ).catch((ended: ProcessEndedError) => {
      throw new Error(
        `${ended.label} exited ${when} (code ${ended.exit.code}${
          ended.exit.signal ? `, ${ended.exit.signal}` : ""
        })${this.#logTail(ended.label)}`,
        { cause: ended },
      );
    });
  }

  /** One rejecting watcher per process, however many waits race it. */
  #exitOf(process: ManagedProcess): Promise<never> {
    let watcher = this.#exitWatchers.get(process);
    if (!watcher) {
      watcher = process.exited.then((exit) => {
        throw new ProcessEndedError(process.label, exit);
      });
      // Observed by whichever wait races it; quiet when none does.
      watcher.catch(() => {});
      this.#exitWatchers.set(process, watcher);
    }
    return watcher;
  }

  #logTail(label: string): string {
    const lines = label === "runtime"
      ? this.functionLog
      : this.extensionLog.filter((line) => line.source === label);
    const tail = lines.slice(-10).map((line) => `\n  | ${line.line}`).join("");
    return tail ? `; last output:${tail}` : "";
  }

  // ---- the APIs, delegated ---------------------------------------------------------

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
  ) => this.#extensions.register(name, features, body);
  nextExtensionEvent: LambdaPlatform["nextExtensionEvent"] = (id) =>
    this.#extensions.next(id);
  extensionError: LambdaPlatform["extensionError"] = (id, kind, type, body) =>
    this.#extensions.reportError(id, kind, type, body);
  subscribeTelemetry: LambdaPlatform["subscribeTelemetry"] = (id, body) =>
    this.#extensions.subscribe(id, body);
}

/** A process of the environment ended (carried to the wait it breaks). */
class ProcessEndedError extends Error {
  constructor(readonly label: string, readonly exit: ProcessExit) {
    super(`${label} exited`);
    this.name = "ProcessEndedError";
  }
}

/** An X-Ray trace header value with a fresh root. */
function traceHeader(): string {
  const hex = (bytes: number) =>
    Array.from(
      crypto.getRandomValues(new Uint8Array(bytes)),
      (byte) => byte.toString(16).padStart(2, "0"),
    ).join("");
  const seconds = Math.floor(Date.now() / 1000).toString(16);
  return `Root=1-${seconds}-${hex(12)};Parent=${hex(8)};Sampled=0`;
}
