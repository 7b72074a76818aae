import assert from "node:assert/strict";
import {
  parseDenoSummary,
  parseLineCoverage,
  stripAnsi,
} from "../../scripts/test.ts";

Deno.test("test task: Deno's closing line is read with or without colours", () => {
  assert.deepEqual(
    parseDenoSummary(
      "x ... ok\n\x1b[0m\x1b[32mok\x1b[0m | 409 passed | 0 failed \x1b[0m(1m33s)\n",
    ),
    { passed: 409, failed: 0 },
  );
  assert.deepEqual(
    parseDenoSummary("FAILED | 12 passed (3 steps) | 2 failed (4s)\n"),
    { passed: 12, failed: 2 },
  );
  assert.equal(parseDenoSummary("no summary here"), undefined);
});

Deno.test("test task: line coverage is the last column of the All files row", () => {
  const table = [
    "| File | Branch % | Function % | Line % |",
    "| \x1b[32mAll files\x1b[0m | \x1b[32m 96.4\x1b[0m | 98.3 | 97.6 |",
  ].join("\n");
  assert.equal(parseLineCoverage(table), 97.6);
  assert.equal(parseLineCoverage("nothing"), undefined);
  assert.equal(stripAnsi("\x1b[1m\x1b[31mred\x1b[0m"), "red");
});
