import assert from "node:assert/strict";
import { join } from "node:path";
import { probeRegistration } from "../../../scripts/lib/register_probe.ts";

/** A minimal extension: registers, and exits when refused (as the contract says). */
const REGISTERING_EXTENSION = `
const api = Deno.env.get("AWS_LAMBDA_RUNTIME_API");
const response = await fetch("http://" + api + "/2020-01-01/extension/register", {
  method: "POST",
  headers: { "Lambda-Extension-Name": "probe-subject" },
  body: JSON.stringify({ events: ["INVOKE", "SHUTDOWN"] }),
});
await response.body?.cancel();
Deno.exit(response.ok ? 0 : 1);
`;

Deno.test("an extension that registers is seen with its name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "probe-test-" });
  try {
    const entry = join(dir, "ext.ts");
    await Deno.writeTextFile(entry, REGISTERING_EXTENSION);
    const result = await probeRegistration({
      command: Deno.execPath(),
      args: [
        "run",
        "--no-config",
        "--allow-net=127.0.0.1",
        "--allow-env",
        entry,
      ],
      env: { DENO_DIR: join(dir, "deno") },
      timeoutMs: 30_000,
    });
    assert.equal(result.registered, true, result.output);
    assert.equal(result.extensionName, "probe-subject");
    assert.equal(result.timedOut, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a binary that only opens a REPL is not taken for an extension", async () => {
  // What a layer compiled on the full deno binary instead of denort does.
  const result = await probeRegistration({
    command: Deno.execPath(),
    args: [],
    timeoutMs: 30_000,
  });
  assert.equal(result.registered, false);
  assert.equal(result.timedOut, false);
  assert.equal(typeof result.exitCode, "number");
});

Deno.test("a process that crashes on start reports its exit code and output", async () => {
  const result = await probeRegistration({
    command: "sh",
    args: ["-c", "echo 'boom: missing library' >&2; exit 3"],
    timeoutMs: 30_000,
  });
  assert.equal(result.registered, false);
  assert.equal(result.exitCode, 3);
  assert.match(result.output, /boom: missing library/);
});

Deno.test("a process that neither registers nor exits hits the deadline and is killed", async () => {
  const result = await probeRegistration({
    command: "sh",
    args: ["-c", "exec sleep 30"],
    timeoutMs: 200,
  });
  assert.equal(result.registered, false);
  assert.equal(result.timedOut, true);
});

Deno.test("the probe gives the process Lambda's variables and only those", async () => {
  const result = await probeRegistration({
    command: "sh",
    args: ["-c", "env; exit 0"],
    env: { EXTRA: "1" },
    timeoutMs: 30_000,
  });
  assert.match(result.output, /^AWS_LAMBDA_RUNTIME_API=127\.0\.0\.1:\d+$/m);
  assert.match(result.output, /^KINESIS_TELEMETRY_STREAM=layer-probe$/m);
  assert.match(
    result.output,
    /^AWS_ENDPOINT_URL_KINESIS=http:\/\/127\.0\.0\.1:/m,
  );
  assert.match(result.output, /^EXTRA=1$/m);
  assert.doesNotMatch(result.output, /^HOME=/m);
});
