/**
 * `deno task bench`: measures what kinesis-telemetry costs a function and
 * its owner — init time and memory beside a bare floor extension,
 * post-runtime overhead per invocation (Kinesis normal, slow, hanging),
 * throughput and CPU per 100,000 events, peak memory in a burst, the
 * Kinesis bill per 10,000 events for each record format, and how long an
 * event waits before it is stored — then writes out/bench/results.json and
 * out/bench/results.md and prints the Markdown.
 *
 * Everything runs on this machine: kinesalite in a child process, the local
 * sandbox for steady invocations, a small instrumented platform for init
 * and bursts. Takes about 3 minutes on 2 cores.
 *
 * Options: `--quick` runs fewer repetitions (for a smoke check of the bench
 * itself; its figures are not for comparison).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { readAllRecords } from "./lib/kinesis_read.ts";
import { bareExtension } from "./sandbox/extension_specs.ts";
import { startFaultProxy } from "./sandbox/kinesis_fault_proxy.ts";
import { localKinesisClient } from "./sandbox/kinesis_local.ts";
import { costOf, type KinesisCost, scaleCost } from "./bench/cost.ts";
import { type InitSample, measureInit } from "./bench/init.ts";
import { startKinesisServer } from "./bench/kinesis_server.ts";
import { preparePortableLayer } from "./bench/layer.ts";
import { startNullKinesis } from "./bench/null_kinesis.ts";
import {
  type BenchResults,
  type CostFigures,
  type InitFigures,
  renderMarkdown,
  type ThroughputFigures,
} from "./bench/report.ts";
import { REPO_ROOT, sourceExtensionArgv } from "./bench/run_helpers.ts";
import { round, roundSummary, summarize } from "./bench/stats.ts";
import { runSteady, type SteadyResult } from "./bench/steady.ts";
import { checkTargets } from "./bench/targets.ts";
import {
  telemetryBodies,
  TYPICAL_TRAFFIC,
} from "./bench/telemetry_fixtures.ts";
import { type BurstResult, runBurst } from "./bench/throughput.ts";

/** Repetitions and sizes of a full run. */
const FULL = {
  initRounds: 10,
  steadyInvocations: 200,
  faultInvocations: 100,
  burstEvents: 100_000,
  burstRuns: 3,
  costEvents: 10_000,
};
/** A smoke check of the bench itself. */
const QUICK = {
  initRounds: 3,
  steadyInvocations: 30,
  faultInvocations: 20,
  burstEvents: 20_000,
  burstRuns: 1,
  costEvents: 2_000,
};

const MIB = 1024 * 1024;
/** The extension's defaults that the targets refer to. */
const DEFAULT_HOLD_MS = 200;
const DEFAULT_BUFFER_BYTES = 8 * MIB;
/**
 * Peak memory allowed above init RSS + the buffer cap: events taken out for
 * a send stay counted in the cap, but their KPL records and the SDK's
 * request body (base64 in JSON) are further copies of up to one request
 * (5 MiB) each, plus V8 heap growth from parsing deliveries.
 */
const PEAK_MARGIN_MB = 24;
/** Big enough to take a whole burst without refusing a delivery. */
const SPLIT_BUFFER_BYTES = 256 * MIB;
const SPLIT_HOLD_MS = 60_000;

function log(message: string): void {
  console.error(`bench: ${message}`);
}

const toMB = (kib: number) => kib / 1024;

function initFigures(samples: InitSample[]): InitFigures {
  return {
    registerMs: roundSummary(summarize(samples.map((s) => s.registerMs))),
    subscribeMs: roundSummary(summarize(samples.map((s) => s.subscribeMs))),
    firstNextMs: roundSummary(summarize(samples.map((s) => s.firstNextMs))),
    rssMB: roundSummary(summarize(samples.map((s) => toMB(s.rssKiB)))),
  };
}

