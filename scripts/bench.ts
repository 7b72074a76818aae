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
 * Then the "Lambda" profile (`bench/lambda_profile.ts`): steady, sparse,
 * slow-Kinesis, burst and shutdown in the sandbox at 128 MB and 1,024 MB
 * (Lambda's CPU share and memory limit in a cgroup, TLS, added latency)
 * next to the same cases unconstrained; marked not measured where cgroups
 * cannot be used. The other figures above run unconstrained.
 *
 * Options: `--cost` prints only the per-format cost table (in-process,
 * seconds), `--quick` runs fewer repetitions (for a smoke check of the bench
 * itself; its figures are not for comparison); `--lambda-only` runs only the
 * Lambda profile.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { readAllRecords } from "./lib/kinesis_read.ts";
import { bareExtension } from "./sandbox/extension_specs.ts";
import { startFaultProxy } from "./sandbox/kinesis_fault_proxy.ts";
import { localKinesisClient } from "./sandbox/kinesis_local.ts";
import {
  bufferBoundsFor,
  SMALLEST_FUNCTION_MEMORY_MB,
} from "../extension/memory_budget.ts";
import { costOf, type KinesisCost, scaleCost } from "./bench/cost.ts";
import {
  type FootprintBurst,
  type FootprintFigures,
  renderFootprint,
} from "./bench/footprint.ts";
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
import { checkTargets, type TargetInputs } from "./bench/targets.ts";
import {
  telemetryBodies,
  TYPICAL_TRAFFIC,
} from "./bench/telemetry_fixtures.ts";
import { type BurstResult, runBurst } from "./bench/throughput.ts";
import {
  measureEncodingCosts,
  renderEncodingCost,
} from "./bench/encoding_cost.ts";
import {
  FULL_PROFILE,
  type LambdaProfileResults,
  QUICK_PROFILE,
  renderLambdaProfile,
  runLambdaProfile,
} from "./bench/lambda_profile.ts";
import { FULL_LOAD, QUICK_LOAD, runLoad, writeLoad } from "./bench/load.ts";

/** Repetitions and sizes of a full run. */
const FULL = {
  initRounds: 10,
  steadyInvocations: 200,
  faultInvocations: 100,
  sparseInvocations: 60,
  burstEvents: 100_000,
  burstRuns: 3,
  costEvents: 10_000,
};
/** A smoke check of the bench itself. */
const QUICK = {
  initRounds: 3,
  steadyInvocations: 30,
  faultInvocations: 20,
  sparseInvocations: 5,
  burstEvents: 20_000,
  burstRuns: 1,
  costEvents: 2_000,
};

const MIB = 1024 * 1024;
/** Pause between invocations of the sparse runs (issue 13's figure). */
const SPARSE_GAP_MS = 300;
const FORMATS = ["kpl", "ndjson", "json"] as const;
const SOURCE = "source";
const FLOOR = "floor (bare extension)";
const PORTABLE = "portable layer";
const SLOW_LABEL = "Kinesis +50 ms per request, kpl";
const HANG_LABEL = "Kinesis hanging, kpl";
const ALONE_LABEL = "extension alone (null Kinesis), default settings";
const KINESALITE_LABEL = "with kinesalite, default settings";
const KINESALITE_LONG_HOLD_LABEL = "with kinesalite, hold 2000 ms";
/** A default-settings burst against kinesalite may stall; this bounds it. */
const KINESALITE_LIMIT_MS = 30_000;
const PER_INVOCATION = "per invocation";
const BULK = "bulk";
/** The extension's defaults that the targets refer to. */
const DEFAULT_HOLD_MS = 200;
/** The default bound at the bench's function memory (128 MB). */
const DEFAULT_BUFFER_BYTES =
  bufferBoundsFor(SMALLEST_FUNCTION_MEMORY_MB).defaultBytes;
/** Function memory sizes of the footprint bursts. */
const FOOTPRINT_MEMORY_MB = [SMALLEST_FUNCTION_MEMORY_MB, 1024] as const;
/**
 * Peak memory allowed above init RSS + the buffer cap: events taken out for
 * a send stay counted in the cap, but their KPL records and the SDK's
 * request body (base64 in JSON) are further copies of up to one request
 * (5 MiB) each, plus V8 heap growth from parsing deliveries.
 */
const PEAK_MARGIN_MB = 24;
/** Big enough to take a whole burst without refusing a delivery. */
const SPLIT_BUFFER_BYTES = 256 * MIB;
/** The smallest function memory whose budget holds that buffer. */
const SPLIT_MEMORY_MB = 2048;
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

function footprintBurst(
  memoryMB: number,
  events: number,
  runs: BurstResult[],
): FootprintBurst {
  return {
    memoryMB,
    bufferMiB: bufferBoundsFor(memoryMB).defaultBytes / MIB,
    completedRuns: runs.filter((run) => run.completed).length,
    runs: runs.length,
    peakRssMB: roundSummary(summarize(runs.map((r) => toMB(r.peakRssKiB)))),
    // Per event delivered: a stalled run's CPU went into events that were
    // sent again and again, not into more events.
    cpuMsPer1000Events: roundSummary(
      summarize(
        runs.map((r) =>
          r.cpuSeconds * 1000 * 1000 /
          Math.max(1, Math.min(r.delivered, events))
        ),
      ),
    ),
  };
}

function burstFigures(
  label: string,
  events: number,
  runs: BurstResult[],
  withKinesalite: boolean,
): ThroughputFigures {
  const per100k = 100_000 / events;
  const stalled = runs.filter((run) => !run.completed);
  const figures: ThroughputFigures = {
    label: stalled.length === 0
      ? label
      : `${label} — STALLED: ${
        stalled.map((run) =>
          `${Math.min(run.delivered, events)} of ${events} events stored in ${
            Math.round(run.wallMs / 1000)
          } s`
        ).join("; ")
      }`,
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

/** The 1-minute load average: other work on the machine skews every figure. */
async function loadAverage(): Promise<number> {
  try {
    return Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]);
  } catch {
    return NaN;
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
    options: {
      quick: { type: "boolean", default: false },
      cost: { type: "boolean", default: false },
      "lambda-only": { type: "boolean", default: false },
      // The load cases alone take about 10 minutes.
      "no-load": { type: "boolean", default: false },
    },
  });
  const plan = values.quick ? QUICK : FULL;
  if (values["lambda-only"]) {
    await writeLambdaProfile(
      await runLambdaProfile(values.quick ? QUICK_PROFILE : FULL_PROFILE, log),
    );
    return;
  }
  const encodingCost = await measureEncodingCosts(
    plan.costEvents,
    TYPICAL_TRAFFIC,
  );
  const encodingCostTable = renderEncodingCost(encodingCost, TYPICAL_TRAFFIC);
  if (values.cost) {
    // `--cost`: only the in-process cost table, in seconds.
    console.log(encodingCostTable);
    return;
  }
  const started = performance.now();
  const loadAtStart = await loadAverage();
  const outDir = `${REPO_ROOT}out/bench`;
  await Deno.mkdir(outDir, { recursive: true });

  const streams = [
    ...FORMATS.map((f) => `steady-${f}`),
    ...FORMATS.map((f) => `bulk-${f}`),
    "slow",
    "hang",
    "burst-e2e",
    "burst-e2e-hold",
    "steady-end",
    "sparse-invoke",
    "sparse-end",
    "burst-split",
  ];
  log("starting kinesalite");
  const kinesis = await startKinesisServer(streams);
  const reader = localKinesisClient(kinesis.endpoint);
  const nullKinesis = await startNullKinesis();
  const notMeasured: Record<string, string> = {};
  // One failed scenario must not cost the figures of the others.
  const attempt = async <T>(
    name: string,
    scenario: () => Promise<T>,
  ): Promise<T | undefined> => {
    try {
      return await scenario();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      notMeasured[name] = message.split("\n")[0].slice(0, 300);
      log(`${name} failed: ${message}`);
      return undefined;
    }
  };
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
      [SOURCE, sourceExtensionArgv()],
      [FLOOR, bareExtension().argv],
    ];
    if (layer.ok) variants.push([PORTABLE, [layer.launcher]]);
    const init: Record<string, InitFigures> = {};
    const footprint: FootprintFigures = { floor: FLOOR, init: [], bursts: [] };
    await attempt("init", async () => {
      const samples = new Map<string, InitSample[]>(
        variants.map(([name]) => [name, []]),
      );
      log(`init: ${plan.initRounds} rounds of ${variants.length} variants`);
      // One discarded round: the first start of a freshly unpacked layer
      // reads its 90 MB Deno binary from disk, a page-cache effect, not the
      // extension's; the source variant's transpile cache is warm anyway.
      for (const [, argv] of variants) await measureInit(argv, initEnv);
      // Interleaved, so a slow moment of the machine hits every variant alike.
      for (let round = 0; round < plan.initRounds; round++) {
        for (const [name, argv] of variants) {
          samples.get(name)!.push(await measureInit(argv, initEnv));
        }
      }
      for (const [name, runs] of samples) {
        init[name] = initFigures(runs);
        footprint.init.push({
          variant: name,
          firstNextMs: init[name].firstNextMs,
          settledRssMB: roundSummary(
            summarize(runs.map((s) => toMB(s.settledRssKiB))),
          ),
          settledCpuMs: roundSummary(
            summarize(runs.map((s) => s.settledCpuMs)),
          ),
        });
      }
    });

    // ---- steady invocations ------------------------------------------
    const steadyOptions = (stream: string, endpoint: string) => ({
      invocations: plan.steadyInvocations,
      logLines: TYPICAL_TRAFFIC.linesPerInvocation,
      lineBytes: TYPICAL_TRAFFIC.messageBytes,
      endpoint,
      stream,
      reader,
    });
    const steadyRuns = new Map<string, SteadyResult>();
    for (const format of FORMATS) {
      log(
        `steady: ${plan.steadyInvocations} invocations × 20 lines, ${format}`,
      );
      const run = await attempt(`steady ${format}`, () =>
        runSteady({
          ...steadyOptions(`steady-${format}`, kinesis.endpoint),
          env: { KINESIS_TELEMETRY_FORMAT: format },
        }));
      if (run) steadyRuns.set(format, run);
    }
    log(`steady: ${plan.faultInvocations} invocations, kpl, flush=end`);
    const flushEnd = await attempt("steady flush=end", () =>
      runSteady({
        ...steadyOptions("steady-end", kinesis.endpoint),
        invocations: plan.faultInvocations,
        env: { KINESIS_TELEMETRY_FLUSH: "end" },
      }));
    // Sparse traffic: with flush=invoke an invocation's events wait for the
    // next one; with flush=end they go before the freeze.
    const sparse: Record<string, SteadyResult | undefined> = {};
    for (const flush of ["invoke", "end"]) {
      log(
        `steady: ${plan.sparseInvocations} invocations ${SPARSE_GAP_MS} ms apart, flush=${flush}`,
      );
      sparse[flush] = await attempt(`sparse flush=${flush}`, () =>
        runSteady({
          ...steadyOptions(`sparse-${flush}`, kinesis.endpoint),
          invocations: plan.sparseInvocations,
          gapMs: SPARSE_GAP_MS,
          env: { KINESIS_TELEMETRY_FLUSH: flush },
        }));
    }
    const proxy = startFaultProxy({
      target: kinesis.endpoint,
      plan: { delayRequests: { select: { kind: "all" }, ms: 50 } },
    });
    let slow: SteadyResult | undefined;
    let hang: SteadyResult | undefined;
    try {
      log(`steady: ${plan.faultInvocations} invocations, Kinesis +50 ms`);
      slow = await attempt("Kinesis slow", () =>
        runSteady({
          ...steadyOptions("slow", proxy.endpoint),
          invocations: plan.faultInvocations,
        }));
      log(`steady: ${plan.faultInvocations} invocations, Kinesis hanging`);
      proxy.configure({ hangRequests: { select: { kind: "all" } } });
      hang = await attempt("Kinesis hanging", () =>
        runSteady({
          ...steadyOptions("hang", proxy.endpoint),
          invocations: plan.faultInvocations,
        }));
    } finally {
      await proxy.stop();
    }
    const overheadRuns: [string, SteadyResult | undefined][] = [
      ...FORMATS.map((format) =>
        [`kinesalite, ${format}`, steadyRuns.get(format)] as [
          string,
          SteadyResult | undefined,
        ]
      ),
      ["kinesalite, kpl, KINESIS_TELEMETRY_FLUSH=end", flushEnd],
      [
        `kinesalite, kpl, ${SPARSE_GAP_MS} ms apart, flush=invoke`,
        sparse.invoke,
      ],
      [`kinesalite, kpl, ${SPARSE_GAP_MS} ms apart, flush=end`, sparse.end],
      [SLOW_LABEL, slow],
      [HANG_LABEL, hang],
    ];
    const overhead = overheadRuns.flatMap(([label, run]) =>
      run
        ? [{
          label,
          invocations: run.postRuntimeMs.length,
          firstPostRuntimeMs: run.postRuntimeMs[0],
          postRuntimeMs: roundSummary(
            summarize(
              run.postRuntimeMs.length > 1
                ? run.postRuntimeMs.slice(1)
                : run.postRuntimeMs,
            ),
          ),
          peakRssMB: run.extensionPeakMB,
          ...(run.latencyMs.length > 0
            ? { deliveryLatencyMs: roundSummary(summarize(run.latencyMs)) }
            : {}),
        }]
        : []
    );

    // ---- bursts ---------------------------------------------------------
    const bodies = telemetryBodies(plan.burstEvents, TYPICAL_TRAFFIC);
    const burstBase = {
      argv: sourceExtensionArgv(SMALLEST_FUNCTION_MEMORY_MB),
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
      const result = await attempt(
        `burst ${run + 1}, null Kinesis`,
        () =>
          runBurst(
            { ...burstBase, endpoint: nullKinesis.endpoint, stream: "null" },
            "endToEnd",
          ),
      );
      if (result) alone.push(result);
    }
    // The same bursts at each footprint memory size (the runs above are
    // the 128 MB ones): heap flags and buffer bound follow the memory.
    footprint.bursts.push(
      footprintBurst(SMALLEST_FUNCTION_MEMORY_MB, plan.burstEvents, alone),
    );
    for (const memoryMB of FOOTPRINT_MEMORY_MB.slice(1)) {
      const runs: BurstResult[] = [];
      for (let run = 0; run < plan.burstRuns; run++) {
        log(
          `burst ${
            run + 1
          }/${plan.burstRuns}: ${plan.burstEvents} events, null Kinesis, ${memoryMB} MB`,
        );
        const result = await attempt(
          `burst ${run + 1}, null Kinesis, ${memoryMB} MB`,
          () =>
            runBurst({
              ...burstBase,
              argv: sourceExtensionArgv(memoryMB),
              endpoint: nullKinesis.endpoint,
              stream: "null",
              env: { AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMB) },
            }, "endToEnd"),
        );
        if (result) runs.push(result);
      }
      if (runs.length > 0) {
        footprint.bursts.push(footprintBurst(memoryMB, plan.burstEvents, runs));
      }
    }
    log(
      `burst: ${plan.burstEvents} events, kinesalite, default settings (≤ ${
        KINESALITE_LIMIT_MS / 1000
      } s)`,
    );
    const withKinesalite = await attempt("burst, kinesalite", () =>
      runBurst({
        ...burstBase,
        endpoint: kinesis.endpoint,
        stream: "burst-e2e",
        limitMs: KINESALITE_LIMIT_MS,
      }, "endToEnd"));
    log(`burst: ${plan.burstEvents} events, kinesalite, hold 2000 ms`);
    const withKinesaliteLongHold = await attempt(
      "burst, kinesalite, hold 2000 ms",
      () =>
        runBurst({
          ...burstBase,
          endpoint: kinesis.endpoint,
          stream: "burst-e2e-hold",
          env: { KINESIS_TELEMETRY_MAX_HOLD_MS: "2000" },
        }, "endToEnd"),
    );
    const splitEnv = {
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(SPLIT_MEMORY_MB),
      KINESIS_TELEMETRY_MAX_BUFFER_BYTES: String(SPLIT_BUFFER_BYTES),
      KINESIS_TELEMETRY_MAX_HOLD_MS: String(SPLIT_HOLD_MS),
    };
    log(
      `burst split: ${plan.burstEvents} events posted, then one flush to kinesalite`,
    );
    const split = await attempt("burst split, kinesalite", () =>
      runBurst({
        ...burstBase,
        argv: sourceExtensionArgv(SPLIT_MEMORY_MB),
        endpoint: kinesis.endpoint,
        stream: "burst-split",
        env: splitEnv,
      }, "split"));

    // ---- cost -------------------------------------------------------------
    const cost: CostFigures[] = [];
    for (const format of FORMATS) {
      const run = steadyRuns.get(format);
      if (!run) continue;
      cost.push(costFigures(
        format,
        PER_INVOCATION,
        run.storedEvents,
        Number(run.summary?.kinesisRequests ?? 0),
        run.cost,
      ));
    }
    const encoder = new TextEncoder();
    const costBodies = telemetryBodies(plan.costEvents, TYPICAL_TRAFFIC);
    for (const format of FORMATS) {
      log(`bulk cost: ${plan.costEvents} events in one flush, ${format}`);
      const row = await attempt(`bulk cost ${format}`, async () => {
        const bulk = await runBurst({
          ...burstBase,
          argv: sourceExtensionArgv(SPLIT_MEMORY_MB),
          format,
          bodies: costBodies,
          events: plan.costEvents,
          endpoint: kinesis.endpoint,
          stream: `bulk-${format}`,
          env: splitEnv,
        }, "split");
        const stored = await readAllRecords(reader, `bulk-${format}`);
        return costFigures(
          format,
          BULK,
          plan.costEvents,
          bulk.kinesisRequests,
          costOf(stored.map((record) => ({
            dataBytes: record.data.byteLength,
            partitionKeyBytes: encoder.encode(record.partitionKey).byteLength,
          }))),
        );
      });
      if (row) cost.push(row);
    }

    // ---- targets and report ----------------------------------------------
    const throughput: ThroughputFigures[] = [];
    if (alone.length > 0) {
      throughput.push(
        burstFigures(ALONE_LABEL, plan.burstEvents, alone, false),
      );
    }
    if (withKinesalite) {
      throughput.push(
        burstFigures(
          KINESALITE_LABEL,
          plan.burstEvents,
          [withKinesalite],
          true,
        ),
      );
    }
    if (withKinesaliteLongHold) {
      throughput.push(
        burstFigures(
          KINESALITE_LONG_HOLD_LABEL,
          plan.burstEvents,
          [withKinesaliteLongHold],
          true,
        ),
      );
    }
    const results: BenchResults = {
      meta: {
        date: new Date().toISOString(),
        deno: Deno.version.deno,
        v8: Deno.version.v8,
        cpus: navigator.hardwareConcurrency,
        cpuModel: await cpuModel(),
        commit: await gitCommit(),
        durationSeconds: 0,
        loadAverage: { start: loadAtStart, end: await loadAverage() },
      },
      init,
      notMeasured,
      overhead,
      throughput,
      split: split
        ? [{
          label: "kinesalite",
          ingestEventsPerSecond: Math.round(split.ingest!.eventsPerSecond),
          flushEventsPerSecond: Math.round(split.flush!.eventsPerSecond),
        }]
        : [],
      cost,
      memory: {
        maxBufferMB: DEFAULT_BUFFER_BYTES / MIB,
        marginMB: PEAK_MARGIN_MB,
      },
      targets: [],
    };
    results.targets = checkTargets(targetInputs(results, alone));
    log("Lambda profile (cgroup limits, TLS, added latency)");
    const lambdaProfile = await attempt(
      "Lambda profile",
      () => runLambdaProfile(values.quick ? QUICK_PROFILE : FULL_PROFILE, log),
    );
    results.meta.durationSeconds = Math.round(
      (performance.now() - started) / 1000,
    );
    footprint.cpuMsPerInvocation = steadyRuns.get("kpl")?.cpuMsPerInvocation;
    results.footprint = footprint;
    const markdown = renderMarkdown(results) + renderFootprint(footprint) +
      (lambdaProfile ? "\n" + renderLambdaProfile(lambdaProfile) : "") +
      "\n" + encodingCostTable;
    await Deno.writeTextFile(
      `${outDir}/results.json`,
      JSON.stringify({ ...results, encodingCost, lambdaProfile }, null, 2) +
        "\n",
    );
    await Deno.writeTextFile(`${outDir}/results.md`, markdown);
    console.log(markdown);
    log(`wrote ${outDir}/results.json and results.md`);
    if (!values["no-load"]) {
      log("load: plain loader, a burst in 5 invocations, one 60 s invocation");
      const load = await runLoad(values.quick ? QUICK_LOAD : FULL_LOAD);
      await writeLoad(outDir, load);
    }
  } finally {
    reader.destroy();
    await nullKinesis.stop();
    await kinesis.stop();
  }
}

