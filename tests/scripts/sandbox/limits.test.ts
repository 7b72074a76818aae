/** The limits' "running unconstrained" warning: said once, with the reason. */
import assert from "node:assert/strict";
import {
  openLimits,
  warnUnconstrainedOnce,
} from "../../../scripts/sandbox/limits.ts";

Deno.test("warnUnconstrainedOnce says it once per process, with the reason", () => {
  const printed: string[] = [];
  warnUnconstrainedOnce("no root", (line) => printed.push(line));
  warnUnconstrainedOnce("no root", (line) => printed.push(line));
  assert.equal(printed.length, 1);
  assert.match(
    printed[0],
    /WITHOUT Lambda's CPU share and memory limit \(no root\)/,
  );
});

Deno.test("openLimits(false) runs unconstrained on purpose, with the signal freezer", async () => {
  const { cgroup, status } = await openLimits(256, false);
  assert.equal(cgroup, null);
  assert.deepEqual(status, {
    enforced: false,
    memoryMB: 256,
    reason: "disabled",
    cpuQuotaDuringInit: false,
    freezer: "signal",
  });
});
