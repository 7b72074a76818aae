/**
 * Load cases of the bench, in the local sandbox (real Node function,
 * Lambda's freeze between invocations, Lambda-like telemetry delivery with
 * retries and drops), against one kinesalite child:
 *
 * - `loader`: a plain PutRecords loader (the burst's envelopes packed into
 *   64 KiB records, 1 MiB requests, one at a time, a kept-alive connection)
 *   — what this Kinesis endpoint accepts, the yardstick of the burst.
 * - `forwarder`: the burst at 128 MB with `forwarder_extension.ts` in place
 *   of the project's extension — what the same function, platform and
 *   Kinesis let the least extension that ships reach, the yardstick that
 *   pays the runtime's and the delivery's CPU as the extension does.
 * - `burst`: 100,000 events of ~100 bytes in 5 invocations, then idle
 *   invocations until everything is stored: delivered, duplicates, events
 *   the platform dropped, throughput against the loader.
 * - `long`: one 60 s invocation logging 100,000 lines of 200 bytes:
 *   delivered, dropped, its post-runtime overhead.
 *
 * Run alone: `deno run -A scripts/bench/load.ts [--quick]`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  PutRecordsCommand,
} from "@aws-sdk/client-kinesis";
import { decodeRecord } from "../lib/decode.ts";
import { readAllRecords } from "../lib/kinesis_read.ts";
import { projectExtension } from "../sandbox/extension_specs.ts";
import { localKinesisClient } from "../sandbox/kinesis_local.ts";
import { type InvocationRecord, startSandbox } from "../sandbox/sandbox.ts";
import { openLimits } from "../sandbox/limits.ts";
import { SMALLEST_FUNCTION_MEMORY_MB } from "../../extension/memory_budget.ts";
import { CFS_PERIOD_US, cpuQuotaUs } from "../sandbox/cgroup.ts";
import type { ExtensionSpec } from "../sandbox/sandbox.ts";
import { startKinesisServer } from "./kinesis_server.ts";
import {
  eventsOfForwardedRecord,
  forwarderExtension,
} from "./forwarder_extension.ts";
import { cpuSeconds } from "./proc.ts";
import { REPO_ROOT, summaryOf, within } from "./run_helpers.ts";

/** Sizes of a load run. */
export interface LoadPlan {
  /** Burst events (in 5 invocations). */
  burstEvents: number;
  /** Long invocation: lines and duration. */
  longLines: number;
  /** Long invocation length (ms). */
  longMs: number;
}

/** The full plan (the issue's targets). */
export const FULL_LOAD: LoadPlan = {
  burstEvents: 100_000,
  longLines: 100_000,
  longMs: 60_000,
};
/** A smoke check of the load cases themselves. */
export const QUICK_LOAD: LoadPlan = {
  burstEvents: 10_000,
  longLines: 10_000,
  longMs: 6_000,
};

/** What one sandbox case measured. */
export interface LoadCase {
  /** Events the sandbox emitted. */
  emitted: number;
  /** Distinct events found in the stream. */
  stored: number;
  /** Stored copies beyond the first. */
  duplicates: number;
  /** Events the platform dropped after failed deliveries. */
  platformDropped: number;
  /** Events of the function and platform missing from the stream. */
  missing: number;
  /** First invocation → last event stored (ms). */
  wallMs: number;
  /** Events stored per second over `wallMs`. */
  eventsPerSecond: number;
  /**
   * Events stored per second over the time the environment was thawed
   * (the invocations' invoke phases): frozen between invocations, the
   * extension cannot ship at all.
   */
  eventsPerThawedSecond: number;
  /** Post-runtime overhead of each invocation (ms). */
  postRuntimeMs: number[];
  /** Invocations run. */
  invocations: number;
  /** The extension's summary line. */
  summary: Record<string, unknown> | undefined;
  /**
   * CPU of the environment's processes from the end of init to SHUTDOWN
   * (ms, /proc's 10 ms ticks): what the events cost in the CPU share.
   */
  cpuMs: { runtime: number; extension: number };
}

