/**
 * `deno task consumers`: consumer conformance. For each record format (and
 * compression), runs the extension in the local sandbox writing to a 4-shard
 * kinesalite stream, splits one shard mid-run, reads everything back parent
 * shards first, and hands it to three consumers the project did not write:
 * KCL's `AggregatorUtil` with each shard's hash-key range (as KCL's
 * `ProcessTask` calls it), the PyPI `aws_kinesis_agg` and the npm
 * `aws-kinesis-agg`. Each must see every event the extension acknowledged
 * exactly once, byte-exact, and KCL must discard no user record. Installs
 * the consumers into `.tools/` when missing (scripts/setup/consumers.sh) and
 * fails when it cannot. Exits 1 when any check fails.
 *
 * ```sh
 * deno task consumers [--format kpl,ndjson,json] [--compression none,gzip,zstd]
 *                     [--invocations N] [--keep DIR]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { ReaderOutput } from "./consumers/dump.ts";
import { formatDump } from "./consumers/dump.ts";
import {
  type Compression,
  COMPRESSIONS,
  judgeConsumer,
  type Verdict,
  verdictPassed,
} from "./consumers/judge.ts";
import {
  CONSUMER_LABELS,
  type ConsumerName,
  CONSUMERS,
  ensureConsumerTools,
  readWithKcl,
  readWithNpm,
  readWithPython,
} from "./consumers/readers.ts";
import {
  type RecordFormat,
  runScenario,
  type ScenarioResult,
} from "./consumers/scenario.ts";

/** Formats the extension writes. */
export const FORMATS: readonly RecordFormat[] = ["kpl", "ndjson", "json"];

/** Compressions checked by default: every one the extension offers. */
export const DEFAULT_COMPRESSIONS: readonly Compression[] = COMPRESSIONS;

/** Parsed command line. */
export interface ConsumersOptions {
  /** Formats to check. */
  formats: RecordFormat[];
  /** Compressions to check with each format. */
  compressions: Compression[];
  /** Invocations per run (the split comes in the middle). */
  invocations: number;
  /** Folder to keep the dumps and consumer outputs in (a temporary one by default). */
  keep?: string;
}

/** Usage text. */
export const CONSUMERS_USAGE =
  `usage: deno task consumers [--format kpl,ndjson,json] [--compression none,gzip,zstd]
                           [--invocations N] [--keep DIR]`;

