/**
 * A local Lambda execution environment: one loopback server with the Runtime,
 * Extensions and Telemetry APIs, real extension and runtime processes with
 * Lambda's environment, telemetry pushed to the subscribed listeners, and
 * Lambda's lifecycle (init, invoke, freeze between invocations with SIGSTOP,
 * SHUTDOWN with a 2 s deadline and SIGKILL after it).
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
import type { TelemetryEvent } from "../../extension/types.ts";
import {
  type ApiResult,
  createApiHandler,
  type LambdaPlatform,
} from "./api_server.ts";
import {
  type ManagedProcess,
  type OutputStream,
  type ProcessExit,
  startProcess,
} from "./child_process.ts";
import { functionLogRecord, type LogFormat } from "./function_logs.ts";
import {
  type FunctionConfig,
  lambdaEnvironment,
  type RuntimeKind,
  runtimeLaunch,
} from "./lambda_env.ts";
import { LongPoll } from "./long_poll.ts";
import {
  extensionRecord,
  initReportRecord,
  initRuntimeDoneRecord,
  initStartRecord,
  logsDroppedRecord,
  type PlatformStatus,
  reportRecord,
  runtimeDoneRecord,
  type RuntimeDoneTimings,
  startRecord,
  telemetrySubscriptionRecord,
} from "./platform_events.ts";
import { parseSubscription } from "./subscription.ts";
import {
  DEFAULT_DELIVERY_POLICY,
  type DeliveryPolicy,
  type EmittedEvent,
  TelemetryDelivery,
} from "./telemetry_delivery.ts";
import { delay, settleWithin, withTimeout } from "./timing.ts";

export type { EmittedEvent } from "./telemetry_delivery.ts";
export type { LogFormat } from "./function_logs.ts";
export type { RuntimeKind } from "./lambda_env.ts";

/** An external extension to start (a file of /opt/extensions in Lambda). */
export interface ExtensionSpec {
  /** Name it registers with (the executable's file name in Lambda). */
  name: string;
  /** Command line. */
  argv: readonly string[];
  /** Variables for this extension only (its configuration). */
  env?: Record<string, string>;
  /** Working directory; the sandbox's own by default. */
  cwd?: string;
}

/** The function: which runtime client runs which handler. */
export interface FunctionSpec {
  /** Runtime client. */
  runtime: RuntimeKind;
  /** Folder with the handler code (`LAMBDA_TASK_ROOT`). */
  taskRoot: string;
  /** `file.export`, e.g. `index.handler`. */
  handler: string;
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
  /** Memory size in MB (128). */
  memorySizeMB?: number;
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

/** What SHUTDOWN did. */
export interface ShutdownReport {
  /** `SPINDOWN`, `TIMEOUT` or `FAILURE`. */
  reason: string;
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

/** An error an extension reported. */
export interface ExtensionErrorReport {
  /** Extension name. */
  name: string;
  /** `init` or `exit`. */
  kind: "init" | "exit";
  /** The `Lambda-Extension-Function-Error-Type` header. */
  errorType: string | null;
  /** The body as text. */
  body: string;
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

interface ExtensionState {
  spec: ExtensionSpec;
  process: ManagedProcess | null;
  id: string | null;
  events: string[];
  mailbox: LongPoll<ApiResult>;
  registered: PromiseWithResolvers<void>;
  delivery: TelemetryDelivery | null;
  types: string[];
}

interface RuntimeOutcome {
  status: PlatformStatus;
  errorType?: string;
  body: string;
  respondedAt: number;
}

interface CurrentInvocation {
  requestId: string;
  handedOutAt: number;
  startedAt: number;
  outcome: RuntimeOutcome | null;
  timings: RuntimeDoneTimings | null;
  responded: PromiseWithResolvers<RuntimeOutcome>;
}

class ExecutionEnvironment implements Sandbox, LambdaPlatform {
  readonly events: EmittedEvent[] = [];
  readonly invocations: InvocationRecord[] = [];
  readonly extensionLog: LogLine[] = [];
  readonly functionLog: LogLine[] = [];
  readonly extensionErrors: ExtensionErrorReport[] = [];
  initDurationMs = 0;
  frozen = false;

