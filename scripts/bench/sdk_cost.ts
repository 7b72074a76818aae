/**
 * What the AWS SDK costs the extension, per HTTP handler: the time and
 * memory of loading `@aws-sdk/client-kinesis` with the handler and building
 * the client, and the CPU of one PutRecords (20 records of 400 B: one steady
 * invocation) against a null Kinesis endpoint. Each handler is measured in
 * its own process with the extension's permission and heap flags at 128 MB.
 *
 * `deno run -A scripts/bench/sdk_cost.ts` prints a Markdown table; as a
 * module, {@linkcode measureSdkCost} returns the figures.
 *
 * - `keep-alive`: extension/http_handler.ts on Deno's own sockets, what
 *   extension/kinesis_client.ts uses: one connection for the whole series,
 *   as within a flush or while the runtime runs.
 * - `keep-alive, fresh`: the same handler with its connections closed
 *   before every request, as after a possible freeze.
 * - `node-http`: `@smithy/node-http-handler` on Deno's `node:http`
 *   compatibility layer, a connection per request (what the extension used
 *   before: `node:http`'s keep-alive re-sends requests silently).
 * - `fetch`: `@smithy/fetch-http-handler` on Deno's native `fetch`.
 *
 * Each runs against a null endpoint over HTTP and over HTTPS (a CA made for
 * the run, given to the child as `DENO_CERT`), since on real Kinesis every
 * new connection costs a TLS handshake.
 *
 * @module
 */
import { extensionDenoFlags } from "../lib/extension_flags.ts";
import { createLocalCertificate } from "../sandbox/tls_cert.ts";
import { startNullKinesis } from "./null_kinesis.ts";

/** The handlers compared. */
export const SDK_HANDLERS = [
  "keep-alive",
  "keep-alive, fresh",
  "node-http",
  "fetch",
] as const;
/** One of {@linkcode SDK_HANDLERS}. */
export type SdkHandler = typeof SDK_HANDLERS[number];

/** What one handler's process measured. */
export interface SdkCost {
  /** Handler. */
  handler: SdkHandler;
  /** Whether the endpoint spoke TLS. */
  tls: boolean;
  /** RSS before loading anything (MB). */
  baseRssMB: number;
  /** RSS growth from loading the SDK and building the client (MB). */
  loadRssMB: number;
  /** Wall time of the imports and the client (ms). */
  loadMs: number;
  /** CPU of the imports and the client (ms). */
  loadCpuMs: number;
  /** CPU per PutRecords of 20 records, after a warm-up (ms). */
  cpuMsPerRequest: number;
  /** Wall time per PutRecords, one after another (ms). */
  msPerRequest: number;
  /** RSS growth over the requests (MB). */
  requestsRssMB: number;
}

const CHILD_FLAG = "--child";
const REQUESTS = 300;
const WARMUP = 20;

/** The child: measures one handler and prints its figures as JSON. */
async function child(
  handler: SdkHandler,
  endpoint: string,
  caFile: string | undefined,
): Promise<void> {
  const rss = () => Deno.memoryUsage().rss / 1024 / 1024;
  const cpu = async () => {
    const { cpuUsage } = await import("node:process");
    const usage = cpuUsage();
    return (usage.user + usage.system) / 1000;
  };
  const baseRssMB = rss();
  const cpu0 = await cpu();
  const t0 = performance.now();
  const sdk = await import("@aws-sdk/client-kinesis");
  const ours = handler.startsWith("keep-alive")
    ? new (await import("../../extension/http_handler.ts")).KeepAliveHandler()
    : undefined;
  const requestHandler = ours ??
    (handler === "fetch"
      ? new (await import("@smithy/fetch-http-handler")).FetchHttpHandler({
        requestTimeout: 5_000,
      })
      : new (await import("@smithy/node-http-handler")).NodeHttpHandler({
        requestTimeout: 5_000,
        httpAgent: { keepAlive: false },
        // Deno's node:https does not read DENO_CERT: the run's CA goes in.
        httpsAgent: {
          keepAlive: false,
          ca: caFile && await Deno.readTextFile(caFile),
        },
      }));
  const fresh = handler === "keep-alive, fresh";
  const client = new sdk.KinesisClient({
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "AKIDBENCH", secretAccessKey: "bench" },
    maxAttempts: 1,
    requestHandler,
  });
  const loadMs = performance.now() - t0;
  const loadCpuMs = (await cpu()) - cpu0;
  const loadRssMB = rss() - baseRssMB;
  const data = new Uint8Array(400).fill(97);
  const records = Array.from({ length: 20 }, (_, i) => ({
    Data: data,
    PartitionKey: `key-${i}`,
  }));
  const put = () => {
    if (fresh) ours!.closeAll();
    return client.send(
      new sdk.PutRecordsCommand({ StreamName: "bench", Records: records }),
    );
  };
  for (let i = 0; i < WARMUP; i++) await put();
  const rss1 = rss();
  const cpu1 = await cpu();
  const wall1 = performance.now();
  for (let i = 0; i < REQUESTS; i++) await put();
  const msPerRequest = (performance.now() - wall1) / REQUESTS;
  const cpuMsPerRequest = ((await cpu()) - cpu1) / REQUESTS;
  client.destroy();
  const cost: SdkCost = {
    handler,
    tls: endpoint.startsWith("https:"),
    msPerRequest,
    baseRssMB,
    loadRssMB,
    loadMs,
    loadCpuMs,
    cpuMsPerRequest,
    requestsRssMB: rss() - rss1,
  };
  console.log(JSON.stringify(cost));
}

