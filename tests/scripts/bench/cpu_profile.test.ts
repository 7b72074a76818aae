import assert from "node:assert/strict";
import {
  type CpuProfile,
  hotSpots,
} from "../../../scripts/bench/cpu_profile.ts";

const frame = (functionName: string, url: string, lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
});

Deno.test("hotSpots ranks self time by function and by file from the samples", () => {
  const profile: CpuProfile = {
    startTime: 0,
    endTime: 1000,
    nodes: [
      { id: 1, callFrame: frame("(root)", "") },
      { id: 2, callFrame: frame("(garbage collector)", "") },
      {
        id: 3,
        callFrame: frame(
          "parseEvents",
          "file:///repo/extension/listener.ts",
          138,
        ),
      },
      {
        id: 4,
        callFrame: frame(
          "writeBase64",
          "file:///root/.cache/deno/npm/node_modules/@smithy/core/index.js",
          2203,
        ),
      },
      {
        id: 5,
        callFrame: frame("accept", "file:///repo/extension/listener.ts", 45),
      },
    ],
    samples: [2, 2, 2, 2, 3, 3, 4, 5, 2, 3],
  };
  const { functions, files } = hotSpots(profile, 3);
  assert.deepEqual(functions, [
    { name: "(garbage collector) ((native):1)", percent: 50 },
    { name: "parseEvents (extension/listener.ts:139)", percent: 30 },
    { name: "writeBase64 (npm:@smithy/core/index.js:2204)", percent: 10 },
  ]);
  assert.deepEqual(files, [
    { name: "(native)", percent: 50 },
    { name: "extension/listener.ts", percent: 40 },
    { name: "npm:@smithy/core/index.js", percent: 10 },
  ]);
});

Deno.test("hotSpots falls back to hit counts when a profile has no samples", () => {
  const profile: CpuProfile = {
    startTime: 0,
    endTime: 1,
    nodes: [
      { id: 1, callFrame: frame("a", "file:///x/scripts/a.ts"), hitCount: 3 },
      { id: 2, callFrame: frame("b", "file:///x/scripts/b.ts"), hitCount: 1 },
    ],
  };
  assert.deepEqual(hotSpots(profile).files, [
    { name: "scripts/a.ts", percent: 75 },
    { name: "scripts/b.ts", percent: 25 },
  ]);
});
