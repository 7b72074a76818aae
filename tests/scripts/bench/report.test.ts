import assert from "node:assert/strict";
import {
  type BenchResults,
  renderMarkdown,
} from "../../../scripts/bench/report.ts";
import { summarize } from "../../../scripts/bench/stats.ts";

const results: BenchResults = {
  meta: {
    date: "2026-01-01T00:00:00.000Z",
    deno: "2.9.6",
    v8: "15",
    cpus: 2,
    cpuModel: "Test CPU",
    commit: "abc1234",
    durationSeconds: 180,
    loadAverage: { start: 0.5, end: 1.25 },
  },
  init: {
    source: {
      registerMs: summarize([50]),
      subscribeMs: summarize([55]),
      firstNextMs: summarize([57, 60]),
      rssMB: summarize([50]),
    },
  },
  notMeasured: { "compiled binary": "no denort" },
  overhead: [{
    label: "kinesalite, kpl",
    invocations: 4,
    firstPostRuntimeMs: 93,
    postRuntimeMs: summarize([1, 2, 30]),
    deliveryLatencyMs: summarize([15, 20, 400]),
    peakRssMB: 81,
  }, {
    label: "Kinesis hanging, kpl",
    invocations: 1,
    postRuntimeMs: summarize([200]),
    peakRssMB: 75,
  }],
  throughput: [{
    label: "extension alone",
    events: 100_000,
    eventsPerSecond: summarize([30_000, 34_000]),
    cpuSecondsPer100k: summarize([2.4]),
    peakRssMB: summarize([170]),
  }],
  split: [],
  cost: [{
    format: "kpl",
    pattern: "bulk",
    measuredEvents: 10_000,
    requests: 2,
    cost: {
      records: 7,
      bytes: 6_500_000,
      putPayloadUnits: 265,
      onDemandBilledKB: 6_400,
    },
  }],
  memory: { maxBufferMB: 8, marginMB: 24 },
  targets: [
    { name: "a", target: "≤ 1", measured: "2", pass: false },
    { name: "b", target: "≤ 1", measured: "1", pass: true },
    { name: "c", target: "≤ 1", measured: "not measured", pass: null },
  ],
};

Deno.test("the Markdown report shows targets with verdicts and every table", () => {
  const markdown = renderMarkdown(results);
  assert.match(markdown, /bench took 180 s, load average 0\.50 → 1\.25\./);
  assert.match(markdown, /\| a \| ≤ 1 \| 2 \| MISS \|/);
  assert.match(markdown, /\| b \| ≤ 1 \| 1 \| pass \|/);
  assert.match(markdown, /\| c \| ≤ 1 \| not measured \| n\/a \|/);
  assert.match(
    markdown,
    /\| source \(n=2\) \| 50\.0 \| 55\.0 \| 58\.5 \/ 60\.0 \| 50\.0 \|/,
  );
  assert.match(markdown, /\| compiled binary \| not measured: no denort/);
  assert.match(
    markdown,
    /\| kinesalite, kpl \| 4 \| 93\.0 \| 2\.0 \| 30\.0 \| 30\.0 \| 20 \| 400 \| 81 \|/,
  );
  assert.match(
    markdown,
    /\| Kinesis hanging, kpl \| 1 \| – \| 200\.0 \| 200\.0 \| 200\.0 \| – \| – \| 75 \|/,
  );
  assert.match(
    markdown,
    /\| extension alone \| 2 \| 32,000 \| 30,000 \| 2\.40 \| – \| 170\.0 \|/,
  );
  assert.match(
    markdown,
    /\| kpl \| bulk \(measured on 10000\) \| 2 \| 7 \| 6\.50 \| 265 \| 6,400 \|/,
  );
  // Every table row has as many cells as its header.
  for (
    const table of markdown.split("\n\n").filter((t) => t.includes("| --- |"))
  ) {
    const rows = table.split("\n").filter((row) => row.startsWith("|"));
    const width = rows[0].split("|").length;
    for (const row of rows) assert.equal(row.split("|").length, width, row);
  }
});
