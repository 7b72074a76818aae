/**
 * The one place that talks to Kinesis: PutRecords through the AWS SDK v3,
 * loaded lazily so the SDK's start-up cost is not paid during Lambda's init
 * phase, on extension/http_handler.ts (HTTP/1.1 on Deno's sockets, kept
 * alive until the lifecycle releases it before `/event/next`), with the
 * request body built natively (extension/put_records_body.ts) and no SDK
 * retries: the sender retries within the time the lifecycle allows.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { KeepAliveHandler } from "./http_handler.ts";
import { useNativeMd5 } from "./md5.ts";
import {
  installPreparedBodies,
  type MiddlewareStackLike,
  putRecordsBody,
} from "./put_records_body.ts";

/** One entry of a PutRecords request. */
export interface PutRecordsEntry {
  /** Payload. */
  data: Uint8Array;
  /** Partition key. */
  partitionKey: string;
}

/** Per-entry result, in request order. */
export interface PutRecordsEntryResult {
  /** Set when this entry was not stored. */
  errorCode?: string;
  /** Kinesis' explanation. */
  errorMessage?: string;
}

/** The answer to a PutRecords request that reached Kinesis. */
export interface PutRecordsResult {
  /** Entries not stored. */
  failedRecordCount: number;
  /** One per entry, in request order. */
  entries: PutRecordsEntryResult[];
}

/** A PutRecords request that failed as a whole. */
export class KinesisRequestError extends Error {
  /**
   * False when the request may have been stored (timeout, abort, broken
   * connection): a retry may then duplicate its records.
   */
  readonly outcomeKnown: boolean;
  /** True for errors that retrying cannot fix (access denied, no such stream). */
  readonly permanent: boolean;
  /** Error name or code. */
  readonly code: string;
  /** Creates the error. */
  constructor(
    message: string,
    options: { outcomeKnown: boolean; permanent: boolean; code: string },
  ) {
    super(message);
    this.name = "KinesisRequestError";
    this.outcomeKnown = options.outcomeKnown;
    this.permanent = options.permanent;
    this.code = options.code;
  }

  /**
   * Whether no request to the stream can succeed now (access denied, no
   * such stream…), unlike a permanent error one record causes, which the
   * sender isolates by splitting the request.
   */
  get blocksStream(): boolean {
    return this.permanent && !RECORD_ERRORS.has(this.code);
  }
}

/**
 * `error` as a {@linkcode KinesisRequestError}: anything else a client
 * throws leaves the request's outcome unknown.
 */
export function asKinesisRequestError(error: unknown): KinesisRequestError {
  return error instanceof KinesisRequestError
    ? error
    : new KinesisRequestError(String(error), {
      outcomeKnown: false,
      permanent: false,
      code: "UnknownError",
    });
}

/** Sends PutRecords requests. */
export interface KinesisPutter {
  /** Sends one request; rejects with {@linkcode KinesisRequestError}. */
  putRecords(
    entries: readonly PutRecordsEntry[],
    signal: AbortSignal,
  ): Promise<PutRecordsResult>;
  /**
   * Loads and builds the client ahead of the first request (idempotent).
   * A request is only sent once this resolved, so time spent here never
   * makes a request's outcome unknown.
   */
  prepare(): Promise<void>;
  /** Drops pooled connections, so nothing survives a request that was given up. */
  reset(): void;
  /**
   * Closes kept connections before a possible freeze (the lifecycle calls
   * it before each `/event/next`), so no request after the thaw goes out on
   * a connection that may have died meanwhile.
   */
  releaseConnections?(): void;
  /**
   * Whether the request made with `signal` reached the network, read just
   * after aborting it: false means it cannot have been stored, so giving it
   * up makes no duplicate. Undefined (a client that cannot tell) counts as
   * sent.
   */
  requestSent?(signal: AbortSignal): boolean;
}

