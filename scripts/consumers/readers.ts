/**
 * The three consumers `deno task consumers` judges the extension by, none
 * written by this project: KCL's `AggregatorUtil` (driven by
 * `kcl/KclReader.java`), the PyPI `aws_kinesis_agg` (driven by
 * `python/agg_reader.py`) and the npm `aws-kinesis-agg` (in this process).
 * Each reads a stream dump and answers with user records (see `dump.ts`).
 * The installed tools live in `.tools/`, put there by
 * `scripts/setup/consumers.sh`; {@link ensureConsumerTools} runs it and
 * fails with its message when something cannot be installed.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import agg from "aws-kinesis-agg";
import {
  type ConsumedRecord,
  type DumpShard,
  parseReaderOutput,
  type ReaderOutput,
} from "./dump.ts";

/** The project's root folder. */
const ROOT = new URL("../../", import.meta.url).pathname;

/** Where the installed consumers live. */
export const TOOL_PATHS = {
  /** Setup script that installs them. */
  setup: `${ROOT}scripts/setup/consumers.sh`,
  /** KCL's jars. */
  kclLib: `${ROOT}.tools/kcl/lib`,
  /** The compiled KCL reader. */
  kclClasses: `${ROOT}.tools/kcl/classes`,
  /** aws_kinesis_agg and its dependencies. */
  python: `${ROOT}.tools/python`,
  /** The Python reader (run from the source tree). */
  pythonReader: `${ROOT}scripts/consumers/python/agg_reader.py`,
} as const;

/** The consumers, in report order. */
export const CONSUMERS = ["kcl", "python", "npm"] as const;

/** A consumer's name. */
export type ConsumerName = typeof CONSUMERS[number];

/** Who wrote each consumer's decoder, for the report. */
export const CONSUMER_LABELS: Record<ConsumerName, string> = {
  kcl: "KCL AggregatorUtil (Maven)",
  python: "aws_kinesis_agg (PyPI)",
  npm: "aws-kinesis-agg (npm)",
};

/**
 * Installs what is missing (the setup script is a no-op when its stamps
 * match) and checks that the readers are there.
 *
 * @throws Error with the setup script's reason when a tool is missing.
 */
export async function ensureConsumerTools(): Promise<void> {
  const setup = await new Deno.Command("bash", {
    args: [TOOL_PATHS.setup],
    stdout: "inherit",
    stderr: "inherit",
  }).output().catch((error) => {
    throw new Error(
      `consumers: cannot run bash ${TOOL_PATHS.setup}: ${error.message}`,
    );
  });
  if (!setup.success) {
    throw new Error(
      `consumers: ${TOOL_PATHS.setup} failed (exit ${setup.code}): the KCL or aws_kinesis_agg consumer is missing`,
    );
  }
  for (
    const path of [
      `${TOOL_PATHS.kclClasses}/KclReader.class`,
      `${TOOL_PATHS.python}/aws_kinesis_agg/deaggregator.py`,
    ]
  ) {
    await Deno.stat(path).catch(() => {
      throw new Error(`consumers: ${path} is missing after setup`);
    });
  }
}

/** Runs a reader process on a dump file and parses what it printed. */
async function runReader(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<ReaderOutput> {
  const result = await new Deno.Command(command, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output().catch((error) => {
    throw new Error(`consumers: cannot start ${name} (${command}): ${error}`);
  });
  const stderr = new TextDecoder().decode(result.stderr).trim();
  if (!result.success) {
    throw new Error(
      `consumers: ${name} exited with ${result.code}${
        stderr ? `:\n${stderr}` : ""
      }`,
    );
  }
  return parseReaderOutput(new TextDecoder().decode(result.stdout));
}

/** KCL's de-aggregation of every shard with the shard's hash-key range. */
export function readWithKcl(dumpFile: string): Promise<ReaderOutput> {
  return runReader("the KCL reader", "java", [
    "-cp",
    `${TOOL_PATHS.kclClasses}:${TOOL_PATHS.kclLib}/*`,
    // KCL logs through slf4j; only real errors should show.
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
    "KclReader",
    dumpFile,
  ]);
}

/** aws_kinesis_agg's de-aggregation, fed as a Lambda consumer gets records. */
export function readWithPython(dumpFile: string): Promise<ReaderOutput> {
  // -S: no site-packages, so only the pinned copy in .tools/python is used.
  return runReader("the aws_kinesis_agg reader", "python3", [
    "-S",
    TOOL_PATHS.pythonReader,
    dumpFile,
  ], { PYTHONPATH: TOOL_PATHS.python, PYTHONDONTWRITEBYTECODE: "1" });
}

/** The npm aws-kinesis-agg record shape it hands to its callback. */
interface NpmUserRecord {
  partitionKey: string;
  explicitPartitionKey?: string;
  sequenceNumber: string;
  subSequenceNumber?: number;
  data: string;
}

/** aws-kinesis-agg's de-aggregation (checksums verified), in this process. */
export function readWithNpm(shards: readonly DumpShard[]): ReaderOutput {
  const output: ReaderOutput = { records: [], shards: [] };
  for (const shard of shards) {
    let taken = 0;
    for (const record of shard.records) {
      let failure: unknown;
      let users: NpmUserRecord[] = [];
      agg.deaggregateSync(
        {
          partitionKey: record.partitionKey,
          sequenceNumber: record.sequenceNumber,
          data: Buffer.from(record.data).toString("base64"),
        },
        true,
        (error: unknown, result?: NpmUserRecord[]) => {
          if (error) failure ??= error;
          else users = result ?? [];
        },
      );
      if (failure) {
        throw new Error(
          `aws-kinesis-agg failed on ${shard.id} ${record.sequenceNumber}: ${failure}`,
        );
      }
      // The library marks nothing: a record with the KPL magic was an aggregate.
      const aggregated = isAggregate(record.data);
      for (const user of users) {
        const consumed: ConsumedRecord = {
          shardId: shard.id,
          sequenceNumber: user.sequenceNumber,
          subSequenceNumber: aggregated ? user.subSequenceNumber ?? 0 : null,
          partitionKey: user.partitionKey,
          explicitHashKey: user.explicitPartitionKey ?? null,
          data: new Uint8Array(Buffer.from(user.data, "base64")),
        };
        output.records.push(consumed);
        taken++;
      }
    }
    output.shards.push({
      shardId: shard.id,
      records: shard.records.length,
      taken,
      discarded: 0,
    });
  }
  return output;
}

const KPL_MAGIC = [0xf3, 0x89, 0x9a, 0xc2];

function isAggregate(data: Uint8Array): boolean {
  return KPL_MAGIC.every((byte, index) => data[index] === byte);
}
