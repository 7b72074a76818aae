/**
 * The bench's "Lambda" profile: the steady, sparse, slow-Kinesis, burst and
 * shutdown cases in the local sandbox as hard as Lambda — one cgroup with
 * M/1,769 of a vCPU and M MB for the function and the extension, the cgroup
 * freezer, HTTPS to Kinesis through a proxy adding 10–30 ms per request —
 * at 128 MB and 1,024 MB, next to the same cases unconstrained (same TLS and
 * latency, no cgroup). Also init with and without the CPU quota, and the
 * extension's share of init time and CPU (billed since August 2025).
 *
 * @module
 */
import { decodeRecord } from "../lib/decode.ts";
import { readAllRecords } from "../lib/kinesis_read.ts";
import { cgroupSupport } from "../sandbox/limits.ts";
import {
  EXTENSION_NAME,
  projectExtension,
} from "../sandbox/extension_specs.ts";
import {
  type FaultPlan,
  startFaultProxy,
} from "../sandbox/kinesis_fault_proxy.ts";
import { startLocalKinesis } from "../sandbox/kinesis_local.ts";
import {
  EnvironmentResetError,
  type Sandbox,
  startSandbox,
} from "../sandbox/sandbox.ts";
import { cpuSeconds, processMemory } from "./proc.ts";
import { REPO_ROOT, sleep } from "./run_helpers.ts";
import { round, roundSummary, summarize, type Summary } from "./stats.ts";

/** A function size of the profile, or `unconstrained` (no cgroup). */
export type ProfileSize = 128 | 1024 | "unconstrained";

/** One case of the profile. */
export interface ProfileCase {
  /** Name in the table. */
  name: "steady" | "sparse" | "slow Kinesis" | "burst" | "shutdown";
  /** Invocations. */
  invocations: number;
  /** Log lines per invocation (200 bytes each). */
  logLines: number;
  /** Pause between invocations (frozen meanwhile). */
  gapMs?: number;
  /** Extra delay on every PutRecords (ms), on top of the latency. */
  slowMs?: number;
}

/** Repetitions of a run. */
export interface ProfilePlan {
  /** The cases. */
  cases: ProfileCase[];
  /** Inits per size and quota setting. */
  initRounds: number;
}

/** A full run's plan. */
export const FULL_PROFILE: ProfilePlan = {
  cases: [
    { name: "steady", invocations: 60, logLines: 20 },
    { name: "sparse", invocations: 10, logLines: 20, gapMs: 500 },
    { name: "slow Kinesis", invocations: 30, logLines: 20, slowMs: 50 },
    { name: "burst", invocations: 5, logLines: 2_000 },
    { name: "shutdown", invocations: 1, logLines: 500 },
  ],
  initRounds: 5,
};

/** A smoke check of the bench itself. */
export const QUICK_PROFILE: ProfilePlan = {
  cases: [
    { name: "steady", invocations: 10, logLines: 20 },
    { name: "sparse", invocations: 3, logLines: 20, gapMs: 500 },
    { name: "slow Kinesis", invocations: 5, logLines: 20, slowMs: 50 },
    { name: "burst", invocations: 2, logLines: 2_000 },
    { name: "shutdown", invocations: 1, logLines: 500 },
  ],
  initRounds: 2,
};

/** Latency added to every Kinesis request (a regional round trip plus PutRecords work). */
export const ADDED_LATENCY = { minMs: 10, maxMs: 30 } as const;

/** What one case measured at one size. */
export interface ProfileRow {
  /** Case name. */
  case: ProfileCase["name"];
  /** Function size. */
  size: ProfileSize;
  /** Invocations that finished. */
  invocations: number;
  /** Post-runtime overhead per invocation (ms). */
  postRuntimeMs: Summary | null;
  /** Extension CPU per invocation (ms), init excluded. */
  extensionCpuMsPerInvocation: number | null;
  /** Peak RSS of the extension (MB). */
  extensionPeakMB: number | null;
  /** Peak memory of the whole environment (MB; the cgroup's, page cache included; unconstrained: runtime + extension RSS peaks). */
  environmentPeakMB: number | null;
  /** Events emitted by the platform. */
  emitted: number;
  /** Events found in the stream. */
  delivered: number;
  /** Events the extension counted as dropped. */
  dropped: number;
  /** SHUTDOWN start → extension ended (ms), and whether it ended by itself. */
  shutdownMs: number | null;
  /** True when the extension ended by itself before the deadline. */
  exitedByItself: boolean | null;
  /** `Runtime.OutOfMemory` / `Extension.Crash` when the cgroup OOM-killed something. */
  oomKilled: string | null;
  /** Why the case has no figures. */
  error?: string;
}