/** Where and how to reach the stream. */
export interface KinesisTarget {
  /** Stream name. */
  streamName: string;
  /** Stream ARN, preferred when set. */
  streamArn: string | undefined;
  /** Region. */
  region: string;
  /** Endpoint override. */
  endpoint: string | undefined;
  /** Socket-level timeout, a backstop behind the sender's own deadline. */
  requestTimeoutMs: number;
  /**
   * Lambda's credentials from its environment. Given explicitly, they skip
   * the SDK's provider chain (files, IMDS); undefined uses that chain.
   */
  credentials?: {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
  };
}

/**
 * Permanent errors that one record can cause (a record above the stream's
 * limit, a bad partition key): the sender splits the request to find the
 * records at fault instead of failing the whole batch.
 */
export const RECORD_ERRORS: ReadonlySet<string> = new Set([
  "ValidationException",
  "InvalidArgumentException",
]);

/**
 * Signature errors a wrong clock causes. Once the SDK has corrected its
 * clock offset from the answer's `Date` header (`clockSkewCorrected`), a
 * retry is signed with the right time, so they are not permanent then.
 */
const CLOCK_SKEW_ERRORS = new Set([
  "InvalidSignatureException",
  "SignatureDoesNotMatch",
  "RequestExpired",
  "RequestTimeTooSkewed",
]);

const PERMANENT = new Set([
  "AccessDeniedException",
  "ResourceNotFoundException",
  "ValidationException",
  "InvalidArgumentException",
  "KMSAccessDeniedException",
  "KMSDisabledException",
  "KMSNotFoundException",
  "KMSInvalidStateException",
  "UnrecognizedClientException",
  "InvalidSignatureException",
]);

type Sdk = typeof import("@aws-sdk/client-kinesis");

/** The stream target of a validated configuration. */
export function kinesisTarget(
  config: Pick<
    Config,
    | "streamName"
    | "streamArn"
    | "region"
    | "kinesisEndpoint"
    | "requestTimeoutMs"
  >,
  credentials: KinesisTarget["credentials"],
): KinesisTarget {
  return {
    streamName: config.streamName,
    streamArn: config.streamArn,
    region: config.region,
    endpoint: config.kinesisEndpoint,
    requestTimeoutMs: config.requestTimeoutMs,
    credentials,
  };
}

/** Creates a putter backed by the AWS SDK, loading it on first use. */
export function createSdkPutter(
  target: KinesisTarget,
  handler: KeepAliveHandler = new KeepAliveHandler(),
): KinesisPutter {
  let loaded: Promise<Sdk> | undefined;
  let client: InstanceType<Sdk["KinesisClient"]> | undefined;
  const load = () =>
    loaded ??= import("@aws-sdk/client-kinesis").then(async (sdk) => {
      // Loaded with the SDK already (its SigV4 hashing): now free to use.
      useNativeMd5((await import("node:crypto")).createHash);
      return sdk;
    });
  let bodies: WeakMap<object, Uint8Array> | undefined;
  const getClient = async () => {
    const sdk = await load();
    if (!client) {
      client = new sdk.KinesisClient({
        region: target.region,
        endpoint: target.endpoint,
        credentials: target.credentials,
        maxAttempts: 1,
        // Deno's own sockets, kept alive only until the lifecycle releases
        // them before a possible freeze, and never re-sending a request
        // (extension/http_handler.ts); the sender's attempt deadline bounds
        // each request.
        requestHandler: handler,
        cacheMiddleware: true,
      });
      memoiseUserAgent(client.config);
      // The stack's overloads are typed per step; this one is "build".
      bodies = installPreparedBodies(
        client.middlewareStack as unknown as MiddlewareStackLike,
      );
    }
    return { sdk, client, bodies: bodies! };
  };
  // The request's signal travels with its body: a send without options
  // reuses the SDK's resolved middleware stack (cacheMiddleware).
  const prepareBody = (
    bodies: WeakMap<object, Uint8Array>,
    input: object,
    entries: readonly PutRecordsEntry[],
    signal: AbortSignal,
  ) => {
    const body = putRecordsBody(target, entries);
    bodies.set(input, body);
    handler.bindSignal(body, signal);
  };
  let warmed: Promise<void> | undefined;
  // One PutRecords through the whole SDK path that the handler ends before
  // the network: the first real request then does not pay the SDK's lazy
  // set-up, which on a 128 MB function (7 % of a CPU) outlasted the hold.
  const warmUp = async () => {
    const { sdk, client, bodies } = await getClient();
    const controller = new AbortController();
    handler.markDryRun(controller.signal);
    const input = { StreamName: target.streamName, Records: [] };
    prepareBody(bodies, input, [], controller.signal);
    await client.send(new sdk.PutRecordsCommand(input)).catch(() => {});
  };
  return {
    async prepare() {
      await getClient();
      await (warmed ??= warmUp());
    },
    async putRecords(entries, signal) {
      const { sdk, client, bodies } = await getClient();
      // The SDK serialises the input without its records (cheap); the body
      // with them is built natively and put in before signing.
      const input = target.streamArn
        ? { StreamARN: target.streamArn, Records: [] }
        : { StreamName: target.streamName, Records: [] };
      prepareBody(bodies, input, entries, signal);
      try {
        const output = await client.send(new sdk.PutRecordsCommand(input));
        return {
          failedRecordCount: output.FailedRecordCount ?? 0,
          entries: (output.Records ?? []).map((entry) => ({
            errorCode: entry.ErrorCode,
            errorMessage: entry.ErrorMessage,
          })),
        };
      } catch (error) {
        throw classifyError(error, signal);
      }
    },
    reset() {
      handler.closeAll();
    },
    releaseConnections() {
      handler.closeAll();
    },
    requestSent(signal) {
      return handler.wasSent(signal);
    },
  };
}