/** Everything the load cases measured. */
export interface LoadResults {
  /** The plain loader, events per second (unconstrained, in this process). */
  loaderEventsPerSecond: number;
  /**
   * The same loader in its own process held to a 128 MB function's CPU
   * share and memory (the sandbox's cgroup), or why it could not be.
   */
  limitedLoader:
    | { eventsPerSecond: number; cpuMsPer1000Events: number }
    | { notMeasured: string };
  /** The burst, at 128 MB (the issue's targets). */
  burst: LoadCase;
  /** The same burst with the forwarding yardstick as the extension. */
  forwarder: LoadCase;
  /** The long invocation, at 128 MB (the issue's targets). */
  long: LoadCase;
  /** The same two cases at larger function sizes. */
  larger: { memoryMB: number; burst: LoadCase; long: LoadCase }[];
}

/** Function sizes the cases also run at, beside 128 MB. */
export const LARGER_MEMORY_MB = [1024];

const FUNCTION_ROOT = `${REPO_ROOT}infra/demo-function`;
const PACED_ROOT = new URL("./functions/paced", import.meta.url).pathname;

/** Runs the three load cases against one kinesalite child. */
export async function runLoad(plan: LoadPlan): Promise<LoadResults> {
  const streams = [
    "load-loader",
    "load-loader-128",
    "load-forwarder",
    "load-burst",
    "load-long",
    ...LARGER_MEMORY_MB.flatMap((
      mb,
    ) => [`load-burst-${mb}`, `load-long-${mb}`]),
  ];
  const kinesis = await startKinesisServer(streams);
  const client = localKinesisClient(kinesis.endpoint);
  try {
    const { eventsPerSecond: loaderEventsPerSecond } = await runLoader(
      client,
      "load-loader",
      plan.burstEvents,
    );
    const limitedLoader = await runLimitedLoader(
      kinesis.endpoint,
      "load-loader-128",
      plan.burstEvents,
    );
    const burst = await runBurst(kinesis.endpoint, client, plan, "load-burst");
    const forwarder = await runBurst(
      kinesis.endpoint,
      client,
      plan,
      "load-forwarder",
      SMALLEST_FUNCTION_MEMORY_MB,
      "forwarder",
    );
    const long = await runLong(kinesis.endpoint, client, plan, "load-long");
    const larger = [];
    for (const memoryMB of LARGER_MEMORY_MB) {
      larger.push({
        memoryMB,
        burst: await runBurst(
          kinesis.endpoint,
          client,
          plan,
          `load-burst-${memoryMB}`,
          memoryMB,
        ),
        long: await runLong(
          kinesis.endpoint,
          client,
          plan,
          `load-long-${memoryMB}`,
          memoryMB,
        ),
      });
    }
    return {
      loaderEventsPerSecond,
      limitedLoader,
      burst,
      forwarder,
      long,
      larger,
    };
  } finally {
    client.destroy();
    await kinesis.stop();
  }
}

/**
 * The plain loader: `events` envelopes of the burst's size, packed as the
 * extension packs them (newline-joined into records of up to 64 KiB, 1 MiB
 * per request), one PutRecords at a time, no listener, buffer or Lambda in
 * between; returns events per second and the CPU of its loop per 1,000.
 */
async function runLoader(
  client: KinesisClient,
  stream: string,
  events: number,
): Promise<{ eventsPerSecond: number; cpuMsPer1000Events: number }> {
  await ensureStream(client, stream);
  const envelope = JSON.stringify({
    time: new Date().toISOString(),
    type: "function",
    record: "x".repeat(100),
    function: { name: "sandbox-function", version: "$LATEST" },
    region: "us-east-1",
    environmentId: crypto.randomUUID(),
  }) + "\n";
  const perRecord = Math.floor(64 * 1024 / envelope.length);
  const data = new TextEncoder().encode(envelope.repeat(perRecord));
  const recordsPerRequest = Math.floor(1024 * 1024 / data.byteLength);
  const cpuBefore = await cpuSeconds(Deno.pid);
  const started = performance.now();
  for (let sent = 0; sent < events;) {
    const count = Math.min(
      recordsPerRequest,
      Math.ceil((events - sent) / perRecord),
    );
    const records = Array.from({ length: count }, (_, i) => ({
      Data: data,
      PartitionKey: `k${i}`,
    }));
    const answer = await client.send(
      new PutRecordsCommand({ StreamName: stream, Records: records }),
    );
    sent += (count - (answer.FailedRecordCount ?? 0)) * perRecord;
  }
  const seconds = (performance.now() - started) / 1000;
  const cpuMs = (await cpuSeconds(Deno.pid) - cpuBefore) * 1000;
  return {
    eventsPerSecond: events / seconds,
    cpuMsPer1000Events: cpuMs * 1000 / events,
  };
}

