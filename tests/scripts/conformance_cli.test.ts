/** The command line of `deno task conformance` and its report text. */
import assert from "node:assert/strict";
import {
  formatReport,
  parseConformanceArgs,
} from "../../scripts/conformance.ts";

Deno.test("conformance: arguments", () => {
  const all = parseConformanceArgs([]);
  assert.deepEqual(all.modes, ["classic", "lmi"]);
  assert.deepEqual(all.extensions, ["source", "layer"]);
  const one = parseConformanceArgs([
    "--mode",
    "lmi",
    "--extension",
    "source",
    "--invocations",
    "3",
  ]);
  assert.deepEqual(one.modes, ["lmi"]);
  assert.deepEqual(one.extensions, ["source"]);
  assert.equal(one.invocations, 3);
  assert.throws(() => parseConformanceArgs(["--mode", "x"]), /--mode/);
  assert.throws(() => parseConformanceArgs(["--lines", "0"]), /--lines/);
  assert.throws(() => parseConformanceArgs(["--bogus"]));
});

Deno.test("conformance: the report names every check and the figures", () => {
  const lines = formatReport({
    mode: "lmi",
    extension: "layer",
    checks: [{ name: "a", ok: true, detail: "d" }, {
      name: "b",
      ok: false,
      detail: "e",
    }],
    ok: false,
    delivered: 3,
    records: 1,
    types: { function: 2, "platform.start": 1 },
    samples: {},
    summary: undefined,
    shutdownMs: 12.4,
    unavailableRetries: 2,
    outputTail: [],
  });
  assert.equal(lines[0], "lmi mode, extension from layer: FAIL");
  assert.equal(lines[1], "  ok   a: d");
  assert.equal(lines[2], "  FAIL b: e");
  assert.match(
    lines[3],
    /3 envelopes in 1 records \(function 2, platform.start 1\)/,
  );
  assert.match(lines[3], /2 invocations sent again/);
});
