import assert from "node:assert/strict";
import {
  type FootprintFigures,
  renderFootprint,
} from "../../../scripts/bench/footprint.ts";
import { summarize } from "../../../scripts/bench/stats.ts";

const FLOOR = "floor (bare extension)";

const figures: FootprintFigures = {
  floor: FLOOR,
  init: [
    {
      variant: "source",
      firstNextMs: summarize([60]),
      settledRssMB: summarize([40]),
      settledCpuMs: summarize([70]),
    },
    {
      variant: "portable layer",
      firstNextMs: summarize([113]),
      settledRssMB: summarize([61.1]),
      settledCpuMs: summarize([250]),
    },
    {
      variant: FLOOR,
      firstNextMs: summarize([53.5]),
      settledRssMB: summarize([33.1]),
      settledCpuMs: summarize([40]),
    },
  ],
  cpuMsPerInvocation: 4.6,
  bursts: [
    {
      memoryMB: 128,
      bufferMiB: 4,
      completedRuns: 3,
      runs: 3,
      peakRssMB: summarize([60, 63, 70]),
      cpuMsPer1000Events: summarize([7, 8, 9]),
    },
    {
      memoryMB: 1024,
      bufferMiB: 8,
      completedRuns: 2,
      runs: 3,
      peakRssMB: summarize([150]),
      cpuMsPer1000Events: summarize([20]),
    },
  ],
};

const rowOf = (markdown: string, start: string) =>
  markdown.split("\n").find((line) => line.startsWith(start)) ?? "";

Deno.test("footprint: init rows give the ratio and the RSS above the floor, judged against the goals", () => {
  const markdown = renderFootprint(figures);
  assert.match(
    rowOf(markdown, "| source |"),
    /\| 60\.0 \| 1\.12 \(pass ≤ 1\.2\) \| 40\.0 \| 6\.9 \(pass ≤ 8\) \| 70 \(pass ≤ 80\) \|/,
  );
  assert.match(
    rowOf(markdown, "| portable layer |"),
    /\| 113\.0 \| 2\.11 \(MISS ≤ 1\.2\) \| 61\.1 \| 28\.0 \(MISS ≤ 8\) \| 250 \(MISS ≤ 80\) \|/,
  );
  assert.match(
    rowOf(markdown, `| ${FLOOR} |`),
    /\| 53\.5 \| 1\.00 \| 33\.1 \| – \| 40 \|/,
  );
  assert.match(
    markdown,
    /CPU per steady invocation .*: 4\.60 ms \(MISS ≤ 1 ms\)/,
  );
});

Deno.test("footprint: burst rows judge the largest peak against half the memory (64 MB at 128 MB)", () => {
  const markdown = renderFootprint(figures);
  assert.match(
    rowOf(markdown, "| 128 MB |"),
    /\| 4 \| 3 of 3 \| 63\.0 \/ 70\.0 \| MISS \(≤ 64\) \| 8\.0 \(pass ≤ 8\) \|/,
  );
  assert.match(
    rowOf(markdown, "| 1024 MB |"),
    /\| 8 \| 2 of 3 \| 150\.0 \/ 150\.0 \| pass \(≤ 512\) \| 20\.0 \(MISS ≤ 8\) \|/,
  );
});

Deno.test("footprint: without a steady run the CPU per invocation says so", () => {
  const markdown = renderFootprint({
    ...figures,
    cpuMsPerInvocation: undefined,
  });
  assert.match(markdown, /CPU per steady invocation .*: not measured\./);
});
