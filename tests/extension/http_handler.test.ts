import assert from "node:assert/strict";
import {
  encodeRequest,
  HttpExchangeError,
  type HttpRequestLike,
  KeepAliveHandler,
} from "../../extension/http_handler.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** What the raw server does with one request on a connection. */
type Reply = (request: string, conn: Deno.Conn) => Promise<"keep" | "close">;

/**
 * A raw HTTP/1.1 server on loopback: counts connections and requests, and
 * answers each request with `reply(connectionIndex, requestIndex)`.
 */
function rawServer(reply: (connection: number, request: number) => Reply) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: { connection: number; head: string }[] = [];
  let connections = 0;
  const open = new Set<Deno.Conn>();
  const serveConn = async (conn: Deno.Conn, index: number) => {
    open.add(conn);
    let pending = "";
    let requests = 0;
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const end = pending.indexOf("\r\n\r\n");
        if (end >= 0) {
          const head = pending.slice(0, end);
          const length = Number(
            /content-length: (\d+)/i.exec(head)?.[1] ?? "0",
          );
          if (pending.length >= end + 4 + length) {
            const request = pending.slice(0, end + 4 + length);
            pending = pending.slice(end + 4 + length);
            seen.push({ connection: index, head });
            const next = await reply(index, requests++)(request, conn);
            if (next === "close") break;
            continue;
          }
        }
        const read = await conn.read(buffer);
        if (read === null) break;
        pending += text.decode(buffer.subarray(0, read));
      }
    } catch {
      // The client went away.
    } finally {
      open.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) serveConn(conn, connections++);
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    port,
    seen,
    get connections() {
      return connections;
    },
    async close() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await accepting;
    },
  };
}

const answer = (body: string, headers = ""): Reply => async (_, conn) => {
  await conn.write(
    utf8.encode(
      `HTTP/1.1 200 OK\r\ncontent-length: ${
        utf8.encode(body).byteLength
      }\r\n${headers}\r\n${body}`,
    ),
  );
  return "keep";
};

function post(port: number, body = "{}"): HttpRequestLike {
  return {
    method: "POST",
    protocol: "http:",
    hostname: "127.0.0.1",
    port,
    path: "/",
    headers: { "content-type": "application/x-amz-json-1.1" },
    body,
  };
}

Deno.test("http handler: requests share one connection until closeAll, then a fresh one opens", async () => {
  const server = rawServer(() => answer('{"ok":true}'));
  const handler = new KeepAliveHandler();
  try {
    for (let i = 0; i < 3; i++) {
      const { response } = await handler.handle(post(server.port));
      assert.equal(response.statusCode, 200);
      assert.equal(text.decode(response.body), '{"ok":true}');
    }
    assert.equal(server.connections, 1);
    assert.deepEqual(handler.counts, { opened: 1, reused: 2 });
    handler.closeAll();
    await handler.handle(post(server.port));
    assert.equal(server.connections, 2);
    assert.deepEqual(server.seen.map((s) => s.connection), [0, 0, 0, 1]);
  } finally {
    handler.destroy();
    await server.close();
  }
});

Deno.test("http handler: a kept connection closed after the server read the request fails that request; it is never sent again", async () => {
  // The first request is answered; the second, on the kept connection, is
  // read (Kinesis may have stored it) and the connection is closed.
  const server = rawServer((_, request) =>
    request === 0 ? answer("{}") : async () => await Promise.resolve("close")
  );
  const handler = new KeepAliveHandler();
  try {
    await handler.handle(post(server.port, '{"n":1}'));
    await assert.rejects(
      handler.handle(post(server.port, '{"n":2}')),
      (error: unknown) => {
        assert.ok(error instanceof HttpExchangeError);
        assert.equal(error.requestSent, true);
        assert.equal(error.code, "ECONNRESET");
        return true;
      },
    );
    // Give a re-send every chance to arrive.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(server.seen.length, 2, "the failed request was not re-sent");
    assert.equal(server.connections, 1);
  } finally {
    handler.destroy();
    await server.close();
  }
});

Deno.test("http handler: chunked bodies, 100 Continue and Connection: close are read right", async () => {
  const server = rawServer((_, request) => async (_, conn) => {
    if (request === 0) {
      await conn.write(utf8.encode(
        "HTTP/1.1 100 Continue\r\n\r\n" +
          "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-amzn-requestid: r1\r\n\r\n" +
          "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\ntrailer: t\r\n\r\n",
      ));
      return "keep";
    }
    await conn.write(
      utf8.encode(
        "HTTP/1.1 400 Bad\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
      ),
    );
    return "close";
  });
  const handler = new KeepAliveHandler();
  try {
    const first = await handler.handle(post(server.port));
    assert.equal(first.response.statusCode, 200);
    assert.equal(text.decode(first.response.body), "hello, world");
    assert.equal(first.response.headers["x-amzn-requestid"], "r1");
    const second = await handler.handle(post(server.port));
    assert.equal(second.response.statusCode, 400);
    assert.equal(second.response.reason, "Bad");
    // The server said close: the third request needs a new connection.
    await handler.handle(post(server.port));
    assert.equal(server.connections, 2);
  } finally {
    handler.destroy();
    await server.close();
  }
});

