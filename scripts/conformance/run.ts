/**
 * One conformance run: the extension (from source or from a built layer)
 * beside a real Python function under AWS's Runtime Interface Emulator, in
 * classic or LMI mode, against kinesalite; invoke, shut the emulator down,
 * read the stream back and check what AWS's own implementation did with
 * the extension.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { decodeRecord, type Envelope } from "../lib/decode.ts";
import { EXTENSION_DENO_FLAGS } from "../lib/extension_flags.ts";
import { readAllRecords } from "../lib/kinesis_read.ts";
import { shellQuote } from "../lib/launcher.ts";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  startLocalKinesis,
} from "../sandbox/kinesis_local.ts";
import { unpackLayer } from "../smoke.ts";
import { type Emulator, type EmulatorMode, startEmulator } from "./emulator.ts";
import {
  type ConformanceCheck,
  expectedFunctionLines,
  findSummary,
  judgeRun,
} from "./checks.ts";
import type { ConformanceTools } from "./tools.ts";

/** The repository root. */
const PROJECT_ROOT = new URL("../../", import.meta.url).pathname;

/** Name the extension registers with (its file name in /opt/extensions). */
export const EXTENSION_NAME = "kinesis-telemetry";

/** Function name given to the emulator. */
export const FUNCTION_NAME = "conformance";

/** Which build of the extension runs. */
export type ExtensionBuild =
  | { kind: "source" }
  | { kind: "layer"; zipPath: string };