/** Init at one size, with or without the quota. */
export interface ProfileInit {
  /** Function size. */
  size: ProfileSize;
  /** Whether init ran under the CPU quota. */
  cpuQuotaDuringInit: boolean;
  /** Whole init (ms). */
  initMs: Summary;
  /** The extension's part of init time (ms): until it registered, plus after the runtime was ready. */
  extensionInitMs: Summary;
  /** The extension's share of init time. */
  extensionTimeShare: number;
  /** CPU of the extension during init (ms). */
  extensionCpuMs: Summary;
  /** The extension's share of the environment's init CPU. */
  extensionCpuShare: number;
}

/** The profile's results. */
export interface LambdaProfileResults {
  /** False when cgroups cannot be used here: then only `unconstrained` rows exist. */
  measured: boolean;
  /** Why not, when not measured. */
  reason?: string;
  /** What the constrained runs had. */
  setup: string;
  /** Per case and size. */
  rows: ProfileRow[];
  /** Init per size and quota setting. */
  init: ProfileInit[];
}

const NODE_DEMO = {
  runtime: "node" as const,
  taskRoot: `${REPO_ROOT}infra/demo-function`,
  handler: "index.handler",
};

const toMB = (kib: number) => Math.ceil(kib / 1024);

/** Runs the profile; `log` gets progress lines. */
export async function runLambdaProfile(
  plan: ProfilePlan,
  log: (line: string) => void,
): Promise<LambdaProfileResults> {
  const support = await cgroupSupport();
  const sizes: ProfileSize[] = support.ok
    ? ["unconstrained", 1024, 128]
    : ["unconstrained"];
  if (!support.ok) {
    log(`Lambda profile NOT MEASURED: ${support.reason}`);
  }
  const kinesis = await startLocalKinesis({ tls: true });
  const certificate = kinesis.certificate!;
  const ca = await Deno.readTextFile(certificate.caFile);
  const proxy = startFaultProxy({
    target: kinesis.endpoint,
    targetCa: ca,
    tls: {
      cert: await Deno.readTextFile(certificate.certFile),
      key: await Deno.readTextFile(certificate.keyFile),
    },
    latency: { ...ADDED_LATENCY, seed: 1 },
  });
  const rows: ProfileRow[] = [];
  const init: ProfileInit[] = [];
  let streams = 0;
  try {
    for (const size of sizes) {
      for (const quota of size === "unconstrained" ? [false] : [false, true]) {
        log(
          `lambda profile: init at ${
            sizeLabel(size)
          }, quota during init ${quota}`,
        );
        const stream = `lp-init-${++streams}`;
        await kinesis.createStream(stream, 1);
        init.push(
          await measureProfileInit(size, quota, plan.initRounds, {
            ...extensionEnv(stream, proxy.endpoint, certificate.caFile),
          }),
        );
      }
      for (const profileCase of plan.cases) {
        log(`lambda profile: ${profileCase.name} at ${sizeLabel(size)}`);
        const stream = `lp-${++streams}`;
        await kinesis.createStream(stream, 1);
        const slowPlan: FaultPlan = profileCase.slowMs
          ? {
            delayRequests: { select: { kind: "all" }, ms: profileCase.slowMs },
          }
          : {};
        proxy.configure(slowPlan);
        rows.push(
          await runCase(profileCase, size, {
            env: extensionEnv(stream, proxy.endpoint, certificate.caFile),
            readBack: async () =>
              (await readAllRecords(kinesis.client, stream)).flatMap((
                record,
              ) => decodeRecord(record.data)).length,
          }),
        );
      }
    }
  } finally {
    await proxy.stop();
    await kinesis.stop();
  }
  return {
    measured: support.ok,
    ...(support.ok ? {} : { reason: support.reason }),
    setup:
      `Node demo function (aws-lambda-ric) + kinesis-telemetry from source, one cgroup per environment: CPU M/1769 of a vCPU (cfs quota, after init), memory limit M MB, cgroup freezer; HTTPS to kinesalite through a TLS proxy adding ${ADDED_LATENCY.minMs}–${ADDED_LATENCY.maxMs} ms per request`,
    rows,
    init,
  };
}

