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
export async function startNullKinesis(
  tls?: { cert: string; key: string },
): Promise<NullKinesis> {
  let requests = 0;
  let records = 0;
  let abandoned = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
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
  const terminator = tls ? await tlsTerminator(tls, server.addr.port) : null;
  return {
    endpoint: terminator
      ? `https://127.0.0.1:${terminator.port}`
      : `http://127.0.0.1:${server.addr.port}`,
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
      terminator?.close();
      await server.shutdown();
    },
  };
}

/**
 * TLS in front of the plain endpoint, with Nagle's algorithm off on both
 * sides as real endpoints have it (`Deno.serve`'s own TLS writes a
 * response's head and body apart, and the body then waits 40 ms for a
 * delayed ACK, which would swamp what is measured).
 */
async function tlsTerminator(
  tls: { cert: string; key: string },
  plainPort: number,
): Promise<{ port: number; close(): void }> {
  const { createServer } = await import("node:tls");
  const { connect } = await import("node:net");
  const sockets = new Set<{ destroy(): void }>();
  const server = createServer({ cert: tls.cert, key: tls.key }, (socket) => {
    socket.setNoDelay(true);
    const upstream = connect(plainPort, "127.0.0.1");
    upstream.setNoDelay(true);
    sockets.add(socket).add(upstream);
    socket.pipe(upstream).pipe(socket);
    const end = () => {
      socket.destroy();
      upstream.destroy();
      sockets.delete(socket);
      sockets.delete(upstream);
    };
    socket.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  return {
    port: (server.address() as { port: number }).port,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