/** Settings of one run. */
export interface ConformanceOptions {
  /** Emulator mode. */
  mode: EmulatorMode;
  /** Source or layer. */
  extension: ExtensionBuild;
  /** Installed tools. */
  tools: ConformanceTools;
  /** Invocations to send. */
  invocations: number;
  /** Invocations in flight at once (LMI; classic sends one at a time). */
  concurrency: number;
  /** Function log lines per invocation. */
  linesPerInvocation: number;
  /** How long the emulator may take to shut down, ms. */
  stopTimeoutMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What one run saw and how it was judged. */
export interface ConformanceReport {
  /** Emulator mode. */
  mode: EmulatorMode;
  /** `source` or `layer`. */
  extension: string;
  /** Every check with its verdict. */
  checks: ConformanceCheck[];
  /** True when every check passed. */
  ok: boolean;
  /** Envelopes read back from the stream. */
  delivered: number;
  /** Kinesis records read back. */
  records: number;
  /** Counts of envelopes by event type. */
  types: Record<string, number>;
  /** The first event of each type as the emulator sent it (`time`, `type`, `record`). */
  samples: Record<string, { time: string; record: unknown }>;
  /** The extension's summary line, when it wrote one. */
  summary: Record<string, unknown> | undefined;
  /** From SIGTERM to the emulator's exit, ms. */
  shutdownMs: number;
  /** Invocations sent again after the emulator answered `Runtime.Unavailable`. */
  unavailableRetries: number;
  /** Tail of the emulator's output, for a failure. */
  outputTail: string[];
}

/** The line the source launcher writes when the extension has exited. */
export const EXIT_LINE_PREFIX =
  "conformance: kinesis-telemetry exited with code ";

/**
 * The launcher in /opt/extensions that runs the extension from source and
 * says how it exited (a kill by the emulator ends the launcher too, so no
 * line means it did not exit by itself).
 */
export function sourceLauncher(denoPath: string, projectRoot: string): string {
  const flags = EXTENSION_DENO_FLAGS.map(shellQuote).join(" ");
  return `#!/bin/sh
# kinesis-telemetry from source, for the conformance run (scripts/conformance/).
cd ${shellQuote(projectRoot)} || exit 1
${
    shellQuote(denoPath)
  } run ${flags} extension/main.ts "--extension-name=\${0##*/}" "$@"
code=$?
echo "${EXIT_LINE_PREFIX}$code" >&2
exit $code
`;
}

/** `/var/task/bootstrap`: AWS's Python runtime interface client on the conformance handler. */
export function functionBootstrap(python: string): string {
  return `#!/bin/sh
exec ${shellQuote(python)} -m awslambdaric handler.handler
`;
}

/** Deno's cache folder of this process (read-only for the extension from source). */
export function denoDir(env: (name: string) => string | undefined): string {
  const explicit = env("DENO_DIR");
  if (explicit) return explicit;
  const cache = env("XDG_CACHE_HOME") ?? `${env("HOME") ?? "/root"}/.cache`;
  return `${cache}/deno`;
}

async function prepareOpt(
  optDir: string,
  extension: ExtensionBuild,
): Promise<void> {
  if (extension.kind === "layer") {
    await unpackLayer(extension.zipPath, optDir);
    return;
  }
  await Deno.mkdir(join(optDir, "extensions"), { recursive: true });
  const launcher = join(optDir, "extensions", EXTENSION_NAME);
  await Deno.writeTextFile(
    launcher,
    sourceLauncher(Deno.execPath(), PROJECT_ROOT),
  );
  await Deno.chmod(launcher, 0o755);
}

/** What the invocations got back. */
interface InvokeOutcome {
  /** Final answers by request id (refused attempts left out). */
  answers: Map<string, { status: number; body: string }>;
  /** Attempts the emulator refused with `Runtime.Unavailable` and that were sent again. */
  unavailableRetries: number;
}

/** How often an invocation refused for want of an idle runtime is sent again. */
const UNAVAILABLE_ATTEMPTS = 200;

/**
 * Sends `count` invocations, `concurrency` at a time. In LMI mode the
 * emulator refuses an invocation at once (400 `Runtime.Unavailable`) when no
 * runtime worker waits on `/next`, which happens between a worker's answer
 * and its next poll: such an attempt never ran, and is sent again under a
 * new request id after a short pause, as a caller would.
 */
async function invokeAll(
  emulator: Emulator,
  count: number,
  concurrency: number,
  lines: number,
): Promise<InvokeOutcome> {
  const answers = new Map<string, { status: number; body: string }>();
  let unavailableRetries = 0;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      for (let attempt = 1;; attempt++) {
        const requestId = crypto.randomUUID();
        let answer: { status: number; body: string };
        try {
          answer = await emulator.invoke(requestId, {
            lines,
            sleepMs: 50,
            index,
          });
        } catch (error) {
          // The emulator stopped (an init failure ends it): status 0.
          answer = {
            status: 0,
            body: error instanceof Error ? error.message : String(error),
          };
        }
        const unavailable = answer.status === 400 &&
          answer.body.includes("Runtime.Unavailable");
        if (unavailable && attempt < UNAVAILABLE_ATTEMPTS) {
          unavailableRetries++;
          await new Promise((resolve) => setTimeout(resolve, 10));
          continue;
        }
        answers.set(requestId, { status: answer.status, body: answer.body });
        break;
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, concurrency) }, () => worker()),
  );
  return { answers, unavailableRetries };
}

