/**
 * The Extensions API and Telemetry API side of the sandbox: registration
 * (with the `Lambda-Extension-Identifier` rules and the `accountId`
 * feature), each extension's `/event/next` mailbox, `/init/error` and
 * `/exit/error`, and telemetry subscriptions handed to the hub.
 *
 * @module
 */
import { SandboxTimeoutError } from "./timing.ts";
import type { ApiResult } from "./api_server.ts";
import type { ManagedProcess } from "./child_process.ts";
import { LongPoll } from "./long_poll.ts";
import { extensionRecord } from "./platform_events.ts";
import { parseSubscription } from "./subscription.ts";
import type { TelemetryHub } from "./telemetry_hub.ts";

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

/** Lifecycle events an extension can register for. */
export type ExtensionEventType = "INVOKE" | "SHUTDOWN";

/** One extension as the platform sees it. */
export interface HostedExtension {
  /** How it was started. */
  readonly spec: ExtensionSpec;
  /** Its process, once started. */
  process: ManagedProcess | null;
  /** Identifier given at registration. */
  id: string | null;
  /** Events it registered for. */
  events: ExtensionEventType[];
  /** Its `/event/next` mailbox. */
  readonly mailbox: LongPoll<ApiResult>;
  /** Resolves when it registered. */
  readonly registered: PromiseWithResolvers<void>;
}

/** What the host needs to know about the function and the phase. */
export interface ExtensionHostContext {
  /** Function name (in the register answer). */
  functionName: string;
  /** Function version (in the register answer). */
  functionVersion: string;
  /** Handler setting (in the register answer). */
  handler: string;
  /** Given to extensions that accept the `accountId` feature. */
  accountId: string;
  /** Where telemetry subscriptions go. */
  hub: TelemetryHub;
  /** True while registration is open (init). */
  acceptsRegistration(): boolean;
  /** Called when an extension reports an init error during init. */
  onInitError(message: string): void;
}

/** The platform's registry of external extensions. */
export class ExtensionHost {
  /** The extensions, in start order. */
  readonly extensions: HostedExtension[];
  /** Errors reported with /init/error or /exit/error. */
  readonly errors: ExtensionErrorReport[] = [];
  readonly #byId = new Map<string, HostedExtension>();
  readonly #context: ExtensionHostContext;

  constructor(specs: readonly ExtensionSpec[], context: ExtensionHostContext) {
    this.#context = context;
    const names = new Set<string>();
    this.extensions = specs.map((spec) => {
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
      };
    });
  }

  /** Names of the extensions that have not registered. */
  unregistered(): string[] {
    return this.extensions.filter((e) => !e.id).map((e) => e.spec.name);
  }

  /** Resolves once every extension waits in `/event/next`. */
  async allWaiting(): Promise<void> {
    await Promise.all(this.extensions.map((e) => e.mailbox.whenWaiting()));
  }

  /** Hands an event to every extension registered for its type; returns those that were not. */
  send(
    eventType: ExtensionEventType,
    body: Record<string, unknown>,
  ): HostedExtension[] {
    const notRegistered: HostedExtension[] = [];
    for (const extension of this.extensions) {
      if (!extension.events.includes(eventType)) {
        notRegistered.push(extension);
        continue;
      }
      extension.mailbox.put({
        status: 200,
        json: { eventType, ...body },
        headers: { "Lambda-Extension-Event-Identifier": crypto.randomUUID() },
      });
    }
    return notRegistered;
  }

  /** Fails every waiting `/event/next`. */
  close(): void {
    for (const extension of this.extensions) extension.mailbox.close();
  }

  /** `POST /extension/register`. */
  register(
    name: string | null,
    acceptFeatures: string[],
    body: unknown,
  ): ApiResult {
    if (!name) {
      return apiError(
        400,
        "InvalidRequest",
        "Lambda-Extension-Name header is required",
      );
    }
    if (!this.#context.acceptsRegistration()) {
      return apiError(
        403,
        "Extension.InvalidRegistration",
        "registration is open during init only",
      );
    }
    const extension = this.extensions.find((e) => e.spec.name === name);
    if (!extension) {
      return apiError(
        403,
        "Extension.UnknownExtension",
        `no extension file named ${name} (expected one of: ${
          this.extensions.map((e) => e.spec.name).join(", ")
        })`,
      );
    }
    if (extension.id) {
      return apiError(
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
      return apiError(
        400,
        "InvalidRequestFormat",
        "events must be a list of INVOKE, SHUTDOWN",
      );
    }
    const id = crypto.randomUUID();
    extension.id = id;
    extension.events = [...new Set(events as ExtensionEventType[])];
    this.#byId.set(id, extension);
    this.#context.hub.emit(
      "platform.extension",
      extensionRecord(name, extension.events),
    );
    extension.registered.resolve();
    return {
      status: 200,
      headers: { "Lambda-Extension-Identifier": id },
      json: {
        functionName: this.#context.functionName,
        functionVersion: this.#context.functionVersion,
        handler: this.#context.handler,
        ...(acceptFeatures.includes("accountId")
          ? { accountId: this.#context.accountId }
          : {}),
      },
    };
  }

  /** `GET /extension/event/next`. */
  async next(id: string | null): Promise<ApiResult> {
    const extension = this.#identify(id);
    if ("status" in extension) return extension;
    return await extension.mailbox.take();
  }

  /** `POST /extension/init/error` and `/exit/error`. */
  reportError(
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
    this.errors.push(report);
    if (kind === "init") {
      this.#context.onInitError(
        `${report.name} reported an init error ${errorType}`,
      );
    }
    return { status: 202, json: { status: "OK" } };
  }

  /** `PUT /telemetry`. */
  subscribe(id: string | null, body: unknown): ApiResult {
    const extension = this.#identify(id);
    if ("status" in extension) return extension;
    const parsed = parseSubscription(body);
    if (!parsed.ok) return apiError(400, parsed.errorType, parsed.errorMessage);
    this.#context.hub.subscribe(extension.spec.name, parsed.subscription);
    return {
      status: 200,
      text: "OK",
      headers: { "content-type": "text/plain" },
    };
  }

  #identify(id: string | null): HostedExtension | ApiResult {
    if (!id) {
      return apiError(
        400,
        "Extension.MissingExtensionIdentifier",
        "Lambda-Extension-Identifier header is required",
      );
    }
    return this.#byId.get(id) ??
      apiError(
        403,
        "Extension.InvalidExtensionIdentifier",
        `unknown extension identifier ${id}`,
      );
  }
}

/** An error answer in Lambda's shape. */
export function apiError(
  status: number,
  errorType: string,
  errorMessage: string,
): ApiResult {
  return { status, json: { errorType, errorMessage } };
}

/**
 * The error a failed init step ends the sandbox with: what it waited for
 * (or what went wrong), then every init/exit error the extensions reported.
 */
export function initStepError(
  error: unknown,
  withinMs: number,
  describe: () => string,
  errors: readonly ExtensionErrorReport[],
): Error {
  const reason = error instanceof SandboxTimeoutError
    ? `${describe()} (after ${Math.round(withinMs)} ms)`
    : error instanceof Error
    ? error.message
    : String(error);
  const details = errors.map((e) =>
    `\n  ${e.name} ${e.kind}/error ${e.errorType}: ${e.body}`
  ).join("");
  return new Error(`sandbox init failed: ${reason}${details}`);
}
