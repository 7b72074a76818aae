import assert from "node:assert/strict";
import {
  extensionCeiling,
  type LoadCase,
  type LoadResults,
  loadTargets,
  renderLoad,
} from "../../../scripts/bench/load.ts";
import { CFS_PERIOD_US, cpuQuotaUs } from "../../../scripts/sandbox/cgroup.ts";

function loadCase(overrides: Partial<LoadCase>): LoadCase {
  return {
    emitted: 100_001,
    stored: 100_000,
    duplicates: 0,
    platformDropped: 0,
    missing: 0,
    wallMs: 30_000,
    eventsPerSecond: 3_333,
    eventsPerThawedSecond: 4_000,
    postRuntimeMs: [10, 20],
    invocations: 7,
    summary: undefined,
    cpuMs: { runtime: 500, extension: 1_500 },
    ...overrides,
  };
}

function results(overrides: Partial<LoadResults> = {}): LoadResults {
  return {
    loaderEventsPerSecond: 150_000,
    limitedLoader: { eventsPerSecond: 30_000, cpuMsPer1000Events: 2.4 },
    burst: loadCase({}),
    forwarder: loadCase({
      eventsPerThawedSecond: 8_000,
      cpuMs: { runtime: 600, extension: 700 },
    }),
    long: loadCase({ postRuntimeMs: [100] }),
    larger: [],
    ...overrides,
  };
}

const SHARE_MS_PER_SECOND = cpuQuotaUs(128) / CFS_PERIOD_US * 1000;

Deno.test("extensionCeiling is the 128 MB CPU share over the runtime's lower CPU per event", () => {
  const ceiling = extensionCeiling(results());
  assert.ok(ceiling);
  // 500 ms for 100,000 events is the lower of the two runtimes.
  const expected = SHARE_MS_PER_SECOND / (500 / 100_000);
  assert.ok(Math.abs(ceiling.eventsPerSecond - expected) < 1e-6);
  assert.ok(Math.abs(ceiling.ofLimitedLoader - expected / 30_000) < 1e-9);
});

Deno.test("extensionCeiling is undefined without the limited loader or the runtime's CPU", () => {
  assert.equal(
    extensionCeiling(results({ limitedLoader: { notMeasured: "no cgroup" } })),
    undefined,
  );
  const noCpu = { runtime: 0, extension: 0 };
  assert.equal(
    extensionCeiling(results({
      burst: loadCase({ cpuMs: noCpu }),
      forwarder: loadCase({ cpuMs: noCpu }),
    })),
    undefined,
  );
});

Deno.test("loadTargets judges the burst against the forwarding extension at 80 %", () => {
  const row = (r: LoadResults) =>
    loadTargets(r).find((t) => t.target.includes("forwarding extension"))!;
  const below = row(results());
  assert.equal(below.pass, false);
  assert.match(below.measured, /4000 vs 8000 events\/s = 50 %/);
  const at = row(results({
    forwarder: loadCase({ eventsPerThawedSecond: 5_000 }),
  }));
  assert.equal(at.pass, true);
  assert.match(at.measured, /= 80 %/);
});

Deno.test("loadTargets names the ceiling beside the limited loader's share", () => {
  const row = loadTargets(results()).find((t) =>
    t.target.includes("loader at 128 MB")
  )!;
  assert.equal(row.pass, false);
  const ceiling = extensionCeiling(results())!;
  assert.match(
    row.measured,
    new RegExp(
      `= 13 % \\(any extension: at most ${
        Math.round(100 * ceiling.ofLimitedLoader)
      } %`,
    ),
  );
});

Deno.test("renderLoad shows where the burst's CPU went and the forwarder's row", () => {
  const markdown = renderLoad(results());
  assert.match(markdown, /runtime 5\.0 and extension 15\.0/);
  assert.match(markdown, /runtime 6\.0 and forwarder 7\.0/);
  assert.match(markdown, /2\.4 ms for its PutRecords alone/);
  assert.match(markdown, /\| 128 MB: burst, forwarding extension \| 100001 \|/);
});
