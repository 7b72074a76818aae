/**
 * The AWS SDK's HTTP layer for Kinesis: HTTP/1.1 over Deno's own TCP and
 * TLS sockets, with keep-alive that its owner ends.
 *
 * - A connection is reused only until {@linkcode KeepAliveHandler.closeAll},
 *   which the lifecycle calls before each `/event/next`: Lambda may freeze
 *   the environment there, and a kept connection may be dead after the
 *   thaw. Within a flush, and while the runtime runs, requests share one
 *   connection (one TCP and TLS handshake instead of one per request).
 * - It never sends a request twice. Deno's `node:http` re-sends a request by
 *   itself when a reused connection closes before the answer, which turns
 *   a PutRecords that Kinesis stored into a silent duplicate; here a
 *   connection that fails after the request was written fails the request
 *   with its outcome unknown, and the sender decides (and counts).
 * - A connection idle longer than `idleTimeoutMs` is closed, so a server's
 *   own idle timeout rarely races a request on a managed instance (no
 *   freeze there, so no `closeAll` either).
 *
 * @module
 */

/** The parts of the SDK's `HttpRequest` this handler reads. */
export interface HttpRequestLike {
  /** HTTP method. */
  method: string;
  /** `http:` or `https:`. */
  protocol: string;
  /** Host name. */
  hostname: string;
  /** Port, if not the protocol's default. */
  port?: number;
  /** Path. */
  path: string;
  /** Query parameters. */
  query?: Record<string, string | string[] | null | undefined>;
  /** Header names and values. */
  headers: Record<string, string>;
  /** A string or bytes (the SDK serialises PutRecords as a JSON string). */
  body?: unknown;
}

/** The response, shaped as the SDK's `HttpResponse` (checked by shape). */
export interface HttpResponseLike {
  /** Status code. */
  statusCode: number;
  /** Reason phrase. */
  reason: string;
  /** Header names (lower case) and values. */
  headers: Record<string, string>;
  /** The whole body. */
  body: Uint8Array;
}

/** Where a connection goes. */
export interface ConnectTarget {
  /** Host name. */
  hostname: string;
  /** Port. */
  port: number;
  /** Whether to speak TLS. */
  tls: boolean;
}

/** Opens a connection; `Deno.connect` / `Deno.connectTls` by default. */
export type Connector = (target: ConnectTarget) => Promise<Deno.Conn>;

/** Settings of a {@linkcode KeepAliveHandler}. */
export interface KeepAliveHandlerOptions {
  /** Opens connections. */
  connect?: Connector;
  /** A kept connection idle this long is closed. */
  idleTimeoutMs?: number;
  /** Kept connections per origin at most (more are closed after use). */
  maxIdlePerOrigin?: number;
}

/** Connections opened and reused, for the bench and the tests. */
export interface ConnectionCounts {
  /** Connections opened. */
  opened: number;
  /** Requests sent on a connection that had served one before. */
  reused: number;
}

/**
 * A failure of the HTTP exchange. `requestSent` false means no byte of the
 * request reached the network (connection refused, DNS, TLS handshake):
 * the request cannot have been stored.
 */