function burstFigures(
  label: string,
  events: number,
  runs: BurstResult[],
  withKinesalite: boolean,
): ThroughputFigures {
  const per100k = 100_000 / events;
  const figures: ThroughputFigures = {
    label,
    events,
    eventsPerSecond: roundSummary(
      summarize(runs.map((r) => r.eventsPerSecond)),
      0,
    ),
    cpuSecondsPer100k: roundSummary(
      summarize(runs.map((r) => r.cpuSeconds * per100k)),
    ),
    peakRssMB: roundSummary(summarize(runs.map((r) => toMB(r.peakRssKiB)))),
  };
  if (withKinesalite) {
    figures.kinesisCpuSecondsPer100k = roundSummary(
      summarize(runs.map((r) => r.kinesisCpuSeconds * per100k)),
    );
  }
  return figures;
}

function costFigures(
  format: string,
  pattern: string,
  events: number,
  requests: number,
  cost: KinesisCost,
): CostFigures {
  const scaled = scaleCost(cost, events, 10_000);
  return {
    format,
    pattern,
    measuredEvents: events,
    requests: round(requests * 10_000 / events, 1),
    cost: {
      records: round(scaled.records, 1),
      bytes: Math.round(scaled.bytes),
      putPayloadUnits: round(scaled.putPayloadUnits, 1),
      onDemandBilledKB: round(scaled.onDemandBilledKB, 1),
    },
  };
}

async function gitCommit(): Promise<string> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: REPO_ROOT,
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim() || "unknown";
  } catch {
    return "unknown";
  }
}

