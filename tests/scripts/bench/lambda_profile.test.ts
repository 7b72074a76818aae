/**
 * The Lambda profile's report: marked "not measured" where cgroups cannot
 * be used, an OOM kill and a killed extension shown as such.
 */
import assert from "node:assert/strict";
import {
  type LambdaProfileResults,
  type ProfileRow,
  renderLambdaProfile,
} from "../../../scripts/bench/lambda_profile.ts";
import { summarize } from "../../../scripts/bench/stats.ts";

function row(overrides: Partial<ProfileRow>): ProfileRow {
  return {
    case: "steady",
    size: 128,
    invocations: 3,
    postRuntimeMs: summarize([1, 2, 30]),
    extensionCpuMsPerInvocation: 12.5,
    extensionPeakMB: 70,
    environmentPeakMB: 40,
    emitted: 30,
    delivered: 29,
    lost: 1,
    duplicates: 0,
    dropped: 1,
    shutdownMs: 400,
    exitedByItself: true,
    oomKilled: null,
    ...overrides,
  };
}

Deno.test("renderLambdaProfile: one row per case and size, OOM kills and killed extensions visible", () => {
  const results: LambdaProfileResults = {
    measured: true,
    setup: "setup text",
    rows: [
      row({}),
      row({ case: "burst", shutdownMs: 2100, exitedByItself: false }),
      row({
        case: "shutdown",
        size: 1024,
        oomKilled: "Runtime.OutOfMemory",
        dropped: null,
      }),
    ],
    init: [{
      size: 128,
      cpuQuotaDuringInit: true,
      initMs: summarize([500, 600]),
      extensionInitMs: summarize([200, 300]),
      extensionTimeShare: 0.45,
      extensionCpuMs: summarize([100, 120]),
      extensionCpuShare: 0.7,
    }],
  };
  const text = renderLambdaProfile(results);
  assert.doesNotMatch(text, /not measured/);
  assert.match(
    text,
    /\| steady \| 128 MB \| 2 \/ 30 \/ 30 \| 12\.5 \| 70 \/ 40 \| 30 \/ 29 \/ 1 \/ 0 \/ 1 \| 400 \| no \|/,
  );
  assert.match(text, /\| burst \| 128 MB \|.*\| 2100 \(KILLED\) \|/);
  assert.match(
    text,
    /\| shutdown \| 1024 MB \|.*no summary \|.*\| Runtime\.OutOfMemory \|/,
  );
  assert.match(
    text,
    /\| 128 MB \| yes \| 550 \/ 600 \| 250 \| 45 % \| 110 \| 70 % \|/,
  );
});

Deno.test("renderLambdaProfile: without cgroups the profile says it was not measured, and why", () => {
  const text = renderLambdaProfile({
    measured: false,
    reason: "creating cgroups needs root",
    setup: "setup text",
    rows: [row({ size: "unconstrained" })],
    init: [],
  });
  assert.match(
    text,
    /\*\*Lambda profile not measured\*\*: creating cgroups needs root/,
  );
  assert.match(text, /\| steady \| unconstrained \|/);
});
