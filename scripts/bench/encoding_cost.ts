/**
 * What each record format costs in Kinesis, with and without compression:
 * typical Telemetry API bodies go through the extension's own listener
 * scanner, envelope encoder, compressor and batcher in this process (no
 * extension process, no emulator: the bytes are exactly those the extension
 * would put), and the records are billed as Kinesis bills them.
 *
 * Two flush patterns: `per invocation` (the default `invoke` flush sends
 * about one invocation's events at a time) and `bulk` (a backlog sent in one
 * flush, e.g. at SHUTDOWN).
 *
 * @module
 */
import { buildBatches } from "../../extension/batcher.ts";
import {
  type Compression,
  compressionPlan,
  loadCompressor,
} from "../../extension/compression.ts";
import {
  createEnvelopeEncoder,
  newEnvironmentId,
} from "../../extension/encoder.ts";
import { readEvent, scanEventArray } from "../../extension/event_scanner.ts";
import { MAX_REQUEST_BYTES } from "../../extension/flusher.ts";
import {
  type BufferedEvent,
  KINESIS_LIMITS,
  RECORD_OVERHEAD_BYTES,
  type RecordFormat,
} from "../../extension/types.ts";
import { costOf, type KinesisCost, scaleCost } from "./cost.ts";
import {
  eventsPerInvocation,
  telemetryBodies,
  type TrafficShape,
} from "./telemetry_fixtures.ts";

/** Flush patterns measured. */
export type FlushPattern = "per invocation" | "bulk";

/** One measured combination, billed per 1,000 events. */
export interface EncodingCostRow {
  /** Record format. */
  format: RecordFormat;
  /** Payload compression. */
  compression: Compression;
  /** How events were flushed. */
  pattern: FlushPattern;
  /** Events measured. */
  events: number;
  /** The bill per 1,000 events (records, bytes, PUT payload units, on-demand KB). */
  perThousand: KinesisCost;
}

/** Formats and compressions measured, in table order. */
export const COMBINATIONS: readonly [RecordFormat, Compression][] = [
  ["kpl", "none"],
  ["kpl", "gzip"],
  ["kpl", "zstd"],
  ["ndjson", "none"],
  ["ndjson", "gzip"],
  ["ndjson", "zstd"],
  ["json", "none"],
  ["json", "gzip"],
  ["json", "zstd"],
];

const utf8 = new TextEncoder();

/**
 * Measures every combination on `events` events of `shape` traffic, for a
 * function named like the Pulumi demo's.
 */
export async function measureEncodingCosts(
  events: number,
  shape: TrafficShape,
): Promise<EncodingCostRow[]> {
  const bodies = telemetryBodies(events, shape, undefined, 0);
  const rows: EncodingCostRow[] = [];
  for (const [format, compression] of COMBINATIONS) {
    const plan = compressionPlan(format, await loadCompressor(compression));
    const encode = createEnvelopeEncoder({
      context: {
        functionName: "kinesis-telemetry-prod-demo",
        functionVersion: "$LATEST",
        region: "eu-west-1",
        accountId: "123456789012",
        environmentId: newEnvironmentId(),
      },
      partitionKey: "requestId",
      maxEnvelopeBytes: KINESIS_LIMITS.defaultMaxRecordBytes -
        RECORD_OVERHEAD_BYTES,
      compress: plan.perEvent,
    });
    const buffered: BufferedEvent[] = [];
    for (const body of bodies) {
      for (const element of scanEventArray(body)) {
        const event = readEvent(body, element);
        if (typeof event === "string") throw new Error(event);
        buffered.push(encode(event, 0).event);
      }
    }
    const chunk = eventsPerInvocation(shape);
    const patterns: [FlushPattern, BufferedEvent[][]][] = [
      [
        "per invocation",
        Array.from(
          { length: Math.ceil(buffered.length / chunk) },
          (_, i) => buffered.slice(i * chunk, (i + 1) * chunk),
        ),
      ],
      ["bulk", [buffered]],
    ];
    for (const [pattern, flushes] of patterns) {
      const records = flushes.flatMap((flush) =>
        buildBatches(flush, {
          format,
          maxRecordBytes: KINESIS_LIMITS.defaultMaxRecordBytes,
          maxRequestBytes: MAX_REQUEST_BYTES,
          compress: plan.perRecord,
        }).flatMap((batch) => batch.records)
      );
      const cost = costOf(records.map((record) => ({
        dataBytes: record.data.byteLength,
        partitionKeyBytes: utf8.encode(record.partitionKey).byteLength,
      })));
      rows.push({
        format,
        compression,
        pattern,
        events: buffered.length,
        perThousand: scaleCost(cost, buffered.length, 1000),
      });
    }
  }
  return rows;
}

/** The rows as a Markdown table, with the saving against uncompressed. */
export function renderEncodingCost(
  rows: readonly EncodingCostRow[],
  shape: TrafficShape,
): string {
  const lines = [
    `Kinesis cost per 1,000 events by format and compression (${shape.linesPerInvocation} log lines of ${shape.messageBytes} bytes + 3 platform events per invocation; measured on ${
      rows[0]?.events ?? 0
    })`,
    "",
    "| format | compression | flush | records | bytes | bytes/event | vs none | PUT payload units | on-demand billed KB |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const row of rows) {
    const plain = rows.find((r) =>
      r.format === row.format && r.pattern === row.pattern &&
      r.compression === "none"
    );
    const c = row.perThousand;
    const saving = plain && row.compression !== "none"
      ? `−${Math.round(100 * (1 - c.bytes / plain.perThousand.bytes))} %`
      : "";
    lines.push(
      `| ${row.format} | ${row.compression} | ${row.pattern} | ${
        fmt(c.records, 1)
      } | ${fmt(c.bytes, 0)} | ${fmt(c.bytes / 1000, 0)} | ${saving} | ${
        fmt(c.putPayloadUnits, 1)
      } | ${fmt(c.onDemandBilledKB, 0)} |`,
    );
  }
  return lines.join("\n") + "\n";
}

function fmt(value: number, digits: number): string {
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}