export class HttpExchangeError extends Error {
  /** Whether any of the request may have reached the server. */
  readonly requestSent: boolean;
  /** A Node-style code (`ECONNREFUSED`, `ECONNRESET`, …) for the SDK's classifiers. */
  readonly code: string;
  /** Creates the error. */
  constructor(
    message: string,
    options: { requestSent: boolean; code: string; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "HttpExchangeError";
    this.requestSent = options.requestSent;
    this.code = options.code;
  }
}

/** Default: below the idle timeouts of common load balancers (60 s) by far. */
export const DEFAULT_IDLE_TIMEOUT_MS = 4_000;
const DEFAULT_MAX_IDLE_PER_ORIGIN = 4;
const MAX_HEAD_BYTES = 64 * 1024;
const SEPARATE_BODY_FROM_BYTES = 16 * 1024;
const READ_CHUNK_BYTES = 16 * 1024;
const CRLF_CRLF = [13, 10, 13, 10];
const utf8 = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/**
 * TCP with Nagle's algorithm off, then TLS on top (`Deno.connectTls` offers
 * no `setNoDelay`): with it on, a request larger than one TLS record goes
 * out in two segments and the second waits for the server's delayed ACK,
 * 40 ms per request (measured with a 20 KB PutRecords on loopback).
 */
const defaultConnect: Connector = async ({ hostname, port, tls }) => {
  const tcp = await Deno.connect({ hostname, port, transport: "tcp" });
  try {
    tcp.setNoDelay(true);
    return tls ? await Deno.startTls(tcp, { hostname }) : tcp;
  } catch (error) {
    tcp.close();
    throw error;
  }
};

/** One open connection and the bytes read past the last response. */
class Connection {
  pending: Uint8Array = new Uint8Array(0);
  served = 0;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  closed = false;
  constructor(readonly conn: Deno.Conn, readonly generation: number) {}

  close(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed by a failed read or write.
    }
  }
}

/** An SDK request handler (`requestHandler`) on Deno sockets with owner-ended keep-alive. */
export class KeepAliveHandler {
  /** Read by the SDK's host-header middleware. */
  readonly metadata = { handlerProtocol: "http/1.1" };
  readonly #connect: Connector;
  readonly #idleTimeoutMs: number;
  readonly #maxIdle: number;
  readonly #idle = new Map<string, Connection[]>();
  readonly #sent = new WeakSet<AbortSignal>();
  readonly #dryRuns = new WeakSet<AbortSignal>();
  readonly #signalsByBody = new WeakMap<object, AbortSignal>();
  #generation = 0;
  #counts: ConnectionCounts = { opened: 0, reused: 0 };

  /** Creates the handler. */
  constructor(options: KeepAliveHandlerOptions = {}) {
    this.#connect = options.connect ?? defaultConnect;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.#maxIdle = options.maxIdlePerOrigin ?? DEFAULT_MAX_IDLE_PER_ORIGIN;
  }

  /**
   * Whether any byte of the request made with `signal` was handed to the
   * network. Read right after aborting: false means it was never sent and
   * cannot have been stored (this handler checks the signal just before
   * writing, in the same turn).
   */
  wasSent(signal: AbortSignal): boolean {
    return this.#sent.has(signal);
  }

  /**
   * Makes the request carrying `signal` end here, unsent, with a
   * `DryRunError`: the SDK's whole request path (endpoint, serialising,
   * signing) runs once without touching the network, so its lazy set-up
   * is not paid by the first real request.
   */
  markDryRun(signal: AbortSignal): void {
    this.#dryRuns.add(signal);
  }

  /**
   * Ties `signal` to the request whose body is `body`: the SDK then need
   * not carry it (a `send` without options reuses its resolved middleware
   * stack), and the signing step's copy of the request keeps the body.
   */
  bindSignal(body: object, signal: AbortSignal): void {
    this.#signalsByBody.set(body, signal);
  }