/** `--lambda-only`: the profile alone, in out/bench/lambda-profile.{json,md}. */
async function writeLambdaProfile(results: LambdaProfileResults) {
  const outDir = `${REPO_ROOT}out/bench`;
  await Deno.mkdir(outDir, { recursive: true });
  const markdown = renderLambdaProfile(results);
  await Deno.writeTextFile(
    `${outDir}/lambda-profile.json`,
    JSON.stringify(results, null, 2) + "\n",
  );
  await Deno.writeTextFile(`${outDir}/lambda-profile.md`, markdown);
  console.log(markdown);
}

/** The figures the targets judge, picked out of the results. */
function targetInputs(
  results: BenchResults,
  alone: BurstResult[],
): TargetInputs {
  const { init } = results;
  const overhead = (label: string) =>
    results.overhead.find((run) => run.label === label)?.postRuntimeMs;
  const burst = (label: string) =>
    results.throughput.find((run) => run.label.startsWith(label));
  const units = (format: string, pattern: string) =>
    results.cost.find((row) => row.format === format && row.pattern === pattern)
      ?.cost.putPayloadUnits;
  const kplSavings: Record<string, number> = {};
  for (const pattern of [PER_INVOCATION, BULK]) {
    const json = units("json", pattern);
    const kpl = units("kpl", pattern);
    if (json !== undefined && kpl) kplSavings[pattern] = json / kpl;
  }
  const overallMax = (label: string) => {
    const run = results.overhead.find((figures) => figures.label === label);
    return run
      ? Math.max(run.postRuntimeMs.max, run.firstPostRuntimeMs ?? -Infinity)
      : undefined;
  };
  const steady = overhead("kinesalite, kpl");
  const sparse = results.overhead.find((run) =>
    run.label === `kinesalite, kpl, ${SPARSE_GAP_MS} ms apart, flush=invoke`
  );
  return {
    initMs: init[SOURCE] && init[FLOOR]
      ? {
        source: init[SOURCE].firstNextMs.median,
        floor: init[FLOOR].firstNextMs.median,
        portable: init[PORTABLE]?.firstNextMs.median,
      }
      : undefined,
    initRssMB: init[SOURCE]
      ? {
        source: init[SOURCE].rssMB.median,
        portable: init[PORTABLE]?.rssMB.median,
      }
      : undefined,
    steady: steady ? { median: steady.median, p99: steady.p99 } : undefined,
    sparse: sparse
      ? {
        gapMs: SPARSE_GAP_MS,
        p99: sparse.postRuntimeMs.p99,
        latencyMaxMs: sparse.deliveryLatencyMs?.max,
      }
      : undefined,
    // The hold bounds every invocation, the first one too.
    slowMaxMs: overallMax(SLOW_LABEL),
    hangMaxMs: overallMax(HANG_LABEL),
    holdMs: DEFAULT_HOLD_MS,
    extensionEventsPerSecond: burst(ALONE_LABEL)?.eventsPerSecond.median,
    kinesaliteEventsPerSecond: burst(KINESALITE_LABEL)?.eventsPerSecond.median,
    burstPeakMB: burst(ALONE_LABEL)?.peakRssMB.median,
    burstInitMB: alone.length > 0
      ? summarize(alone.map((run) => toMB(run.rssAfterInitKiB))).median
      : undefined,
    bufferCapMB: DEFAULT_BUFFER_BYTES / MIB,
    marginMB: PEAK_MARGIN_MB,
    kplSavings,
  };
}

if (import.meta.main) {
  await main();
}