const LOADER_CHILD = "--loader-child";

/**
 * The plain loader in a child process inside a cgroup with a 128 MB
 * function's limits from its first instruction (7.2 % of a CPU, 128 MB):
 * the yardstick for the extension at the same size. Its figure counts the
 * PutRecords loop only, after the SDK loaded.
 */
async function runLimitedLoader(
  endpoint: string,
  stream: string,
  events: number,
): Promise<LoadResults["limitedLoader"]> {
  const { cgroup, status } = await openLimits(SMALLEST_FUNCTION_MEMORY_MB, {
    cpuQuotaDuringInit: true,
  });
  if (!cgroup) {
    return { notMeasured: status.enforced ? "no cgroup" : status.reason! };
  }
  try {
    const argv = cgroup.wrap([
      Deno.execPath(),
      "run",
      "-A",
      import.meta.filename!,
      LOADER_CHILD,
      endpoint,
      stream,
      String(events),
    ]);
    const output = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      return {
        notMeasured: `loader failed: ${
          new TextDecoder().decode(output.stderr).slice(-300)
        }`,
      };
    }
    return JSON.parse(new TextDecoder().decode(output.stdout));
  } finally {
    await cgroup.remove();
  }
}

async function ensureStream(client: KinesisClient, stream: string) {
  try {
    await client.send(
      new DescribeStreamSummaryCommand({ StreamName: stream }),
    );
  } catch {
    await client.send(
      new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }),
    );
  }
}

/**
 * 5 invocations of `burstEvents / 5` lines each, then idle ones until
 * stored; with the project's extension or the forwarding yardstick.
 */
async function runBurst(
  endpoint: string,
  client: KinesisClient,
  plan: LoadPlan,
  stream: string,
  memoryMB = SMALLEST_FUNCTION_MEMORY_MB,
  extension: "project" | "forwarder" = "project",
): Promise<LoadCase> {
  const perInvocation = Math.ceil(plan.burstEvents / 5);
  const payloads = [
    ...Array.from({ length: 5 }, () => ({
      logLines: perInvocation,
      lineBytes: 100,
    })),
  ];
  return await runCase({
    endpoint,
    client,
    stream,
    memoryMB,
    taskRoot: FUNCTION_ROOT,
    payloads,
    idleUntilStored: 60,
    ...(extension === "forwarder"
      ? {
        extension: forwarderExtension(stream, endpoint),
        eventsOf: eventsOfForwardedRecord,
      }
      : {}),
  });
}

/** One invocation logging `longLines` over `longMs`. */
async function runLong(
  endpoint: string,
  client: KinesisClient,
  plan: LoadPlan,
  stream: string,
  memoryMB = SMALLEST_FUNCTION_MEMORY_MB,
): Promise<LoadCase> {
  return await runCase({
    endpoint,
    client,
    stream,
    memoryMB,
    taskRoot: PACED_ROOT,
    payloads: [{
      logLines: plan.longLines,
      lineBytes: 200,
      durationMs: plan.longMs,
    }],
    idleUntilStored: 0,
    timeoutMs: plan.longMs + 30_000,
  });
}