Deno.test("http handler: aborting closes the connection and rejects with AbortError", async () => {
  const server = rawServer(() => async () => {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    return "close";
  });
  const handler = new KeepAliveHandler();
  try {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = performance.now();
    await assert.rejects(
      handler.handle(post(server.port), { abortSignal: controller.signal }),
      (error: unknown) => (error as Error).name === "AbortError",
    );
    assert.ok(performance.now() - started < 1_500, "ended at the abort");
    assert.deepEqual(handler.counts, { opened: 1, reused: 0 });
  } finally {
    handler.destroy();
    await server.close();
  }
});

Deno.test("http handler: a signal bound to the request's body works as the option would: aborted before, nothing is sent; aborted during, the connection closes", async () => {
  const server = rawServer(() => async () => {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    return "close";
  });
  const handler = new KeepAliveHandler();
  try {
    const early = new AbortController();
    early.abort();
    const unsent = { ...post(server.port), body: utf8.encode("{}") };
    handler.bindSignal(unsent.body, early.signal);
    await assert.rejects(
      handler.handle(unsent),
      (error: unknown) => (error as Error).name === "AbortError",
    );
    assert.equal(handler.wasSent(early.signal), false);
    assert.deepEqual(handler.counts, { opened: 0, reused: 0 });

    const late = new AbortController();
    const sent = { ...post(server.port), body: utf8.encode("{}") };
    handler.bindSignal(sent.body, late.signal);
    setTimeout(() => late.abort(), 50);
    const started = performance.now();
    await assert.rejects(
      handler.handle(sent),
      (error: unknown) => (error as Error).name === "AbortError",
    );
    assert.ok(performance.now() - started < 1_500, "ended at the abort");
    assert.equal(handler.wasSent(late.signal), true);
    assert.equal(server.seen.length, 1);
  } finally {
    handler.destroy();
    await server.close();
  }
});

Deno.test("http handler: a refused connection is an error before anything was sent", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(
    new KeepAliveHandler().handle(post(port)),
    (error: unknown) => {
      assert.ok(error instanceof HttpExchangeError);
      assert.equal(error.requestSent, false);
      assert.equal(error.code, "ECONNREFUSED");
      return true;
    },
  );
});

Deno.test("http handler: a connection idle past the idle timeout is closed and replaced", async () => {
  const server = rawServer(() => answer("{}"));
  const handler = new KeepAliveHandler({ idleTimeoutMs: 30 });
  try {
    await handler.handle(post(server.port));
    await new Promise((resolve) => setTimeout(resolve, 120));
    await handler.handle(post(server.port));
    assert.equal(server.connections, 2);
    assert.deepEqual(handler.counts, { opened: 2, reused: 0 });
  } finally {
    handler.destroy();
    await server.close();
  }
});

Deno.test("http handler: the request is written with host, length and query, body bytes as given", () => {
  const [bytes, ...rest] = encodeRequest({
    method: "POST",
    protocol: "https:",
    hostname: "kinesis.eu-west-1.amazonaws.com",
    path: "/",
    query: { a: "1 2", flag: null },
    headers: { "X-Amz-Target": "Kinesis_20131202.PutRecords" },
    body: "é",
  });
  assert.equal(
    text.decode(bytes),
    "POST /?a=1%202&flag HTTP/1.1\r\n" +
      "X-Amz-Target: Kinesis_20131202.PutRecords\r\n" +
      "host: kinesis.eu-west-1.amazonaws.com\r\n" +
      "content-length: 2\r\n\r\né",
  );
  assert.equal(rest.length, 0, "a small body is written with its head");
  const large = encodeRequest({
    method: "POST",
    protocol: "http:",
    hostname: "h",
    path: "/",
    headers: {},
    body: new Uint8Array(100_000),
  });
  assert.equal(large.length, 2, "a large body is written after its head");
  assert.equal(large[1].byteLength, 100_000);
  assert.throws(
    () =>
      encodeRequest({
        method: "GET",
        protocol: "http:",
        hostname: "h",
        path: "/",
        headers: { bad: "a\r\nInjected: 1" },
      }),
    HttpExchangeError,
  );
});
