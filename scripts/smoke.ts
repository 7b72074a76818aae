/**
 * Smoke test of the built layers: unpacks a layer zip into a temporary
 * `/opt`-like folder, runs its `extensions/kinesis-telemetry` in the local
 * sandbox beside the demo function, against kinesalite, and checks that the
 * telemetry reached the stream and the extension's summary balances.
 *
 * The arm64 layer runs under qemu-user when one is found (see
 * `scripts/ci_setup_qemu.sh`): its executable is moved aside and replaced by
 * a wrapper that starts it under qemu, so the sandbox still starts it by path.
 *
 * Usage: `deno task smoke [--arch x86_64|arm64|all] [--dist dist] [--invocations N]`
 * (`all`, the default, skips arm64 with a printed reason when no qemu is found).
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { decodeRecord, type Envelope } from "./lib/decode.ts";
import { readAllRecords } from "./lib/kinesis_read.ts";
import {
  hostLayerArch,
  LAYER_TARGETS,
  type LayerArch,
  parseArchList,
} from "./lib/layer_targets.ts";
import { LAYER_EXTENSION_PATH, PORTABLE_DENO_PATH } from "./lib/launcher.ts";
import {
  type Aarch64Emulator,
  findAarch64Emulator,
  renderEmulatorWrapper,
} from "./lib/qemu.ts";
import { defaultBuildCacheDir } from "./lib/stock_deno.ts";
import { readZip } from "./lib/zip.ts";
import { layerExtension } from "./sandbox/extension_specs.ts";
import { startLocalKinesis } from "./sandbox/kinesis_local.ts";
import { type Sandbox, startSandbox } from "./sandbox/sandbox.ts";

/** The repository root (this file lives in `scripts/`). */
const PROJECT_ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");

/** Folder of the demo function the Pulumi program deploys. */
export const DEMO_FUNCTION_DIR = join(PROJECT_ROOT, "infra", "demo-function");

/** Name the extension must register with. */
const EXTENSION_NAME = "kinesis-telemetry";

/** What one smoke run saw. */
export interface SmokeReport {
  /** Architecture of the layer. */
  arch: LayerArch;
  /** True when it ran under qemu. */
  emulated: boolean;
  /** Invocations run. */
  invocations: number;
  /** Telemetry events the sandbox emitted. */
  emitted: number;
  /** Events the extension's listener acknowledged. */
  acknowledged: number;
  /** Envelopes read back from the stream (announced copies included). */
  delivered: number;
  /** Distinct events among them (by `environmentId` + `seq`). */
  distinct: number;
  /** Kinesis records read back. */
  records: number;
  /** The extension's shutdown summary line. */
  summary: Record<string, unknown>;
  /** Sandbox init phase (extension start and register included), ms. */
  initMs: number;
  /** Whole run, unpacking included, ms. */
  totalMs: number;
}

