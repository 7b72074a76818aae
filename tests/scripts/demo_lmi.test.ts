import assert from "node:assert/strict";
import {
  formatManagedReport,
  managedDemoSucceeded,
  parseManagedDemoArgs,
  runManagedDemo,
} from "../../scripts/demo_lmi.ts";

Deno.test("demo --lmi: arguments and their bounds", () => {
  assert.deepEqual(parseManagedDemoArgs([]), {
    concurrency: 16,
    invocations: 64,
    format: "kpl",
    extension: undefined,
  });
  assert.equal(
    parseManagedDemoArgs(["--concurrency", "4", "--format", "json"])
      .concurrency,
    4,
  );
  assert.throws(
    () => parseManagedDemoArgs(["--concurrency", "0"]),
    /--concurrency must be an integer in 1..1600/,
  );
  assert.throws(
    () => parseManagedDemoArgs(["--format", "xml"]),
    /--format must be kpl, json or ndjson/,
  );
});

Deno.test("demo --lmi: concurrent invocations on a managed instance, everything delivered, mode reported", async () => {
  const progress: string[] = [];
  const result = await runManagedDemo(
    { concurrency: 4, invocations: 12, format: "ndjson" },
    (line) => progress.push(line),
  );
  assert.equal(result.invocations.length, 12);
  assert.equal(Math.max(...result.invocations.map((i) => i.concurrent)), 4);
  assert.ok(
    managedDemoSucceeded(result),
    formatManagedReport(result).join("\n"),
  );
  assert.equal(result.check.lost.length, 0);
  const report = formatManagedReport(result).join("\n");
  assert.match(
    report,
    /mode managed-instances \(AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances, AWS_LAMBDA_MAX_CONCURRENCY=4\)/,
  );
  assert.match(report, /schema 2025-01-29/);
  assert.match(report, /OK: every event the extension received is in Kinesis/);
  assert.ok(progress.some((line) => line.includes("up to 4 at once")));
});
