/**
 * A scripted Extensions + Telemetry API on loopback for unit tests of the
 * extension: it answers register and subscribe, hands out the lifecycle
 * events a test queues, records every call, and can POST telemetry to the
 * subscribed listener. Not a Lambda emulator: the sandbox is that.
 *
 * @module
 */

/** A recorded API call. */
export interface RecordedCall {
  /** HTTP method. */
  method: string;
  /** Path. */
  path: string;
  /** Request headers. */
  headers: Headers;
  /** Body text. */
  body: string;
  /** `Date.now()` when the call arrived. */
  at: number;
}

/** A lifecycle event handed out by `/event/next`. */
export interface ServedEvent {
  /** The event. */
  event: Record<string, unknown>;
  /** `Date.now()` when the answer was handed to the extension. */
  at: number;
  /** Index in `calls` of the `/event/next` call it answered. */
  callIndex: number;
}

/** Options of the scripted API. */
export interface ScriptedApiOptions {
  /** Status for register (default 200). */
  registerStatus?: number;
  /** Statuses for successive subscribe calls (default all 200). */
  subscribeStatuses?: number[];
  /** Statuses for successive event/next calls before the queued events (default none). */
  nextFailures?: number[];
  /** Account id to grant. */
  accountId?: string;
}

/** A running scripted API. */
export interface ScriptedApi {
  /** `host:port` for AWS_LAMBDA_RUNTIME_API. */
  runtimeApi: string;
  /** Every call received. */
  calls: RecordedCall[];
  /** Every lifecycle event handed out, in order. */
  served: ServedEvent[];
  /** Queues a lifecycle event for `/event/next`. */
  queue(event: Record<string, unknown>): void;
  /** Resolves when the extension waits in `/event/next` for the `n`-th time (1-based). */
  waitForNext(n: number): Promise<void>;
  /** The subscription body, once subscribed. */
  subscription(): Record<string, unknown> | undefined;
  /** POSTs a body to the subscribed listener (host rewritten to 127.0.0.1). */
  pushTelemetry(body: string | Uint8Array<ArrayBuffer>): Promise<Response>;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Starts a scripted API on 127.0.0.1 and a free port. */
export function startScriptedApi(
  options: ScriptedApiOptions = {},
): ScriptedApi {
  const calls: RecordedCall[] = [];
  const served: ServedEvent[] = [];
  const queued: Record<string, unknown>[] = [];
  const nextWaiters: (() => void)[] = [];
  const nextCallWaiters = new Map<number, () => void>();
  const subscribeStatuses = [...(options.subscribeStatuses ?? [])];
  const nextFailures = [...(options.nextFailures ?? [])];
  let nextCalls = 0;
  let subscription: Record<string, unknown> | undefined;

  const takeEvent = async (): Promise<Record<string, unknown>> => {
    while (queued.length === 0) {
      await new Promise<void>((resolve) => nextWaiters.push(resolve));
    }
    return queued.shift()!;
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const body = await request.text();
      const callIndex = calls.length;
      calls.push({
        method: request.method,
        path: url.pathname,
        headers: request.headers,
        body,
        at: Date.now(),
      });
      switch (url.pathname) {
        case "/2020-01-01/extension/register": {
          const status = options.registerStatus ?? 200;
          if (status !== 200) return new Response("refused", { status });
          return Response.json({
            functionName: "test-function",
            functionVersion: "$LATEST",
            handler: "index.handler",
            ...(options.accountId ? { accountId: options.accountId } : {}),
          }, { headers: { "Lambda-Extension-Identifier": "ext-id-1" } });
        }
        case "/2022-07-01/telemetry": {
          const status = subscribeStatuses.shift() ?? 200;
          if (status === 200) subscription = JSON.parse(body);
          return new Response(status === 200 ? "OK" : "refused", { status });
        }
        case "/2020-01-01/extension/event/next": {
          nextCalls++;
          nextCallWaiters.get(nextCalls)?.();
          const failure = nextFailures.shift();
          if (failure) return new Response("failure", { status: failure });
          const event = await takeEvent();
          served.push({ event, at: Date.now(), callIndex });
          return Response.json(event);
        }
        case "/2020-01-01/extension/init/error":
        case "/2020-01-01/extension/exit/error":
          return new Response(null, { status: 202 });
        default:
          return new Response("not found", { status: 404 });
      }
    },
  );

  return {
    runtimeApi: `127.0.0.1:${server.addr.port}`,
    calls,
    served,
    queue(event) {
      queued.push(event);
      nextWaiters.splice(0).forEach((wake) => wake());
    },
    waitForNext(n) {
      if (nextCalls >= n) return Promise.resolve();
      return new Promise((resolve) => nextCallWaiters.set(n, resolve));
    },
    subscription: () => subscription,
    async pushTelemetry(body) {
      const uri = (subscription?.destination as { URI: string }).URI.replace(
        "sandbox.localdomain",
        "127.0.0.1",
      );
      return await fetch(uri, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    },
    async close() {
      // Release a loop still blocked in event/next so the server can stop.
      queued.push({ eventType: "SHUTDOWN", deadlineMs: Date.now() + 2000 });
      nextWaiters.splice(0).forEach((wake) => wake());
      await server.shutdown();
    },
  };
}