/** Settings of one smoke run. */
export interface SmokeOptions {
  /** Layer zip to test. */
  zipPath: string;
  /** Its architecture. */
  arch: LayerArch;
  /** Invocations to run. */
  invocations: number;
  /** qemu for a foreign-architecture layer. */
  emulator?: Aarch64Emulator;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** A check that failed, with what was seen. */
export class SmokeFailure extends Error {
  /** Creates the failure. */
  constructor(message: string) {
    super(message);
    this.name = "SmokeFailure";
  }
}

/** Unpacks a layer zip under `optDir`, keeping permission bits. */
export async function unpackLayer(
  zipPath: string,
  optDir: string,
): Promise<string[]> {
  const files = readZip(await Deno.readFile(zipPath));
  for (const file of files) {
    const target = join(optDir, file.path);
    if (!target.startsWith(optDir + "/")) {
      throw new SmokeFailure(
        `zip entry escapes the layer folder: ${file.path}`,
      );
    }
    await Deno.mkdir(dirname(target), { recursive: true });
    await Deno.writeFile(target, file.data, { mode: file.mode });
    await Deno.chmod(target, file.mode);
  }
  return files.map((file) => file.path);
}

/**
 * Replaces the arm64 executable of an unpacked layer (the stock Deno binary
 * of a portable layer, or the compiled extension itself) by a wrapper that
 * runs it under qemu; the original keeps its file name in `asideDir`.
 */
async function wrapForEmulator(
  optDir: string,
  asideDir: string,
  emulator: Aarch64Emulator,
): Promise<void> {
  const portableDeno = join(optDir, PORTABLE_DENO_PATH);
  let executable: string;
  try {
    await Deno.stat(portableDeno);
    executable = portableDeno;
  } catch {
    executable = join(optDir, LAYER_EXTENSION_PATH);
  }
  const name = executable.split("/").pop()!;
  await Deno.mkdir(asideDir, { recursive: true });
  const aside = join(asideDir, name);
  await Deno.rename(executable, aside);
  await Deno.writeTextFile(
    executable,
    renderEmulatorWrapper(emulator, aside),
    { mode: 0o755 },
  );
  await Deno.chmod(executable, 0o755);
}

function summaryOf(sandbox: Sandbox): Record<string, unknown> | undefined {
  for (const line of [...sandbox.extensionLog].reverse()) {
    if (!line.line.startsWith("{")) continue;
    try {
      const parsed = JSON.parse(line.line) as Record<string, unknown>;
      if (parsed.msg === "summary") return parsed;
    } catch {
      // Not a JSON line.
    }
  }
  return undefined;
}

function droppedTotal(summary: Record<string, unknown>): number {
  const dropped = summary.dropped;
  if (typeof dropped === "number") return dropped;
  if (dropped && typeof dropped === "object") {
    return Object.values(dropped as Record<string, number>).reduce(
      (sum, n) => sum + (typeof n === "number" ? n : 0),
      0,
    );
  }
  return 0;
}

/** Runs one layer in the sandbox and checks end-to-end delivery. */
export async function smokeLayer(options: SmokeOptions): Promise<SmokeReport> {
  const started = performance.now();
  const emulated = options.emulator !== undefined;
  const work = await Deno.makeTempDir({ prefix: `kt-smoke-${options.arch}-` });
  const kinesis = await startLocalKinesis();
  let sandbox: Sandbox | undefined;
  try {
    const optDir = join(work, "opt");
    const files = await unpackLayer(options.zipPath, optDir);
    options.log?.(`unpacked ${files.join(", ")} into ${optDir}`);
    if (options.emulator) {
      await wrapForEmulator(optDir, join(work, "emulated"), options.emulator);
    }
    const stream = `smoke-${options.arch}`;
    await kinesis.createStream(stream, 2);
    // qemu runs Deno tens of times slower: give init, invocations and
    // shutdown room without changing what is checked.
    const slow = emulated ? 15 : 1;
    sandbox = await startSandbox({
      fn: {
        runtime: "node",
        taskRoot: DEMO_FUNCTION_DIR,
        handler: "index.handler",
      },
      functionName: "smoke-demo",
      extensions: [
        layerExtension(join(optDir, LAYER_EXTENSION_PATH), {
          KINESIS_TELEMETRY_STREAM: stream,
          AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
          KINESIS_TELEMETRY_LISTENER_PORT: "0",
          KINESIS_TELEMETRY_MAX_HOLD_MS: String(200 * slow),
        }),
      ],
      initTimeoutMs: 10_000 * slow,
      timeoutMs: 30_000 * slow,
      shutdownBudgetMs: 2_000 * slow,
      thawDeliveryWaitMs: 1_000 * slow,
    });
    options.log?.(`init ${sandbox.initDurationMs.toFixed(0)} ms`);
    const requestIds: string[] = [];
    for (let i = 0; i < options.invocations; i++) {
      const invocation = await sandbox.invoke({
        style: i % 2 === 0 ? "json" : "text",
      });
      if (invocation.status !== "success") {
        throw new SmokeFailure(
          `invocation ${i + 1} failed: ${invocation.response}`,
        );
      }
      requestIds.push(invocation.requestId);
      options.log?.(
        `invoke ${i + 1}: ${invocation.durationMs.toFixed(0)} ms ` +
          `(post-runtime ${invocation.postRuntimeMs.toFixed(0)} ms)`,
      );
    }
    const shutdown = await sandbox.shutdown();
    const exit = shutdown.extensions.find((e) => e.name === EXTENSION_NAME);
    options.log?.(
      `shutdown ${shutdown.durationMs.toFixed(0)} ms, extension ` +
        (exit?.exitedByItself ? `exited with ${exit.exitCode}` : "was killed"),
    );

    const records = await readAllRecords(kinesis.client, stream);
    const envelopes: Envelope[] = records.flatMap((record) =>
      decodeRecord(record.data).map((decoded) => decoded.envelope)
    );
    const shipped = new Set(
      envelopes.map((e) => `${e.type} ${JSON.stringify(e.record)}`),
    );
    const acknowledged = sandbox.events.filter((e) =>
      e.acknowledgedBy.includes(EXTENSION_NAME)
    );
    const summary = summaryOf(sandbox);
    const problems: string[] = [];
    if (!exit?.exitedByItself || exit.exitCode !== 0) {
      problems.push(
        `the extension did not exit cleanly at SHUTDOWN: ${
          JSON.stringify(exit)
        }`,
      );
    }
    if (!summary) problems.push("no summary line on the extension's stderr");
    const missing = acknowledged.filter((e) =>
      !shipped.has(`${e.event.type} ${JSON.stringify(e.event.record)}`)
    );
    if (missing.length > 0) {
      problems.push(
        `${missing.length} acknowledged events are not in the stream, e.g. ${
          JSON.stringify(missing[0].event).slice(0, 300)
        }`,
      );
    }
    for (const requestId of requestIds) {
      const started = envelopes.some((e) =>
        e.type === "platform.start" &&
        (e.record as { requestId?: string }).requestId === requestId
      );
      if (!started) {
        problems.push(`no platform.start of ${requestId} in the stream`);
      }
    }
    if (!envelopes.some((e) => e.type === "function")) {
      problems.push("no function log event in the stream");
    }
    for (const envelope of envelopes) {
      if (!envelope.function?.startsWith("smoke-demo:")) {
        problems.push(
          `envelope names function ${JSON.stringify(envelope.function)}`,
        );
        break;
      }
    }
    const distinct = new Set(
      envelopes.map((e) => `${e.environmentId}/${e.seq}`),
    ).size;
    if (summary) {
      const received = Number(summary.received);
      const delivered = Number(summary.delivered);
      if (!(delivered > 0) || delivered + droppedTotal(summary) !== received) {
        problems.push(
          `summary does not balance (received = delivered + dropped): ${
            JSON.stringify(summary)
          }`,
        );
      }
      if (droppedTotal(summary) !== 0) {
        problems.push(
          `events were dropped: ${JSON.stringify(summary.dropped)}`,
        );
      }
      // A request abandoned at the hold whose records Kinesis stored after
      // all is sent again: such copies are allowed only as many as the
      // summary announced (counted by event id).
      const copies = envelopes.length - distinct;
      const announced = Number(summary.possibleDuplicates ?? 0);
      if (delivered !== distinct || copies > announced) {
        problems.push(
          `summary says ${delivered} delivered and ${announced} possible duplicates, the stream holds ${distinct} events and ${copies} extra copies`,
        );
      }
    }
    if (problems.length > 0) {
      const log = sandbox.extensionLog.slice(-20).map((l) => l.line).join("\n");
      throw new SmokeFailure(
        `${options.arch} layer: ${
          problems.join("; ")
        }\nextension output (tail):\n${log}`,
      );
    }
    return {
      arch: options.arch,
      emulated,
      invocations: options.invocations,
      emitted: sandbox.events.length,
      acknowledged: acknowledged.length,
      delivered: envelopes.length,
      distinct,
      records: records.length,
      summary: summary!,
      initMs: sandbox.initDurationMs,
      totalMs: performance.now() - started,
    };
  } finally {
    await sandbox?.stop();
    await kinesis.stop();
    await Deno.remove(work, { recursive: true });
  }
}

const USAGE =
  "usage: deno task smoke [--arch x86_64|arm64|all] [--dist DIR] [--invocations N]";

/** Command-line entry: smoke-tests the requested layers; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let values;
  let arches: LayerArch[];
  try {
    values = parseArgs({
      args,
      options: {
        arch: { type: "string", default: "all" },
        dist: { type: "string", default: join(PROJECT_ROOT, "dist") },
        invocations: { type: "string", default: "3" },
        "cache-dir": { type: "string", default: defaultBuildCacheDir() },
        help: { type: "boolean", default: false },
      },
      strict: true,
    }).values;
    arches = parseArchList(values.arch);
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const invocations = Number(values.invocations);
  if (!Number.isInteger(invocations) || invocations < 1) {
    console.error(`--invocations must be a positive integer\n${USAGE}`);
    return 2;
  }
  const explicit = values.arch !== "all";
  const host = hostLayerArch();
  let failures = 0;
  let passes = 0;
  for (const arch of arches) {
    const zipPath = join(resolve(values.dist), LAYER_TARGETS[arch].zipName);
    try {
      await Deno.stat(zipPath);
    } catch {
      console.error(
        `smoke ${arch}: ${zipPath} not found: run \`npx -y deno@2 task build --portable\` first`,
      );
      failures++;
      continue;
    }
    let emulator: Aarch64Emulator | undefined;
    if (arch !== host) {
      emulator = arch === "arm64"
        ? await findAarch64Emulator(resolve(values["cache-dir"]))
        : undefined;
      if (!emulator) {
        const reason =
          `smoke ${arch}: skipped: this host (${Deno.build.arch}) cannot run it ` +
          "and no qemu-aarch64-static was found (run scripts/ci_setup_qemu.sh)";
        console.error(reason);
        if (explicit) failures++;
        continue;
      }
    }
    try {
      const report = await smokeLayer({
        zipPath,
        arch,
        invocations,
        emulator,
        log: (line) => console.error(`smoke ${arch}: ${line}`),
      });
      passes++;
      console.log(
        `smoke ${arch}${report.emulated ? " (qemu)" : ""}: ok: ` +
          `${report.delivered} events in ${report.records} records, ` +
          `${report.acknowledged}/${report.emitted} emitted events acknowledged, ` +
          `init ${(report.initMs / 1000).toFixed(1)} s, total ${
            (report.totalMs / 1000).toFixed(1)
          } s; summary ${JSON.stringify(report.summary)}`,
      );
    } catch (error) {
      failures++;
      console.error(
        `smoke ${arch}: FAILED: ${
          error instanceof SmokeFailure ? error.message : (error as Error).stack
        }`,
      );
    }
  }
  console.log(`smoke: ${passes} passed, ${failures} failed`);
  return failures === 0 && passes > 0 ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
