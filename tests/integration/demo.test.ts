/**
 * `deno task demo` as a user runs it: a real process with the task's
 * permissions, kinesalite, the extension from source, the report.
 */
import assert from "node:assert/strict";

async function demo(...args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      // As the task runs it: Deno opens /sys/fs/cgroup only with -A.
      "-A",
      new URL("../../scripts/demo.ts", import.meta.url).pathname,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("the demo runs the pipeline, reports it, and exits 0 when nothing was lost", async () => {
  const run = await demo("--invocations", "3");
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  const out = run.stdout;
  assert.match(out, /▸ invocation 1\/3 \{"style":"text"\} → success/);
  assert.match(out, /▸ invocation 2\/3 \{"style":"json","fail":true\} → error/);
  assert.match(out, /Invocations \(metrics from each platform\.report/);
  // Each invocation's row carries its report's numbers, none missing.
  assert.doesNotMatch(out, /missing/);
  assert.match(out, /^\s+platform\.report\s+3\s+3\s+3$/m);
  assert.match(
    out,
    /Delivery: emitted \d+, received by the extension \d+, in Kinesis \d+ .*lost 0/,
  );
  assert.match(out, /Shutdown: kinesis-telemetry exited by itself with code 0/);
  assert.match(out, /Extension summary: \{.*"msg":"summary"/);
  assert.match(out, /^OK: every event the extension received is in Kinesis/m);
  // Lambda's 128 MB limits, and HTTPS to Kinesis.
  assert.match(
    out,
    /▸ 128 MB function: memory limit 128 MB, CPU 7\.2 ms per 100 ms/,
  );
  assert.match(out, /on kinesalite https:\/\/127\.0\.0\.1:/);
});

Deno.test("the demo runs beside AWS's Java runtime client at 128 MB", async () => {
  const run = await demo("--invocations", "2", "--runtime", "java");
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /java function, kpl records, Text logs/);
  assert.match(run.stdout, /▸ 128 MB function: memory limit 128 MB/);
  assert.match(run.stdout, /^OK: /m);
});

Deno.test("the demo runs the Python function with JSON logs and ndjson records", async () => {
  const run = await demo(
    "--invocations",
    "2",
    "--runtime",
    "python",
    "--format",
    "ndjson",
    "--log-format",
    "json",
  );
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /python function, ndjson records, JSON logs/);
  assert.match(run.stdout, /^OK: /m);
});

Deno.test("the demo refuses bad options with its usage and exit code 2", async () => {
  const run = await demo("--runtime", "ruby");
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--runtime must be node, python or java/);
  assert.match(run.stderr, /usage: deno task demo/);
});