/**
 * The SDK rebuilds its default user agent for every request, with a
 * `uname` system call (`os.release()`) each time; it cannot change while
 * the process runs, so the first answer is kept.
 */
export function memoiseUserAgent(
  config: { defaultUserAgentProvider?: () => Promise<unknown> },
): void {
  const provider = config.defaultUserAgentProvider;
  if (!provider) return;
  let first: Promise<unknown> | undefined;
  config.defaultUserAgentProvider = () => first ??= provider();
}

/** Maps an SDK or network error to a {@linkcode KinesisRequestError}. */
export function classifyError(
  error: unknown,
  signal?: AbortSignal,
): KinesisRequestError {
  const err = error as {
    name?: string;
    code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number; clockSkewCorrected?: boolean };
  };
  const code = err?.name && err.name !== "Error"
    ? err.name
    : err?.code ?? "UnknownError";
  const status = err?.$metadata?.httpStatusCode;
  const message = `${code}: ${err?.message ?? String(error)}`;
  if (signal?.aborted) {
    return new KinesisRequestError(`request abandoned: ${message}`, {
      // Given up before a byte was sent: it cannot have been stored.
      outcomeKnown: (error as { requestSent?: boolean })?.requestSent === false,
      permanent: false,
      code: "Abandoned",
    });
  }
  if (typeof status === "number" && status >= 400) {
    return new KinesisRequestError(message, {
      // A 5xx may come after Kinesis stored the records (a gateway timing
      // out, an internal failure late in the request): treat it as unknown,
      // so possibleDuplicates over-counts rather than under-counts.
      outcomeKnown: status < 500,
      permanent: PERMANENT.has(code) &&
        !(CLOCK_SKEW_ERRORS.has(code) && err.$metadata?.clockSkewCorrected),
      code,
    });
  }
  // Refused or unresolvable connections, or a TLS handshake that failed,
  // never reached Kinesis.
  const known = (error as { requestSent?: boolean })?.requestSent === false ||
    err?.code === "ECONNREFUSED" || err?.code === "ENOTFOUND" ||
    code === "ECONNREFUSED";
  return new KinesisRequestError(message, {
    outcomeKnown: known,
    permanent: false,
    code,
  });
}
