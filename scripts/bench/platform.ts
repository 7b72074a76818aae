/**
 * A minimal, instrumented Lambda platform for one extension: the Extensions
 * API (register, event/next, init/exit errors) and the Telemetry API
 * subscription on a loopback port. Unlike the full sandbox it runs no
 * function: the bench drives INVOKE and SHUTDOWN itself, posts telemetry
 * straight to the subscribed listener, and reads the time stamp of every
 * step (`performance.now()` of this process).
 *
 * @module
 */

/** When the extension reached each step of its init. */
export interface InitTimeline {
  /** `POST /register` arrived. */
  registeredAt?: number;
  /** `PUT /telemetry` arrived. */
  subscribedAt?: number;
  /** The first `GET /event/next` arrived. */
  firstNextAt?: number;
}

/** The platform as the bench sees it. */
export interface BenchPlatform {
  /** `127.0.0.1:<port>`: the extension's `AWS_LAMBDA_RUNTIME_API`. */
  readonly runtimeApi: string;
  /** Init steps seen so far. */
  readonly timeline: InitTimeline;
  /** The listener the extension subscribed, on loopback; undefined before. */
  readonly listenerUrl: string | undefined;
  /** Errors the extension reported (`init/error`, `exit/error`). */
  readonly errors: readonly string[];
  /** Resolves with the time the extension is (or next gets) parked in `/event/next`. */
  whenWaiting(): Promise<number>;
  /** Hands out an INVOKE; the extension must be waiting or about to wait. */
  invoke(requestId: string, deadlineMs?: number): void;
  /** Hands out SHUTDOWN with a deadline `budgetMs` from now. */
  shutdown(budgetMs: number): void;
  /** Closes the server (pending `/event/next` calls are dropped). */
  close(): Promise<void>;
}

/** Function identity the platform answers registration with. */
export const BENCH_FUNCTION = {
  functionName: "bench-function",
  functionVersion: "$LATEST",
  handler: "index.handler",
  accountId: "123456789012",
} as const;

const EXTENSION = "/2020-01-01/extension";
const TELEMETRY = "/2022-07-01/telemetry";

/** Starts the platform on 127.0.0.1 and a free port. */
export function startBenchPlatform(): BenchPlatform {
  const timeline: InitTimeline = {};
  const errors: string[] = [];
  const queued: unknown[] = [];
  let listenerUrl: string | undefined;
  let parked: ((event: unknown) => void) | undefined;
  let waitingSince: number | undefined;
  let waiters: ((at: number) => void)[] = [];
  const identifier = crypto.randomUUID();

  const deliver = (event: unknown) => {
    if (parked) {
      const answer = parked;
      parked = undefined;
      waitingSince = undefined;
      answer(event);
    } else queued.push(event);
  };

  const nextEvent = (): Promise<unknown> => {
    const at = performance.now();
    timeline.firstNextAt ??= at;
    if (queued.length > 0) return Promise.resolve(queued.shift());
    waitingSince = at;
    for (const waiter of waiters) waiter(at);
    waiters = [];
    return new Promise((resolve) => {
      parked = resolve;
    });
  };

  const handler = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (request.method === "POST" && path === `${EXTENSION}/register`) {
      timeline.registeredAt = performance.now();
      await request.body?.cancel();
      return Response.json({
        functionName: BENCH_FUNCTION.functionName,
        functionVersion: BENCH_FUNCTION.functionVersion,
        handler: BENCH_FUNCTION.handler,
        accountId: BENCH_FUNCTION.accountId,
      }, { headers: { "Lambda-Extension-Identifier": identifier } });
    }
    if (request.method === "GET" && path === `${EXTENSION}/event/next`) {
      const event = await nextEvent();
      return Response.json(event, {
        headers: { "Lambda-Extension-Event-Identifier": crypto.randomUUID() },
      });
    }
    if (request.method === "PUT" && path === TELEMETRY) {
      timeline.subscribedAt = performance.now();
      const body = await request.json();
      // Lambda resolves sandbox.localdomain to the environment; here that is loopback.
      const uri = new URL(body?.destination?.URI ?? "");
      listenerUrl = `http://127.0.0.1:${uri.port}/`;
      return new Response("OK");
    }
    if (
      request.method === "POST" &&
      (path === `${EXTENSION}/init/error` || path === `${EXTENSION}/exit/error`)
    ) {
      errors.push(`${path.split("/").pop()}: ${await request.text()}`);
      return Response.json({ status: "OK" }, { status: 202 });
    }
    await request.body?.cancel();
    return new Response("not found", { status: 404 });
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    handler,
  );

  return {
    runtimeApi: `127.0.0.1:${server.addr.port}`,
    timeline,
    get listenerUrl() {
      return listenerUrl;
    },
    errors,
    whenWaiting() {
      if (waitingSince !== undefined) return Promise.resolve(waitingSince);
      return new Promise((resolve) => waiters.push(resolve));
    },
    invoke(requestId, deadlineMs = Date.now() + 30_000) {
      deliver({
        eventType: "INVOKE",
        deadlineMs,
        requestId,
        invokedFunctionArn:
          `arn:aws:lambda:us-east-1:${BENCH_FUNCTION.accountId}:function:${BENCH_FUNCTION.functionName}`,
        tracing: { type: "X-Amzn-Trace-Id", value: "Root=1-0-0;Sampled=0" },
      });
    },
    shutdown(budgetMs) {
      deliver({
        eventType: "SHUTDOWN",
        shutdownReason: "SPINDOWN",
        deadlineMs: Date.now() + budgetMs,
      });
    },
    async close() {
      // A parked call must end, or the server would wait for it forever
      // (its client may already be gone).
      parked?.({
        eventType: "SHUTDOWN",
        shutdownReason: "SPINDOWN",
        deadlineMs: 0,
      });
      parked = undefined;
      await server.shutdown();
    },
  };
}