function sizeLabel(size: ProfileSize): string {
  return size === "unconstrained" ? "unconstrained" : `${size} MB`;
}

function extensionEnv(
  stream: string,
  endpoint: string,
  caFile: string,
): Record<string, string> {
  return {
    KINESIS_TELEMETRY_STREAM: stream,
    KINESIS_TELEMETRY_LISTENER_PORT: "0",
    AWS_ENDPOINT_URL_KINESIS: endpoint,
    DENO_CERT: caFile,
  };
}

function sandboxOptions(
  size: ProfileSize,
  env: Record<string, string>,
  cpuQuotaDuringInit = false,
) {
  return {
    fn: NODE_DEMO,
    extensions: [projectExtension(env)],
    memoryMB: size === "unconstrained" ? 128 : size,
    limits: size === "unconstrained"
      ? false as const
      : { cpuQuotaDuringInit, required: true },
  };
}

async function measureProfileInit(
  size: ProfileSize,
  cpuQuotaDuringInit: boolean,
  rounds: number,
  env: Record<string, string>,
): Promise<ProfileInit> {
  const initMs: number[] = [];
  const extensionInitMs: number[] = [];
  const extensionCpuMs: number[] = [];
  const runtimeCpuMs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const sandbox = await startSandbox(
      sandboxOptions(size, env, cpuQuotaDuringInit),
    );
    try {
      const ids = sandbox.processIds();
      extensionCpuMs.push(
        await cpuSeconds(ids.extensions[EXTENSION_NAME]) * 1000,
      );
      runtimeCpuMs.push(await cpuSeconds(ids.runtime!) * 1000);
      initMs.push(sandbox.initDurationMs);
      const phases = sandbox.initPhases;
      extensionInitMs.push(
        phases.extensionsRegisteredMs +
          (sandbox.initDurationMs - phases.runtimeReadyMs),
      );
      await sandbox.shutdown();
    } finally {
      await sandbox.stop();
    }
  }
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  return {
    size,
    cpuQuotaDuringInit,
    initMs: roundSummary(summarize(initMs), 1),
    extensionInitMs: roundSummary(summarize(extensionInitMs), 1),
    extensionTimeShare: round(sum(extensionInitMs) / sum(initMs), 3),
    extensionCpuMs: roundSummary(summarize(extensionCpuMs), 0),
    extensionCpuShare: round(
      sum(extensionCpuMs) / (sum(extensionCpuMs) + sum(runtimeCpuMs)),
      3,
    ),
  };
}

async function runCase(
  profileCase: ProfileCase,
  size: ProfileSize,
  io: { env: Record<string, string>; readBack(): Promise<number> },
): Promise<ProfileRow> {
  const row: ProfileRow = {
    case: profileCase.name,
    size,
    invocations: 0,
    postRuntimeMs: null,
    extensionCpuMsPerInvocation: null,
    extensionPeakMB: null,
    environmentPeakMB: null,
    emitted: 0,
    delivered: 0,
    dropped: 0,
    shutdownMs: null,
    exitedByItself: null,
    oomKilled: null,
  };
  let sandbox: Sandbox | null = null;
  try {
    sandbox = await startSandbox(sandboxOptions(size, io.env));
    const ids = sandbox.processIds();
    const extensionPid = ids.extensions[EXTENSION_NAME];
    const cpuBefore = await cpuSeconds(extensionPid);
    const postRuntime: number[] = [];
    let runtimePeakMB = 0;
    let extensionPeakMB = 0;
    for (let i = 0; i < profileCase.invocations; i++) {
      const record = await sandbox.invoke({
        logLines: profileCase.logLines,
        lineBytes: 200,
      });
      postRuntime.push(record.postRuntimeMs);
      if (profileCase.gapMs) await sleep(profileCase.gapMs);
      extensionPeakMB = Math.max(
        extensionPeakMB,
        ...Object.values(record.extensionMaxMemoryMB),
      );
      runtimePeakMB = Math.max(runtimePeakMB, record.maxMemoryUsedMB);
    }
    const cpuAfter = await cpuSeconds(extensionPid);
    const { peakRssKiB } = await processMemory(extensionPid);
    row.invocations = postRuntime.length;
    row.postRuntimeMs = roundSummary(summarize(postRuntime), 1);
    row.extensionCpuMsPerInvocation = round(
      (cpuAfter - cpuBefore) * 1000 / postRuntime.length,
      1,
    );
    row.extensionPeakMB = Math.max(extensionPeakMB, toMB(peakRssKiB));
    row.environmentPeakMB = size === "unconstrained"
      ? runtimePeakMB + row.extensionPeakMB
      : await sandbox.environmentPeakMemoryMB();
    const shutdown = await sandbox.shutdown();
    const extension = shutdown.extensions[0];
    row.shutdownMs = round(extension.durationMs, 0);
    row.exitedByItself = extension.exitedByItself;
  } catch (error) {
    if (error instanceof EnvironmentResetError) {
      row.oomKilled = error.oom.errorType;
    } else {
      row.error = (error instanceof Error ? error.message : String(error))
        .split("\n")[0].slice(0, 200);
    }
  } finally {
    await sandbox?.stop();
  }
  if (sandbox) {
    row.emitted = sandbox.events.length;
    const summary = findSummary(sandbox);
    row.dropped = Number(summary?.droppedTotal ?? 0);
  }
  row.delivered = await io.readBack();
  return row;
}