/** Parses the command line; throws with the usage on bad input. */
export function parseConsumersArgs(args: string[]): ConsumersOptions {
  const { values } = parseArgs({
    args,
    options: {
      format: { type: "string", default: FORMATS.join(",") },
      compression: { type: "string", default: DEFAULT_COMPRESSIONS.join(",") },
      invocations: { type: "string", default: "30" },
      keep: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) throw new Error(CONSUMERS_USAGE);
  const list = <T extends string>(
    text: string,
    allowed: readonly T[],
    flag: string,
  ): T[] => {
    const items = text.split(",").map((item) => item.trim()).filter(Boolean);
    const bad = items.find((item) => !allowed.includes(item as T));
    if (bad !== undefined || items.length === 0) {
      throw new Error(
        `--${flag} takes ${
          allowed.join(", ")
        } (comma-separated)\n${CONSUMERS_USAGE}`,
      );
    }
    return [...new Set(items)] as T[];
  };
  const invocations = Number(values.invocations);
  if (!Number.isInteger(invocations) || invocations < 4 || invocations > 500) {
    throw new Error(
      `--invocations must be an integer in 4..500\n${CONSUMERS_USAGE}`,
    );
  }
  return {
    formats: list(values.format, FORMATS, "format"),
    compressions: list(
      values.compression,
      COMPRESSIONS,
      "compression",
    ),
    invocations,
    keep: values.keep,
  };
}

/** The outcome of one format/compression run. */
export interface RunReport {
  /** Format written. */
  format: RecordFormat;
  /** Compression asked for. */
  compression: Compression;
  /** The run itself. */
  scenario: ScenarioResult;
  /** Per consumer. */
  verdicts: Array<{ consumer: ConsumerName; verdict: Verdict }>;
  /** Why the run itself is not a valid test, if it is not. */
  runProblems: string[];
}

/**
 * Checks that the run exercised what it must: the split happened, the
 * parent holds records from before it and a child from after it, the
 * listener took every event and the extension exited cleanly.
 */
export function runProblems(scenario: ScenarioResult): string[] {
  const problems: string[] = [];
  const byId = new Map(scenario.shards.map((shard) => [shard.id, shard]));
  const parent = byId.get(scenario.split.parent);
  if (!parent || scenario.split.children.length !== 2) {
    problems.push("no shard was split");
  } else {
    if (parent.records.length === 0) {
      problems.push(`the split shard ${parent.id} holds no record`);
    }
    const childRecords = scenario.split.children.reduce(
      (sum, id) => sum + (byId.get(id)?.records.length ?? 0),
      0,
    );
    if (childRecords === 0) {
      problems.push("no record was written to a child shard after the split");
    }
  }
  if (scenario.droppedBeforeListener > 0) {
    problems.push(
      `the platform dropped ${scenario.droppedBeforeListener} event(s) the listener did not take`,
    );
  }
  if (scenario.extensionExitCode !== 0) {
    problems.push(`the extension exited with ${scenario.extensionExitCode}`);
  }
  return problems;
}

/** Runs one format/compression and judges every consumer on it. */
export async function checkRun(
  format: RecordFormat,
  compression: Compression,
  options: ConsumersOptions,
  folder: string,
): Promise<RunReport> {
  const scenario = await runScenario({
    format,
    compression,
    invocations: options.invocations,
    splitAt: Math.ceil(options.invocations / 2),
  });
  const dumpFile = `${folder}/${format}-${compression}.dump`;
  await Deno.writeTextFile(dumpFile, formatDump(scenario.shards));
  const outputs: Record<ConsumerName, ReaderOutput> = {
    kcl: await readWithKcl(dumpFile),
    python: await readWithPython(dumpFile),
    npm: readWithNpm(scenario.shards),
  };
  return {
    format,
    compression,
    scenario,
    verdicts: CONSUMERS.map((consumer) => ({
      consumer,
      verdict: judgeConsumer(outputs[consumer], scenario.expected, compression),
    })),
    runProblems: runProblems(scenario),
  };
}

/** True when the run is valid and every consumer passed. */
export function runPassed(report: RunReport): boolean {
  return report.runProblems.length === 0 &&
    report.verdicts.every(({ verdict }) => verdictPassed(verdict));
}

/** The report lines of one run. */
export function formatRun(report: RunReport): string[] {
  const { scenario } = report;
  const records = scenario.shards.reduce((sum, s) => sum + s.records.length, 0);
  const lines = [
    `${report.format}, compression ${report.compression}: ${scenario.expected.length} events acknowledged, ${records} records over ${scenario.shards.length} shards (${scenario.split.parent} split into ${
      scenario.split.children.join(" + ") || "nothing"
    })`,
  ];
  lines.push(
    `  records per shard: ${
      scenario.shards.map((shard) =>
        `${shard.id.replace("shardId-", "")}${
          shard.closed ? " (closed)" : ""
        } ${shard.records.length}`
      ).join(", ")
    }`,
  );
  for (const problem of report.runProblems) {
    lines.push(`  RUN INVALID: ${problem}`);
  }
  for (const { consumer, verdict } of report.verdicts) {
    lines.push(
      `  ${verdictPassed(verdict) ? "ok  " : "FAIL"} ${
        CONSUMER_LABELS[consumer].padEnd(27)
      } exactly once ${verdict.exactlyOnce}/${verdict.expected}, missing ${verdict.missing}, duplicated ${verdict.duplicated}, not byte-exact ${verdict.notByteExact}, unexpected ${verdict.unexpected}, undecodable ${verdict.undecodable}${
        report.compression === "none"
          ? ""
          : `, compressed ${verdict.compressed}`
      }; user records ${verdict.userRecords} taken, ${verdict.discarded} discarded`,
    );
    for (const problem of verdict.problems) lines.push(`         ${problem}`);
  }
  return lines;
}

async function main(): Promise<number> {
  let options: ConsumersOptions;
  try {
    options = parseConsumersArgs(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  await ensureConsumerTools();
  const folder = options.keep ??
    await Deno.makeTempDir({ prefix: "consumers-" });
  await Deno.mkdir(folder, { recursive: true });
  let passed = 0;
  let failed = 0;
  try {
    for (const format of options.formats) {
      for (const compression of options.compressions) {
        const report = await checkRun(format, compression, options, folder);
        for (const line of formatRun(report)) console.log(line);
        if (runPassed(report)) passed++;
        else failed++;
      }
    }
  } finally {
    if (!options.keep) await Deno.remove(folder, { recursive: true });
  }
  console.log(
    failed === 0
      ? `consumers: OK, ${passed} run(s), every consumer saw every event exactly once, byte-exact`
      : `consumers: FAILED, ${failed} of ${passed + failed} run(s)`,
  );
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(1);
  }
}
