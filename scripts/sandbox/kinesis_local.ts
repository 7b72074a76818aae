/**
 * An embedded Kinesis (kinesalite) on a free loopback port, for the demo, the
 * benchmark and the tests. Never binds to every interface, never a fixed port.
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
import type { AddressInfo } from "node:net";

/** Credentials the emulator accepts (it checks only that a signature exists). */
export const LOCAL_CREDENTIALS = {
  accessKeyId: "AKIDLOCALSANDBOX",
  secretAccessKey: "local-sandbox-secret",
} as const;

/** Region used with the emulator. */
export const LOCAL_REGION = "us-east-1";

/** A running kinesalite. */
export interface LocalKinesis {
  /** `http://127.0.0.1:<port>`: give it to clients as `AWS_ENDPOINT_URL_KINESIS`. */
  endpoint: string;
  /** A client of this emulator (HTTP/1.1, local credentials). */
  client: KinesisClient;
  /** Creates a stream and waits until it is ACTIVE; returns its ARN. */
  createStream(name: string, shardCount?: number): Promise<string>;
  /** Stops the server and the client. */
  stop(): Promise<void>;
}

/** Builds a Kinesis client for an endpoint with an HTTP/1.1 handler. */
export function localKinesisClient(endpoint: string): KinesisClient {
  return new KinesisClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler({ requestTimeout: 30_000 }),
    maxAttempts: 1,
  });
}

/** Starts kinesalite in this process on 127.0.0.1 and a free port. */
export async function startLocalKinesis(): Promise<LocalKinesis> {
  const server = kinesalite({
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 1000,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = localKinesisClient(endpoint);
  return {
    endpoint,
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
    },
  };
}
