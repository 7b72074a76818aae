/**
 * The HTTP face of the sandbox: routes the Runtime API, the Extensions API
 * and the Telemetry API on one loopback server (what `AWS_LAMBDA_RUNTIME_API`
 * points at) to a {@linkcode LambdaPlatform}, which holds all the state.
 *
 * Long polls do not watch `request.signal`: a client that goes away is a
 * process that died, which the lifecycle notices through the process itself.
 *
 * @module
 */

/** What a platform call answers; turned into an HTTP response. */
export interface ApiResult {
  /** HTTP status. */
  status: number;
  /** JSON body. */
  json?: unknown;
  /** Raw body (used instead of `json`, e.g. an invocation payload). */
  text?: string;
  /** Extra headers. */
  headers?: Record<string, string>;
}

/** The calls a runtime and extensions make, already parsed out of HTTP. */
export interface LambdaPlatform {
  /** `GET /runtime/invocation/next`: waits for the next invocation. */
  nextInvocation(): Promise<ApiResult>;
  /** `POST /runtime/invocation/{id}/response`. */
  invocationResponse(
    requestId: string,
    body: Uint8Array,
    arrivedAt: number,
  ): ApiResult;
  /** `POST /runtime/invocation/{id}/error`. */
  invocationError(
    requestId: string,
    errorType: string | null,
    body: Uint8Array,
    arrivedAt: number,
  ): ApiResult;
  /** `POST /runtime/init/error`. */
  runtimeInitError(errorType: string | null, body: Uint8Array): ApiResult;
  /** `POST /extension/register`. */
  registerExtension(
    name: string | null,
    acceptFeatures: string[],
    body: unknown,
  ): ApiResult;
  /** `GET /extension/event/next`: waits for the extension's next event. */
  nextExtensionEvent(id: string | null): Promise<ApiResult>;
  /** `POST /extension/init/error` and `/exit/error`. */
  extensionError(
    id: string | null,
    kind: "init" | "exit",
    errorType: string | null,
    body: Uint8Array,
  ): ApiResult;
  /** `PUT /telemetry`. */
  subscribeTelemetry(id: string | null, body: unknown): ApiResult;
}

/** Largest invocation response Lambda accepts (6 MiB). */
export const MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

const RUNTIME = "/2018-06-01/runtime";
const EXTENSION = "/2020-01-01/extension";
const TELEMETRY = "/2022-07-01/telemetry";
const INVOCATION_CALL =
  /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/;

/** Builds the `Deno.serve` handler. */
export function createApiHandler(
  platform: LambdaPlatform,
): (request: Request) => Promise<Response> {
  return async (request) => {
    try {
      return toResponse(await route(platform, request));
    } catch (error) {
      return toResponse({
        status: 500,
        json: {
          errorType: "ServiceException",
          errorMessage: error instanceof Error ? error.message : String(error),
        },
      });
    }
  };
}

async function route(
  platform: LambdaPlatform,
  request: Request,
): Promise<ApiResult> {
  const arrivedAt = performance.now();
  const { pathname } = new URL(request.url);
  const method = request.method;
  const extensionId = request.headers.get("Lambda-Extension-Identifier");
  if (pathname === `${RUNTIME}/invocation/next` && method === "GET") {
    return await platform.nextInvocation();
  }
  const invocationCall = INVOCATION_CALL.exec(pathname);
  if (invocationCall && method === "POST") {
    const body = await readBody(request);
    const requestId = decodeURIComponent(invocationCall[1]);
    if (invocationCall[2] === "response") {
      if (body.length > MAX_RESPONSE_BYTES) {
        return {
          status: 413,
          json: {
            errorType: "RequestEntityTooLarge",
            errorMessage: `response is larger than ${MAX_RESPONSE_BYTES} bytes`,
          },
        };
      }
      return platform.invocationResponse(requestId, body, arrivedAt);
    }
    return platform.invocationError(
      requestId,
      request.headers.get("Lambda-Runtime-Function-Error-Type"),
      body,
      arrivedAt,
    );
  }
  if (pathname === `${RUNTIME}/init/error` && method === "POST") {
    return platform.runtimeInitError(
      request.headers.get("Lambda-Runtime-Function-Error-Type"),
      await readBody(request),
    );
  }
  if (pathname === `${EXTENSION}/register` && method === "POST") {
    const body = parseJson(await readBody(request));
    if (body === INVALID) return invalidJson();
    return platform.registerExtension(
      request.headers.get("Lambda-Extension-Name"),
      (request.headers.get("Lambda-Extension-Accept-Feature") ?? "")
        .split(",").map((feature) => feature.trim()).filter(Boolean),
      body,
    );
  }
  if (pathname === `${EXTENSION}/event/next` && method === "GET") {
    return await platform.nextExtensionEvent(extensionId);
  }
  const extensionError = /^\/2020-01-01\/extension\/(init|exit)\/error$/.exec(
    pathname,
  );
  if (extensionError && method === "POST") {
    return platform.extensionError(
      extensionId,
      extensionError[1] as "init" | "exit",
      request.headers.get("Lambda-Extension-Function-Error-Type"),
      await readBody(request),
    );
  }
  if (pathname === TELEMETRY && method === "PUT") {
    const body = parseJson(await readBody(request));
    if (body === INVALID) return invalidJson();
    return platform.subscribeTelemetry(extensionId, body);
  }
  const known = pathname.startsWith(RUNTIME) ||
    pathname.startsWith(EXTENSION) || pathname === TELEMETRY;
  return {
    status: known ? 405 : 404,
    json: {
      errorType: known ? "MethodNotAllowed" : "NotFound",
      errorMessage: `${method} ${pathname} is not part of the Lambda APIs`,
    },
  };
}

const INVALID = Symbol("invalid JSON");

async function readBody(request: Request): Promise<Uint8Array> {
  return new Uint8Array(await request.arrayBuffer());
}

function parseJson(body: Uint8Array): unknown {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return INVALID;
  }
}

function invalidJson(): ApiResult {
  return {
    status: 400,
    json: {
      errorType: "InvalidRequestFormat",
      errorMessage: "request body is not valid JSON",
    },
  };
}

function toResponse(result: ApiResult): Response {
  const headers = new Headers(result.headers);
  if (result.text !== undefined) {
    if (!headers.has("content-type")) {
      headers.set("content-type", "application/json");
    }
    return new Response(result.text, { status: result.status, headers });
  }
  if (result.json === undefined) {
    return new Response(null, { status: result.status, headers });
  }
  headers.set("content-type", "application/json");
  return new Response(JSON.stringify(result.json), {
    status: result.status,
    headers,
  });
}