function findSummary(sandbox: Sandbox): Record<string, unknown> | undefined {
  for (const line of [...sandbox.extensionLog].reverse()) {
    if (line.line.includes('"msg":"summary"')) {
      try {
        return JSON.parse(line.line);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** The profile as Markdown tables. */
export function renderLambdaProfile(results: LambdaProfileResults): string {
  const lines: string[] = [];
  lines.push("## Lambda profile");
  lines.push("");
  if (!results.measured) {
    lines.push(
      `**Lambda profile not measured**: ${results.reason}. Only the unconstrained rows below exist.`,
    );
    lines.push("");
  }
  lines.push(results.setup + ".");
  lines.push("");
  lines.push(
    "| case | size | post-runtime median / p99 / max (ms) | extension CPU ms / invocation | peak RSS extension / environment (MB) | delivered / emitted, dropped | shutdown (ms) | OOM-killed |",
  );
  lines.push("|---|---|---|---|---|---|---|---|");
  for (const row of results.rows) {
    const overhead = row.postRuntimeMs
      ? `${row.postRuntimeMs.median} / ${row.postRuntimeMs.p99} / ${row.postRuntimeMs.max}`
      : "—";
    const shutdown = row.shutdownMs === null
      ? "—"
      : `${row.shutdownMs}${row.exitedByItself ? "" : " (KILLED)"}`;
    lines.push(
      `| ${row.case} | ${sizeLabel(row.size)} | ${overhead} | ${
        row.extensionCpuMsPerInvocation ?? "—"
      } | ${row.extensionPeakMB ?? "—"} / ${
        row.environmentPeakMB ?? "—"
      } | ${row.delivered} / ${row.emitted}, ${row.dropped} | ${shutdown} | ${
        row.oomKilled ?? (row.error ? `error: ${row.error}` : "no")
      } |`,
    );
  }
  lines.push("");
  lines.push(
    "Init (billed since August 2025): the extension's part is its time until it registered (the runtime starts only then) plus its time after the runtime was ready.",
  );
  lines.push("");
  lines.push(
    "| size | CPU quota during init | init median / max (ms) | extension's part median (ms) | extension's share of init time | extension CPU median (ms) | extension's share of init CPU |",
  );
  lines.push("|---|---|---|---|---|---|---|");
  for (const row of results.init) {
    lines.push(
      `| ${sizeLabel(row.size)} | ${
        row.size === "unconstrained"
          ? "—"
          : row.cpuQuotaDuringInit
          ? "yes"
          : "no"
      } | ${row.initMs.median} / ${row.initMs.max} | ${row.extensionInitMs.median} | ${
        Math.round(row.extensionTimeShare * 100)
      } % | ${row.extensionCpuMs.median} | ${
        Math.round(row.extensionCpuShare * 100)
      } % |`,
    );
  }
  lines.push("");
  return lines.join("\n");
}