/**
 * Measures every handler over HTTP and HTTPS, each in a fresh process,
 * `rounds` times (medians).
 */
export async function measureSdkCost(rounds = 3): Promise<SdkCost[]> {
  const certificate = await createLocalCertificate();
  const plain = await startNullKinesis();
  const tls = await startNullKinesis({
    cert: await Deno.readTextFile(certificate.certFile),
    key: await Deno.readTextFile(certificate.keyFile),
  });
  try {
    const results: SdkCost[] = [];
    for (const kinesis of [plain, tls]) {
      for (const handler of SDK_HANDLERS) {
        const samples: SdkCost[] = [];
        for (let round = 0; round < rounds; round++) {
          const out = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              ...extensionDenoFlags(128),
              // node:process cpuUsage reads /proc/self in Deno.
              "--allow-read",
              import.meta.filename!,
              CHILD_FLAG,
              handler,
              kinesis.endpoint,
              certificate.caFile,
            ],
            env: { DENO_CERT: certificate.caFile },
            stdout: "piped",
            stderr: "piped",
          }).output();
          if (!out.success) {
            throw new Error(
              `${handler}: ${new TextDecoder().decode(out.stderr).slice(-500)}`,
            );
          }
          samples.push(JSON.parse(new TextDecoder().decode(out.stdout)));
        }
        const med = (pick: (cost: SdkCost) => number) => {
          const sorted = samples.map(pick).sort((a, b) => a - b);
          return sorted[Math.floor(sorted.length / 2)];
        };
        results.push({
          handler,
          tls: kinesis === tls,
          baseRssMB: med((c) => c.baseRssMB),
          loadRssMB: med((c) => c.loadRssMB),
          loadMs: med((c) => c.loadMs),
          loadCpuMs: med((c) => c.loadCpuMs),
          cpuMsPerRequest: med((c) => c.cpuMsPerRequest),
          msPerRequest: med((c) => c.msPerRequest),
          requestsRssMB: med((c) => c.requestsRssMB),
        });
      }
    }
    return results;
  } finally {
    await plain.stop();
    await tls.stop();
    await certificate.remove();
  }
}

/** The Markdown table of {@linkcode measureSdkCost}. */
export function renderSdkCost(costs: readonly SdkCost[]): string {
  const f = (value: number, digits = 1) => value.toFixed(digits);
  return [
    "| SDK handler | endpoint | RSS before (MB) | + load and client (MB) | load (ms) | load CPU (ms) | CPU per PutRecords of 20 (ms) | ms per PutRecords | RSS growth over 300 requests (MB) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...costs.map((c) =>
      `| ${c.handler} | ${c.tls ? "HTTPS" : "HTTP"} | ${f(c.baseRssMB)} | ${
        f(c.loadRssMB)
      } | ${f(c.loadMs, 0)} | ${f(c.loadCpuMs, 0)} | ${
        f(c.cpuMsPerRequest, 2)
      } | ${f(c.msPerRequest, 2)} | ${f(c.requestsRssMB)} |`
    ),
  ].join("\n") + "\n";
}

if (import.meta.main) {
  if (Deno.args[0] === CHILD_FLAG) {
    await child(Deno.args[1] as SdkHandler, Deno.args[2], Deno.args[3]);
  } else {
    console.log(renderSdkCost(await measureSdkCost()));
  }
}
