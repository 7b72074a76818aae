import assert from "node:assert/strict";
import net from "node:net";
import { ListStreamsCommand } from "@aws-sdk/client-kinesis";
import { startLocalKinesis } from "../../../scripts/sandbox/kinesis_local.ts";

/** Opens a connection, sends half a request, and goes away. */
async function abandonRequest(endpoint: string, tls: boolean): Promise<void> {
  const socket = net.connect(Number(new URL(endpoint).port), "127.0.0.1");
  await new Promise((resolve) => socket.on("connect", resolve));
  // Over TLS a bare byte stream is not a request; half a handshake is the
  // TLS server's own business. In plain HTTP, half a body is a request cut.
  socket.write(
    tls
      ? "not a handshake"
      : "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 100));
}

for (const tls of [false, true]) {
  Deno.test(`kinesis local${tls ? " (TLS)" : ""}: a client that goes away mid-request does not end the emulator`, async () => {
    const kinesis = await startLocalKinesis({ tls });
    try {
      await abandonRequest(kinesis.endpoint, tls);
      await kinesis.createStream("after-abort", 1);
      const listed = await kinesis.client.send(new ListStreamsCommand({}));
      assert.deepEqual(listed.StreamNames, ["after-abort"]);
    } finally {
      await kinesis.stop();
    }
  });
}
