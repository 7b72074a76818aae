/**
 * A fault-injecting HTTP/1.1 proxy in front of a Kinesis emulator
 * (kinesalite), for the fault tests and the benchmark. Point
 * `AWS_ENDPOINT_URL_KINESIS` at {@linkcode FaultProxy.endpoint}.
 *
 * It reads PutRecords requests (JSON 1.1, `X-Amz-Target:
 * Kinesis_20131202.PutRecords`) and, following a {@linkcode FaultPlan} that
 * can be replaced at run time, fails chosen entries with
 * `ProvisionedThroughputExceededException` or `InternalFailure` (only the
 * other entries are forwarded, so failed ones are really not stored),
 * answers 500/503 to chosen requests, holds chosen requests without an
 * answer until released, delays them, or drops their connection. Every
 * other action passes through unchanged. It can also add a per-request
 * latency to everything (a round trip to a regional endpoint plus the
 * service's own work), and serve HTTPS as real Kinesis does.
 *
 * The HTTP/1.1 server is written on raw TCP on purpose: a framework would
 * answer or close connections on its own terms, and the point here is to
 * control exactly when (and whether) a client hears back.
 *
 * Choices are deterministic: a {@linkcode Selector} picks by position (every
 * k-th, the first n, listed indexes) or by a seeded PRNG, counted from the
 * moment the plan was set.
 *
 * @module
 */

/** Picks which requests or entries a fault applies to, by their 0-based position. */
export type Selector =
  | { kind: "all" }
  | { kind: "none" }
  /** Positions `offset`, `offset + n`, `offset + 2n`, … */
  | { kind: "every"; n: number; offset?: number }
  /** The first `count` positions. */
  | { kind: "first"; count: number }
  /** Exactly these positions. */
  | { kind: "indexes"; indexes: number[] }
  /** Each position independently with probability `rate`, from a PRNG seeded with `seed`. */
  | { kind: "fraction"; rate: number; seed: number };

/** Per-entry error codes PutRecords reports. */
export type EntryErrorCode =
  | "ProvisionedThroughputExceededException"
  | "InternalFailure";

/**
 * What to do to PutRecords traffic. Request positions count PutRecords
 * requests, entry positions count PutRecords entries, both from the moment
 * the plan was set. When several request faults pick the same request, the
 * first in this order wins: reset, status, hang; a delay comes before any.
 */
export interface FaultPlan {
  /** Fail the chosen entries (they are not forwarded, so not stored). */
  failEntries?: { select: Selector; errorCode: EntryErrorCode };
  /** Answer the chosen requests with this status and a Kinesis error body. */
  failRequests?: { select: Selector; status: 500 | 503 };
  /**
   * Never answer the chosen requests: hold them until {@linkcode FaultProxy.release},
   * a new plan, or the client gives up. With `forwardFirst`, the entries are
   * stored before the answer is withheld (an outcome the client cannot know).
   * With `answerOnRelease`, a release answers them (as Kinesis would after a
   * stall) instead of closing their connections.
   */
  hangRequests?: {
    select: Selector;
    forwardFirst?: boolean;
    answerOnRelease?: boolean;
  };
  /**
   * Close the connection of the chosen requests without an answer. With
   * `forwardFirst`, the entries are stored first.
   */
  resetRequests?: { select: Selector; forwardFirst?: boolean };
  /** Wait `ms` before handling the chosen requests. */
  delayRequests?: { select: Selector; ms: number };
}

/** What the proxy has seen and done since it started. */
export interface FaultProxyCounters {
  /** HTTP requests of any action. */
  requests: number;
  /** Requests other than PutRecords, passed through. */
  passedThrough: number;
  /** PutRecords requests. */
  putRecordsRequests: number;
  /** PutRecords entries received. */
  entries: number;
  /** Entries the emulator stored. */
  storedEntries: number;
  /** Entries answered with an injected error code. */
  failedEntries: number;
  /** Requests answered with an injected 500/503. */
  failedRequests: number;
  /** Requests held without an answer. */
  hungRequests: number;
  /** Requests whose connection was closed without an answer. */
  resetRequests: number;
  /** Requests delayed. */
  delayedRequests: number;
}