  /** Connections opened and reused so far. */
  get counts(): ConnectionCounts {
    return { ...this.#counts };
  }

  /**
   * Closes every kept connection, and those in use once their request
   * ends: the next request opens a fresh one.
   */
  closeAll(): void {
    this.#generation++;
    for (const list of this.#idle.values()) {
      for (const connection of list) connection.close();
    }
    this.#idle.clear();
  }

  /** Same as {@linkcode closeAll}; the SDK calls it when its client is destroyed. */
  destroy(): void {
    this.closeAll();
  }

  /** Part of the SDK's handler interface; nothing is configurable at run time. */
  updateHttpClientConfig(_key: string, _value: unknown): void {}

  /** Part of the SDK's handler interface. */
  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  /** Sends `request` and reads the whole answer; aborting closes its connection. */
  async handle(
    request: HttpRequestLike,
    options: { abortSignal?: unknown } = {},
  ): Promise<{ response: HttpResponseLike }> {
    // The SDK types its signal loosely; what reaches here is the caller's
    // AbortSignal (kinesis_client.ts passes a real one).
    const signal = options.abortSignal instanceof AbortSignal
      ? options.abortSignal
      : typeof request.body === "object" && request.body !== null
      ? this.#signalsByBody.get(request.body)
      : undefined;
    if (signal?.aborted) throw abortError(false);
    if (signal && this.#dryRuns.has(signal)) {
      const error = new HttpExchangeError("dry run: not sent", {
        requestSent: false,
        code: "DRY_RUN",
      });
      error.name = "DryRunError";
      throw error;
    }
    const tls = request.protocol === "https:" || request.protocol === "https";
    const port = request.port ?? (tls ? 443 : 80);
    const key = `${tls ? "s" : ""}${request.hostname}:${port}`;
    const bytes = encodeRequest(request);
    const connection = this.#takeIdle(key) ??
      await this.#open({ hostname: request.hostname, port, tls }, signal);
    const onAbort = () => connection.close();
    signal?.addEventListener("abort", onAbort, { once: true });
    let reusable = false;
    try {
      // Aborted while connecting: nothing went out.
      if (signal?.aborted) throw abortError(false);
      if (signal) this.#sent.add(signal);
      if (connection.served > 0) this.#counts.reused++;
      connection.served++;
      try {
        for (const part of bytes) await writeAll(connection.conn, part);
      } catch (error) {
        throw exchangeError(error, signal, "request could not be written");
      }
      let answer;
      try {
        answer = await readResponse(connection, request.method);
      } catch (error) {
        throw exchangeError(error, signal, "no complete answer");
      }
      reusable = answer.reusable;
      return { response: answer.response };
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (reusable && !signal?.aborted) this.#keep(key, connection);
      else connection.close();
    }
  }

  #takeIdle(key: string): Connection | undefined {
    const list = this.#idle.get(key);
    const connection = list?.pop();
    if (connection?.idleTimer !== undefined) {
      clearTimeout(connection.idleTimer);
      connection.idleTimer = undefined;
    }
    return connection;
  }

  async #open(
    target: ConnectTarget,
    signal: AbortSignal | undefined,
  ): Promise<Connection> {
    let conn: Deno.Conn;
    try {
      conn = await raceAbort(this.#connect(target), signal, (late) => {
        try {
          late.close();
        } catch {
          // Nothing to release.
        }
      });
    } catch (error) {
      if (signal?.aborted) throw abortError(false);
      throw new HttpExchangeError(
        `connection to ${target.hostname}:${target.port} failed: ${
          (error as Error)?.message ?? error
        }`,
        {
          requestSent: false,
          code: error instanceof Deno.errors.ConnectionRefused
            ? "ECONNREFUSED"
            : error instanceof Deno.errors.NotFound
            ? "ENOTFOUND"
            : "ECONNECT",
          cause: error,
        },
      );
    }
    this.#counts.opened++;
    return new Connection(conn, this.#generation);
  }

  #keep(key: string, connection: Connection): void {
    const list = this.#idle.get(key) ?? [];
    if (
      connection.generation !== this.#generation ||
      list.length >= this.#maxIdle
    ) {
      connection.close();
      return;
    }
    const timer = setTimeout(() => {
      const current = this.#idle.get(key);
      const at = current?.indexOf(connection) ?? -1;
      if (at >= 0) current!.splice(at, 1);
      connection.close();
    }, this.#idleTimeoutMs);
    // An idle connection must not keep the process alive.
    Deno.unrefTimer(timer);
    connection.idleTimer = timer;
    list.push(connection);
    this.#idle.set(key, list);
  }
}