async function runCase(options: {
  endpoint: string;
  client: KinesisClient;
  stream: string;
  /** The function's memory (the sandbox's limits follow it). */
  memoryMB: number;
  taskRoot: string;
  payloads: unknown[];
  /** Idle invocations (1 s apart) at most, until every event is stored. */
  idleUntilStored: number;
  timeoutMs?: number;
  /** The extension (default: the project's, shipping to `stream`). */
  extension?: ExtensionSpec;
  /** The events of one stored record (default: the project's formats). */
  eventsOf?: (data: Uint8Array) => { type: string; record: unknown }[];
}): Promise<LoadCase> {
  const eventsOf = options.eventsOf ?? envelopesOf;
  const sandbox = await startSandbox({
    fn: {
      runtime: "node",
      taskRoot: options.taskRoot,
      handler: "index.handler",
    },
    timeoutMs: options.timeoutMs ?? 30_000,
    memoryMB: options.memoryMB,
    extensions: [
      options.extension ?? projectExtension({
        KINESIS_TELEMETRY_STREAM: options.stream,
        KINESIS_TELEMETRY_LISTENER_PORT: "0",
        AWS_ENDPOINT_URL_KINESIS: options.endpoint,
      }),
    ],
  });
  const ids = sandbox.processIds();
  const extensionPid = Object.values(ids.extensions)[0];
  const cpuNow = async () => ({
    runtime: ids.runtime === null ? 0 : await cpuSeconds(ids.runtime),
    extension: await cpuSeconds(extensionPid),
  });
  let cpuMs = { runtime: 0, extension: 0 };
  const postRuntimeMs: number[] = [];
  const invocationRecords: InvocationRecord[] = [];
  let summary: Record<string, unknown> | undefined;
  const started = Date.now();
  let invocations = 0;
  try {
    const cpuAfterInit = await cpuNow();
    for (const payload of options.payloads) {
      const record = await within(
        sandbox.invoke(payload),
        (options.timeoutMs ?? 30_000) + 30_000,
        `invocation ${invocations} did not finish`,
      );
      invocations++;
      postRuntimeMs.push(record.postRuntimeMs);
      invocationRecords.push(record);
    }
    for (let idle = 0; idle < options.idleUntilStored; idle++) {
      const stored = await countStored(
        options.client,
        options.stream,
        eventsOf,
      );
      // Everything emitted but the last report, which goes at SHUTDOWN.
      if (stored.distinct >= sandbox.events.length - 1) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const record = await sandbox.invoke({ logLines: 0 });
      invocations++;
      postRuntimeMs.push(record.postRuntimeMs);
      invocationRecords.push(record);
    }
    const cpuAtEnd = await cpuNow();
    cpuMs = {
      runtime: Math.round((cpuAtEnd.runtime - cpuAfterInit.runtime) * 1000),
      extension: Math.round(
        (cpuAtEnd.extension - cpuAfterInit.extension) * 1000,
      ),
    };
    await sandbox.shutdown();
    summary = summaryOf(sandbox.extensionLog);
  } finally {
    await sandbox.stop();
  }
  const records = await readAllRecords(options.client, options.stream);
  const seen = new Map<string, number>();
  let lastArrival = started;
  for (const record of records) {
    lastArrival = Math.max(lastArrival, record.arrivedAt?.getTime() ?? 0);
    for (const event of eventsOf(record.data)) {
      const key = eventKey(event);
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
  }
  let platformDropped = 0;
  let missing = 0;
  let duplicates = 0;
  for (const copies of seen.values()) duplicates += copies - 1;
  for (const emitted of sandbox.events) {
    if (emitted.droppedBy.length > 0) platformDropped++;
    const key = eventKey(emitted.event);
    // The extension's own lines after it stopped listening never arrive.
    if (!seen.has(key) && emitted.event.type !== "extension") missing++;
  }
  const wallMs = lastArrival - started;
  const thawedMs = invocationRecords.reduce((sum, r) => sum + r.durationMs, 0);
  return {
    eventsPerThawedSecond: seen.size / (thawedMs / 1000),
    emitted: sandbox.events.length,
    stored: seen.size,
    duplicates,
    platformDropped,
    missing,
    wallMs,
    eventsPerSecond: seen.size / (wallMs / 1000),
    postRuntimeMs,
    invocations,
    summary,
    cpuMs,
  };
}

/** What tells one event from another in a stream: its type and record. */
function eventKey(event: { type: string; record: unknown }): string {
  return `${event.type}|${JSON.stringify(event.record)}`;
}

/** The events of one record in the project's formats. */
function envelopesOf(data: Uint8Array): { type: string; record: unknown }[] {
  return decodeRecord(data).map((decoded) => decoded.envelope);
}

async function countStored(
  client: KinesisClient,
  stream: string,
  eventsOf: (data: Uint8Array) => { type: string; record: unknown }[],
) {
  const records = await readAllRecords(client, stream);
  const keys = new Set<string>();
  for (const record of records) {
    for (const event of eventsOf(record.data)) {
      keys.add(eventKey(event));
    }
  }
  return { distinct: keys.size };
}

/** Buffering timeout the extension subscribes with by default. */
const DEFAULT_BUFFER_TIMEOUT_MS = 100;

/** The issue's targets for the load cases, judged. */
export function loadTargets(
  results: LoadResults,
): { target: string; goal: string; measured: string; pass: boolean }[] {
  const { burst, long } = results;
  const limited = "eventsPerSecond" in results.limitedLoader
    ? results.limitedLoader.eventsPerSecond
    : undefined;
  const share = burst.eventsPerSecond / results.loaderEventsPerSecond;
  const limitedShare = limited === undefined
    ? undefined
    : burst.eventsPerThawedSecond / limited;
  const longPost = Math.max(...long.postRuntimeMs);
  const ceiling = extensionCeiling(results);
  const forwarderShare = burst.eventsPerThawedSecond /
    results.forwarder.eventsPerThawedSecond;
  return [
    {
      target: "burst: every event delivered, once",
      goal: "0 missing, 0 duplicates",
      measured: `${burst.missing} missing, ${burst.duplicates} duplicates`,
      pass: burst.missing === 0 && burst.duplicates === 0,
    },
    {
      target: "burst: dropped by the platform",
      goal: "0",
      measured: String(burst.platformDropped),
      pass: burst.platformDropped === 0,
    },
    {
      target: "burst: throughput vs plain loader",
      goal: "≥ 80 %",
      measured: `${Math.round(100 * share)} %`,
      pass: share >= 0.8,
    },
    {
      target: "burst: throughput while thawed vs the loader at 128 MB limits",
      goal: "≥ 80 %",
      measured: limitedShare === undefined
        ? `not measured: ${
          (results.limitedLoader as { notMeasured: string }).notMeasured
        }`
        : `${Math.round(burst.eventsPerThawedSecond)} vs ${
          Math.round(limited!)
        } events/s = ${Math.round(100 * limitedShare)} %${
          ceiling === undefined
            ? ""
            : ` (any extension: at most ${
              Math.round(100 * ceiling.ofLimitedLoader)
            } %, the runtime's CPU alone)`
        }`,
      pass: limitedShare !== undefined && limitedShare >= 0.8,
    },
    {
      target:
        "burst: throughput while thawed vs the forwarding extension at 128 MB",
      goal: "≥ 80 %",
      measured: `${Math.round(burst.eventsPerThawedSecond)} vs ${
        Math.round(results.forwarder.eventsPerThawedSecond)
      } events/s = ${Math.round(100 * forwarderShare)} %`,
      pass: forwarderShare >= 0.8,
    },
    {
      target: "long invocation: every event delivered, 0 dropped",
      goal: "0 missing, 0 dropped",
      measured: `${long.missing} missing, ${long.platformDropped} dropped`,
      pass: long.missing === 0 && long.platformDropped === 0,
    },
    {
      target: "long invocation: post-runtime",
      goal: `≤ buffering timeout + 250 ms = ${DEFAULT_BUFFER_TIMEOUT_MS + 250}`,
      measured: `${Math.round(longPost)} ms`,
      pass: longPost <= DEFAULT_BUFFER_TIMEOUT_MS + 250,
    },
  ];
}

/** The load figures as Markdown. */
export function renderLoad(results: LoadResults): string {
  const row = (label: string, c: LoadCase) =>
    `| ${label} | ${c.emitted} | ${c.stored} | ${c.missing} | ${c.duplicates} | ${c.platformDropped} | ${
      Math.round(c.eventsPerSecond)
    } | ${Math.round(c.eventsPerThawedSecond)} | ${c.invocations} | ${
      Math.round(Math.max(...c.postRuntimeMs))
    } |`;
  return [
    "| target | goal | measured | result |",
    "| --- | --- | --- | --- |",
    ...loadTargets(results).map((t) =>
      `| ${t.target} | ${t.goal} | ${t.measured} | ${
        t.pass ? "pass" : "MISS"
      } |`
    ),
    "",
    `Plain PutRecords loader: ${
      Math.round(results.loaderEventsPerSecond)
    } events/s unconstrained; ${
      "eventsPerSecond" in results.limitedLoader
        ? `${
          Math.round(results.limitedLoader.eventsPerSecond)
        } events/s held to a 128 MB function's limits`
        : `at 128 MB not measured (${results.limitedLoader.notMeasured})`
    }.`,
    "",
    cpuLine(results),
    "",
    "| case | emitted | stored | missing | duplicates | dropped by the platform | events/s | events/s thawed | invocations | max post-runtime ms |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    row("128 MB: burst (5 invocations, then idle)", results.burst),
    row("128 MB: burst, forwarding extension", results.forwarder),
    row("128 MB: long invocation", results.long),
    ...results.larger.flatMap((size) => [
      row(`${size.memoryMB} MB: burst (5 invocations, then idle)`, size.burst),
      row(`${size.memoryMB} MB: long invocation`, size.long),
    ]),
    "",
    `Burst post-runtime per invocation: ${
      results.burst.postRuntimeMs.map((ms) => Math.round(ms)).join(", ")
    } ms. Long invocation post-runtime: ${
      results.long.postRuntimeMs.map((ms) => Math.round(ms)).join(", ")
    } ms.`,
  ].join("\n");
}

/**
 * Where the 128 MB burst's CPU share went, per 1,000 events stored: the
 * runtime that writes them, the extension, the forwarding yardstick, and
 * the loader's PutRecords alone.
 */
function cpuLine(results: LoadResults): string {
  const per1000 = (ms: number, c: LoadCase) =>
    (ms * 1000 / Math.max(1, c.stored)).toFixed(1);
  const { burst, forwarder } = results;
  const loader = "cpuMsPer1000Events" in results.limitedLoader
    ? `${results.limitedLoader.cpuMsPer1000Events.toFixed(1)} ms`
    : "not measured";
  const ceiling = extensionCeiling(results);
  return `CPU per 1,000 events stored in the 128 MB burst (ms, from /proc): runtime ${
    per1000(burst.cpuMs.runtime, burst)
  } and extension ${
    per1000(burst.cpuMs.extension, burst)
  }; with the forwarding extension, runtime ${
    per1000(forwarder.cpuMs.runtime, forwarder)
  } and forwarder ${
    per1000(forwarder.cpuMs.extension, forwarder)
  }; the loader held to 128 MB limits: ${loader} for its PutRecords alone. ${
    ceiling === undefined
      ? ""
      : `An extension that cost no CPU at all could reach at most ${
        Math.round(ceiling.eventsPerSecond)
      } events/s here (the CPU share over the runtime's CPU per event), ${
        Math.round(100 * ceiling.ofLimitedLoader)
      } % of the loader at 128 MB limits.`
  }`.trimEnd();
}

/**
 * The most any extension could store per thawed second in the 128 MB
 * burst: the function's CPU share spent on nothing but the runtime that
 * writes the events (both bursts' runtime CPU per event, the lower one),
 * and that rate as a share of the limited loader. Undefined when the
 * loader or the runtime's CPU was not measured.
 */
export function extensionCeiling(
  results: LoadResults,
): { eventsPerSecond: number; ofLimitedLoader: number } | undefined {
  if (!("eventsPerSecond" in results.limitedLoader)) return undefined;
  const runtimeMsPerEvent = Math.min(
    ...[results.burst, results.forwarder].map((c) =>
      c.cpuMs.runtime / Math.max(1, c.stored)
    ),
  );
  if (!(runtimeMsPerEvent > 0)) return undefined;
  const shareMsPerSecond = cpuQuotaUs(SMALLEST_FUNCTION_MEMORY_MB) /
    CFS_PERIOD_US * 1000;
  const eventsPerSecond = shareMsPerSecond / runtimeMsPerEvent;
  return {
    eventsPerSecond,
    ofLimitedLoader: eventsPerSecond / results.limitedLoader.eventsPerSecond,
  };
}

/** Writes `load.json` and `load.md` into `outDir` and prints the Markdown. */
export async function writeLoad(
  outDir: string,
  results: LoadResults,
): Promise<void> {
  const markdown = `## Load\n\n${renderLoad(results)}\n`;
  await Deno.writeTextFile(
    `${outDir}/load.json`,
    JSON.stringify(results, null, 2) + "\n",
  );
  await Deno.writeTextFile(`${outDir}/load.md`, markdown);
  console.log(markdown);
}

if (import.meta.main && Deno.args[0] === LOADER_CHILD) {
  const [, endpoint, stream, events] = Deno.args;
  const client = localKinesisClient(endpoint);
  const measured = await runLoader(client, stream, Number(events));
  client.destroy();
  console.log(JSON.stringify(measured));
} else if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { quick: { type: "boolean", default: false } },
  });
  const results = await runLoad(values.quick ? QUICK_LOAD : FULL_LOAD);
  console.log(renderLoad(results));
  console.log(
    JSON.stringify(
      results,
      (key, value) =>
        key === "postRuntimeMs" && Array.isArray(value) && value.length > 20
          ? value.slice(0, 20)
          : value,
    ),
  );
}
