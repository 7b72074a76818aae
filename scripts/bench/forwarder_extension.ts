/**
 * The least an extension that ships telemetry to Kinesis can do, as the
 * yardstick of the bench's load cases: register, subscribe with the
 * extension's default buffering, take each delivery's body as bytes and put
 * it, unparsed, as one record (PutRecords of about 1 MiB through the same
 * AWS SDK), and on each INVOKE or SHUTDOWN send what it holds before it
 * returns to `/event/next`.
 *
 * It pays what every extension on this path pays and nothing more: the
 * runtime's CPU for the lines it writes, Lambda's delivery into the
 * extension's HTTP server, and the SDK's request. It validates nothing,
 * counts nothing, has no memory bound and no hold bound, wraps nothing in
 * envelopes and aggregates nothing for KCL, so it is no product: it is what
 * the CPU share of a function lets any such extension reach, where the
 * plain loader of `load.ts` measures what Kinesis takes from a process
 * that does nothing else.
 *
 * Variables: `AWS_LAMBDA_RUNTIME_API`, `KINESIS_TELEMETRY_STREAM`,
 * `AWS_ENDPOINT_URL_KINESIS`, `AWS_REGION` and Lambda's credentials. Its
 * records are JSON arrays of Telemetry API events
 * ({@linkcode eventsOfForwardedRecord}).
 *
 * @module
 */
import { KinesisClient, PutRecordsCommand } from "@aws-sdk/client-kinesis";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import type { TelemetryEvent } from "../../extension/types.ts";
import { EXTENSION_DENO_FLAGS } from "../lib/extension_flags.ts";
import {
  registerForInvokeAndShutdown,
  subscribeToTelemetry,
} from "../sandbox/bare_extension.ts";
import { sourceExtension } from "../sandbox/extension_specs.ts";
import type { ExtensionSpec } from "../sandbox/sandbox.ts";

/** Name it registers with. */
export const FORWARDER_EXTENSION_NAME = "forwarder-extension";

/** Data bytes per PutRecords request, as the extension's own requests. */
const REQUEST_BYTES = 1024 * 1024;

/**
 * This extension from source, with the project extension's Deno flags (its
 * permissions and its 128 MB heap limits), shipping to `stream` at
 * `endpoint`.
 */
export function forwarderExtension(
  stream: string,
  endpoint: string,
): ExtensionSpec {
  return sourceExtension(
    FORWARDER_EXTENSION_NAME,
    import.meta.filename!,
    EXTENSION_DENO_FLAGS,
    { KINESIS_TELEMETRY_STREAM: stream, AWS_ENDPOINT_URL_KINESIS: endpoint },
  );
}

/** The Telemetry API events of one record this extension wrote. */
export function eventsOfForwardedRecord(data: Uint8Array): TelemetryEvent[] {
  return JSON.parse(new TextDecoder().decode(data));
}

async function main(): Promise<void> {
  const api = `http://${Deno.env.get("AWS_LAMBDA_RUNTIME_API")}`;
  const stream = Deno.env.get("KINESIS_TELEMETRY_STREAM");
  if (!stream) throw new Error("KINESIS_TELEMETRY_STREAM is not set");
  const id = await registerForInvokeAndShutdown(api, FORWARDER_EXTENSION_NAME);
  const client = new KinesisClient({
    region: Deno.env.get("AWS_REGION") ?? "us-east-1",
    endpoint: Deno.env.get("AWS_ENDPOINT_URL_KINESIS"),
    // kinesalite speaks HTTP/1.1 only; the SDK's default for Kinesis is h2.
    requestHandler: new FetchHttpHandler(),
  });
  const held: Uint8Array[] = [];
  let heldBytes = 0;
  let sending: Promise<void> | undefined;
  const sendHeld = async () => {
    while (held.length > 0) {
      const batch: Uint8Array[] = [];
      let bytes = 0;
      while (
        held.length > 0 && batch.length < 500 &&
        (batch.length === 0 || bytes + held[0].byteLength <= REQUEST_BYTES)
      ) {
        bytes += held[0].byteLength;
        batch.push(held.shift()!);
      }
      heldBytes -= bytes;
      let failed = batch;
      try {
        const answer = await client.send(
          new PutRecordsCommand({
            StreamName: stream,
            Records: batch.map((data, i) => ({
              Data: data,
              PartitionKey: `p${i}`,
            })),
          }),
        );
        failed = batch.filter((_, i) => answer.Records?.[i]?.ErrorCode);
      } catch {
        // Sent again at the next INVOKE (a yardstick need not tell a
        // stored request from a lost one).
        for (const data of batch) heldBytes += data.byteLength;
        held.unshift(...batch);
        return;
      }
      // Throttled or failed records go first in the next request.
      for (const data of failed) heldBytes += data.byteLength;
      held.unshift(...failed);
    }
  };
  const send = () =>
    sending ??= sendHeld().finally(() => {
      sending = undefined;
    });
  const listener = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const body = await request.bytes();
      held.push(body);
      heldBytes += body.byteLength;
      // While the runtime runs, send as soon as a request's worth is held.
      if (heldBytes >= REQUEST_BYTES) send();
      return new Response(null, { status: 200 });
    },
  );
  // The extension's default buffering timeout.
  await subscribeToTelemetry(api, id, listener.addr.port, 100);
  for (;;) {
    const next = await fetch(`${api}/2020-01-01/extension/event/next`, {
      headers: { "Lambda-Extension-Identifier": id },
    });
    const event = await next.json();
    // The invocation's last deliveries come a buffering timeout after its
    // last line.
    await new Promise((resolve) => setTimeout(resolve, 150));
    while (held.length > 0 || sending) {
      const before = held.length;
      await send();
      // Kinesis unreachable: try again at the next event.
      if (!sending && held.length >= before && before > 0) break;
    }
    if (event.eventType === "SHUTDOWN") break;
  }
  Deno.exit(0);
}

if (import.meta.main) await main();