/** Runs the extension under the emulator once and judges it. */
export async function runConformance(
  options: ConformanceOptions,
): Promise<ConformanceReport> {
  const log = options.log ?? (() => {});
  const work = await Deno.makeTempDir({
    prefix: `kt-conformance-${options.mode}-`,
  });
  const kinesis = await startLocalKinesis();
  let emulator: Emulator | undefined;
  try {
    const optDir = join(work, "opt");
    const taskDir = join(work, "task");
    const scratchDir = join(work, "scratch");
    await Deno.mkdir(optDir, { recursive: true });
    await Deno.mkdir(taskDir, { recursive: true });
    await Deno.mkdir(scratchDir, { recursive: true });
    // LMI runs the function and the extensions as an unprivileged user.
    for (const dir of [work, optDir, taskDir]) await Deno.chmod(dir, 0o755);
    await prepareOpt(optDir, options.extension);
    await Deno.copyFile(
      new URL("./function/handler.py", import.meta.url).pathname,
      join(taskDir, "handler.py"),
    );
    // LMI mode ignores a command line for a zip function and looks for
    // /var/task/bootstrap (as Lambda's custom runtimes do); classic mode
    // takes it too when given no command.
    const bootstrap = join(taskDir, "bootstrap");
    await Deno.writeTextFile(
      bootstrap,
      functionBootstrap(options.tools.python),
    );
    await Deno.chmod(bootstrap, 0o755);
    const stream = `conformance-${options.mode}`;
    await kinesis.createStream(stream, 2);

    const concurrency = options.mode === "lmi" ? options.concurrency : 1;
    const env: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME,
      AWS_LAMBDA_FUNCTION_TIMEOUT: "30",
      AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
      KINESIS_TELEMETRY_STREAM: stream,
      KINESIS_TELEMETRY_LISTENER_PORT: "0",
      KINESIS_TELEMETRY_LISTENER_HOST: "127.0.0.1",
      PYTHONPATH: options.tools.awslambdaric,
      PYTHONDONTWRITEBYTECODE: "1",
    };
    // From source, Deno reads this process's cache (the npm packages'
    // metadata); an LMI extension runs as an unprivileged user and cannot
    // write there, which Deno tolerates.
    // The emulator's own log level (`debug` shows every telemetry batch).
    const rieLogLevel = Deno.env.get("LOG_LEVEL");
    if (rieLogLevel) env.LOG_LEVEL = rieLogLevel;
    const cacheDir = denoDir((name) => Deno.env.get(name));
    if (options.extension.kind === "source") env.DENO_DIR = cacheDir;

    emulator = await startEmulator({
      mode: options.mode,
      rieBinary: options.tools.rie,
      optDir,
      taskDir,
      scratchDir,
      bootstrap: [],
      env,
      maxConcurrency: concurrency,
      reachable: [
        options.tools.pythonPrefix,
        dirname(Deno.execPath()),
        PROJECT_ROOT.replace(/\/$/, ""),
        options.tools.awslambdaric,
        cacheDir,
      ],
      onLine: (line) => log(`  rie| ${line}`),
    });
    log(
      `${options.mode}: emulator on ${emulator.address}, Runtime API ${emulator.runtimeApi}`,
    );
    const { answers, unavailableRetries } = await invokeAll(
      emulator,
      options.invocations,
      concurrency,
      options.linesPerInvocation,
    );
    log(
      `${options.mode}: ${answers.size} invocations answered, ${unavailableRetries} sent again after Runtime.Unavailable`,
    );
    // Let the last telemetry batches (the emulator buffers up to its
    // subscription's timeout) reach the extension before SHUTDOWN.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const stopStarted = performance.now();
    const stopped = await emulator.stop(options.stopTimeoutMs ?? 10_000);
    const shutdownMs = performance.now() - stopStarted;
    log(
      `${options.mode}: emulator exited with ${stopped.code}${
        stopped.killed ? " (killed)" : ""
      } after ${shutdownMs.toFixed(0)} ms`,
    );

    const records = await readAllRecords(kinesis.client, stream);
    const envelopes: Envelope[] = records.flatMap((record) =>
      decodeRecord(record.data).map((decoded) => decoded.envelope)
    );
    const types: Record<string, number> = {};
    const samples: Record<string, { time: string; record: unknown }> = {};
    for (const envelope of envelopes) {
      types[envelope.type] = (types[envelope.type] ?? 0) + 1;
      samples[envelope.type] ??= {
        time: envelope.time,
        record: envelope.record,
      };
    }
    const summary = findSummary(emulator.lines);
    const checks = judgeRun({
      mode: options.mode,
      answers,
      expectedLines: expectedFunctionLines(
        [...answers.keys()],
        options.linesPerInvocation,
      ),
      envelopes,
      summary,
      emulatorLines: emulator.lines,
      stopped,
      exitLinePrefix: options.extension.kind === "source"
        ? EXIT_LINE_PREFIX
        : undefined,
    });
    return {
      mode: options.mode,
      extension: options.extension.kind,
      checks,
      ok: checks.every((check) => check.ok),
      delivered: envelopes.length,
      records: records.length,
      types,
      samples,
      summary,
      shutdownMs,
      unavailableRetries,
      outputTail: emulator.lines.slice(-40),
    };
  } finally {
    if (emulator && emulator.process.exit === null) {
      emulator.process.signal("SIGKILL");
      await emulator.process.exited;
    }
    await kinesis.stop();
    await Deno.remove(work, { recursive: true });
  }
}
