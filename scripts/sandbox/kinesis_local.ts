/**
 * An embedded Kinesis (kinesalite) on a free loopback port, for the demo, the
 * benchmark and the tests. Never binds to every interface, never a fixed port.
 * With `tls`, it serves HTTPS (kinesalite's `ssl` option) with a certificate
 * made for the run, as real Kinesis endpoints are HTTPS.
 *
 * @module
 */
import kinesalite from "kinesalite";
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
} from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { Agent as HttpsAgent } from "node:https";
import type { AddressInfo } from "node:net";
import { createLocalCertificate } from "./tls_cert.ts";

/** Credentials the emulator accepts (it checks only that a signature exists). */
export const LOCAL_CREDENTIALS = {
  accessKeyId: "AKIDLOCALSANDBOX",
  secretAccessKey: "local-sandbox-secret",
} as const;

/** Region used with the emulator. */
export const LOCAL_REGION = "us-east-1";

/** A running kinesalite. */
export interface LocalKinesis {
  /** `http(s)://127.0.0.1:<port>`: give it to clients as `AWS_ENDPOINT_URL_KINESIS`. */
  endpoint: string;
  /** The CA file that signed its certificate (TLS only). */
  caFile?: string;
  /**
   * Variables that point an extension here: the endpoint, and with TLS
   * `DENO_CERT` (Deno adds that CA to the ones it trusts).
   */
  clientEnv(): Record<string, string>;
  /**
   * Options for a fault proxy in front of it: its endpoint as the target,
   * and with TLS the CA to trust it by and the same certificate to serve.
   */
  proxyOptions(): Promise<{
    target: string;
    targetCa?: string;
    tls?: { cert: string; key: string };
  }>;
  /** A client of this emulator (HTTP/1.1, local credentials). */
  client: KinesisClient;
  /** Creates a stream and waits until it is ACTIVE; returns its ARN. */
  createStream(name: string, shardCount?: number): Promise<string>;
  /** Stops the server and the client. */
  stop(): Promise<void>;
}

/** Builds a Kinesis client for an endpoint with an HTTP/1.1 handler; `ca` (PEM) for HTTPS. */
export function localKinesisClient(
  endpoint: string,
  ca?: string,
): KinesisClient {
  return new KinesisClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler({
      requestTimeout: 30_000,
      ...(ca ? { httpsAgent: new HttpsAgent({ ca, keepAlive: true }) } : {}),
    }),
    maxAttempts: 1,
  });
}

/** How to start the emulator. */
export interface LocalKinesisOptions {
  /** Serve HTTPS with a certificate made for this run (false). */
  tls?: boolean;
}

/** Starts kinesalite in this process on 127.0.0.1 and a free port. */
export async function startLocalKinesis(
  options: LocalKinesisOptions = {},
): Promise<LocalKinesis> {
  const certificate = options.tls ? await createLocalCertificate() : null;
  const ca = certificate
    ? await Deno.readTextFile(certificate.caFile)
    : undefined;
  const server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 1000,
    ...(certificate
      ? {
        ssl: true,
        key: await Deno.readTextFile(certificate.keyFile),
        cert: await Deno.readTextFile(certificate.certFile),
        ca,
      }
      : {}),
  });
  // A client that goes away mid-request (an extension SIGKILLed at its
  // deadline, a request abandoned at the hold) makes the request emit an
  // "aborted" error, which kinesalite's own handler rethrows: uncaught, it
  // would end the whole process that hosts the emulator. Its handler still
  // serves every request; only that rethrow is replaced by a no-op.
  type AbortableRequest = {
    removeAllListeners(event: "error"): void;
    on(event: "error", listener: () => void): void;
  };
  const handlers = server.listeners("request") as ((
    request: AbortableRequest,
    response: unknown,
  ) => void)[];
  server.removeAllListeners("request");
  server.on("request", (request: AbortableRequest, response: unknown) => {
    for (const handler of handlers) handler.call(server, request, response);
    request.removeAllListeners("error");
    request.on("error", () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `${certificate ? "https" : "http"}://127.0.0.1:${port}`;
  const client = localKinesisClient(endpoint, ca);
  return {
    endpoint,
    ...(certificate ? { caFile: certificate.caFile } : {}),
    proxyOptions: async () =>
      certificate
        ? {
          target: endpoint,
          targetCa: ca,
          tls: {
            cert: await Deno.readTextFile(certificate.certFile),
            key: await Deno.readTextFile(certificate.keyFile),
          },
        }
        : { target: endpoint },
    clientEnv: () => ({
      AWS_ENDPOINT_URL_KINESIS: endpoint,
      ...(certificate ? { DENO_CERT: certificate.caFile } : {}),
    }),
    client,
    async createStream(name, shardCount = 1) {
      await client.send(
        new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }),
      );
      for (let attempt = 0; attempt < 200; attempt++) {
        const summary = await client.send(
          new DescribeStreamSummaryCommand({ StreamName: name }),
        );
        const description = summary.StreamDescriptionSummary;
        if (description?.StreamStatus === "ACTIVE") {
          return description.StreamARN ?? name;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`stream ${name} did not become ACTIVE`);
    },
    async stop() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await certificate?.remove();
    },
  };
}
