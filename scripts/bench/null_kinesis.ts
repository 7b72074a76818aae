/**
 * A Kinesis endpoint that accepts every PutRecords request at once and
 * stores nothing: with it, a burst measures the extension alone, without
 * kinesalite's own speed (about 10–20 MB/s here) in the way.
 *
 * @module
 */

/** A running null endpoint. */
export interface NullKinesis {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** PutRecords requests answered. */
  readonly requests: number;
  /** Records acknowledged. */
  readonly records: number;
  /** Requests whose client left before their body was read. */
  readonly abandoned: number;
  /** Stops it. */
  stop(): Promise<void>;
}

/**
 * Starts the endpoint on 127.0.0.1 and a free port; with `tls` (PEM text),
 * over HTTPS.
 */
export function startNullKinesis(
  tls?: { cert: string; key: string },
): NullKinesis {
  let requests = 0;
  let records = 0;
  let abandoned = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {}, ...tls },
    async (request) => {
      const target = request.headers.get("x-amz-target") ?? "";
      let body: string;
      try {
        body = await request.text();
      } catch {
        // The client gave up mid-body (the extension abandons a request at
        // its deadline): nothing to answer.
        abandoned++;
        return new Response(null, { status: 499 });
      }
      if (!target.endsWith(".PutRecords")) {
        return Response.json({
          __type: "UnknownOperationException",
          message: `the null endpoint answers PutRecords only, not ${target}`,
        }, { status: 400 });
      }
      const count = (JSON.parse(body).Records ?? []).length as number;
      requests++;
      records += count;
      const entry = { SequenceNumber: "1", ShardId: "shardId-000000000000" };
      return new Response(
        JSON.stringify({
          FailedRecordCount: 0,
          Records: Array.from({ length: count }, () => entry),
        }),
        { headers: { "content-type": "application/x-amz-json-1.1" } },
      );
    },
  );
  return {
    endpoint: `${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`,
    get requests() {
      return requests;
    },
    get records() {
      return records;
    },
    get abandoned() {
      return abandoned;
    },
    async stop() {
      await server.shutdown();
    },
  };
}