/** An `AbortError` that says whether the request had been sent. */
function abortError(requestSent: boolean): Error {
  const error = new HttpExchangeError(
    requestSent ? "request aborted" : "request aborted before it was sent",
    { requestSent, code: "ABORT_ERR" },
  );
  error.name = "AbortError";
  return error;
}

function exchangeError(
  error: unknown,
  signal: AbortSignal | undefined,
  what: string,
): Error {
  if (signal?.aborted) return abortError(true);
  if (error instanceof HttpExchangeError) return error;
  return new HttpExchangeError(
    `${what}: ${(error as Error)?.message ?? error}`,
    {
      requestSent: true,
      code: "ECONNRESET",
      cause: error,
    },
  );
}

/** Resolves as `promise` does, or rejects at abort (then disposes of a late result). */
function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  dispose: (late: T) => void,
): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(abortError(false));
      promise.then(dispose, () => {});
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) dispose(value);
        else resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** The request's bytes, in the order they are written. */
export function encodeRequest(request: HttpRequestLike): Uint8Array[] {
  const body = bodyBytes(request.body);
  const headers: Record<string, string> = {};
  let hasHost = false;
  let hasLength = false;
  for (const [name, value] of Object.entries(request.headers)) {
    const lower = name.toLowerCase();
    // A kept connection is the point; the server decides when to close.
    if (lower === "connection") continue;
    if (lower === "host") hasHost = true;
    if (lower === "content-length") hasLength = true;
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      throw new HttpExchangeError(`header ${name} holds a line break`, {
        requestSent: false,
        code: "EINVALIDHEADER",
      });
    }
    headers[name] = value;
  }
  if (!hasHost) {
    headers.host = request.port === undefined
      ? request.hostname
      : `${request.hostname}:${request.port}`;
  }
  if (!hasLength && (body.byteLength > 0 || request.method !== "GET")) {
    headers["content-length"] = String(body.byteLength);
  }
  let head = `${request.method} ${request.path || "/"}${
    queryString(request.query)
  } HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    head += `${name}: ${value}\r\n`;
  }
  head += "\r\n";
  const headBytes = utf8.encode(head);
  // A small body goes in one buffer with the head (one write, one
  // segment); a large one is written after it, not copied.
  if (body.byteLength > SEPARATE_BODY_FROM_BYTES) return [headBytes, body];
  const bytes = new Uint8Array(headBytes.byteLength + body.byteLength);
  bytes.set(headBytes, 0);
  bytes.set(body, headBytes.byteLength);
  return [bytes];
}

function bodyBytes(body: unknown): Uint8Array {
  if (body === undefined || body === null) return new Uint8Array(0);
  if (typeof body === "string") return utf8.encode(body);
  if (body instanceof Uint8Array) return body;
  if (ArrayBuffer.isView(body)) {
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new HttpExchangeError("request body is neither a string nor bytes", {
    requestSent: false,
    code: "EINVALIDBODY",
  });
}

function queryString(query: HttpRequestLike["query"]): string {
  if (!query) return "";
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    const values = Array.isArray(value) ? value : [value];
    for (const one of values) {
      parts.push(
        one === null || one === undefined
          ? encodeURIComponent(name)
          : `${encodeURIComponent(name)}=${encodeURIComponent(one)}`,
      );
    }
  }
  return parts.length > 0 ? `?${parts.join("&")}` : "";
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Reads more bytes into `connection.pending`; false at end of stream. */
async function fill(connection: Connection): Promise<boolean> {
  const chunk = new Uint8Array(READ_CHUNK_BYTES);
  const read = await connection.conn.read(chunk);
  if (read === null) return false;
  const merged = new Uint8Array(connection.pending.byteLength + read);
  merged.set(connection.pending, 0);
  merged.set(chunk.subarray(0, read), connection.pending.byteLength);
  connection.pending = merged;
  return true;
}

/** Takes `count` bytes from the connection (reading as needed). */
async function take(
  connection: Connection,
  count: number,
): Promise<Uint8Array> {
  while (connection.pending.byteLength < count) {
    if (!await fill(connection)) {
      throw new Error("connection closed mid-answer");
    }
  }
  const bytes = connection.pending.slice(0, count);
  connection.pending = connection.pending.subarray(count);
  return bytes;
}

/** Takes bytes up to and including `marker`; returns them without it. */
async function takeThrough(
  connection: Connection,
  marker: readonly number[],
  limit: number,
): Promise<Uint8Array> {
  let from = 0;
  while (true) {
    const at = indexOf(connection.pending, marker, from);
    if (at >= 0) {
      const bytes = connection.pending.slice(0, at);
      connection.pending = connection.pending.subarray(at + marker.length);
      return bytes;
    }
    if (connection.pending.byteLength > limit) {
      throw new Error(`answer head or chunk line longer than ${limit} bytes`);
    }
    from = Math.max(0, connection.pending.byteLength - marker.length + 1);
    if (!await fill(connection)) {
      throw new Error(
        connection.pending.byteLength === 0 && connection.served > 1
          ? "kept connection closed before an answer"
          : "connection closed mid-answer",
      );
    }
  }
}

function indexOf(
  bytes: Uint8Array,
  marker: readonly number[],
  from: number,
): number {
  outer: for (let i = from; i <= bytes.byteLength - marker.length; i++) {
    for (let j = 0; j < marker.length; j++) {
      if (bytes[i + j] !== marker[j]) continue outer;
    }
    return i;
  }
  return -1;
}

async function readResponse(
  connection: Connection,
  method: string,
): Promise<{ response: HttpResponseLike; reusable: boolean }> {
  while (true) {
    const head = latin1.decode(
      await takeThrough(connection, CRLF_CRLF, MAX_HEAD_BYTES),
    );
    const lines = head.split("\r\n");
    const status = /^HTTP\/(\d)\.(\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
    if (!status) {
      throw new Error(`not an HTTP answer: ${lines[0].slice(0, 80)}`);
    }
    const statusCode = Number(status[3]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined
        ? value
        : `${headers[name]}, ${value}`;
    }
    // An interim answer (100 Continue) precedes the real one.
    if (statusCode >= 100 && statusCode < 200) continue;
    const http10 = status[1] === "1" && status[2] === "0";
    const connectionHeader = (headers["connection"] ?? "").toLowerCase();
    let reusable = http10
      ? connectionHeader.includes("keep-alive")
      : !connectionHeader.includes("close");
    let body: Uint8Array;
    if (method === "HEAD" || statusCode === 204 || statusCode === 304) {
      body = new Uint8Array(0);
    } else if ((headers["transfer-encoding"] ?? "").includes("chunked")) {
      body = await readChunked(connection);
    } else if (headers["content-length"] !== undefined) {
      const length = Number(headers["content-length"]);
      if (!Number.isSafeInteger(length) || length < 0) {
        throw new Error(`bad content-length ${headers["content-length"]}`);
      }
      body = await take(connection, length);
    } else {
      // Delimited by the end of the connection.
      while (await fill(connection));
      body = connection.pending;
      connection.pending = new Uint8Array(0);
      reusable = false;
    }
    return {
      response: { statusCode, reason: status[4] ?? "", headers, body },
      reusable,
    };
  }
}

async function readChunked(connection: Connection): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const line = latin1.decode(
      await takeThrough(connection, [13, 10], MAX_HEAD_BYTES),
    );
    const size = parseInt(line.split(";")[0].trim(), 16);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new Error(`bad chunk size ${line.slice(0, 40)}`);
    }
    if (size === 0) {
      // Trailers, up to the empty line.
      while (
        (await takeThrough(connection, [13, 10], MAX_HEAD_BYTES)).byteLength >
          0
      );
      break;
    }
    parts.push(await take(connection, size));
    total += size;
    await take(connection, 2);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.byteLength;
  }
  return body;
}
