/**
 * `deno task conformance`: runs the extension under AWS's own Runtime
 * Interface Emulator (`aws-lambda-rie`, installed by `scripts/setup/rie.sh`
 * when missing), beside a real Python function run by AWS's runtime
 * interface client, in classic mode and in Lambda Managed Instances mode,
 * from source and from the portable layer built for the run; reads the
 * Kinesis stream (kinesalite) back and checks every run. Exits 1 when any
 * check fails or a tool is missing.
 *
 * Usage: `deno task conformance [--mode classic|lmi|all] [--extension
 * source|layer|all] [--layer ZIP] [--invocations N] [--concurrency N]
 * [--lines N] [--verbose]`
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { EmulatorMode } from "./conformance/emulator.ts";
import {
  type ConformanceReport,
  type ExtensionBuild,
  runConformance,
} from "./conformance/run.ts";
import { ensureTools, MissingToolError } from "./conformance/tools.ts";

/** The repository root. */
const PROJECT_ROOT = new URL("../", import.meta.url).pathname;

/** Parsed command line. */
export interface ConformanceArgs {
  /** Modes to run. */
  modes: EmulatorMode[];
  /** Builds to run. */
  extensions: Array<"source" | "layer">;
  /** A layer zip to use instead of building one. */
  layer?: string;
  /** Invocations per run. */
  invocations: number;
  /** Concurrent invocations in LMI mode. */
  concurrency: number;
  /** Function log lines per invocation. */
  lines: number;
  /** Prints the emulator's output and one event of each type. */
  verbose: boolean;
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`--${name} must be a positive integer, got ${value}`);
  }
  return n;
}

/** Parses the command line. */
export function parseConformanceArgs(args: string[]): ConformanceArgs {
  const { values } = parseArgs({
    args,
    options: {
      mode: { type: "string", default: "all" },
      extension: { type: "string", default: "all" },
      layer: { type: "string" },
      invocations: { type: "string", default: "12" },
      concurrency: { type: "string", default: "4" },
      lines: { type: "string", default: "5" },
      verbose: { type: "boolean", default: false },
    },
    strict: true,
  });
  const modes: EmulatorMode[] = values.mode === "all"
    ? ["classic", "lmi"]
    : values.mode === "classic" || values.mode === "lmi"
    ? [values.mode]
    : (() => {
      throw new Error(`--mode must be classic, lmi or all, got ${values.mode}`);
    })();
  const extensions: Array<"source" | "layer"> = values.extension === "all"
    ? ["source", "layer"]
    : values.extension === "source" || values.extension === "layer"
    ? [values.extension]
    : (() => {
      throw new Error(
        `--extension must be source, layer or all, got ${values.extension}`,
      );
    })();
  return {
    modes,
    extensions,
    layer: values.layer,
    invocations: positive("invocations", values.invocations),
    concurrency: positive("concurrency", values.concurrency),
    lines: positive("lines", values.lines),
    verbose: values.verbose,
  };
}

/** Builds the x86_64 portable layer into `outDir`; returns the zip's path. */
async function buildPortableLayer(outDir: string): Promise<string> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "--allow-net=127.0.0.1",
      join(PROJECT_ROOT, "scripts", "build.ts"),
      "--portable",
      "--arch",
      "x86_64",
      "--out",
      outDir,
    ],
    cwd: PROJECT_ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    throw new Error(`deno task build --portable failed (${code})`);
  }
  return join(outDir, "kinesis-telemetry-x86_64.zip");
}

/** The report of one run as text lines. */
export function formatReport(report: ConformanceReport): string[] {
  const lines = [
    `${report.mode} mode, extension from ${report.extension}: ${
      report.ok ? "PASS" : "FAIL"
    }`,
  ];
  for (const check of report.checks) {
    lines.push(
      `  ${check.ok ? "ok  " : "FAIL"} ${check.name}: ${check.detail}`,
    );
  }
  const types = Object.entries(report.types)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, n]) => `${type} ${n}`).join(", ");
  lines.push(
    `  stream: ${report.delivered} envelopes in ${report.records} records${
      types ? ` (${types})` : ""
    }; emulator shutdown ${
      report.shutdownMs.toFixed(0)
    } ms; ${report.unavailableRetries} invocations sent again after Runtime.Unavailable`,
  );
  return lines;
}

if (import.meta.main) {
  let args: ConformanceArgs;
  try {
    args = parseConformanceArgs(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(2);
  }
  let tools;
  try {
    tools = await ensureTools((line) => console.log(line));
  } catch (error) {
    console.error(
      `conformance: ${error instanceof Error ? error.message : error}`,
    );
    console.log("\n0 passed, 1 failed");
    Deno.exit(1);
  }
  let built: string | undefined;
  const builds: ExtensionBuild[] = [];
  for (const kind of args.extensions) {
    if (kind === "source") builds.push({ kind: "source" });
    else {
      let zipPath = args.layer;
      if (!zipPath) {
        built = await Deno.makeTempDir({ prefix: "kt-conformance-layer-" });
        zipPath = await buildPortableLayer(built);
      }
      builds.push({ kind: "layer", zipPath });
    }
  }
  let passed = 0;
  let failed = 0;
  try {
    for (const mode of args.modes) {
      for (const extension of builds) {
        console.log(`\n== ${mode} mode, extension from ${extension.kind}`);
        let report: ConformanceReport;
        try {
          report = await runConformance({
            mode,
            extension,
            tools,
            invocations: args.invocations,
            concurrency: args.concurrency,
            linesPerInvocation: args.lines,
            log: args.verbose ? (line) => console.log(line) : undefined,
          });
        } catch (error) {
          failed++;
          console.log(
            `${mode} mode, extension from ${extension.kind}: FAIL: ${
              error instanceof Error ? error.stack : error
            }`,
          );
          continue;
        }
        for (const line of formatReport(report)) console.log(line);
        if (args.verbose) {
          for (const [type, sample] of Object.entries(report.samples)) {
            console.log(`  sample ${type}: ${JSON.stringify(sample)}`);
          }
        }
        if (report.ok) passed++;
        else {
          failed++;
          if (!args.verbose) {
            console.log("  emulator output (tail):");
            for (const line of report.outputTail) console.log(`    ${line}`);
          }
        }
      }
    }
  } finally {
    if (built) await Deno.remove(built, { recursive: true });
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
}

export { MissingToolError };