  readonly #options: SandboxOptions;
  readonly #fn: FunctionConfig;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #httpClient: Deno.HttpClient;
  readonly #extensions: ExtensionState[];
  readonly #extensionsById = new Map<string, ExtensionState>();
  readonly #runtimeMailbox = new LongPoll<ApiResult>();
  readonly #initFailure = Promise.withResolvers<never>();
  #runtime: ManagedProcess | null = null;
  #phase: Phase = "init";
  #current: CurrentInvocation | null = null;
  #logRequestId: string | null = null;
  #stopping: Promise<void> | null = null;
  #linesSeen = 0;

  constructor(options: SandboxOptions) {
    this.#options = options;
    this.#fn = {
      name: options.functionName ?? "sandbox-function",
      version: options.functionVersion ?? "$LATEST",
      memorySizeMB: options.memorySizeMB ?? 128,
      region: options.region ?? "us-east-1",
      accountId: options.accountId ?? "123456789012",
      logFormat: options.logFormat ?? "Text",
      credentials: options.credentials ?? LOCAL_SANDBOX_CREDENTIALS,
      variables: options.fn.variables ?? {},
    };
    const names = new Set<string>();
    this.#extensions = (options.extensions ?? []).map((spec) => {
      if (names.has(spec.name)) {
        throw new Error(`two extensions are named ${spec.name}`);
      }
      names.add(spec.name);
      return {
        spec,
        process: null,
        id: null,
        events: [],
        mailbox: new LongPoll<ApiResult>(),
        registered: Promise.withResolvers<void>(),
        delivery: null,
        types: [],
      };
    });
    // Rejections of this promise are always raced; keep an unobserved one quiet.
    this.#initFailure.promise.catch(() => {});
    this.#httpClient = Deno.createHttpClient({});
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createApiHandler(this),
    );
  }

  get runtimeApi(): string {
    return `127.0.0.1:${this.#server.addr.port}`;
  }

  processIds(): ProcessIds {
    const extensions: Record<string, number> = {};
    for (const extension of this.#extensions) {
      if (extension.process) {
        extensions[extension.spec.name] = extension.process.pid;
      }
    }
    return { runtime: this.#runtime?.pid ?? null, extensions };
  }

  // ---- lifecycle -------------------------------------------------------

  async init(): Promise<void> {
    const started = performance.now();
    const budget = this.#options.initTimeoutMs ?? 10_000;
    const remaining = () => Math.max(1, budget - (performance.now() - started));
    const launch = runtimeLaunch(
      this.#options.fn.runtime,
      this.#options.fn.taskRoot,
      this.#options.fn.handler,
    );
    this.#emit(
      "platform.initStart",
      initStartRecord({
        functionName: this.#fn.name,
        functionVersion: this.#fn.version,
        runtimeVersion: launch.runtimeVersion,
      }),
    );
    const baseEnv = lambdaEnvironment(this.runtimeApi, this.#fn);
    for (const extension of this.#extensions) {
      extension.process = startProcess({
        label: extension.spec.name,
        argv: extension.spec.argv,
        env: { ...baseEnv, ...extension.spec.env },
        cwd: extension.spec.cwd,
        onLine: (line, stream) =>
          this.#onExtensionLine(extension, line, stream),
      });
    }
    // Extensions register first; the runtime starts only after all did.
    await withTimeout(
      Promise.race([
        Promise.all(this.#extensions.map((e) => e.registered.promise)),
        this.#initFailure.promise,
        this.#anyExit("during init"),
      ]),
      remaining(),
      `extensions did not register: ${this.#unregisteredNames()}`,
    ).catch((error) => this.#failInit(error));
    this.#runtime = startProcess({
      label: "runtime",
      argv: launch.argv,
      env: { ...baseEnv, ...launch.env },
      cwd: this.#options.fn.taskRoot,
      onLine: (line, stream) => this.#onFunctionLine(line, stream),
    });
    await withTimeout(
      Promise.race([
        this.#runtimeMailbox.whenWaiting(),
        this.#initFailure.promise,
        this.#anyExit("during init"),
      ]),
      remaining(),
      "the function runtime did not finish its init",
    ).catch((error) => {
      this.#emit(
        "platform.initRuntimeDone",
        initRuntimeDoneRecord("error", "Runtime.InitError"),
      );
      return this.#failInit(error);
    });
    this.#emit("platform.initRuntimeDone", initRuntimeDoneRecord("success"));
    await withTimeout(
      Promise.race([
        Promise.all(this.#extensions.map((e) => e.mailbox.whenWaiting())),
        this.#initFailure.promise,
        this.#anyExit("during init"),
      ]),
      remaining(),
      "extensions did not call /event/next after init",
    ).catch((error) => this.#failInit(error));
    this.initDurationMs = performance.now() - started;
    this.#emit(
      "platform.initReport",
      initReportRecord("success", this.initDurationMs),
    );
    this.#phase = "idle";
    await this.#freeze();
  }

  async invoke(payload: unknown): Promise<InvocationRecord> {
    if (this.#phase !== "idle") {
      throw new Error(`cannot invoke: the sandbox is ${this.#phase}`);
    }
    this.#phase = "invoking";
    await this.#thaw();
    const requestId = crypto.randomUUID();
    const trace = traceHeader();
    const startedAt = Date.now();
    const timeoutMs = this.#options.timeoutMs ?? 30_000;
    const deadlineMs = startedAt + timeoutMs;
    const current: CurrentInvocation = {
      requestId,
      handedOutAt: performance.now(),
      startedAt,
      outcome: null,
      timings: null,
      responded: Promise.withResolvers<RuntimeOutcome>(),
    };
    this.#current = current;
    this.#logRequestId = requestId;
    this.#emit(
      "platform.start",
      startRecord(requestId, this.#fn.version, trace),
    );
    const invokedFunctionArn = this.#functionArn();
    for (const extension of this.#extensions) {
      if (!extension.events.includes("INVOKE")) continue;
      extension.mailbox.put({
        status: 200,
        json: {
          eventType: "INVOKE",
          deadlineMs,
          requestId,
          invokedFunctionArn,
          tracing: { type: "X-Amzn-Trace-Id", value: trace },
        },
        headers: { "Lambda-Extension-Event-Identifier": crypto.randomUUID() },
      });
    }
    this.#runtimeMailbox.put({
      status: 200,
      text: JSON.stringify(payload ?? {}),
      headers: {
        "Lambda-Runtime-Aws-Request-Id": requestId,
        "Lambda-Runtime-Deadline-Ms": String(deadlineMs),
        "Lambda-Runtime-Invoked-Function-Arn": invokedFunctionArn,
        "Lambda-Runtime-Trace-Id": trace,
      },
    });
    try {
      const outcome = await withTimeout(
        Promise.race([
          current.responded.promise,
          this.#anyExit("during an invocation"),
        ]),
        timeoutMs,
        `invocation ${requestId} timed out`,
      );
      // Lines the handler wrote before responding are already in the pipe:
      // read them first so they come before runtimeDone, as in Lambda.
      await this.#drainOutput();
      this.#emit(
        "platform.runtimeDone",
        runtimeDoneRecord(
          requestId,
          outcome.status,
          current.timings!,
          outcome.errorType,
        ),
      );
      const remaining = Math.max(1, deadlineMs - Date.now());
      await withTimeout(
        Promise.race([
          Promise.all(this.#extensions.map((e) => e.mailbox.whenWaiting())),
          this.#anyExit("during an invocation"),
        ]),
        remaining,
        `extensions did not return to /event/next after invocation ${requestId}`,
      );
      const backAt = Math.max(
        outcome.respondedAt,
        ...this.#extensions.map((e) => e.mailbox.waitingSince),
      );
      await this.#drainOutput();
      const record = await this.#finishInvocation(current, outcome, backAt);
      this.#phase = "idle";
      await this.#freeze();
      return record;
    } catch (error) {
      this.#phase = "failed";
      throw error;
    } finally {
      this.#current = null;
    }
  }

  async #finishInvocation(
    current: CurrentInvocation,
    outcome: RuntimeOutcome,
    backAt: number,
  ): Promise<InvocationRecord> {
    const durationMs = backAt - current.handedOutAt;
    const maxMemoryUsedMB = Math.ceil(
      (await this.#runtime!.peakMemoryKiB()) / 1024,
    );
    const extensionMaxMemoryMB: Record<string, number> = {};
    for (const extension of this.#extensions) {
      extensionMaxMemoryMB[extension.spec.name] = Math.ceil(
        (await extension.process!.peakMemoryKiB()) / 1024,
      );
    }
    const first = this.invocations.length === 0;
    this.#emit(
      "platform.report",
      reportRecord(current.requestId, outcome.status, {
        durationMs,
        memorySizeMB: this.#fn.memorySizeMB,
        maxMemoryUsedMB,
        ...(first ? { initDurationMs: this.initDurationMs } : {}),
      }, outcome.errorType),
    );
    const record: InvocationRecord = {
      requestId: current.requestId,
      status: outcome.status,
      ...(outcome.errorType ? { errorType: outcome.errorType } : {}),
      response: outcome.body,
      startedAt: current.startedAt,
      runtimeDurationMs: outcome.respondedAt - current.handedOutAt,
      postRuntimeMs: backAt - outcome.respondedAt,
      durationMs,
      billedDurationMs: Math.ceil(durationMs),
      maxMemoryUsedMB,
      extensionMaxMemoryMB,
    };
    this.invocations.push(record);
    return record;
  }

  async shutdown(
    reason: "SPINDOWN" | "TIMEOUT" | "FAILURE" = "SPINDOWN",
  ): Promise<ShutdownReport> {
    if (this.#phase !== "idle" && this.#phase !== "failed") {
      throw new Error(`cannot shut down: the sandbox is ${this.#phase}`);
    }
    this.#phase = "shutdown";
    await this.#thaw();
    const budget = this.#options.shutdownBudgetMs ?? 2_000;
    const started = performance.now();
    const deadline = started + budget;
    const deadlineMs = Date.now() + budget;
    for (const extension of this.#extensions) {
      if (extension.events.includes("SHUTDOWN")) {
        extension.mailbox.put({
          status: 200,
          json: { eventType: "SHUTDOWN", shutdownReason: reason, deadlineMs },
          headers: { "Lambda-Extension-Event-Identifier": crypto.randomUUID() },
        });
      } else {
        // It did not ask to be told: nothing to wait for.
        extension.process?.signal("SIGKILL");
      }
    }
    this.#runtime?.signal("SIGTERM");
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
    await this.#closeDeliveries();
    this.#phase = "ended";
    return {
      reason,
      deadlineMs,
      budgetMs: budget,
      durationMs: performance.now() - started,
      extensions: this.#extensions.map((extension) => {
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

  stop(): Promise<void> {
    this.#stopping ??= this.#stopNow();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stopNow(): Promise<void> {
    if (this.#phase !== "ended") this.#phase = "failed";
    this.#runtimeMailbox.close();
    for (const extension of this.#extensions) extension.mailbox.close();
    const processes = this.#processes();
    for (const process of processes) process.signal("SIGKILL");
    try {
      await withTimeout(
        Promise.all(processes.map((process) => process.exited)),
        5_000,
        "processes did not end after SIGKILL",
      );
    } finally {
      await this.#closeDeliveries();
      await this.#server.shutdown();
      this.#httpClient.close();
    }
  }

  // ---- freeze and thaw ---------------------------------------------------

  async #freeze(): Promise<void> {
    if (this.#options.freeze === false) return;
    // The platform's own delivery stops too: finish a POST under way first so
    // it is not cut in half by the stop.
    await Promise.all(this.#deliveries().map((delivery) => delivery.pause()));
    const processes = this.#processes();
    for (const process of processes) process.signal("SIGSTOP");
    // Frozen means stopped, not "signal sent": wait until the kernel did it.
    await Promise.all(processes.map((process) => process.waitStopped(1_000)));
    this.frozen = true;
  }

  async #thaw(): Promise<void> {
    if (this.frozen) {
      for (const process of this.#processes()) process.signal("SIGCONT");
      this.frozen = false;
      for (const delivery of this.#deliveries()) delivery.resume();
    }
    // What piled up while frozen goes out before the next event, as in Lambda.
    await settleWithin(
      Promise.all(this.#deliveries().map((delivery) => delivery.flush())),
      this.#options.thawDeliveryWaitMs ?? 1_000,
      null,
    );
  }

  // ---- telemetry ----------------------------------------------------------

  #emit(type: string, record: unknown): void {
    const event: TelemetryEvent = {
      time: new Date().toISOString(),
      type,
      record,
    };
    const entry: EmittedEvent = {
      event,
      bytes: new TextEncoder().encode(JSON.stringify(event)).length,
      acknowledgedBy: [],
      droppedBy: [],
      acknowledgedAt: null,
    };
    this.events.push(entry);
    const category = typeCategory(type);
    for (const extension of this.#extensions) {
      if (extension.delivery && extension.types.includes(category)) {
        extension.delivery.enqueue(entry);
      }
    }
  }

  #onExtensionLine(
    extension: ExtensionState,
    line: string,
    stream: OutputStream,
  ): void {
    const logLine = {
      source: extension.spec.name,
      stream,
      line,
      time: new Date().toISOString(),
    };
    this.extensionLog.push(logLine);
    this.#linesSeen++;
    this.#options.onLog?.(logLine);
    this.#emit("extension", line);
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
    this.#emit(
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

  #deliveries(): TelemetryDelivery[] {
    return this.#extensions.flatMap((e) => e.delivery ? [e.delivery] : []);
  }

  async #closeDeliveries(): Promise<void> {
    await Promise.all(this.#deliveries().map((delivery) => delivery.close()));
  }

  // ---- helpers ---------------------------------------------------------------

  #processes(): ManagedProcess[] {
    const processes = this.#extensions.flatMap((e) =>
      e.process ? [e.process] : []
    );
    if (this.#runtime) processes.push(this.#runtime);
    return processes;
  }

  /** Rejects when any process ends (none may end before SHUTDOWN). */
  #anyExit(when: string): Promise<never> {
    return Promise.race(
      this.#processes().map((process) =>
        process.exited.then((exit) => {
          const tail = this.#logTail(process.label);
          throw new Error(
            `${process.label} exited ${when} (code ${exit.code}${
              exit.signal ? `, ${exit.signal}` : ""
            })${tail}`,
          );
        })
      ),
    );
  }

  #failInit(error: unknown): never {
    const message = error instanceof Error ? error.message : String(error);
    const details = this.extensionErrors.map((e) =>
      `\n  ${e.name} ${e.kind}/error ${e.errorType}: ${e.body}`
    ).join("");
    throw new Error(`sandbox init failed: ${message}${details}`);
  }

  #logTail(label: string): string {
    const lines = label === "runtime"
      ? this.functionLog
      : this.extensionLog.filter((line) => line.source === label);
    const tail = lines.slice(-10).map((line) => `\n  | ${line.line}`).join("");
    return tail ? `; last output:${tail}` : "";
  }

  #unregisteredNames(): string {
    return this.#extensions.filter((e) => !e.id).map((e) => e.spec.name)
      .join(", ");
  }

  #functionArn(): string {
    return `arn:aws:lambda:${this.#fn.region}:${this.#fn.accountId}:function:${this.#fn.name}`;
  }

  // ---- Runtime API -------------------------------------------------------------

  async nextInvocation(): Promise<ApiResult> {
    return await this.#runtimeMailbox.take();
  }

  invocationResponse(
    requestId: string,
    body: Uint8Array,
    arrivedAt: number,
  ): ApiResult {
    return this.#settleInvocation(requestId, arrivedAt, {
      status: "success",
      body: new TextDecoder().decode(body),
      bytes: body.length,
    });
  }

  invocationError(
    requestId: string,
    errorType: string | null,
    body: Uint8Array,
    arrivedAt: number,
  ): ApiResult {
    const text = new TextDecoder().decode(body);
    let bodyType: unknown;
    try {
      bodyType = JSON.parse(text)?.errorType;
    } catch {
      bodyType = undefined;
    }
    return this.#settleInvocation(requestId, arrivedAt, {
      status: "error",
      errorType: errorType ??
        (typeof bodyType === "string" ? bodyType : "Unhandled"),
      body: text,
      bytes: body.length,
    });
  }

  #settleInvocation(
    requestId: string,
    arrivedAt: number,
    result: {
      status: PlatformStatus;
      errorType?: string;
      body: string;
      bytes: number;
    },
  ): ApiResult {
    const current = this.#current;
    if (!current || current.requestId !== requestId) {
      return {
        status: 400,
        json: {
          errorType: "InvalidRequestID",
          errorMessage: `no invocation ${requestId} is in progress`,
        },
      };
    }
    if (current.outcome) {
      return {
        status: 400,
        json: {
          errorType: "InvalidStateTransition",
          errorMessage: `invocation ${requestId} already has a result`,
        },
      };
    }
    const respondedAt = performance.now();
    const outcome: RuntimeOutcome = {
      status: result.status,
      ...(result.errorType ? { errorType: result.errorType } : {}),
      body: result.body,
      respondedAt,
    };
    current.outcome = outcome;
    current.timings = {
      startedAt: current.startedAt,
      latencyMs: arrivedAt - current.handedOutAt,
      responseMs: respondedAt - arrivedAt,
      producedBytes: result.bytes,
    };
    current.responded.resolve(outcome);
    return { status: 202, json: { status: "OK" } };
  }

  runtimeInitError(errorType: string | null, body: Uint8Array): ApiResult {
    const text = new TextDecoder().decode(body);
    if (this.#phase === "init") {
      this.#initFailure.reject(
        new Error(`the runtime reported an init error ${errorType}: ${text}`),
      );
    }
    return { status: 202, json: { status: "OK" } };
  }

  // ---- Extensions API ------------------------------------------------------------

  registerExtension(
    name: string | null,
    acceptFeatures: string[],
    body: unknown,
  ): ApiResult {
    if (!name) {
      return forbidden(
        400,
        "InvalidRequest",
        "Lambda-Extension-Name header is required",
      );
    }
    if (this.#phase !== "init") {
      return forbidden(
        403,
        "Extension.InvalidRegistration",
        "registration is open during init only",
      );
    }
    const extension = this.#extensions.find((e) => e.spec.name === name);
    if (!extension) {
      return forbidden(
        403,
        "Extension.UnknownExtension",
        `no extension file named ${name} (expected one of: ${
          this.#extensions.map((e) => e.spec.name).join(", ")
        })`,
      );
    }
    if (extension.id) {
      return forbidden(
        403,
        "Extension.AlreadyRegistered",
        `${name} is already registered`,
      );
    }
    const events = (body as { events?: unknown } | undefined)?.events ?? [];
    if (
      !Array.isArray(events) ||
      !events.every((event) => event === "INVOKE" || event === "SHUTDOWN")
    ) {
      return forbidden(
        400,
        "InvalidRequestFormat",
        "events must be a list of INVOKE, SHUTDOWN",
      );
    }
    const id = crypto.randomUUID();
    extension.id = id;
    extension.events = [...new Set(events as string[])];
    this.#extensionsById.set(id, extension);
    this.#emit("platform.extension", extensionRecord(name, extension.events));
    extension.registered.resolve();
    return {
      status: 200,
      headers: { "Lambda-Extension-Identifier": id },
      json: {
        functionName: this.#fn.name,
        functionVersion: this.#fn.version,
        handler: this.#options.fn.handler,
        ...(acceptFeatures.includes("accountId")
          ? { accountId: this.#fn.accountId }
          : {}),
      },
    };
  }

  async nextExtensionEvent(id: string | null): Promise<ApiResult> {
    const extension = this.#identify(id);
    if ("status" in extension) return extension;
    return await extension.mailbox.take();
  }

  extensionError(
    id: string | null,
    kind: "init" | "exit",
    errorType: string | null,
    body: Uint8Array,
  ): ApiResult {
    const extension = this.#identify(id);
    if ("status" in extension) return extension;
    const report = {
      name: extension.spec.name,
      kind,
      errorType,
      body: new TextDecoder().decode(body),
    };
    this.extensionErrors.push(report);
    if (kind === "init" && this.#phase === "init") {
      this.#initFailure.reject(
        new Error(`${report.name} reported an init error ${errorType}`),
      );
    }
    return { status: 202, json: { status: "OK" } };
  }

  subscribeTelemetry(id: string | null, body: unknown): ApiResult {
    const extension = this.#identify(id);
    if ("status" in extension) return extension;
    const parsed = parseSubscription(body);
    if (!parsed.ok) {
      return forbidden(400, parsed.errorType, parsed.errorMessage);
    }
    const subscription = parsed.subscription;
    const previous = extension.delivery;
    extension.types = subscription.types;
    extension.delivery = new TelemetryDelivery({
      subscriber: extension.spec.name,
      subscription,
      policy: this.#options.delivery ?? DEFAULT_DELIVERY_POLICY,
      fetch: (input, init) =>
        fetch(input, { ...init, client: this.#httpClient }),
      onDropped: (batch) => {
        if (!batch.onlyDropNotices) {
          this.#emit(
            "platform.logsDropped",
            logsDroppedRecord(batch.records, batch.bytes),
          );
        }
      },
    });
    if (previous) {
      void previous.close();
    } else {
      // Telemetry since the start of init waits for the first subscription.
      for (const entry of this.events) {
        if (extension.types.includes(typeCategory(entry.event.type))) {
          extension.delivery.enqueue(entry);
        }
      }
    }
    this.#emit(
      "platform.telemetrySubscription",
      telemetrySubscriptionRecord(extension.spec.name, subscription.types),
    );
    return {
      status: 200,
      text: "OK",
      headers: { "content-type": "text/plain" },
    };
  }

  #identify(id: string | null): ExtensionState | ApiResult {
    if (!id) {
      return forbidden(
        400,
        "Extension.MissingExtensionIdentifier",
        "Lambda-Extension-Identifier header is required",
      );
    }
    const extension = this.#extensionsById.get(id);
    if (!extension) {
      return forbidden(
        403,
        "Extension.InvalidExtensionIdentifier",
        `unknown extension identifier ${id}`,
      );
    }
    return extension;
  }
}

/** `platform`, `function` or `extension` for an event type. */
export function typeCategory(type: string): string {
  return type.startsWith("platform.") ? "platform" : type;
}

function forbidden(
  status: number,
  errorType: string,
  errorMessage: string,
): ApiResult {
  return { status, json: { errorType, errorMessage } };
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