async function cpuModel(): Promise<string> {
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    return /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { quick: { type: "boolean", default: false } },
  });
  const plan = values.quick ? QUICK : FULL;
  const started = performance.now();
  const outDir = `${REPO_ROOT}out/bench`;
  await Deno.mkdir(outDir, { recursive: true });

  const formats = ["kpl", "ndjson", "json"] as const;
  const streams = [
    ...formats.map((f) => `steady-${f}`),
    ...formats.map((f) => `bulk-${f}`),
    "slow",
    "hang",
    "burst-e2e",
    "burst-split",
  ];
  log("starting kinesalite");
  const kinesis = await startKinesisServer(streams);
  const reader = localKinesisClient(kinesis.endpoint);
  const nullKinesis = startNullKinesis();
  const notMeasured: Record<string, string> = {};
  try {
    // ---- init ---------------------------------------------------------
    log("building the portable layer");
    const layer = await preparePortableLayer(`${outDir}/layer`);
    if (!layer.ok) notMeasured["portable layer"] = layer.reason;
    notMeasured["compiled binary"] =
      "deno compile needs Deno's denort base binary, which is not reachable here (no DENORT_BIN)";
    const initEnv = {
      KINESIS_TELEMETRY_STREAM: "bench-init",
      KINESIS_TELEMETRY_LISTENER_PORT: "0",
      AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
    };
    const variants: [string, readonly string[]][] = [
      ["source", sourceExtensionArgv()],
      ["floor (bare extension)", bareExtension().argv],
    ];
    if (layer.ok) variants.push(["portable layer", [layer.launcher]]);
    const initSamples = new Map<string, InitSample[]>(
      variants.map(([name]) => [name, []]),
    );
    log(`init: ${plan.initRounds} rounds of ${variants.length} variants`);
    // One discarded round: the first start of a freshly unpacked layer reads
    // its 90 MB Deno binary from disk, a page-cache effect, not the
    // extension's; the source variant's transpile cache is warm anyway.
    for (const [, argv] of variants) await measureInit(argv, initEnv);
    // Interleaved, so a slow moment of the machine hits every variant alike.
    for (let round = 0; round < plan.initRounds; round++) {
      for (const [name, argv] of variants) {
        initSamples.get(name)!.push(await measureInit(argv, initEnv));
      }
    }
    const init: Record<string, InitFigures> = {};
    for (const [name, samples] of initSamples) {
      init[name] = initFigures(samples);
    }

    // ---- steady invocations ------------------------------------------
    const steadyRuns = new Map<string, SteadyResult>();
    for (const format of formats) {
      log(
        `steady: ${plan.steadyInvocations} invocations × 20 lines, ${format}`,
      );
      steadyRuns.set(
        format,
        await runSteady({
          invocations: plan.steadyInvocations,
          logLines: TYPICAL_TRAFFIC.linesPerInvocation,
          lineBytes: TYPICAL_TRAFFIC.messageBytes,
          endpoint: kinesis.endpoint,
          stream: `steady-${format}`,
          reader,
          env: { KINESIS_TELEMETRY_FORMAT: format },
        }),
      );
    }
    const proxy = startFaultProxy({
      target: kinesis.endpoint,
      plan: { delayRequests: { select: { kind: "all" }, ms: 50 } },
    });
    let slow: SteadyResult;
    let hang: SteadyResult;
    try {
      log(`steady: ${plan.faultInvocations} invocations, Kinesis +50 ms`);
      slow = await runSteady({
        invocations: plan.faultInvocations,
        logLines: TYPICAL_TRAFFIC.linesPerInvocation,
        lineBytes: TYPICAL_TRAFFIC.messageBytes,
        endpoint: proxy.endpoint,
        stream: "slow",
        reader,
      });
      log(`steady: ${plan.faultInvocations} invocations, Kinesis hanging`);
      proxy.configure({ hangRequests: { select: { kind: "all" } } });
      hang = await runSteady({
        invocations: plan.faultInvocations,
        logLines: TYPICAL_TRAFFIC.linesPerInvocation,
        lineBytes: TYPICAL_TRAFFIC.messageBytes,
        endpoint: proxy.endpoint,
        stream: "hang",
        reader,
      });
    } finally {
      await proxy.stop();
    }
    const overhead = [
      ...formats.map((format) => ({
        label: `kinesalite, ${format}`,
        run: steadyRuns.get(format)!,
      })),
      { label: "Kinesis +50 ms per request, kpl", run: slow },
      { label: "Kinesis hanging, kpl", run: hang },
    ].map(({ label, run }) => ({
      label,
      invocations: run.postRuntimeMs.length,
      postRuntimeMs: roundSummary(summarize(run.postRuntimeMs)),
    }));

    // ---- bursts ---------------------------------------------------------
    const bodies = telemetryBodies(plan.burstEvents, 1000, TYPICAL_TRAFFIC);
    const burstBase = {
      argv: sourceExtensionArgv(),
      format: "kpl" as const,
      bodies,
      events: plan.burstEvents,
      kinesisPid: kinesis.pid,
    };
    const alone: BurstResult[] = [];
    for (let run = 0; run < plan.burstRuns; run++) {
      log(
        `burst ${
          run + 1
        }/${plan.burstRuns}: ${plan.burstEvents} events, null Kinesis`,
      );
      alone.push(
        await runBurst({
          ...burstBase,
          endpoint: nullKinesis.endpoint,
          stream: "null",
        }, "endToEnd"),
      );
    }
    log(`burst: ${plan.burstEvents} events, kinesalite, hold 2000 ms`);
    const withKinesalite = await runBurst({
      ...burstBase,
      endpoint: kinesis.endpoint,
      stream: "burst-e2e",
      env: { KINESIS_TELEMETRY_MAX_HOLD_MS: "2000" },
    }, "endToEnd");
    const splitEnv = {
      KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(SPLIT_BUFFER_BYTES),
      KINESIS_TELEMETRY_MAX_HOLD_MS: String(SPLIT_HOLD_MS),
    };
    log(
      `burst split: ${plan.burstEvents} events posted, then one flush to kinesalite`,
    );
    const split = await runBurst({
      ...burstBase,
      endpoint: kinesis.endpoint,
      stream: "burst-split",
      env: splitEnv,
    }, "split");

    // ---- bulk cost ------------------------------------------------------
    const cost: CostFigures[] = [];
    const encoder = new TextEncoder();
    const billOf = async (stream: string) =>
      costOf(
        (await readAllRecords(reader, stream)).map((record) => ({
          dataBytes: record.data.byteLength,
          partitionKeyBytes: encoder.encode(record.partitionKey).byteLength,
        })),
      );
    const costBodies = telemetryBodies(plan.costEvents, 1000, TYPICAL_TRAFFIC);
    for (const format of formats) {
      const run = steadyRuns.get(format)!;
      cost.push(costFigures(
        format,
        "per invocation",
        run.storedEvents,
        Number(run.summary?.kinesisRequests ?? 0),
        run.cost,
      ));
    }
    for (const format of formats) {
      log(`bulk cost: ${plan.costEvents} events in one flush, ${format}`);
      const bulk = await runBurst({
        ...burstBase,
        format,
        bodies: costBodies,
        events: plan.costEvents,
        endpoint: kinesis.endpoint,
        stream: `bulk-${format}`,
        env: splitEnv,
      }, "split");
      cost.push(costFigures(
        format,
        "bulk",
        plan.costEvents,
        bulk.kinesisRequests,
        await billOf(`bulk-${format}`),
      ));
    }
    const units = (format: string, pattern: string) =>
      cost.find((row) => row.format === format && row.pattern === pattern)!
        .cost.putPayloadUnits;

    // ---- targets and report ----------------------------------------------
    const steadyKpl = steadyRuns.get("kpl")!;
    const throughput = [
      burstFigures(
        "extension alone (null Kinesis), default settings",
        plan.burstEvents,
        alone,
        false,
      ),
      burstFigures("with kinesalite, hold 2000 ms", plan.burstEvents, [
        withKinesalite,
      ], true),
    ];
    const portable = init["portable layer"];
    const results: BenchResults = {
      meta: {
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        v8: Deno.version.v8,
        cpus: navigator.hardwareConcurrency,
        cpuModel: await cpuModel(),
        commit: await gitCommit(),
        durationSeconds: 0,
      },
      init,
      notMeasured,
      overhead,
      deliveryLatencyMs: roundSummary(summarize(steadyKpl.latencyMs)),
      throughput,
      split: [{
        label: "kinesalite",
        ingestEventsPerSecond: Math.round(split.ingest!.eventsPerSecond),
        flushEventsPerSecond: Math.round(split.flush!.eventsPerSecond),
      }],
      cost,
      memory: {
        maxBufferMB: DEFAULT_BUFFER_BYTES / MIB,
        marginMB: PEAK_MARGIN_MB,
      },
      targets: [],
    };
    results.targets = checkTargets({
      initMs: {
        source: init.source.firstNextMs.median,
        floor: init["floor (bare extension)"].firstNextMs.median,
        portable: portable?.firstNextMs.median,
      },
      initRssMB: {
        source: init.source.rssMB.median,
        portable: portable?.rssMB.median,
      },
      steady: {
        median: overhead[0].postRuntimeMs.median,
        p99: overhead[0].postRuntimeMs.p99,
      },
      slowMaxMs: overhead[3].postRuntimeMs.max,
      hangMaxMs: overhead[4].postRuntimeMs.max,
      holdMs: DEFAULT_HOLD_MS,
      extensionEventsPerSecond: throughput[0].eventsPerSecond.median,
      kinesaliteEventsPerSecond: throughput[1].eventsPerSecond.median,
      burstPeakMB: throughput[0].peakRssMB.median,
      burstInitMB: summarize(alone.map((r) => toMB(r.rssAfterInitKiB))).median,
      bufferCapMB: DEFAULT_BUFFER_BYTES / MIB,
      marginMB: PEAK_MARGIN_MB,
      kplSavings: {
        "per invocation": units("json", "per invocation") /
          units("kpl", "per invocation"),
        bulk: units("json", "bulk") / units("kpl", "bulk"),
      },
    });
    results.meta.durationSeconds = Math.round(
      (performance.now() - started) / 1000,
    );
    const markdown = renderMarkdown(results);
    await Deno.writeTextFile(
      `${outDir}/results.json`,
      JSON.stringify(results, null, 2) + "\n",
    );
    await Deno.writeTextFile(`${outDir}/results.md`, markdown);
    console.log(markdown);
    log(`wrote ${outDir}/results.json and results.md`);
  } finally {
    reader.destroy();
    await nullKinesis.stop();
    await kinesis.stop();
  }
}

if (import.meta.main) {
  await main();
}