/** How one PutRecords request ended at the proxy. */
export type PutRecordsOutcome =
  | "pending"
  | "answered"
  | "failed"
  | "hung"
  | "reset"
  | "client-closed";

/** The life of one PutRecords request, for checks such as "nothing in flight at time t". */
export interface PutRecordsLogEntry {
  /** 0-based position among all PutRecords requests since start. */
  index: number;
  /** Entries in the request. */
  entries: number;
  /** Entries stored by the emulator for this request. */
  stored: number;
  /** `Date.now()` when the whole request had been read. */
  receivedAt: number;
  /** `Date.now()` when the proxy answered, dropped the connection, or saw the client leave. */
  endedAt: number | undefined;
  /** How it ended. */
  outcome: PutRecordsOutcome;
}

/** A running proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>`: the Kinesis endpoint clients should use. */
  endpoint: string;
  /** Replaces the fault plan; positions and PRNGs start again. Holds from the previous plan are released. */
  configure(plan: FaultPlan): void;
  /** Lets every held request go: closed, or answered with `answerOnRelease`. */
  release(): void;
  /** A copy of the counters. */
  counters(): FaultProxyCounters;
  /** Every PutRecords request so far (live objects: `endedAt` fills in later). */
  readonly putRecordsLog: readonly PutRecordsLogEntry[];
  /** PutRecords requests read but not yet ended. */
  inFlight(): number;
  /** Stops listening, releases holds and closes every connection. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startFaultProxy}. */
export interface FaultProxyOptions {
  /** The emulator's endpoint, e.g. `http://127.0.0.1:4567`. */
  target: string;
  /** Initial plan (default: no faults). */
  plan?: FaultPlan;
  /** `fetch` used to reach the target. */
  fetch?: typeof fetch;
  /** CA (PEM) the target's certificate is signed by, for an HTTPS target. */
  targetCa?: string;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /**
   * Latency added before handling every Kinesis request, uniform in
   * `[minMs, maxMs]` from a PRNG seeded with `seed` (0).
   */
  latency?: { minMs: number; maxMs: number; seed?: number };
}

/** The `X-Amz-Target` of PutRecords. */
export const PUT_RECORDS_TARGET = "Kinesis_20131202.PutRecords";
/** Path prefix of the control interface (for a proxy run as its own process). */
export const CONTROL_PREFIX = "/__faults/";

const MAX_HEADER_BYTES = 64 * 1024;
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A deterministic PRNG (mulberry32) returning numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Turns a selector into a stateful predicate over consecutive positions
 * 0, 1, 2, … (it must be called once per position, in order).
 */
export function createPicker(selector: Selector): () => boolean {
  let position = -1;
  switch (selector.kind) {
    case "all":
      return () => true;
    case "none":
      return () => false;
    case "every": {
      if (!(selector.n >= 1)) throw new RangeError("every: n must be ≥ 1");
      const offset = selector.offset ?? 0;
      return () => {
        position++;
        return position >= offset && (position - offset) % selector.n === 0;
      };
    }
    case "first":
      return () => ++position < selector.count;
    case "indexes": {
      const chosen = new Set(selector.indexes);
      return () => chosen.has(++position);
    }
    case "fraction": {
      if (!(selector.rate >= 0 && selector.rate <= 1)) {
        throw new RangeError("fraction: rate must be in [0, 1]");
      }
      const random = seededRandom(selector.seed);
      return () => random() < selector.rate;
    }
  }
}

/** Bytes backed by a plain ArrayBuffer, as `fetch` bodies require. */
type Bytes = Uint8Array<ArrayBuffer>;

/** One HTTP/1.1 request as read off the socket. */
interface RawRequest {
  method: string;
  path: string;
  headers: Headers;
  body: Bytes;
}

/** Where a request ends up; the connection loop acts on it. */
type Disposition =
  | { kind: "answer"; status: number; headers: Headers; body: Bytes }
  | { kind: "close" };

/** Reads HTTP/1.1 requests one after another from a connection. */
class RequestReader {
  #pending: Bytes = new Uint8Array(0);
  #reading: Promise<boolean> | undefined;
  constructor(private readonly conn: Deno.Conn) {}

  /** The next request, or null when the client closed the connection. */
  async read(onContinue: () => Promise<void>): Promise<RawRequest | null> {
    let headerEnd: number;
    while ((headerEnd = indexOfHeaderEnd(this.#pending)) === -1) {
      if (this.#pending.byteLength > MAX_HEADER_BYTES) {
        throw new Error("request head too large");
      }
      if (!await this.#fill()) return null;
    }
    const head = decoder.decode(this.#pending.subarray(0, headerEnd));
    this.#pending = this.#pending.subarray(headerEnd + 4);
    const [requestLine, ...headerLines] = head.split("\r\n");
    const [method, path] = requestLine.split(" ");
    const headers = new Headers();
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      if (colon > 0) {
        headers.append(
          line.slice(0, colon).trim(),
          line.slice(colon + 1).trim(),
        );
      }
    }
    if (headers.get("expect")?.toLowerCase() === "100-continue") {
      await onContinue();
    }
    const body = headers.get("transfer-encoding")?.toLowerCase() === "chunked"
      ? await this.#readChunked()
      : await this.#readExactly(Number(headers.get("content-length") ?? 0));
    return { method, path, headers, body };
  }

  /** Resolves when the client closes the connection. */
  async waitForClose(): Promise<void> {
    try {
      while (await this.#fill());
    } catch {
      // A reset is a close too.
    }
  }

  /** Reads more bytes; concurrent callers share one read of the socket. */
  #fill(): Promise<boolean> {
    this.#reading ??= this.#readOnce().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #readOnce(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    this.#pending = concat(this.#pending, chunk.subarray(0, n));
    return true;
  }

  async #readExactly(length: number): Promise<Bytes> {
    if (!(length >= 0) || length > MAX_BODY_BYTES) {
      throw new Error(`bad content-length ${length}`);
    }
    while (this.#pending.byteLength < length) {
      if (!await this.#fill()) throw new Error("connection closed mid-body");
    }
    const body = this.#pending.slice(0, length);
    this.#pending = this.#pending.subarray(length);
    return body;
  }

  async #readLine(): Promise<string> {
    let end: number;
    while ((end = indexOfCrlf(this.#pending)) === -1) {
      if (!await this.#fill()) throw new Error("connection closed mid-chunk");
    }
    const line = decoder.decode(this.#pending.subarray(0, end));
    this.#pending = this.#pending.subarray(end + 2);
    return line;
  }

  async #readChunked(): Promise<Bytes> {
    const parts: Bytes[] = [];
    while (true) {
      const size = parseInt((await this.#readLine()).split(";")[0], 16);
      if (!(size >= 0)) throw new Error("bad chunk size");
      if (size === 0) {
        // Trailers end with an empty line.
        while ((await this.#readLine()) !== "");
        return concat(...parts);
      }
      parts.push(await this.#readExactly(size));
      await this.#readLine();
    }
  }
}

/** The fault decisions of one plan, with their position state. */
class ActivePlan {
  readonly failEntry: () => boolean;
  readonly failRequest: () => boolean;
  readonly hangRequest: () => boolean;
  readonly resetRequest: () => boolean;
  readonly delayRequest: () => boolean;
  #releaseHeld!: () => void;
  /** Settles when the requests held so far under this plan are let go. */
  held!: Promise<void>;

  constructor(readonly plan: FaultPlan) {
    this.failEntry = createPicker(plan.failEntries?.select ?? { kind: "none" });
    this.failRequest = createPicker(
      plan.failRequests?.select ?? { kind: "none" },
    );
    this.hangRequest = createPicker(
      plan.hangRequests?.select ?? { kind: "none" },
    );
    this.resetRequest = createPicker(
      plan.resetRequests?.select ?? { kind: "none" },
    );
    this.delayRequest = createPicker(
      plan.delayRequests?.select ?? { kind: "none" },
    );
    this.#arm();
  }

  /** Lets go of every request held so far; later ones are held again. */
  releaseHeld(): void {
    this.#releaseHeld();
    this.#arm();
  }

  #arm(): void {
    this.held = new Promise((resolve) => this.#releaseHeld = resolve);
  }
}

/** Starts the proxy on 127.0.0.1 and a free port. */
export function startFaultProxy(options: FaultProxyOptions): FaultProxy {
  const target = options.target.replace(/\/$/, "");
  const targetClient = options.targetCa
    ? Deno.createHttpClient({ caCerts: [options.targetCa] })
    : null;
  const fetchTarget: typeof fetch = options.fetch ??
    (targetClient
      ? (input, init) => fetch(input, { ...init, client: targetClient })
      : fetch);
  const listener: Deno.Listener = options.tls
    ? Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...options.tls })
    : Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const latency = options.latency;
  const nextLatency = latency
    ? ((random) => () =>
      latency.minMs + random() * (latency.maxMs - latency.minMs))(
        seededRandom(latency.seed ?? 0),
      )
    : null;
  const connections = new Set<Deno.Conn>();
  const counters: FaultProxyCounters = {
    requests: 0,
    passedThrough: 0,
    putRecordsRequests: 0,
    entries: 0,
    storedEntries: 0,
    failedEntries: 0,
    failedRequests: 0,
    hungRequests: 0,
    resetRequests: 0,
    delayedRequests: 0,
  };
  const putRecordsLog: PutRecordsLogEntry[] = [];
  let active = new ActivePlan(options.plan ?? {});
  let stopped = false;

  const configure = (plan: FaultPlan) => {
    const previous = active;
    active = new ActivePlan(plan);
    previous.releaseHeld();
  };

  const forward = async (
    request: RawRequest,
    body: Bytes,
  ): Promise<Extract<Disposition, { kind: "answer" }>> => {
    const headers = new Headers();
    for (const [name, value] of request.headers) {
      if (!HOP_BY_HOP.has(name.toLowerCase())) headers.set(name, value);
    }
    const response = await fetchTarget(`${target}${request.path}`, {
      method: request.method,
      headers,
      body: request.method === "GET" || request.method === "HEAD"
        ? undefined
        : body,
    });
    const answerHeaders = new Headers();
    for (const name of ["content-type", "x-amzn-requestid", "x-amz-id-2"]) {
      const value = response.headers.get(name);
      if (value !== null) answerHeaders.set(name, value);
    }
    return {
      kind: "answer",
      status: response.status,
      headers: answerHeaders,
      body: new Uint8Array(await response.arrayBuffer()),
    };
  };

  /** Forwards the entries not picked to fail and merges the answers in request order. */
  const putRecords = async (
    request: RawRequest,
    plan: ActivePlan,
    log: PutRecordsLogEntry,
  ): Promise<Disposition> => {
    const input = JSON.parse(decoder.decode(request.body)) as {
      Records?: unknown[];
    };
    const records = Array.isArray(input.Records) ? input.Records : [];
    const errorCode = plan.plan.failEntries?.errorCode ??
      "ProvisionedThroughputExceededException";
    const failing = records.map(() => plan.failEntry());
    const kept = records.filter((_, i) => !failing[i]);
    let keptResults: Record<string, unknown>[] = [];
    let base: Record<string, unknown> = {};
    if (kept.length > 0) {
      const answer = await forward(
        request,
        encoder.encode(JSON.stringify({ ...input, Records: kept })),
      );
      if (answer.status !== 200) return answer;
      base = JSON.parse(decoder.decode(answer.body));
      keptResults = (base.Records as Record<string, unknown>[]) ?? [];
    }
    let next = 0;
    let failedCount = 0;
    const merged = records.map((_, i) => {
      if (!failing[i]) {
        const result = keptResults[next++] ?? {};
        if (result.ErrorCode) failedCount++;
        else log.stored++;
        return result;
      }
      failedCount++;
      counters.failedEntries++;
      return {
        ErrorCode: errorCode,
        ErrorMessage: errorCode === "InternalFailure"
          ? "Internal service failure (injected by the fault proxy)."
          : "Rate exceeded for shard (injected by the fault proxy).",
      };
    });
    counters.storedEntries += log.stored;
    const body = { ...base, FailedRecordCount: failedCount, Records: merged };
    return {
      kind: "answer",
      status: 200,
      headers: new Headers({ "content-type": "application/x-amz-json-1.1" }),
      body: encoder.encode(JSON.stringify(body)),
    };
  };

  const handlePutRecords = async (
    request: RawRequest,
    reader: RequestReader,
    log: PutRecordsLogEntry,
  ): Promise<Disposition> => {
    const plan = active;
    const delay = plan.delayRequest();
    const reset = plan.resetRequest();
    const fail = plan.failRequest();
    const hang = plan.hangRequest();
    if (delay) {
      counters.delayedRequests++;
      await sleep(plan.plan.delayRequests?.ms ?? 0);
    }
    if (reset) {
      counters.resetRequests++;
      log.outcome = "reset";
      if (plan.plan.resetRequests?.forwardFirst) {
        await putRecords(request, plan, log);
      }
      return { kind: "close" };
    }
    if (fail) {
      counters.failedRequests++;
      log.outcome = "failed";
      const status = plan.plan.failRequests?.status ?? 500;
      return kinesisError(
        status,
        status === 503 ? "ServiceUnavailable" : "InternalFailure",
        "injected by the fault proxy",
      );
    }
    if (hang) {
      counters.hungRequests++;
      log.outcome = "hung";
      const hold = plan.plan.hangRequests;
      const stored = hold?.forwardFirst
        ? await putRecords(request, plan, log)
        : undefined;
      const gone = reader.waitForClose().then(() => true);
      if (await Promise.race([gone, plan.held.then(() => false)])) {
        log.outcome = "client-closed";
        return { kind: "close" };
      }
      if (!hold?.answerOnRelease) return { kind: "close" };
      log.outcome = "answered";
      return stored ?? await putRecords(request, plan, log);
    }
    const disposition = await putRecords(request, plan, log);
    log.outcome = "answered";
    return disposition;
  };

  const control = async (request: RawRequest): Promise<Disposition> => {
    const action = request.path.slice(CONTROL_PREFIX.length);
    if (action === "plan" && request.method === "PUT") {
      configure(JSON.parse(decoder.decode(request.body)) as FaultPlan);
      return json(200, { ok: true });
    }
    if (action === "release" && request.method === "POST") {
      active.releaseHeld();
      return json(200, { ok: true });
    }
    if (action === "counters" && request.method === "GET") {
      return json(200, { ...counters });
    }
    await Promise.resolve();
    return json(404, { message: `unknown control ${request.path}` });
  };

  const serveConnection = async (conn: Deno.Conn) => {
    connections.add(conn);
    const reader = new RequestReader(conn);
    try {
      while (!stopped) {
        const request = await reader.read(() =>
          writeAll(conn, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"))
        );
        if (!request) break;
        counters.requests++;
        if (nextLatency && !request.path.startsWith(CONTROL_PREFIX)) {
          await sleep(nextLatency());
        }
        let disposition: Disposition;
        if (request.path.startsWith(CONTROL_PREFIX)) {
          disposition = await control(request);
        } else if (request.headers.get("x-amz-target") === PUT_RECORDS_TARGET) {
          counters.putRecordsRequests++;
          const log: PutRecordsLogEntry = {
            index: putRecordsLog.length,
            entries: countEntries(request.body),
            stored: 0,
            receivedAt: Date.now(),
            endedAt: undefined,
            outcome: "pending",
          };
          counters.entries += log.entries;
          putRecordsLog.push(log);
          try {
            disposition = await handlePutRecords(request, reader, log);
          } catch (error) {
            log.outcome = "failed";
            disposition = kinesisError(
              500,
              "InternalFailure",
              `fault proxy: ${(error as Error).message}`,
            );
          }
          log.endedAt = Date.now();
        } else {
          counters.passedThrough++;
          disposition = await forward(request, request.body).catch((error) =>
            kinesisError(
              502,
              "InternalFailure",
              `fault proxy: ${(error as Error).message}`,
            )
          );
        }
        if (disposition.kind === "close") break;
        await writeAll(conn, serialize(disposition));
      }
    } catch {
      // A client that leaves mid-request needs no answer.
    } finally {
      connections.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) serveConnection(conn);
    } catch {
      // The listener was closed by stop().
    }
  })();

  const port = (listener.addr as Deno.NetAddr).port;
  return {
    endpoint: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    configure,
    release: () => active.releaseHeld(),
    counters: () => ({ ...counters }),
    putRecordsLog,
    inFlight: () =>
      putRecordsLog.filter((entry) => entry.endedAt === undefined).length,
    async stop() {
      stopped = true;
      active.releaseHeld();
      listener.close();
      for (const conn of connections) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await accepting;
      targetClient?.close();
    },
  };
}

const HOP_BY_HOP = new Set([
  "host",
  "connection",
  "keep-alive",
  "content-length",
  "transfer-encoding",
  "expect",
  "upgrade",
]);

function countEntries(body: Uint8Array): number {
  try {
    const records = JSON.parse(decoder.decode(body)).Records;
    return Array.isArray(records) ? records.length : 0;
  } catch {
    return 0;
  }
}

function kinesisError(
  status: number,
  type: string,
  message: string,
): Disposition {
  return {
    kind: "answer",
    status,
    headers: new Headers({ "content-type": "application/x-amz-json-1.1" }),
    body: encoder.encode(JSON.stringify({ __type: type, message })),
  };
}

function json(status: number, value: unknown): Disposition {
  return {
    kind: "answer",
    status,
    headers: new Headers({ "content-type": "application/json" }),
    body: encoder.encode(JSON.stringify(value)),
  };
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

function serialize(
  answer: Extract<Disposition, { kind: "answer" }>,
): Bytes {
  let head = `HTTP/1.1 ${answer.status} ${
    REASONS[answer.status] ?? "Status"
  }\r\n`;
  for (const [name, value] of answer.headers) head += `${name}: ${value}\r\n`;
  head += `content-length: ${answer.body.byteLength}\r\n`;
  head += "connection: keep-alive\r\n\r\n";
  return concat(encoder.encode(head), answer.body);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    offset += await conn.write(bytes.subarray(offset));
  }
}

function concat(...parts: Uint8Array[]): Bytes {
  let total = 0;
  for (const part of parts) total += part.byteLength;
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}

function indexOfHeaderEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.byteLength; i++) {
    if (
      bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 &&
      bytes[i + 3] === 10
    ) return i;
  }
  return -1;
}

function indexOfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 1 < bytes.byteLength; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  }
  return -1;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (import.meta.main) {
  // `deno run --allow-net scripts/sandbox/kinesis_fault_proxy.ts <target> [plan JSON]`:
  // a proxy for another process; change the plan with
  // PUT <endpoint>/__faults/plan, read counters with GET <endpoint>/__faults/counters.
  const [targetArg, planArg] = Deno.args;
  if (!targetArg) {
    console.error(
      "usage: kinesis_fault_proxy.ts <kinesis endpoint> [fault plan JSON]",
    );
    Deno.exit(2);
  }
  const proxy = startFaultProxy({
    target: targetArg,
    plan: planArg ? JSON.parse(planArg) as FaultPlan : {},
  });
  console.log(JSON.stringify({ endpoint: proxy.endpoint }));
  Deno.addSignalListener("SIGINT", () => proxy.stop().then(() => Deno.exit(0)));
}
